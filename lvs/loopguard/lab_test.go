package loopguard

// A small network of anonymous network namespaces built with netlink only
// (no iproute2: the VM of lvs/vmtest has busybox alone): a "lan"
// namespace holding a bridge and host namespaces attached to it by veth
// pairs. The namespaces are not named (nothing under /run/netns); they
// vanish when the test closes its handles, also on failure.

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// testLogger sends a guard's log lines to the test's output.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

// requireRoot skips for ordinary users and fails under CI=true.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "needs root (network namespaces, nftables)")
	}
}

func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("cannot run in CI: %s", msg)
	}
	t.Skip(msg)
}

type lab struct {
	t     testing.TB
	lan   *host
	mu    sync.Mutex
	hosts []*host
	n     int
}

type host struct {
	lab  *lab
	name string
	ns   netns.NsHandle
	nl   *netlink.Handle
	mac  net.HardwareAddr // of eth0
	eth  netlink.Link
}

// inNS runs f on a locked OS thread switched into ns, then switches
// back. Sockets opened in f stay in ns.
func inNS(ns netns.NsHandle, f func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("current netns: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter netns: %w", err)
	}
	ferr := f()
	if err := netns.Set(orig); err != nil {
		// Leave the thread locked: the runtime discards it with the goroutine.
		return errors.Join(ferr, fmt.Errorf("return to netns: %w", err))
	}
	runtime.UnlockOSThread()
	return ferr
}

func newNS() (netns.NsHandle, error) {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return -1, err
	}
	defer orig.Close()
	h, err := netns.New()
	if serr := netns.Set(orig); serr != nil {
		return -1, fmt.Errorf("return to netns: %w", serr)
	}
	runtime.UnlockOSThread()
	return h, err
}

func newLab(t testing.TB) *lab {
	t.Helper()
	l := &lab{t: t}
	t.Cleanup(l.close)
	l.lan = l.newHost("lan")
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0"}}
	if err := l.lan.nl.LinkAdd(br); err != nil {
		t.Fatalf("lab: add bridge: %v", err)
	}
	if err := l.lan.nl.LinkSetUp(br); err != nil {
		t.Fatalf("lab: bridge up: %v", err)
	}
	return l
}

func (l *lab) newHost(name string) *host {
	l.t.Helper()
	ns, err := newNS()
	if err != nil {
		l.t.Fatalf("lab: new netns %s: %v", name, err)
	}
	h := &host{lab: l, name: name, ns: ns}
	l.mu.Lock()
	l.hosts = append(l.hosts, h)
	l.mu.Unlock()
	if h.nl, err = netlink.NewHandleAt(ns, unix.NETLINK_ROUTE); err != nil {
		l.t.Fatalf("lab: netlink in %s: %v", name, err)
	}
	lo, err := h.nl.LinkByName("lo")
	if err == nil {
		err = h.nl.LinkSetUp(lo)
	}
	if err != nil {
		l.t.Fatalf("lab: lo up in %s: %v", name, err)
	}
	return h
}

// addHost creates a namespace whose eth0 is bridged to the LAN, with the
// given addresses (CIDR; no duplicate address detection).
func (l *lab) addHost(name string, cidrs ...string) *host {
	l.t.Helper()
	h := l.newHost(name)
	l.mu.Lock()
	l.n++
	port := fmt.Sprintf("p%d", l.n)
	l.mu.Unlock()
	h.sysctl("net/ipv6/conf/all/accept_dad", "0")
	h.sysctl("net/ipv6/conf/default/accept_dad", "0")
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: port}, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(h.ns))}
	if err := l.lan.nl.LinkAdd(veth); err != nil {
		l.t.Fatalf("lab: veth for %s: %v", name, err)
	}
	br, err := l.lan.nl.LinkByName("br0")
	if err != nil {
		l.t.Fatalf("lab: %v", err)
	}
	p, err := l.lan.nl.LinkByName(port)
	if err == nil {
		err = l.lan.nl.LinkSetMaster(p, br)
	}
	if err == nil {
		err = l.lan.nl.LinkSetUp(p)
	}
	if err != nil {
		l.t.Fatalf("lab: bridge port %s: %v", port, err)
	}
	if h.eth, err = h.nl.LinkByName("eth0"); err != nil {
		l.t.Fatalf("lab: eth0 of %s: %v", name, err)
	}
	h.mac = h.eth.Attrs().HardwareAddr
	for _, c := range cidrs {
		h.addAddr("eth0", c)
	}
	if err := h.nl.LinkSetUp(h.eth); err != nil {
		l.t.Fatalf("lab: eth0 up in %s: %v", name, err)
	}
	return h
}

