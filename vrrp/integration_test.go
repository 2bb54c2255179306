package vrrp

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"quadrature/internal/netnstest"
)

// lanConfig is a one-instance node config on eth0.
func lanConfig(prio int, interval time.Duration, vip string, mod ...func(*InstanceConfig)) NodeConfig {
	ic := InstanceConfig{
		Name: "VI_1", Interface: "eth0", VRID: 42, Version: 3, Priority: prio, AdvertInterval: interval,
		VIPs: []VIP{{Prefix: mustPrefix(vip), NoDAD: true}},
		GARP: &GARPConfig{MasterDelay: time.Second, MasterRepeat: 3, MasterRefreshRepeat: 1},
	}
	for _, f := range mod {
		f(&ic)
	}
	return NodeConfig{Instances: []InstanceConfig{ic}, NotifyTimeout: 5 * time.Second, ScriptUser: testScriptUser()}
}

// testScriptUser runs test scripts as root when the tests run as root:
// they write to temporary directories that script_user's default
// (keepalived_script or nobody) cannot enter.
func testScriptUser() string {
	if os.Geteuid() == 0 {
		return "root"
	}
	return ""
}

// exactlyOneMaster checks that the VIP is on want and on no other host.
func exactlyOneMaster(t *testing.T, hosts []*netnstest.NS, want *netnstest.NS, vip string) {
	t.Helper()
	for _, h := range hosts {
		if got := hasAddr(t, h, vip); got != (h == want) {
			t.Errorf("%s has %s: %v, want %v", h.Name, vip, got, h == want)
		}
	}
}

func noDrops(t *testing.T, p *proc) {
	t.Helper()
	for _, s := range p.Status() {
		if n := s.Counters.TotalDrops(); n != 0 {
			t.Errorf("%s %s: %d drops %v", p.name, s.Name, n, s.Counters.Drops)
		}
		if s.Counters.AdvertsReceived == 0 && s.State != StateMaster {
			t.Errorf("%s %s: no adverts received", p.name, s.Name)
		}
	}
}

// Three nodes elect the highest priority; kill -9 of the master hands
// the VIP to the next (the client's neighbour cache follows through
// GARP); SIGTERM of that one hands it to the last after skew time.
func TestElectionAndFailoverThreeNodes(t *testing.T) {
	lab := netnstest.NewLab(t)
	const vip = "192.0.2.100"
	a := lab.AddHost("a", "192.0.2.1/24")
	b := lab.AddHost("b", "192.0.2.2/24")
	c := lab.AddHost("c", "192.0.2.3/24")
	client := lab.AddHost("cl", "192.0.2.50/24")
	hosts := []*netnstest.NS{a, b, c}
	pa := startNode(t, a, lanConfig(100, 100*ms, vip+"/24"))
	pb := startNode(t, b, lanConfig(150, 100*ms, vip+"/24"))
	pc := startNode(t, c, lanConfig(120, 100*ms, vip+"/24"))

	pb.waitState(t, "VI_1", StateMaster, 3*time.Second)
	pa.waitState(t, "VI_1", StateBackup, time.Second)
	pc.waitState(t, "VI_1", StateBackup, time.Second)
	time.Sleep(300 * ms)
	exactlyOneMaster(t, hosts, b, vip)
	for _, p := range []*proc{pa, pb, pc} {
		noDrops(t, p)
	}
	st := pa.Status()[0]
	if st.MasterAddr != netip.MustParseAddr("192.0.2.2") || st.Priority != 100 {
		t.Errorf("backup status %+v", st)
	}
	client.MustRun("ping", "-c1", "-W1", vip)
	if got := neighMAC(t, client, vip); got != macOf(t, b) {
		t.Fatalf("client neighbour %s = %q, want b's %s", vip, got, macOf(t, b))
	}
	time.Sleep(1100 * ms) // past the neighbour locktime

	killed := time.Now()
	pb.signal(syscall.SIGKILL)
	pc.waitState(t, "VI_1", StateMaster, 2*time.Second)
	t.Logf("kill -9 → c master in %v (bound %v)", time.Since(killed), MasterDownInterval(3, 120, 100*ms))
	waitAddr(t, c, vip, true, time.Second)
	// A crashed master cannot remove its address (keepalived alike); a is
	// still clean.
	exactlyOneMaster(t, []*netnstest.NS{a, c}, c, vip)
	waitNeigh(t, client, vip, macOf(t, c), 3*time.Second)

	stopped := time.Now()
	pc.signal(syscall.SIGTERM)
	pa.waitState(t, "VI_1", StateMaster, 2*time.Second)
	took := time.Since(stopped)
	t.Logf("SIGTERM → a master in %v (skew %v)", took, SkewTime(3, 100, 100*ms))
	pc.wait(t, 5*time.Second)
	waitAddr(t, c, vip, false, time.Second)
	waitAddr(t, a, vip, true, time.Second)
	st = pa.Status()[0]
	if !strings.Contains(st.LastReason, "priority 0") {
		t.Errorf("takeover reason %q, want the release path", st.LastReason)
	}
	if st.Counters.PriorityZeroReceived == 0 {
		t.Errorf("no priority-0 advert counted")
	}
}

