package nftables

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"quadrature/internal/netnstest"
	"quadrature/lvs"
)

// lbLab is the integration topology: one LAN bridge carrying two subnets.
// The client (198.51.100.2, 2001:db8:1::2) reaches the VIPs on the
// director (198.51.100.10, 2001:db8:1::10); three real servers
// (192.0.2.11-13, 2001:db8:2::11-13) route through the director
// (192.0.2.1, 2001:db8:2::1), so replies return through it with or
// without masquerade. Each real server runs in-process TCP and UDP
// servers on port 8080 that answer with their own name.
type lbLab struct {
	lab      *netnstest.Lab
	client   *netnstest.NS
	director *netnstest.NS
	servers  []*netnstest.NS
	dp       *DataPlane
}

var (
	vip4 = netip.MustParseAddr("198.51.100.10")
	vip6 = netip.MustParseAddr("2001:db8:1::10")
)

func rsAddr(i int, v6 bool) netip.Addr {
	if v6 {
		return netip.MustParseAddr(fmt.Sprintf("2001:db8:2::%d", 11+i))
	}
	return netip.MustParseAddr(fmt.Sprintf("192.0.2.%d", 11+i))
}

func newLBLab(t testing.TB, opts Options) *lbLab {
	t.Helper()
	netnstest.RequireBinary(t, "nft")
	l := &lbLab{lab: netnstest.NewLab(t)}
	l.client = l.lab.AddHost("cli", "198.51.100.2/24", "2001:db8:1::2/64")
	l.director = l.lab.AddHost("dir", "198.51.100.1/24", "192.0.2.1/24", "2001:db8:1::1/64", "2001:db8:2::1/64",
		vip4.String()+"/32", vip6.String()+"/128")
	l.director.MustRun("sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1",
		"net.ipv4.conf.all.send_redirects=0", "net.ipv4.conf.eth0.send_redirects=0")
	for i := 0; i < 3; i++ {
		ns := l.lab.AddHost(fmt.Sprintf("rs%d", i+1), rsAddr(i, false).String()+"/24", rsAddr(i, true).String()+"/64")
		ns.MustRun("ip", "route", "add", "default", "via", "192.0.2.1")
		ns.MustRun("ip", "-6", "route", "add", "default", "via", "2001:db8:2::1")
		ns.MustRun("sysctl", "-qw", "net.ipv4.conf.all.accept_redirects=0", "net.ipv6.conf.all.accept_redirects=0")
		l.servers = append(l.servers, ns)
		startEcho(t, ns, fmt.Sprintf("rs%d", i+1))
	}
	l.client.MustRun("ip", "-6", "route", "add", "2001:db8:2::/64", "via", "2001:db8:1::1")
	opts.NetNSPath = "/run/netns/" + l.director.Name
	dp, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { dp.Close() })
	l.dp = dp
	return l
}

