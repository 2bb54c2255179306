package bgp

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"quadrature/internal/netnstest"
)

// The tests run speakers as separate processes (this test binary again,
// with helperEnv set) inside the director namespaces: GoBGP dials from
// its own goroutines, which an in-process namespace switch would not hold.
const helperEnv = "QUADRATURE_BGP_HELPER"

func TestMain(m *testing.M) {
	if cfg := os.Getenv(helperEnv); cfg != "" {
		os.Exit(runHelper(cfg))
	}
	os.Exit(m.Run())
}

// runHelper runs one speaker: Config as JSON in the environment, then one
// JSON route list per stdin line (the announced set); it answers "ok" or
// an error per line and stops gracefully at EOF.
func runHelper(cfgJSON string) int {
	var cfg Config
	if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil {
		fmt.Println("bad config:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	sp, err := Start(context.Background(), cfg, log)
	if err != nil {
		fmt.Println("start:", err)
		return 1
	}
	defer sp.Stop()
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var routes []Route
		if err := json.Unmarshal(sc.Bytes(), &routes); err != nil {
			fmt.Println("bad routes:", err)
			continue
		}
		if err := sp.SetRoutes(context.Background(), routes); err != nil {
			fmt.Println("error:", err)
			continue
		}
		fmt.Println("ok")
	}
	return 0
}

// director is one speaker process in a namespace.
type director struct {
	t     testing.TB
	name  string
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Scanner
	addrs []netip.Addr
}

func startDirector(t testing.TB, ns *netnstest.NS, cfg Config) *director {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(cfg)
	cmd := ns.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+string(b))
	cmd.Stderr = &testWriter{t: t, prefix: ns.Name + ": "}
	in, _ := cmd.StdinPipe()
	outp, _ := cmd.StdoutPipe()
	if err := ns.Start(cmd); err != nil {
		t.Fatal(err)
	}
	return &director{t: t, name: ns.Name, cmd: cmd, in: in, out: bufio.NewScanner(outp)}
}

func (d *director) announce(routes ...Route) {
	d.t.Helper()
	if routes == nil {
		routes = []Route{}
	}
	b, _ := json.Marshal(routes)
	if _, err := fmt.Fprintf(d.in, "%s\n", b); err != nil {
		d.t.Fatalf("%s: %v", d.name, err)
	}
	if !d.out.Scan() {
		d.t.Fatalf("%s: speaker exited", d.name)
	}
	if l := d.out.Text(); l != "ok" {
		d.t.Fatalf("%s: %s", d.name, l)
	}
}

// kill is a crash: SIGKILL, no notification; the router finds out by its
// hold timer.
func (d *director) kill() {
	_ = d.cmd.Process.Kill()
	_ = d.cmd.Wait()
}

type testWriter struct {
	t      testing.TB
	prefix string
	all    bool // log every line, not only warnings and errors
}

func (w *testWriter) Write(p []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if w.all || strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
			w.t.Log(w.prefix + l)
		}
	}
	return len(p), nil
}

var nexthopRe = regexp.MustCompile(`via (\S+)`)

// kernelNexthops returns the gateways of the router's kernel route to p
// (one for a plain route, several for a multipath one).
func kernelNexthops(t testing.TB, ns *netnstest.NS, p netip.Prefix) []string {
	t.Helper()
	fam := "-4"
	if p.Addr().Is6() {
		fam = "-6"
	}
	out, err := ns.Run("ip", fam, "route", "show", p.String())
	if err != nil {
		t.Fatal(err)
	}
	var hops []string
	for _, m := range nexthopRe.FindAllStringSubmatch(string(out), -1) {
		hops = append(hops, m[1])
	}
	return hops
}