// A runtime priority change (the cluster's placement) preempts the
// master; lowering it back moves the VIP back.
func TestPriorityChangePreempts(t *testing.T) {
	lab := netnstest.NewLab(t)
	const vip = "192.0.2.100"
	a := lab.AddHost("a", "192.0.2.1/24")
	b := lab.AddHost("b", "192.0.2.2/24")
	pa := startNode(t, a, lanConfig(150, 100*ms, vip+"/32"))
	pb := startNode(t, b, lanConfig(100, 100*ms, vip+"/32"))
	pa.waitState(t, "VI_1", StateMaster, 3*time.Second)
	pb.waitState(t, "VI_1", StateBackup, time.Second)

	pb.setPriority("VI_1", 200)
	pb.waitState(t, "VI_1", StateMaster, 2*time.Second)
	pa.waitState(t, "VI_1", StateBackup, time.Second)
	waitAddr(t, b, vip, true, time.Second)
	waitAddr(t, a, vip, false, time.Second)
	if s := pb.Status()[0]; s.Priority != 200 || s.BasePriority != 200 {
		t.Errorf("status priority %d base %d", s.Priority, s.BasePriority)
	}

	pb.setPriority("VI_1", 50)
	pa.waitState(t, "VI_1", StateMaster, 2*time.Second)
	pb.waitState(t, "VI_1", StateBackup, time.Second)
	waitAddr(t, a, vip, true, time.Second)
	noDrops(t, pa)
	noDrops(t, pb)
}

// Carrier loss on the master's link puts it in FAULT (VIP removed), the
// backup takes over; when the link returns the instance re-joins the
// group, comes back as BACKUP and, having the higher priority, preempts.
func TestLinkDownFault(t *testing.T) {
	lab := netnstest.NewLab(t)
	const vip = "192.0.2.100"
	a := lab.AddHost("a", "192.0.2.1/24")
	b := lab.AddHost("b", "192.0.2.2/24")
	pa := startNode(t, a, lanConfig(150, 100*ms, vip+"/32"))
	pb := startNode(t, b, lanConfig(100, 100*ms, vip+"/32"))
	pa.waitState(t, "VI_1", StateMaster, 3*time.Second)

	lab.SetPort(a, false)
	pa.waitState(t, "VI_1", StateFault, 2*time.Second)
	waitAddr(t, a, vip, false, time.Second)
	pb.waitState(t, "VI_1", StateMaster, 2*time.Second)
	if s := pa.Status()[0]; !strings.Contains(s.Fault, "eth0 down") {
		t.Errorf("fault reason %q", s.Fault)
	}

	lab.SetPort(a, true)
	pa.waitState(t, "VI_1", StateMaster, 3*time.Second)
	pb.waitState(t, "VI_1", StateBackup, time.Second)
	waitAddr(t, b, vip, false, time.Second)
	noDrops(t, pb)
}

