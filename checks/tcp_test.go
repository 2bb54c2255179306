package checks

import (
	"context"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"quadrature/internal/netnstest"
)

// listenTCP starts an accepting listener and returns its address and a
// channel of accepted remote addresses.
func listenTCP(t *testing.T, addr string) (netip.AddrPort, <-chan netip.AddrPort) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	peers := make(chan netip.AddrPort, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			select {
			case peers <- c.RemoteAddr().(*net.TCPAddr).AddrPort():
			default:
			}
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).AddrPort(), peers
}

// closedPort returns a loopback TCP port nobody listens on.
func closedPort(t *testing.T, network string) netip.AddrPort {
	t.Helper()
	var ap netip.AddrPort
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ap = c.LocalAddr().(*net.UDPAddr).AddrPort()
		c.Close()
		return ap
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ap = ln.Addr().(*net.TCPAddr).AddrPort()
	ln.Close()
	return ap
}

func mustChecker(t *testing.T, s Spec) Checker {
	t.Helper()
	c, err := NewChecker(s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTCPCheck(t *testing.T) {
	open, peers := listenTCP(t, "127.0.0.1:0")
	cases := []struct {
		name    string
		spec    Spec
		up      bool
		outcome string
	}{
		{"open port", Spec{Kind: KindTCP, Target: open}, true, "ok"},
		{"closed port", Spec{Kind: KindTCP, Target: closedPort(t, "tcp")}, false, "refused"},
		{"connect_port overrides", Spec{Kind: KindTCP, Target: netip.AddrPortFrom(open.Addr(), 1), ConnectPort: open.Port()}, true, "ok"},
		{"connect_ip overrides", Spec{Kind: KindTCP, Target: netip.MustParseAddrPort("192.0.2.1:1"), ConnectIP: open.Addr(), ConnectPort: open.Port()}, true, "ok"},
	}
	for _, c := range cases {
		r := mustChecker(t, c.spec).Check(context.Background())
		if r.Up != c.up || r.Outcome != c.outcome {
			t.Errorf("%s: %+v, want up=%v outcome=%s", c.name, r, c.up, c.outcome)
		}
	}
	// bindto and bind_port are honoured: the server sees them.
	port := closedPort(t, "tcp").Port()
	r := mustChecker(t, Spec{Kind: KindTCP, Target: open, BindTo: netip.MustParseAddr("127.0.0.2"), BindPort: port}).Check(context.Background())
	if !r.Up {
		t.Fatalf("bindto: %+v", r)
	}
	want := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), port)
	timeout := time.After(2 * time.Second)
	for {
		select {
		case p := <-peers:
			if p == want {
				return
			}
		case <-timeout:
			t.Fatalf("server never saw a connection from %v", want)
		}
	}
}

func TestTCPCheckFWMark(t *testing.T) {
	open, _ := listenTCP(t, "127.0.0.1:0")
	r := mustChecker(t, Spec{Kind: KindTCP, Target: open, FWMark: 0x42}).Check(context.Background())
	if os.Geteuid() == 0 {
		if !r.Up {
			t.Fatalf("fwmark as root: %+v", r)
		}
	} else if r.Up || !strings.Contains(r.Reason, "SO_MARK") {
		t.Fatalf("fwmark without CAP_NET_ADMIN must fail clearly: %+v", r)
	}
}

// TestTCPCheckBlackhole: inside a namespace, SYNs to 192.0.2.77 go out of a
// link where nobody answers, so the connect times out after connect_timeout.
func TestTCPCheckBlackhole(t *testing.T) {
	netnstest.RequireRoot(t)
	lab := netnstest.NewLab(t)
	h := lab.AddHost("h", "192.0.2.1/24")
	h.MustRun("ip", "route", "add", "blackhole", "198.51.100.0/24")
	cases := []struct {
		target  string
		outcome string
	}{
		{"192.0.2.77:80", "timeout"},      // nobody there: SYN unanswered
		{"198.51.100.9:80", "error"},      // blackhole route: the kernel refuses at once
		{"203.0.113.5:80", "unreachable"}, // no route at all
	}
	for _, c := range cases {
		chk := mustChecker(t, Spec{Kind: KindTCP, Target: netip.MustParseAddrPort(c.target), ConnectTimeout: 300 * time.Millisecond})
		var r Result
		start := time.Now()
		if err := h.Do(func() error { r = chk.Check(context.Background()); return nil }); err != nil {
			t.Fatal(err)
		}
		el := time.Since(start)
		if r.Up || r.Outcome != c.outcome {
			t.Errorf("%s: %+v, want down/%s", c.target, r, c.outcome)
		}
		if c.outcome == "timeout" && (el < 250*time.Millisecond || el > 2*time.Second) {
			t.Errorf("%s: timed out after %v, want ~300ms", c.target, el)
		}
	}
}