// waitNexthops waits until the router's kernel has exactly want as the
// gateways of p and returns how long it took.
func waitNexthops(t testing.TB, ns *netnstest.NS, p netip.Prefix, timeout time.Duration, want ...string) time.Duration {
	t.Helper()
	start := time.Now()
	wantS := strings.Join(sortedCopy(want), " ")
	var got []string
	for time.Since(start) < timeout {
		got = kernelNexthops(t, ns, p)
		if strings.Join(sortedCopy(got), " ") == wantS {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	out, _ := ns.Run("ip", "route", "show", p.String())
	t.Fatalf("route %s: nexthops %v after %v, want %v (ip route: %s)", p, got, timeout, want, out)
	return 0
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	for i := range c {
		for j := i + 1; j < len(c); j++ {
			if c[j] < c[i] {
				c[i], c[j] = c[j], c[i]
			}
		}
	}
	return c
}

// router is the upstream router: BIRD 2 or FRR in its own namespace.
type router interface {
	// neighbors are the directors' addresses (IPv4 and IPv6).
	start(t testing.TB, ns *netnstest.NS, dir string, neighbors []netip.Addr)
}

const (
	routerAS   = 64500
	directorAS = 64512
)

type bird struct{}

func (bird) start(t testing.TB, ns *netnstest.NS, dir string, neighbors []netip.Addr) {
	bin := netnstest.RequireBinary(t, "bird")
	var b strings.Builder
	fmt.Fprintf(&b, "router id 192.0.2.1;\nprotocol device { scan time 1; }\n")
	// merge paths: routes from several neighbors that BGP ranks equal go
	// to the kernel as one multipath route (ECMP).
	for _, fam := range []string{"ipv4", "ipv6"} {
		fmt.Fprintf(&b, "protocol kernel k%s { %s { export all; }; merge paths on; scan time 1; }\n", fam, fam)
	}
	for i, n := range neighbors {
		fam := "ipv4"
		if n.Is6() {
			fam = "ipv6"
		}
		fmt.Fprintf(&b, "protocol bgp d%d { local as %d; neighbor %s as %d; passive on; hold time 3; keepalive time 1; connect retry time 1; %s { import all; export none; }; }\n",
			i, routerAS, n, directorAS, fam)
	}
	conf := filepath.Join(dir, "bird.conf")
	if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := ns.Command(bin, "-f", "-c", conf, "-s", filepath.Join(dir, "bird.ctl"), "-P", filepath.Join(dir, "bird.pid"))
	cmd.Stderr = &testWriter{t: t, prefix: "bird: "}
	if err := ns.Start(cmd); err != nil {
		t.Fatal(err)
	}
}

// TestECMPWithBIRD: three directors announce the same VIPs (IPv4 and
// IPv6) to BIRD 2; the router's kernel gets one multipath route with the
// three directors as next hops; a withdrawal removes one path at once, a
// crashed director's path goes when the router's hold timer expires.
func TestECMPWithBIRD(t *testing.T) { testECMP(t, bird{}) }

func testECMP(t *testing.T, r router) {
	netnstest.RequireRoot(t)
	lab := netnstest.NewLab(t)
	rt := lab.AddHost("rtr", "192.0.2.1/24", "2001:db8::1/64")
	var dirs []*director
	var dirNS []*netnstest.NS
	var v4, v6 []string
	var neighbors []netip.Addr
	for i := 1; i <= 3; i++ {
		a4 := netip.MustParseAddr(fmt.Sprintf("192.0.2.1%d", i))
		a6 := netip.MustParseAddr(fmt.Sprintf("2001:db8::1%d", i))
		ns := lab.AddHost(fmt.Sprintf("d%d", i), a4.String()+"/24", a6.String()+"/64")
		dirNS = append(dirNS, ns)
		v4, v6 = append(v4, a4.String()), append(v6, a6.String())
		neighbors = append(neighbors, a4, a6)
		dirs = append(dirs, startDirector(t, ns, Config{
			LocalAS: directorAS, RouterID: a4,
			Neighbors: []Neighbor{
				{Address: netip.MustParseAddr("192.0.2.1"), RemoteAS: routerAS, HoldTime: 3 * time.Second},
				{Address: netip.MustParseAddr("2001:db8::1"), RemoteAS: routerAS, HoldTime: 3 * time.Second},
			},
		}))
	}
	r.start(t, rt, t.TempDir(), neighbors)
	vip4 := netip.MustParsePrefix("203.0.113.10/32")
	vip6 := netip.MustParsePrefix("2001:db8:10::10/128")
	med := uint32(10)
	for _, d := range dirs {
		d.announce(Route{Prefix: vip4, Communities: []uint32{directorAS<<16 | 100}, MED: &med}, Route{Prefix: vip6})
	}
	took := waitNexthops(t, rt, vip4, 60*time.Second, v4...)
	waitNexthops(t, rt, vip6, 30*time.Second, v6...)
	t.Logf("ECMP route to %s with %d next hops after %v", vip4, len(v4), took.Round(time.Millisecond))

	// A withdrawal (a drained or degraded director) removes its path.
	dirs[1].announce(Route{Prefix: vip6})
	took = waitNexthops(t, rt, vip4, 10*time.Second, v4[0], v4[2])
	t.Logf("withdrawal of %s by %s: path gone from the router's kernel after %v", vip4, v4[1], took.Round(time.Millisecond))
	waitNexthops(t, rt, vip6, 5*time.Second, v6...)

	// A box lost (its link cut, no FIN, no notification): the router's
	// hold timer (3 s) removes its paths.
	start := time.Now()
	lab.SetPort(dirNS[2], false)
	waitNexthops(t, rt, vip4, 15*time.Second, v4[0])
	waitNexthops(t, rt, vip6, 15*time.Second, v6[0], v6[1])
	t.Logf("director %s cut off: its paths gone after %v (hold time 3 s)", v4[2], time.Since(start).Round(time.Millisecond))

	// A crashed process: the kernel closes its sessions, the router drops
	// the paths without waiting for the hold timer.
	start = time.Now()
	dirs[1].kill()
	waitNexthops(t, rt, vip6, 15*time.Second, v6[0])
	t.Logf("director %s killed (SIGKILL): its paths gone after %v", v4[1], time.Since(start).Round(time.Millisecond))
}

// frr is FRR's zebra (the kernel's routes) and bgpd with maximum-paths
// (ECMP), with config, sockets and PID files in the test's directory.
type frr struct{}

func (frr) start(t testing.TB, ns *netnstest.NS, _ string, neighbors []netip.Addr) {
	zebra := netnstest.RequireBinary(t, "/usr/lib/frr/zebra")
	bgpd := netnstest.RequireBinary(t, "/usr/lib/frr/bgpd")
	var b strings.Builder
	fmt.Fprintf(&b, "router bgp %d\n bgp router-id 192.0.2.1\n no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n", routerAS)
	for _, n := range neighbors {
		fmt.Fprintf(&b, " neighbor %s remote-as %d\n neighbor %s timers 1 3\n neighbor %s timers connect 1\n neighbor %s passive\n", n, directorAS, n, n, n)
	}
	for _, fam := range []string{"ipv4", "ipv6"} {
		fmt.Fprintf(&b, " address-family %s unicast\n  maximum-paths 8\n", fam)
		for _, n := range neighbors {
			if n.Is4() == (fam == "ipv4") {
				fmt.Fprintf(&b, "  neighbor %s activate\n", n)
			}
		}
		b.WriteString(" exit-address-family\n")
	}
	// The daemons drop to the frr user (root is not in the frrvty group
	// FRR is built with): their directory must be theirs to write.
	dir, err := os.MkdirTemp("", "quadrature-frr-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	zconf, bconf := filepath.Join(dir, "zebra.conf"), filepath.Join(dir, "bgpd.conf")
	if err := os.WriteFile(zconf, []byte("hostname rtr\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bconf, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	zsock := filepath.Join(dir, "zserv.api")
	common := []string{"-u", "frr", "-g", "frr", "--vty_socket", dir, "--log", "stdout", "--log-level", "warn"}
	zcmd := ns.Command(zebra, append([]string{"-f", zconf, "-i", filepath.Join(dir, "zebra.pid"), "-z", zsock}, common...)...)
	zcmd.Stdout = &testWriter{t: t, prefix: "zebra: ", all: true}
	if err := ns.Start(zcmd); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(zsock); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	bcmd := ns.Command(bgpd, append([]string{"-f", bconf, "-i", filepath.Join(dir, "bgpd.pid"), "-z", zsock}, common...)...)
	bcmd.Stdout = &testWriter{t: t, prefix: "bgpd: ", all: true}
	if err := ns.Start(bcmd); err != nil {
		t.Fatal(err)
	}
}

// TestECMPWithFRR is TestECMPWithBIRD against FRR's bgpd and zebra.
func TestECMPWithFRR(t *testing.T) { testECMP(t, frr{}) }