// Unicast mode: no multicast anywhere.
func TestUnicast(t *testing.T) {
	lab := netnstest.NewLab(t)
	const vip = "192.0.2.100"
	a := lab.AddHost("a", "192.0.2.1/24")
	b := lab.AddHost("b", "192.0.2.2/24")
	uni := func(src, peer string) func(*InstanceConfig) {
		return func(c *InstanceConfig) {
			c.UnicastSrc = netip.MustParseAddr(src)
			c.UnicastPeers = []netip.Addr{netip.MustParseAddr(peer)}
			c.CheckUnicastSrc = true
		}
	}
	pa := startNode(t, a, lanConfig(150, 100*ms, vip+"/32", uni("192.0.2.1", "192.0.2.2")))
	pb := startNode(t, b, lanConfig(100, 100*ms, vip+"/32", uni("192.0.2.2", "192.0.2.1")))
	pa.waitState(t, "VI_1", StateMaster, 3*time.Second)
	pb.waitState(t, "VI_1", StateBackup, time.Second)
	time.Sleep(300 * ms)
	noDrops(t, pb)
	if s := pb.Status()[0]; s.MasterAddr != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("master %v", s.MasterAddr)
	}
	pa.signal(syscall.SIGKILL)
	pb.waitState(t, "VI_1", StateMaster, 2*time.Second)
	waitAddr(t, b, vip, true, time.Second)
}

// IPv6: link-local sources, ff02::12, kernel checksums, unsolicited NA.
func TestIPv6(t *testing.T) {
	lab := netnstest.NewLab(t)
	const vip = "2001:db8::100"
	a := lab.AddHost("a", "2001:db8::1/64", "fe80::1/64")
	b := lab.AddHost("b", "2001:db8::2/64", "fe80::2/64")
	client := lab.AddHost("cl", "2001:db8::50/64")
	pa := startNode(t, a, lanConfig(150, 100*ms, vip+"/64"))
	pb := startNode(t, b, lanConfig(100, 100*ms, vip+"/64"))
	pa.waitState(t, "VI_1", StateMaster, 3*time.Second)
	pb.waitState(t, "VI_1", StateBackup, time.Second)
	time.Sleep(300 * ms)
	noDrops(t, pb)
	if s := pb.Status()[0]; !s.MasterAddr.IsLinkLocalUnicast() {
		t.Errorf("master address %v, want link-local", s.MasterAddr)
	}
	client.MustRun("ping", "-6", "-c1", "-W1", vip)
	time.Sleep(1100 * ms)
	pa.signal(syscall.SIGKILL)
	pb.waitState(t, "VI_1", StateMaster, 2*time.Second)
	waitAddr(t, b, vip, true, time.Second)
	waitNeigh(t, client, vip, macOf(t, b), 3*time.Second)
}

// Sync group: when one member fails over, the other follows.
func TestSyncGroup(t *testing.T) {
	lab := netnstest.NewLab(t)
	a := lab.AddHost("a", "192.0.2.1/24")
	b := lab.AddHost("b", "192.0.2.2/24")
	mk := func(prio int, trackFail bool) NodeConfig {
		c1 := lanConfig(prio, 100*ms, "192.0.2.100/32").Instances[0]
		c2 := lanConfig(prio, 100*ms, "192.0.2.101/32").Instances[0]
		c2.Name, c2.VRID = "VI_2", 43
		cmd := "true"
		if trackFail {
			cmd = "false"
		}
		return NodeConfig{
			Instances:  []InstanceConfig{c1, c2},
			Scripts:    []ScriptConfig{{Name: "chk", Command: cmd, Interval: 100 * ms, Fall: 1, Rise: 1}},
			Groups:     []GroupConfig{{Name: "G", Instances: []string{"VI_1", "VI_2"}}},
			ScriptUser: testScriptUser(),
		}
	}
	pa := startNode(t, a, mk(150, false))
	pb := startNode(t, b, mk(100, false))
	pa.waitState(t, "VI_1", StateMaster, 3*time.Second)
	pa.waitState(t, "VI_2", StateMaster, time.Second)
	pb.waitState(t, "VI_2", StateBackup, time.Second)
	// Only VI_2 loses its link-independent health: make VI_1 lose to b by
	// priority; VI_2 must follow b although a still has priority 150 for it.
	pb.setPriority("VI_1", 200)
	pb.waitState(t, "VI_1", StateMaster, 2*time.Second)
	pb.waitState(t, "VI_2", StateMaster, time.Second)
	pa.waitState(t, "VI_1", StateBackup, time.Second)
	pa.waitState(t, "VI_2", StateBackup, time.Second)
	waitAddr(t, b, "192.0.2.101", true, time.Second)
	waitAddr(t, a, "192.0.2.101", false, time.Second)
}

