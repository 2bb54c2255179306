package vrrp

import (
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"quadrature/internal/netnstest"
)

// The routes and rules of these tests, in the kernel's words as `ip`
// prints them: virtual ones (protocol keepalived, 18) follow MASTER,
// static ones stay.
var (
	testVirtualRoutes = []Route{
		{Dst: netip.MustParsePrefix("198.51.100.0/24"), Via: netip.MustParseAddr("192.0.2.254"), Dev: "eth0", Table: 100, Protocol: 18},
		{Dst: netip.MustParsePrefix("203.0.113.0/25"), Type: 6, Table: 100, Protocol: 18},  // blackhole
		{Dst: netip.MustParsePrefix("203.0.113.128/25"), Type: 7, Metric: 5, Protocol: 18}, // unreachable, main
		{Dst: netip.MustParsePrefix("192.0.2.128/26"), Dev: "eth0", Scope: 253, Table: 100, Src: netip.MustParseAddr("192.0.2.100"), Protocol: 18,
			Metrics: RouteMetrics{MTU: 1400, MTULock: true, AdvMSS: 1360}},
		{Dst: netip.MustParsePrefix("2001:db8:100::/48"), Dev: "eth0", Table: 100, Metric: 10, Protocol: 18},
		{Dst: netip.MustParsePrefix("2001:db8:200::/48"), Type: 6, Table: 100, Protocol: 18},
	}
	testVirtualRules = []Rule{
		{From: netip.MustParsePrefix("192.0.2.100/32"), Action: RuleToTable, Table: 100, Priority: 100, Protocol: 18},
		{Fwmark: 0x10, FwmarkMask: 0xff, HasMask: true, Action: RuleToTable, Table: 100, Priority: 101, Protocol: 18},
		{To: netip.MustParsePrefix("203.0.113.0/24"), Action: RuleProhibit, Priority: 102, Protocol: 18},
		{IPv6: true, From: netip.MustParsePrefix("2001:db8::/32"), Action: RuleToTable, Table: 100, Priority: 103, Protocol: 18},
	}
	testStaticAddrs  = []VIP{{Prefix: netip.MustParsePrefix("198.51.100.77/32"), Dev: "eth0"}}
	testStaticRoutes = []Route{{Dst: netip.MustParsePrefix("203.0.113.64/26"), Via: netip.MustParseAddr("192.0.2.254"), Dev: "eth0", Onlink: true, Table: 200, Protocol: 18}}
	testStaticRules  = []Rule{{From: netip.MustParsePrefix("198.51.100.77/32"), Action: RuleToTable, Table: 200, Priority: 200, Protocol: 18}}
)

// kernelRouting is what `ip` shows of the tables and rules these tests
// use (routes of tables main, 100 and 200 that are not the LAN's own).
func kernelRouting(t *testing.T, ns *netnstest.NS) string {
	t.Helper()
	var b strings.Builder
	for _, args := range [][]string{
		{"-4", "route", "show", "table", "100"}, {"-6", "route", "show", "table", "100"},
		{"-4", "route", "show", "table", "200"}, {"-4", "route", "show", "proto", "keepalived"},
		{"-4", "rule", "show"}, {"-6", "rule", "show"}, {"-4", "-o", "addr", "show", "dev", "eth0"},
	} {
		out, err := ns.Run("ip", args...)
		if err != nil && !strings.Contains(string(out), "FIB table does not exist") {
			t.Fatalf("%s: ip %v: %v: %s", ns.Name, args, err, out)
		}
		b.WriteString("# ip " + strings.Join(args, " ") + "\n")
		b.Write(out)
	}
	return b.String()
}

