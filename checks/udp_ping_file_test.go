package checks

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/net/bpf"

	"quadrature/internal/netnstest"
)

// udpServer answers each datagram with respond(payload) (nil: no answer).
func udpServer(t *testing.T, respond func([]byte) []byte) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if r := respond(buf[:n]); r != nil {
				pc.WriteTo(r, from)
			}
		}
	}()
	return pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

func TestUDPCheck(t *testing.T) {
	echo := udpServer(t, func(p []byte) []byte {
		if bytes.Equal(p, []byte{0xca, 0xfe}) {
			return []byte{0xbe, 0xef, 0x01, 0x02, 0x03}
		}
		return []byte{0x00}
	})
	silent := udpServer(t, func([]byte) []byte { return nil })
	closed := closedPort(t, "udp")
	cases := []struct {
		name    string
		target  netip.AddrPort
		spec    *UDPSpec
		up      bool
		outcome string
	}{
		{"closed port: ICMP unreachable", closed, nil, false, "refused"},
		{"closed port with payload", closed, &UDPSpec{Payload: "cafe"}, false, "refused"},
		{"silent server, no reply required", silent, &UDPSpec{Payload: "cafe"}, true, "ok"},
		{"silent server, reply required", silent, &UDPSpec{Payload: "cafe", RequireReply: true}, false, "timeout"},
		{"any reply", echo, &UDPSpec{Payload: "cafe", RequireReply: true}, true, "ok"},
		{"pattern match", echo, &UDPSpec{Payload: "ca fe", ReplyPattern: "beef"}, true, "ok"},
		{"pattern wildcard byte", echo, &UDPSpec{Payload: "cafe", ReplyPattern: "be xx 01"}, true, "ok"},
		{"pattern wildcard nibble", echo, &UDPSpec{Payload: "cafe", ReplyPattern: "bX eF 0x"}, true, "ok"},
		{"pattern mismatch", echo, &UDPSpec{Payload: "cafe", ReplyPattern: "dead"}, false, "bad_reply"},
		{"pattern longer than reply: only the reply's octets compared", echo, &UDPSpec{Payload: "cafe", ReplyPattern: "beef0102030405"}, true, "ok"},
		{"min length", echo, &UDPSpec{Payload: "cafe", ReplyPattern: "be", MinReplyLength: 6}, false, "bad_reply"},
		{"max length", echo, &UDPSpec{Payload: "cafe", ReplyPattern: "be", MaxReplyLength: 4}, false, "bad_reply"},
		{"length in bounds", echo, &UDPSpec{Payload: "cafe", ReplyPattern: "be", MinReplyLength: 5, MaxReplyLength: 5}, true, "ok"},
		{"bounds ignored without require_reply", echo, &UDPSpec{Payload: "cafe", MaxReplyLength: 1}, true, "ok"},
		{"other payload", echo, &UDPSpec{Payload: "00", ReplyPattern: "beef"}, false, "bad_reply"},
		{"single-digit bytes", echo, &UDPSpec{Payload: "c a fe", ReplyPattern: "0"}, true, "ok"}, // payload 0c 0a fe -> reply 00
	}
	for _, c := range cases {
		timeout := 3 * time.Second // a reply or an ICMP error is expected: generous
		if c.target == silent {
			timeout = 300 * time.Millisecond
		}
		r := mustChecker(t, Spec{Kind: KindUDP, Target: c.target, ConnectTimeout: timeout, UDP: c.spec}).Check(context.Background())
		if r.Up != c.up || r.Outcome != c.outcome {
			t.Errorf("%s: %+v, want up=%v outcome=%s", c.name, r, c.up, c.outcome)
		}
	}
	for _, bad := range []UDPSpec{{Payload: "zz"}, {Payload: "xx"}, {Payload: "0xca"}, {ReplyPattern: "ca:fe"}, {MinReplyLength: 5, MaxReplyLength: 2}, {MinReplyLength: 300}} {
		s := Spec{Kind: KindUDP, Target: echo, UDP: &bad}
		if err := s.Validate(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestPingCheckLoopback(t *testing.T) {
	for _, a := range []string{"127.0.0.1", "::1"} {
		addr := netip.MustParseAddr(a)
		if addr.Is6() {
			if c, err := net.ListenPacket("udp6", "[::1]:0"); err != nil {
				skipOrFail(t, "no IPv6 loopback: %v", err)
				continue
			} else {
				c.Close()
			}
		}
		c := newPingChecker(&Spec{Kind: KindPing, Target: netip.AddrPortFrom(addr, 0), ConnectTimeout: time.Second}, &pingMode{})
		r := c.Check(context.Background())
		if !r.Up {
			if os.Geteuid() != 0 {
				skipOrFail(t, "ping %s needs ping_group_range or CAP_NET_RAW: %+v", a, r)
				continue
			}
			t.Fatalf("ping %s: %+v", a, r)
		}
		raw := c.mode.rawOnly4.Load()
		if addr.Is6() {
			raw = c.mode.rawOnly6.Load()
		}
		t.Logf("ping %s: %s (raw socket: %v)", a, r.Reason, raw)
	}
}

// TestPingCheckNamespace runs PING_CHECK inside a namespace: once with
// unprivileged datagram sockets allowed (ping_group_range is per netns),
// once with them refused (raw fallback), and against an address nobody has.
func TestPingCheckNamespace(t *testing.T) {
	netnstest.RequireRoot(t)
	lab := netnstest.NewLab(t)
	a := lab.AddHost("a", "192.0.2.1/24", "2001:db8::1/64")
	lab.AddHost("b", "192.0.2.2/24", "2001:db8::2/64")
	run := func(target string, timeout time.Duration, m *pingMode) Result {
		c := newPingChecker(&Spec{Kind: KindPing, Target: netip.AddrPortFrom(netip.MustParseAddr(target), 0), ConnectTimeout: timeout}, m)
		var r Result
		if err := a.Do(func() error { r = c.Check(context.Background()); return nil }); err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, rng := range []struct {
		value   string
		wantRaw bool
	}{{"0 2147483647", false}, {"1 0", true}} {
		a.MustRun("sysctl", "-qw", "net.ipv4.ping_group_range="+rng.value)
		for _, target := range []string{"192.0.2.2", "2001:db8::2"} {
			m := &pingMode{}
			r := run(target, 2*time.Second, m)
			raw := m.rawOnly4.Load() || m.rawOnly6.Load()
			if !r.Up || raw != rng.wantRaw {
				t.Errorf("ping_group_range %q, %s: %+v raw=%v, want up raw=%v", rng.value, target, r, raw, rng.wantRaw)
			}
		}
		for _, target := range []string{"192.0.2.99", "2001:db8::99"} {
			if r := run(target, 300*time.Millisecond, &pingMode{}); r.Up {
				t.Errorf("ping of absent %s succeeded: %+v", target, r)
			}
		}
	}
}

func TestFileCheck(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "track")
	cases := []struct {
		content string // "" = file missing
		weight  int
		reverse bool
		up      bool
		contrib int
	}{
		{"0\n", 0, false, true, 0},
		{"1\n", 0, false, false, 0},
		{"", 0, false, true, 0},    // missing reads as 0
		{"0\n", 0, true, false, 0}, // weight 0 reverse: zero is the fault
		{"7\n", 0, true, true, 0},
		{"5\n", 3, false, true, 15},
		{"5\n", 3, true, true, -15},
		{"  -2 trailing\n", 10, false, true, -20},
		{"abc\n", 1, false, true, 0}, // not a number reads 0, as strtol
		{"0x10", 2, false, true, 32},
		{"010", 1, false, true, 8},          // octal, as strtol base 0
		{"-2147483648", 1, false, false, 0}, // at IPVS_WEIGHT_FAULT: down
		{"-1073741824", 4, false, false, 0}, // product clamps to the fault value
	}
	for _, c := range cases {
		os.Remove(p)
		if c.content != "" {
			os.WriteFile(p, []byte(c.content), 0o644)
		}
		r := mustChecker(t, Spec{Kind: KindFile, File: &FileSpec{Path: p, Weight: c.weight, Reverse: c.reverse}}).Check(context.Background())
		if r.Up != c.up || (r.Up && r.TrackValue != c.contrib) {
			t.Errorf("%q weight %d reverse %v: %+v, want up=%v contribution %d", c.content, c.weight, c.reverse, r, c.up, c.contrib)
		}
	}
	// An out-of-range value is ignored: the previous one stays.
	chk := mustChecker(t, Spec{Kind: KindFile, File: &FileSpec{Path: p, Weight: 1}})
	os.WriteFile(p, []byte("6"), 0o644)
	chk.Check(context.Background())
	os.WriteFile(p, []byte("99999999999"), 0o644)
	if r := chk.Check(context.Background()); !r.Up || r.TrackValue != 6 {
		t.Errorf("out-of-range value not ignored: %+v", r)
	}
	// Through the scheduler: the contribution moves the real server weight.
	clk := newFakeClock()
	s, _, _ := newTestScheduler(t, clk)
	s.factory = newChecker
	os.WriteFile(p, []byte("4\n"), 0o644)
	if err := s.Update([]RealServerSpec{{ID: "rs", Weight: 10, Checkers: []Spec{{ID: "f", Kind: KindFile, File: &FileSpec{Path: p, Weight: 5}}}}}); err != nil {
		t.Fatal(err)
	}
	c := checkerOf(t, s, "rs", "f")
	finish(s, c, c.checker.Check(context.Background()))
	if w := s.State()[0].Weight; w != 30 {
		t.Fatalf("weight %d, want 10+4*5", w)
	}
}

func TestEchoReplyFilter(t *testing.T) {
	icmp4 := func(typ byte, id uint16) []byte {
		ip := []byte{0x46, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1, 0, 0, 0, 0} // IHL 6: options
		return append(ip, typ, 0, 0, 0, byte(id>>8), byte(id), 0, 1)
	}
	icmp6 := func(typ byte, id uint16) []byte { return []byte{typ, 0, 0, 0, byte(id >> 8), byte(id), 0, 1} }
	cases := []struct {
		v6   bool
		pkt  []byte
		pass bool
	}{
		{false, icmp4(0, 0xbeef), true},
		{false, icmp4(0, 0xbeee), false},
		{false, icmp4(8, 0xbeef), false}, // our own request on loopback
		{false, icmp4(3, 0xbeef), false},
		{true, icmp6(129, 0xbeef), true},
		{true, icmp6(128, 0xbeef), false},
		{true, icmp6(129, 0x0001), false},
		{true, icmp6(135, 0xbeef), false},
	}
	for i, c := range cases {
		var prog []bpf.Instruction
		for _, ri := range echoReplyFilter(c.v6, 0xbeef) {
			prog = append(prog, ri.Disassemble())
		}
		vm, err := bpf.NewVM(prog)
		if err != nil {
			t.Fatal(err)
		}
		n, err := vm.Run(c.pkt)
		if err != nil || (n > 0) != c.pass {
			t.Errorf("case %d: filter returned %d, %v; want pass=%v", i, n, err, c.pass)
		}
	}
}