// An address a killed process left on the interface (it was master) is
// removed when the restarted node starts as backup, before it could
// become master again.
func TestStartupRemovesStaleVIP(t *testing.T) {
	lab := netnstest.NewLab(t)
	a := lab.AddHost("a", "192.0.2.1/24")
	waitOperUp(t, a)
	a.MustRun("ip", "addr", "add", "192.0.2.100/24", "dev", "eth0")
	if !hasAddr(t, a, "192.0.2.100") {
		t.Fatal("setup: address not added")
	}
	// A long interval: the node stays backup for ~3 s.
	startNode(t, a, lanConfig(100, time.Second, "192.0.2.100/24"))
	waitAddr(t, a, "192.0.2.100", false, 2*time.Second)
}

// track_script: an unweighted failing script is FAULT; a weighted one
// lowers the priority.
func TestTrackScript(t *testing.T) {
	lab := netnstest.NewLab(t)
	a := lab.AddHost("a", "192.0.2.1/24")
	flag := t.TempDir() + "/ok"
	cfg := lanConfig(150, 100*ms, "192.0.2.100/32", func(c *InstanceConfig) {
		c.TrackScripts = []TrackScript{{Name: "weighted"}, {Name: "hard"}}
	})
	cfg.Scripts = []ScriptConfig{
		{Name: "weighted", Command: "false", Interval: 100 * ms, Weight: -60, Fall: 2},
		{Name: "hard", Command: fmt.Sprintf("test -e %s", flag), Interval: 100 * ms},
	}
	pa := startNode(t, a, cfg)
	pa.waitState(t, "VI_1", StateFault, 3*time.Second)
	var s InstanceStatus
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(50 * ms) {
		if s = pa.Status()[0]; s.Priority == 90 {
			break
		}
	}
	if !strings.Contains(s.Fault, "hard") || s.Priority != 90 {
		t.Errorf("status fault %q priority %d (want 150-60)", s.Fault, s.Priority)
	}
	a.MustRun("touch", flag)
	pa.waitState(t, "VI_1", StateMaster, 3*time.Second)
}

// A reload keeps the state of an instance whose identity is unchanged
// and applies its new VIP list at once; a removed instance stops
// (its VIP goes away) and a new one starts.
func TestReloadKeepsState(t *testing.T) {
	lab := netnstest.NewLab(t)
	a := lab.AddHost("a", "192.0.2.1/24")
	cfg := lanConfig(150, 100*ms, "192.0.2.100/32")
	extra := lanConfig(150, 100*ms, "192.0.2.110/32").Instances[0]
	extra.Name, extra.VRID = "VI_X", 50
	cfg.Instances = append(cfg.Instances, extra)
	pa := startNode(t, a, cfg)
	pa.waitState(t, "VI_1", StateMaster, 3*time.Second)
	pa.waitState(t, "VI_X", StateMaster, time.Second)
	before := pa.Status()[0]

	next := lanConfig(150, 100*ms, "192.0.2.101/32")
	added := lanConfig(150, 100*ms, "192.0.2.120/32").Instances[0]
	added.Name, added.VRID = "VI_N", 51
	next.Instances = append(next.Instances, added)
	pa.reload(next)
	waitAddr(t, a, "192.0.2.101", true, time.Second)
	waitAddr(t, a, "192.0.2.100", false, time.Second)
	waitAddr(t, a, "192.0.2.110", false, time.Second)
	pa.waitState(t, "VI_N", StateMaster, 3*time.Second)
	after := pa.Status()
	if len(after) != 2 || after[0].Name != "VI_1" || after[1].Name != "VI_N" {
		t.Fatalf("instances after reload: %+v", after)
	}
	if after[0].State != StateMaster || after[0].LastTransition != before.LastTransition || after[0].Counters.Transitions != before.Counters.Transitions {
		t.Errorf("VI_1 did not keep its state: before %v/%v, after %v/%v", before.State, before.LastTransition, after[0].State, after[0].LastTransition)
	}
}

