package vrrp

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"quadrature/internal/netnstest"
)

func sysctlIn(t *testing.T, ns *netnstest.NS, key string) string {
	t.Helper()
	out, err := ns.Run("cat", "/proc/sys/"+key)
	if err != nil {
		t.Fatalf("%s: read %s: %v: %s", ns.Name, key, err, out)
	}
	return strings.TrimSpace(string(out))
}

func wantSysctl(t *testing.T, ns *netnstest.NS, key, want string) {
	t.Helper()
	if got := sysctlIn(t, ns, key); got != want {
		t.Errorf("%s: %s = %s, want %s", ns.Name, key, got, want)
	}
}

func linkExists(ns *netnstest.NS, name string) bool {
	_, err := ns.Run("ip", "link", "show", "dev", name)
	return err == nil
}

// TestVMAC runs two quadrature nodes with use_vmac and a client: the
// master's macvlan (mode private, 00:00:5e:00:01:42) carries the VIP,
// keepalived's sysctls are set (and all.rp_filter cleared and restored),
// the client resolves the VIP to the virtual MAC and keeps that MAC when
// the other node takes over; the link is deleted on shutdown.
func TestVMAC(t *testing.T) {
	lab := netnstest.NewLab(t)
	a := lab.AddHost("a", "192.0.2.1/24")
	b := lab.AddHost("b", "192.0.2.2/24")
	cl := lab.AddHost("c", "192.0.2.50/24")
	a.MustRun("sysctl", "-qw", "net.ipv4.conf.all.rp_filter=1")
	vip, vmacMAC := "192.0.2.100", "00:00:5e:00:01:2a"
	vm := func(c *InstanceConfig) { c.VMAC = &VMACConfig{} }
	pa := startNode(t, a, lanConfig(150, 100*ms, vip+"/24", vm))
	pb := startNode(t, b, lanConfig(100, 100*ms, vip+"/24", vm))
	pa.waitState(t, "VI_1", StateMaster, 3*time.Second)
	pb.waitState(t, "VI_1", StateBackup, 3*time.Second)

	for _, ns := range []*netnstest.NS{a, b} {
		out := string(ns.MustRun("ip", "-d", "link", "show", "dev", "vrrp.42"))
		if !strings.Contains(out, "link/ether "+vmacMAC) || !strings.Contains(out, "macvlan mode private") || !strings.Contains(out, "@eth0") {
			t.Errorf("%s: vrrp.42 is not a private macvlan on eth0 with %s:\n%s", ns.Name, vmacMAC, out)
		}
		for k, v := range map[string]string{"arp_ignore": "1", "accept_local": "1", "rp_filter": "0", "promote_secondaries": "1"} {
			wantSysctl(t, ns, "net/ipv4/conf/vrrp.42/"+k, v)
		}
		wantSysctl(t, ns, "net/ipv6/conf/vrrp.42/disable_ipv6", "1")
		wantSysctl(t, ns, "net/ipv4/conf/eth0/arp_ignore", "1")
		wantSysctl(t, ns, "net/ipv4/conf/eth0/arp_filter", "1")
		wantSysctl(t, ns, "net/ipv4/conf/eth0/arp_announce", "2")
	}
	// all.rp_filter=1 on a: cleared, the others raised to 1.
	wantSysctl(t, a, "net/ipv4/conf/all/rp_filter", "0")
	wantSysctl(t, a, "net/ipv4/conf/default/rp_filter", "1")
	wantSysctl(t, a, "net/ipv4/conf/eth0/rp_filter", "1")
	if out := string(a.MustRun("ip", "-o", "addr", "show", "dev", "vrrp.42")); !strings.Contains(out, vip+"/24") {
		t.Fatalf("VIP not on the VMAC of the master: %s", out)
	}
	if hasAddr(t, b, vip) {
		t.Fatalf("backup holds the VIP")
	}
	cl.MustRun("ping", "-c", "1", "-W", "2", vip)
	if got := neighMAC(t, cl, vip); got != vmacMAC {
		t.Fatalf("client resolves %s to %s, want the virtual MAC %s (a %s, b %s)\n%s", vip, got, vmacMAC, macOf(t, a), macOf(t, b), a.MustRun("ip", "-d", "addr"))
	}

	// Master change: the client's neighbour entry keeps the virtual MAC
	// and the VIP answers from b.
	pa.signal(syscall.SIGTERM)
	pa.wait(t, 5*time.Second)
	pb.waitState(t, "VI_1", StateMaster, 3*time.Second)
	if linkExists(a, "vrrp.42") {
		t.Errorf("vrrp.42 still exists on a after shutdown")
	}
	wantSysctl(t, a, "net/ipv4/conf/all/rp_filter", "1")
	wantSysctl(t, a, "net/ipv4/conf/default/rp_filter", "0")
	wantSysctl(t, a, "net/ipv4/conf/eth0/rp_filter", "0")
	wantSysctl(t, a, "net/ipv4/conf/eth0/arp_ignore", "0")
	wantSysctl(t, a, "net/ipv4/conf/eth0/arp_filter", "0")
	wantSysctl(t, a, "net/ipv4/conf/eth0/arp_announce", "0")
	cl.MustRun("ping", "-c", "1", "-W", "2", vip)
	if got := neighMAC(t, cl, vip); got != vmacMAC {
		t.Fatalf("after the master change the client has %s for %s, want %s", got, vip, vmacMAC)
	}
	if out := string(b.MustRun("ip", "-o", "addr", "show", "dev", "vrrp.42")); !strings.Contains(out, vip+"/24") {
		t.Fatalf("VIP not on b's VMAC: %s", out)
	}

	// A VMAC deleted by hand comes back with the VIP.
	b.MustRun("ip", "link", "del", "vrrp.42")
	waitAddr(t, b, vip, true, 3*time.Second)
	if !linkExists(b, "vrrp.42") {
		t.Fatalf("vrrp.42 not re-created")
	}
	// A reload that keeps the VMAC keeps the link (same ifindex).
	idx := strings.Fields(string(b.MustRun("ip", "-o", "link", "show", "dev", "vrrp.42")))[0]
	pb.reload(lanConfig(100, 100*ms, vip+"/24", vm, func(c *InstanceConfig) { c.Priority = 120 }))
	time.Sleep(300 * ms)
	if idx2 := strings.Fields(string(b.MustRun("ip", "-o", "link", "show", "dev", "vrrp.42")))[0]; idx2 != idx {
		t.Errorf("reload re-created the VMAC: %s -> %s", idx, idx2)
	}
	// A reload without use_vmac deletes it; the VIP goes on eth0.
	pb.reload(lanConfig(100, 100*ms, vip+"/24"))
	deadline := time.Now().Add(3 * time.Second)
	for linkExists(b, "vrrp.42") && time.Now().Before(deadline) {
		time.Sleep(50 * ms)
	}
	if linkExists(b, "vrrp.42") {
		t.Errorf("vrrp.42 still exists after a reload without use_vmac")
	}
	pb.waitState(t, "VI_1", StateMaster, 3*time.Second)
	waitAddr(t, b, vip, true, 3*time.Second)
	pb.signal(syscall.SIGTERM)
	pb.wait(t, 5*time.Second)
}