// startEcho runs TCP and UDP servers on port 8080 (all addresses) inside
// ns that answer every connection or datagram with name, and a TCP server
// on port 8081 that answers with name and keeps the connection open until
// the client closes it.
func startEcho(t testing.TB, ns *netnstest.NS, name string) {
	t.Helper()
	var tl, hl net.Listener
	var ul net.PacketConn
	err := ns.Do(func() error {
		var err error
		if tl, err = net.Listen("tcp", ":8080"); err != nil {
			return err
		}
		if hl, err = net.Listen("tcp", ":8081"); err != nil {
			return err
		}
		ul, err = net.ListenPacket("udp", ":8080")
		return err
	})
	if err != nil {
		t.Fatalf("listen in %s: %v", ns.Name, err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var held []net.Conn
	t.Cleanup(func() {
		tl.Close()
		hl.Close()
		ul.Close()
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(3)
	go func() {
		defer wg.Done()
		for {
			c, err := hl.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
			go func() {
				defer c.Close()
				fmt.Fprintf(c, "%s %s\n", name, c.RemoteAddr())
				io.Copy(io.Discard, c)
			}()
		}
	}()
	go func() {
		defer wg.Done()
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				// Echo the client address as seen by the server too.
				fmt.Fprintf(c, "%s %s\n", name, c.RemoteAddr())
			}()
		}
	}()
	go func() {
		defer wg.Done()
		buf := make([]byte, 1500)
		for {
			n, addr, err := ul.ReadFrom(buf)
			if err != nil {
				return
			}
			_ = n
			ul.WriteTo([]byte(name), addr)
		}
	}()
}

// udpPort hands out client source ports for UDP flows, never twice in a
// test binary.
var udpPort atomic.Int32

func init() { udpPort.Store(20000) }

// ask opens one TCP connection (or sends one UDP datagram) from the
// client namespace to dst and returns the name of the server that
// answered. local, when valid, is the source address to use.
func (l *lbLab) ask(t testing.TB, network string, dst netip.AddrPort, local netip.Addr) (string, error) {
	var name string
	err := l.client.Do(func() error {
		d := net.Dialer{Timeout: 2 * time.Second}
		if network == "udp" {
			// A fresh source port per flow: a reused one would match a
			// live conntrack entry and skip scheduling.
			d.LocalAddr = &net.UDPAddr{IP: local.AsSlice(), Port: int(udpPort.Add(1))}
		} else if local.IsValid() {
			d.LocalAddr = &net.TCPAddr{IP: local.AsSlice()}
		}
		c, err := d.Dial(network, dst.String())
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		if network == "udp" {
			if _, err := c.Write([]byte("hi")); err != nil {
				return err
			}
			buf := make([]byte, 64)
			n, err := c.Read(buf)
			if err != nil {
				return err
			}
			name = string(buf[:n])
			return nil
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			return err
		}
		name, _, _ = strings.Cut(strings.TrimSpace(line), " ")
		return nil
	})
	return name, err
}

// spread makes n sequential connections and counts answers per server.
func (l *lbLab) spread(t testing.TB, network string, dst netip.AddrPort, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for i := 0; i < n; i++ {
		name, err := l.ask(t, network, dst, netip.Addr{})
		if err != nil {
			got["error"]++
			continue
		}
		got[name]++
	}
	return got
}

// sync programs desired and checks that Read gives it back.
func (l *lbLab) sync(t testing.TB, desired lvs.Table) {
	t.Helper()
	ctx := context.Background()
	if _, err := l.dp.Sync(ctx, desired); err != nil {
		t.Fatalf("Sync: %v\n%s", err, l.ruleset(t))
	}
	got, err := l.dp.Read(ctx)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if got.Digest() != desired.Digest() {
		t.Fatalf("read-back differs:\nwant:\n%sgot:\n%s\nruleset:\n%s", desired.CanonicalText(), got.CanonicalText(), l.ruleset(t))
	}
}

func (l *lbLab) ruleset(t testing.TB) string {
	out, err := l.director.Run("nft", "list", "ruleset")
	if err != nil {
		return err.Error()
	}
	return string(out)
}

func svc(proto lvs.Protocol, vip netip.Addr, sched string, weights ...int32) lvs.Service {
	s := lvs.Service{Key: lvs.ServiceKey{Family: lvs.FamilyOf(vip), Protocol: proto, Addr: vip, Port: 80}, Scheduler: sched}
	for i, w := range weights {
		s.Destinations = append(s.Destinations, lvs.Destination{Addr: rsAddr(i, vip.Is6()), Port: 8080, Weight: w, Method: lvs.NAT})
	}
	return s
}

func dialUDP(dst netip.AddrPort) (net.Conn, error) {
	return net.DialTimeout("udp", dst.String(), 2*time.Second)
}

func udpAsk(c net.Conn) (string, error) {
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("hi")); err != nil {
		return "", err
	}
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// tcpLine returns the whole line a server answers.
func tcpLine(dst netip.AddrPort) (string, error) {
	c, err := net.DialTimeout("tcp", dst.String(), 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	return bufio.NewReader(c).ReadString('\n')
}