// SO_BINDTODEVICE: adverts of the same VRID arriving on another
// interface of the host must not reach the instance.
func TestNoLeakFromOtherInterfaces(t *testing.T) {
	lab := netnstest.NewLab(t)
	a := lab.AddHost("a", "192.0.2.1/24")
	x := lab.AddHost("x") // second network, reached through a's eth1
	x.MustRun("ip", "link", "set", "eth0", "down")
	a.MustRun("ip", "link", "add", "eth1", "type", "veth", "peer", "name", "xeth")
	a.MustRun("ip", "link", "set", "xeth", "netns", x.Name)
	a.MustRun("ip", "addr", "add", "198.51.100.1/24", "dev", "eth1")
	a.MustRun("ip", "link", "set", "eth1", "up")
	x.MustRun("ip", "addr", "add", "198.51.100.2/24", "dev", "xeth")
	x.MustRun("ip", "link", "set", "xeth", "up")

	// x sends unicast adverts to a's eth1 address: a raw socket not bound
	// to eth0 would receive them.
	px := startNode(t, x, lanConfig(200, 100*ms, "192.0.2.100/32", func(c *InstanceConfig) {
		c.Interface = "xeth"
		c.UnicastSrc = netip.MustParseAddr("198.51.100.2")
		c.UnicastPeers = []netip.Addr{netip.MustParseAddr("198.51.100.1")}
	}))
	px.waitState(t, "VI_1", StateMaster, 3*time.Second)
	pa := startNode(t, a, lanConfig(100, 100*ms, "192.0.2.100/32"))
	pa.waitState(t, "VI_1", StateMaster, 3*time.Second)
	time.Sleep(500 * ms)
	s := pa.Status()[0]
	if s.State != StateMaster || s.Counters.AdvertsReceived != 0 || s.Counters.TotalDrops() != 0 {
		t.Errorf("eth0 instance saw eth1 traffic: %v, received %d, drops %v", s.State, s.Counters.AdvertsReceived, s.Counters.Drops)
	}
	// They do arrive on eth1 (so the check above can fail).
	a.MustRun("timeout", "2", "tcpdump", "-c1", "-i", "eth1", "-n", "ip proto 112")
}

// An instance whose interface has no IPv4 address yet waits in FAULT and
// starts once the address appears (no link event announces it).
func TestStartsWhenAddressAppears(t *testing.T) {
	lab := netnstest.NewLab(t)
	a := lab.AddHost("a")
	pa := startNode(t, a, lanConfig(150, 100*ms, "192.0.2.100/32"))
	pa.waitState(t, "VI_1", StateFault, 3*time.Second)
	if s := pa.Status()[0]; !strings.Contains(s.Fault, "no usable IPv4 address") {
		t.Errorf("fault %q", s.Fault)
	}
	a.MustRun("ip", "addr", "add", "192.0.2.1/24", "dev", "eth0")
	pa.waitState(t, "VI_1", StateMaster, 4*time.Second)
	if s := pa.Status()[0]; s.Self != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("self %v", s.Self)
	}
}

