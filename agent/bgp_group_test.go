package agent_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"quadrature/internal/clustertest"
	"quadrature/internal/netnstest"
)

var (
	viaRe     = regexp.MustCompile(`via (\S+)`)
	maintPrio = regexp.MustCompile(`priority=1(\s|$)`)
)

func routerNexthops(t *testing.T, ns *netnstest.NS, p string) []string {
	out, err := ns.Run("ip", "route", "show", p)
	if err != nil {
		t.Fatal(err)
	}
	var hops []string
	for _, m := range viaRe.FindAllStringSubmatch(string(out), -1) {
		hops = append(hops, m[1])
	}
	slices.Sort(hops)
	return hops
}

func waitRouter(t *testing.T, ns *netnstest.NS, p string, timeout time.Duration, want ...string) time.Duration {
	t.Helper()
	slices.Sort(want)
	start := time.Now()
	var got []string
	for time.Since(start) < timeout {
		if got = routerNexthops(t, ns, p); slices.Equal(got, want) {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("router route %s: next hops %v after %v, want %v", p, got, timeout, want)
	return 0
}

// TestBGPAgentsWithBIRD: three agents (the real binary, in namespaces)
// announce the group's VIP to a BIRD 2 router with merge paths. The
// router's kernel holds one route with the three directors as next hops;
// a node put in maintenance withdraws its path, before its VRRP priority
// changes (its log shows the order); all real servers down withdraws the
// VIP everywhere; a killed agent's path goes.
func TestBGPAgentsWithBIRD(t *testing.T) {
	birdBin := netnstest.RequireBinary(t, "bird")
	g := clustertest.New(t, clustertest.Options{Nodes: 3, Config: func(p clustertest.ConfigParams) string {
		var b strings.Builder
		b.WriteString(clustertest.DefaultConfig(p))
		fmt.Fprintf(&b, "\nbgp {\n  local_as 64512\n  hold_time 3\n  neighbor 203.0.113.1 {\n    remote_as 64500\n  }\n  announce {\n    %s\n  }\n}\n", clustertest.VIP)
		return b.String()
	}})
	rt := g.Lab.AddHost("rtr", "203.0.113.1/24")
	dir := t.TempDir()
	var conf strings.Builder
	conf.WriteString("router id 203.0.113.1;\nprotocol device { scan time 1; }\nprotocol kernel { ipv4 { export all; }; merge paths on; scan time 1; }\n")
	var hops []string
	for _, n := range g.Nodes {
		hops = append(hops, n.Addr.String())
		fmt.Fprintf(&conf, "protocol bgp %s { local as 64500; neighbor %s as 64512; passive on; hold time 3; keepalive time 1; ipv4 { import all; export none; }; }\n", n.Name, n.Addr)
	}
	if err := os.WriteFile(filepath.Join(dir, "bird.conf"), []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := rt.Command(birdBin, "-f", "-c", filepath.Join(dir, "bird.conf"), "-s", filepath.Join(dir, "bird.ctl"), "-P", filepath.Join(dir, "bird.pid"))
	if err := rt.Start(cmd); err != nil {
		t.Fatal(err)
	}
	g.WaitReady()
	vip := clustertest.VIP.String() + "/32"
	took := waitRouter(t, rt, vip, 60*time.Second, hops...)
	t.Logf("all three directors' paths installed %v after the group was ready", took.Round(time.Millisecond))

	// Maintenance (drain) of n2: its path goes, and it went before the
	// priority changed.
	setMaintenance(t, g, "n2", true)
	took = waitRouter(t, rt, vip, 20*time.Second, hops[0], hops[2])
	t.Logf("n2 in maintenance: path withdrawn after %v", took.Round(time.Millisecond))
	time.Sleep(time.Second)
	logText, _ := os.ReadFile(g.Node("n2").LogPath)
	lines := strings.Split(string(logText), "\n")
	wd := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, "bgp routes withdrawn") })
	pr := -1
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], "placement priority") && maintPrio.MatchString(lines[i]) {
			pr = i
			break
		}
	}
	if wd < 0 || pr < 0 || pr < wd {
		t.Errorf("n2: withdrawal (log line %d) not before the maintenance priority (line %d)", wd, pr)
	}
	setMaintenance(t, g, "n2", false)
	waitRouter(t, rt, vip, 20*time.Second, hops...)

	// Every real server down: no director has a live server for the VIP.
	for _, n := range g.Nodes {
		g.StopApp(n.Name)
	}
	took = waitRouter(t, rt, vip, 30*time.Second)
	t.Logf("all real servers down: VIP withdrawn by every director after %v", took.Round(time.Millisecond))
	for _, n := range g.Nodes {
		g.StartApp(n.Name)
	}
	waitRouter(t, rt, vip, 30*time.Second, hops...)

	// A crashed agent: its session closes, its path goes.
	start := time.Now()
	g.Kill("n3")
	waitRouter(t, rt, vip, 20*time.Second, hops[0], hops[1])
	t.Logf("n3 killed: path gone after %v", time.Since(start).Round(time.Millisecond))
}