func (l *lab) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, h := range l.hosts {
		if h.nl != nil {
			h.nl.Close()
		}
		h.ns.Close()
	}
	l.hosts = nil
}

// path names the namespace for Options.NetNSPath.
func (h *host) path() string { return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), int(h.ns)) }

func (h *host) do(f func() error) error { return inNS(h.ns, f) }

func (h *host) sysctl(key, val string) {
	h.lab.t.Helper()
	err := h.do(func() error { return os.WriteFile("/proc/sys/"+key, []byte(val), 0o644) })
	if err != nil {
		h.lab.t.Fatalf("lab: sysctl %s=%s in %s: %v", key, val, h.name, err)
	}
}

func (h *host) addAddr(dev, cidr string) {
	h.lab.t.Helper()
	if err := h.tryAddr(dev, cidr, true); err != nil {
		h.lab.t.Fatal(err)
	}
}

func (h *host) delAddr(dev, cidr string) {
	h.lab.t.Helper()
	if err := h.tryAddr(dev, cidr, false); err != nil {
		h.lab.t.Fatal(err)
	}
}

func (h *host) tryAddr(dev, cidr string, add bool) error {
	link, err := h.nl.LinkByName(dev)
	if err != nil {
		return fmt.Errorf("lab: %s in %s: %w", dev, h.name, err)
	}
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		return fmt.Errorf("lab: %s: %w", cidr, err)
	}
	if add {
		a.Flags = unix.IFA_F_NODAD
		err = h.nl.AddrAdd(link, a)
	} else {
		err = h.nl.AddrDel(link, a)
	}
	if err != nil {
		return fmt.Errorf("lab: address %s on %s in %s (add=%v): %w", cidr, dev, h.name, add, err)
	}
	return nil
}

// route sends dst (a host address) via gw on eth0.
func (h *host) route(dst, gw string) {
	h.lab.t.Helper()
	d := netip.MustParseAddr(dst)
	bits := 32
	if d.Is6() {
		bits = 128
	}
	r := &netlink.Route{LinkIndex: h.eth.Attrs().Index, Dst: &net.IPNet{IP: d.AsSlice(), Mask: net.CIDRMask(bits, bits)},
		Gw: netip.MustParseAddr(gw).AsSlice()}
	if err := h.nl.RouteReplace(r); err != nil {
		h.lab.t.Fatalf("lab: route %s via %s in %s: %v", dst, gw, h.name, err)
	}
}

// neigh pins ip to mac on eth0 (what a gratuitous ARP achieves).
func (h *host) neigh(ip string, mac net.HardwareAddr) {
	h.lab.t.Helper()
	a := netip.MustParseAddr(ip)
	fam := netlink.FAMILY_V4
	if a.Is6() {
		fam = netlink.FAMILY_V6
	}
	n := &netlink.Neigh{LinkIndex: h.eth.Attrs().Index, Family: fam, State: netlink.NUD_PERMANENT, IP: a.AsSlice(), HardwareAddr: mac}
	if err := h.nl.NeighSet(n); err != nil {
		h.lab.t.Fatalf("lab: neighbour %s in %s: %v", ip, h.name, err)
	}
}

// app is a TCP server on the wildcard address of one namespace that
// answers every connection with "name local-address\n" and counts them.
type app struct {
	name string
	ln   net.Listener
	mu   sync.Mutex
	// accepts maps a client address:port to the number of times this app
	// accepted a connection from it.
	accepts map[netip.AddrPort]int
	total   int
	wg      sync.WaitGroup
}