// Notify scripts run in order with keepalived's arguments, including
// notify_stop on SIGTERM; VIP labels and scopes reach the kernel.
func TestNotifyAndVIPAttributes(t *testing.T) {
	lab := netnstest.NewLab(t)
	a := lab.AddHost("a", "192.0.2.1/24")
	dir := t.TempDir()
	out := dir + "/notify.log"
	script := dir + "/notify.sh"
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$@\" >> "+out+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := lanConfig(150, 100*ms, "192.0.2.100/24", func(c *InstanceConfig) {
		c.VIPs[0].Label = "eth0:vip"
		c.ExcludedVIPs = []VIP{{Prefix: mustPrefix("198.51.100.7/32"), Scope: "host"}}
		c.Notify = NotifyConfig{Master: script + " master-only", Stop: script + " stop-only", Generic: script}
	})
	waitOperUp(t, a)
	pa := startNode(t, a, cfg)
	pa.waitState(t, "VI_1", StateMaster, 3*time.Second)
	waitAddr(t, a, "192.0.2.100", true, time.Second)
	show := string(a.MustRun("ip", "-o", "addr", "show", "dev", "eth0"))
	if !strings.Contains(show, "192.0.2.100/24") || !strings.Contains(show, "eth0:vip") {
		t.Errorf("VIP label missing: %s", show)
	}
	if !strings.Contains(show, "198.51.100.7/32 scope host") {
		t.Errorf("excluded VIP with scope host missing: %s", show)
	}
	pa.signal(syscall.SIGTERM)
	pa.wait(t, 10*time.Second)
	waitAddr(t, a, "198.51.100.7", false, time.Second)
	b, _ := os.ReadFile(out)
	want := "INSTANCE VI_1 BACKUP 150\nmaster-only\nINSTANCE VI_1 MASTER 150\nstop-only\nINSTANCE VI_1 STOP 150\n"
	if string(b) != want {
		t.Errorf("notify log\n%s\nwant\n%s", b, want)
	}
}

// waitOperUp waits until eth0's carrier is up, so a node starting next
// does not begin with a (real, transient) FAULT.
func waitOperUp(t *testing.T, ns *netnstest.NS) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * ms) {
		if out, _ := ns.Run("cat", "/sys/class/net/eth0/operstate"); strings.TrimSpace(string(out)) == "up" {
			return
		}
	}
	t.Fatalf("%s: eth0 not up", ns.Name)
}

// no_accept: the master holds the VIP but drops packets addressed to it;
// accept mode (the default) answers. The rules go away on stop.
func TestNoAccept(t *testing.T) {
	lab := netnstest.NewLab(t)
	a := lab.AddHost("a", "192.0.2.1/24")
	b := lab.AddHost("b", "192.0.2.2/24")
	client := lab.AddHost("cl", "192.0.2.50/24")
	pa := startNode(t, a, lanConfig(150, 100*ms, "192.0.2.100/32", func(c *InstanceConfig) { c.NoAccept = true }))
	pb := startNode(t, b, lanConfig(100, 100*ms, "192.0.2.100/32", func(c *InstanceConfig) { c.NoAccept = true }))
	pa.waitState(t, "VI_1", StateMaster, 3*time.Second)
	waitAddr(t, a, "192.0.2.100", true, time.Second)
	client.MustRun("ping", "-c1", "-W1", "192.0.2.1")
	if out, err := client.Run("ping", "-c1", "-W1", "192.0.2.100"); err == nil {
		t.Errorf("no_accept master answered: %s", out)
	}
	if out := string(a.MustRun("nft", "list", "table", "inet", "quadrature_vrrp")); !strings.Contains(out, "192.0.2.100") || !strings.Contains(out, "drop") {
		t.Errorf("no drop rule: %s", out)
	}
	time.Sleep(300 * ms)
	noDrops(t, pb) // VRRP itself is unaffected
	pa.signal(syscall.SIGTERM)
	pa.wait(t, 10*time.Second)
	if out, err := a.Run("nft", "list", "table", "inet", "quadrature_vrrp"); err == nil {
		t.Errorf("table left after stop: %s", out)
	}
	pb.waitState(t, "VI_1", StateMaster, 2*time.Second)

	// Accept mode on the same LAN: the VIP answers.
	pb.signal(syscall.SIGTERM)
	pb.wait(t, 10*time.Second)
	pc := startNode(t, a, lanConfig(150, 100*ms, "192.0.2.100/32"))
	pc.waitState(t, "VI_1", StateMaster, 3*time.Second)
	waitAddr(t, a, "192.0.2.100", true, time.Second)
	client.MustRun("ping", "-c1", "-W1", "192.0.2.100")
}