// TestFWMarkMarksPackets: in a namespace, an nftables counter on the output
// hook sees the mark set by TCP_CHECK, UDP_CHECK and PING_CHECK.
func TestFWMarkMarksPackets(t *testing.T) {
	netnstest.RequireRoot(t)
	lab := netnstest.NewLab(t)
	h := lab.AddHost("m", "192.0.2.1/24")
	h.MustRun("ip", "link", "set", "lo", "up")
	h.MustRun("nft", "add table inet qmark")
	h.MustRun("nft", "add chain inet qmark out { type filter hook output priority 0 ; }")
	h.MustRun("nft", "add rule inet qmark out meta mark 0x42 meta l4proto tcp counter")
	h.MustRun("nft", "add rule inet qmark out meta mark 0x42 meta l4proto udp counter")
	h.MustRun("nft", "add rule inet qmark out meta mark 0x42 meta l4proto icmp counter")
	var ap netip.AddrPort
	if err := h.Do(func() error {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		ap = ln.Addr().(*net.TCPAddr).AddrPort()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	lo := netip.MustParseAddr("127.0.0.1")
	for _, s := range []Spec{
		{Kind: KindTCP, Target: ap, FWMark: 0x42},
		{Kind: KindUDP, Target: netip.AddrPortFrom(lo, 9), FWMark: 0x42, ConnectTimeout: 200 * time.Millisecond},
		{Kind: KindPing, Target: netip.AddrPortFrom(lo, 0), FWMark: 0x42},
	} {
		c := mustChecker(t, s)
		var r Result
		h.Do(func() error { r = c.Check(context.Background()); return nil })
		if s.Kind != KindUDP && !r.Up {
			t.Fatalf("%s: %+v", s.Kind, r)
		}
	}
	out := string(h.MustRun("nft", "list chain inet qmark out"))
	for _, proto := range []string{"tcp", "udp", "icmp"} {
		i := strings.Index(out, "l4proto "+proto+" counter packets ")
		if i < 0 || strings.HasPrefix(out[i+len("l4proto "+proto+" counter packets "):], "0 ") {
			t.Errorf("no marked %s packets counted:\n%s", proto, out)
		}
	}
}

func TestTCPCheckIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		skipOrFail(t, "no IPv6 loopback: %v", err)
		return
	}
	defer ln.Close()
	peers := make(chan netip.AddrPort, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			peers <- c.RemoteAddr().(*net.TCPAddr).AddrPort()
			c.Close()
		}
	}()
	open := ln.Addr().(*net.TCPAddr).AddrPort()
	if r := mustChecker(t, Spec{Kind: KindTCP, Target: open}).Check(context.Background()); !r.Up {
		t.Fatalf("[::1] open port: %+v", r)
	}
	closed := netip.AddrPortFrom(netip.MustParseAddr("::1"), closedPort(t, "tcp").Port())
	if r := mustChecker(t, Spec{Kind: KindTCP, Target: closed}).Check(context.Background()); r.Up || r.Outcome != "refused" {
		t.Fatalf("[::1] closed port: %+v", r)
	}
	port := closedPort(t, "tcp").Port()
	r := mustChecker(t, Spec{Kind: KindTCP, Target: open, BindTo: netip.MustParseAddr("::1"), BindPort: port}).Check(context.Background())
	if !r.Up {
		t.Fatalf("[::1] bindto: %+v", r)
	}
	want := netip.AddrPortFrom(netip.MustParseAddr("::1"), port)
	deadline := time.After(2 * time.Second)
	for {
		select {
		case p := <-peers:
			if p == want {
				return
			}
		case <-deadline:
			t.Fatalf("server never saw %v", want)
		}
	}
}