// wantRouting checks that ns shows each line of want (present) or none
// of them (!present), polling for a while.
func wantRouting(t *testing.T, ns *netnstest.NS, present bool, want ...string) {
	t.Helper()
	var got string
	deadline := time.Now().Add(5 * time.Second)
	for {
		got = kernelRouting(t, ns)
		ok := true
		for _, w := range want {
			if strings.Contains(got, w) != present {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, w := range want {
		if strings.Contains(got, w) != present {
			t.Errorf("%s: %q present %v, want %v", ns.Name, w, !present, present)
		}
	}
	t.Logf("%s:\n%s", ns.Name, got)
}

// The virtual lines as ip prints them.
var virtualLines = []string{
	"198.51.100.0/24 via 192.0.2.254 dev eth0 proto keepalived",
	"blackhole 203.0.113.0/25 proto keepalived",
	"unreachable 203.0.113.128/25 metric 5",
	"192.0.2.128/26 dev eth0 proto keepalived scope link src 192.0.2.100 mtu lock 1400 advmss 1360",
	"2001:db8:100::/48 dev eth0 proto keepalived metric 10",
	"blackhole 2001:db8:200::/48 dev lo proto keepalived",
	"100:\tfrom 192.0.2.100 lookup 100 proto keepalived",
	"101:\tfrom all fwmark 0x10/0xff lookup 100 proto keepalived",
	"102:\tfrom all to 203.0.113.0/24 prohibit proto keepalived",
	"103:\tfrom 2001:db8::/32 lookup 100 proto keepalived",
}

var staticLines = []string{
	"203.0.113.64/26 via 192.0.2.254 dev eth0 proto keepalived onlink",
	"200:\tfrom 198.51.100.77 lookup 200 proto keepalived",
	"inet 198.51.100.77/32",
}

func routeConfig(prio int) NodeConfig {
	cfg := lanConfig(prio, 100*ms, "192.0.2.100/24", func(ic *InstanceConfig) {
		ic.VirtualRoutes, ic.VirtualRules = testVirtualRoutes, testVirtualRules
	})
	cfg.StaticAddresses, cfg.StaticRoutes, cfg.StaticRules = testStaticAddrs, testStaticRoutes, testStaticRules
	return cfg
}

// Two of our nodes: the master has the virtual routes and rules, the
// backup has none; both have the static ones from the start. SIGTERM of
// the master moves the virtual ones to the other node and takes the
// static ones off the stopped node; restarted, it preempts and they come
// back. A reload on the master removes a dropped route and adds a new one.
func TestRoutesRulesFollowMaster(t *testing.T) {
	lab := netnstest.NewLab(t)
	a := lab.AddHost("a", "192.0.2.1/24")
	b := lab.AddHost("b", "192.0.2.2/24")
	pa := startNode(t, a, routeConfig(150))
	pb := startNode(t, b, routeConfig(100))
	pa.waitState(t, "VI_1", StateMaster, 3*time.Second)
	pb.waitState(t, "VI_1", StateBackup, time.Second)
	wantRouting(t, a, true, append(virtualLines, staticLines...)...)
	wantRouting(t, b, true, staticLines...)
	wantRouting(t, b, false, virtualLines...)

	pa.signal(syscall.SIGTERM)
	pa.wait(t, 10*time.Second)
	pb.waitState(t, "VI_1", StateMaster, 3*time.Second)
	wantRouting(t, b, true, append(virtualLines, staticLines...)...)
	wantRouting(t, a, false, append(virtualLines, staticLines...)...)

	pa = startNode(t, a, routeConfig(150))
	pa.waitState(t, "VI_1", StateMaster, 5*time.Second)
	pb.waitState(t, "VI_1", StateBackup, 2*time.Second)
	wantRouting(t, a, true, append(virtualLines, staticLines...)...)
	wantRouting(t, b, false, virtualLines...)
	wantRouting(t, b, true, staticLines...)

	// Reload: the first virtual route and the static rule go, a route
	// and a rule come.
	cfg := routeConfig(150)
	ic := &cfg.Instances[0]
	ic.VirtualRoutes = append(append([]Route(nil), testVirtualRoutes[1:]...),
		Route{Dst: netip.MustParsePrefix("198.51.100.0/25"), Via: netip.MustParseAddr("192.0.2.253"), Dev: "eth0", Table: 100, Protocol: 18})
	cfg.StaticRules = []Rule{{IPv6: true, To: netip.MustParsePrefix("2001:db8:1::/48"), Action: RuleBlackhole, Priority: 201, Protocol: 18}}
	pa.reload(cfg)
	wantRouting(t, a, false, virtualLines[0], staticLines[1])
	wantRouting(t, a, true, append(virtualLines[1:], "198.51.100.0/25 via 192.0.2.253 dev eth0 proto keepalived",
		"201:\tfrom all to 2001:db8:1::/48 blackhole proto keepalived", staticLines[0], staticLines[2])...)
}

// keepalived 2.2.7 and quadrature install the same virtual routes and
// rules: keepalived master first, then, after it stops, ours; the
// kernel's tables read back the same on both.
func TestRoutesRulesMatchKeepalived(t *testing.T) {
	lab := netnstest.NewLab(t)
	a := lab.AddHost("a", "192.0.2.1/24")
	k := lab.AddHost("k", "192.0.2.2/24")
	ka := startKeepalived(t, k, kaInstance{version: 3, prio: 200, interval: time.Second, vip: "192.0.2.100/24",
		extra: "  virtual_routes {\n" +
			"    198.51.100.0/24 via 192.0.2.254 dev eth0 table 100\n" +
			"    blackhole 203.0.113.0/25 table 100\n" +
			"    unreachable 203.0.113.128/25 metric 5\n" +
			"    src 192.0.2.100 192.0.2.128/26 dev eth0 scope link table 100 mtu lock 1400 advmss 1360\n" +
			"    2001:db8:100::/48 dev eth0 table 100 metric 10\n" +
			"    blackhole 2001:db8:200::/48 table 100\n" +
			"  }\n  virtual_rules {\n" +
			"    from 192.0.2.100 table 100 preference 100\n" +
			"    fwmark 0x10/0xff table 100 preference 101\n" +
			"    to 203.0.113.0/24 prohibit preference 102\n" +
			"    from 2001:db8::/32 table 100 preference 103\n" +
			"  }\n"}.conf("k"))
	waitAddr(t, k, "192.0.2.100", true, 10*time.Second)
	cfg := lanConfig(100, time.Second, "192.0.2.100/24", func(ic *InstanceConfig) {
		ic.VirtualRoutes, ic.VirtualRules = testVirtualRoutes, testVirtualRules
	})
	pa := startNode(t, a, cfg)
	pa.waitState(t, "VI_1", StateBackup, 5*time.Second)
	wantRouting(t, k, true, virtualLines...)
	theirs := kernelRouting(t, k)
	wantRouting(t, a, false, virtualLines...)

	ka.stop(t)
	pa.waitState(t, "VI_1", StateMaster, 5*time.Second)
	wantRouting(t, a, true, virtualLines...)
	ours := kernelRouting(t, a)
	// The hosts differ in their own address only.
	strip := func(s string) string {
		var keep []string
		for _, l := range strings.Split(s, "\n") {
			if !strings.Contains(l, "inet 192.0.2.") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}
	if strip(ours) != strip(theirs) {
		t.Errorf("kernel state differs\nkeepalived:\n%s\nquadrature:\n%s", theirs, ours)
	}
	wantRouting(t, k, false, virtualLines...)
}