func (h *host) startApp(network string, port uint16) *app {
	h.lab.t.Helper()
	a := &app{name: h.name, accepts: map[netip.AddrPort]int{}}
	addr := fmt.Sprintf("0.0.0.0:%d", port)
	if network == "tcp6" {
		addr = fmt.Sprintf("[::]:%d", port)
	}
	err := h.do(func() error {
		var err error
		a.ln, err = net.Listen(network, addr)
		return err
	})
	if err != nil {
		h.lab.t.Fatalf("lab: listen %s %s in %s: %v", network, addr, h.name, err)
	}
	h.lab.t.Cleanup(a.stop)
	a.wg.Add(1)
	go a.serve()
	return a
}

func (a *app) serve() {
	defer a.wg.Done()
	for {
		c, err := a.ln.Accept()
		if err != nil {
			return
		}
		ra := c.RemoteAddr().(*net.TCPAddr).AddrPort()
		ra = netip.AddrPortFrom(ra.Addr().Unmap(), ra.Port())
		la := c.LocalAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
		a.mu.Lock()
		a.accepts[ra]++
		a.total++
		a.mu.Unlock()
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(c, "%s %s\n", a.name, la)
		}()
	}
}

func (a *app) stop() {
	a.ln.Close()
	a.wg.Wait()
}

// snapshot returns the accept counts and resets them.
func (a *app) snapshot() (map[netip.AddrPort]int, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	m, n := a.accepts, a.total
	a.accepts, a.total = map[netip.AddrPort]int{}, 0
	return m, n
}

// reply is what a client got from one connection.
type reply struct {
	client netip.AddrPort // the client's own address:port
	server string         // the answering app's name ("" on failure)
	local  netip.Addr     // the address the app saw the connection on
	err    error
}

// dial opens one connection from h to dst and reads the app's answer.
// It must run on a thread in h's namespace (inside h.do).
func dialOnce(dst netip.AddrPort, timeout time.Duration) reply {
	var r reply
	d := net.Dialer{Timeout: timeout}
	c, err := d.Dial("tcp", dst.String())
	if err != nil {
		r.err = err
		return r
	}
	defer c.Close()
	la := c.LocalAddr().(*net.TCPAddr).AddrPort()
	r.client = netip.AddrPortFrom(la.Addr().Unmap(), la.Port())
	if ra := c.RemoteAddr().(*net.TCPAddr).AddrPort(); ra.Addr().Unmap() != dst.Addr() || ra.Port() != dst.Port() {
		r.err = fmt.Errorf("connected to %s, not %s", ra, dst)
		return r
	}
	_ = c.SetDeadline(time.Now().Add(timeout))
	buf := make([]byte, 128)
	n, err := readLine(c, buf)
	if err != nil {
		r.err = fmt.Errorf("read: %w", err)
		return r
	}
	f := strings.Fields(string(buf[:n]))
	if len(f) != 2 {
		r.err = fmt.Errorf("bad answer %q", buf[:n])
		return r
	}
	r.server = f[0]
	r.local, r.err = netip.ParseAddr(f[1])
	return r
}

func readLine(c net.Conn, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := c.Read(buf[n:])
		n += m
		if i := strings.IndexByte(string(buf[:n]), '\n'); i >= 0 {
			return i, nil
		}
		if err != nil {
			return n, err
		}
	}
	return n, errors.New("answer too long")
}

// dialFrom opens n connections from h to dst, with the given parallelism.
func (h *host) dialFrom(dst netip.AddrPort, n, parallel int, timeout time.Duration) []reply {
	h.lab.t.Helper()
	out := make([]reply, n)
	var next int
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, parallel)
	for w := range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = h.do(func() error {
				for {
					mu.Lock()
					i := next
					next++
					mu.Unlock()
					if i >= n {
						return nil
					}
					out[i] = dialOnce(dst, timeout)
				}
			})
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		h.lab.t.Fatalf("lab: dial from %s: %v", h.name, err)
	}
	return out
}