// TestVMACXmitBase: with vmac_xmit_base the VIP is on the VMAC, the
// adverts leave from the base interface with its own MAC.
func TestVMACXmitBase(t *testing.T) {
	lab := netnstest.NewLab(t)
	a := lab.AddHost("a", "192.0.2.1/24")
	cl := lab.AddHost("c", "192.0.2.50/24")
	tcpdump := netnstest.RequireBinary(t, "tcpdump")
	pa := startNode(t, a, lanConfig(150, 100*ms, "192.0.2.100/24", func(c *InstanceConfig) { c.VMAC = &VMACConfig{XmitBase: true} }))
	pa.waitState(t, "VI_1", StateMaster, 3*time.Second)
	out, err := cl.Run(tcpdump, "-i", "eth0", "-e", "-n", "-c", "3", "ip proto 112")
	if err != nil {
		t.Fatalf("tcpdump: %v: %s", err, out)
	}
	if base := macOf(t, a); !strings.Contains(string(out), base+" >") {
		t.Errorf("adverts not from the base MAC %s:\n%s", base, out)
	}
	if !strings.Contains(string(a.MustRun("ip", "-o", "addr", "show", "dev", "vrrp.42")), "192.0.2.100/24") {
		t.Errorf("VIP not on the VMAC")
	}
}

// TestIPVLAN: use_ipvlan makes an L2 ipvlan (bridge flag by default, here
// private) with its address, the VIP on it; the client reaches the VIP at
// the base interface's MAC (an ipvlan has no MAC of its own).
func TestIPVLAN(t *testing.T) {
	lab := netnstest.NewLab(t)
	probe := lab.AddHost("p")
	if out, err := probe.Run("ip", "link", "add", "ipvprobe", "link", "eth0", "type", "ipvlan", "mode", "l2"); err != nil {
		// A kernel capability, not a missing package: this test cannot
		// run on a kernel built without CONFIG_IPVLAN, CI or not.
		t.Skipf("the kernel has no ipvlan (CONFIG_IPVLAN): %v: %s", err, out)
	}
	a := lab.AddHost("a", "192.0.2.1/24")
	cl := lab.AddHost("c", "192.0.2.50/24")
	pa := startNode(t, a, lanConfig(150, 100*ms, "192.0.2.100/24", func(c *InstanceConfig) {
		c.VMAC = &VMACConfig{IPVLAN: true, Name: "ipv42", IPVLANAddr: mustPrefix("192.0.2.11/24"), IPVLANMode: "private"}
	}))
	pa.waitState(t, "VI_1", StateMaster, 3*time.Second)
	out := string(a.MustRun("ip", "-d", "link", "show", "dev", "ipv42"))
	if !strings.Contains(out, "ipvlan") || !strings.Contains(out, "mode l2") || !strings.Contains(out, "private") {
		t.Errorf("ipv42 is not an L2 private ipvlan:\n%s", out)
	}
	addrs := string(a.MustRun("ip", "-o", "addr", "show", "dev", "ipv42"))
	if !strings.Contains(addrs, "192.0.2.100/24") || !strings.Contains(addrs, "192.0.2.11/24") {
		t.Errorf("ipv42 lacks the VIP or its address: %s", addrs)
	}
	cl.MustRun("ping", "-c", "1", "-W", "2", "192.0.2.100")
	if got, base := neighMAC(t, cl, "192.0.2.100"), macOf(t, a); got != base {
		t.Errorf("client has %s for the VIP, want the base MAC %s", got, base)
	}
	if st := pa.Status()[0]; st.Self.String() != "192.0.2.11" {
		t.Errorf("adverts from %v, want the ipvlan address", st.Self)
	}
	pa.signal(syscall.SIGTERM)
	pa.wait(t, 5*time.Second)
	if linkExists(a, "ipv42") {
		t.Errorf("ipv42 still exists after shutdown")
	}
}
