package vrrp

import (
	"testing"
	"time"

	"quadrature/internal/netnstest"
)

// TestKeepalivedVMACInterop: keepalived 2.2.7 with use_vmac and
// quadrature with VMACConfig in the same VRID elect one master, fail over
// both ways, and the client keeps resolving the VIP to the virtual MAC.
func TestKeepalivedVMACInterop(t *testing.T) {
	netnstest.RequireRoot(t)
	netnstest.RequireBinary(t, "keepalived")
	lab := netnstest.NewLab(t)
	k := lab.AddHost("ka", "192.0.2.1/24")
	q := lab.AddHost("qd", "192.0.2.2/24")
	cl := lab.AddHost("c", "192.0.2.50/24")
	vip, vmacMAC := "192.0.2.100", "00:00:5e:00:01:2a"
	// keepalived does not set arp_announce on the base: its replies from
	// the VIP routed out of eth0 would teach the client eth0's MAC
	// (quadrature sets it; see baseSettings).
	k.MustRun("sysctl", "-qw", "net.ipv4.conf.eth0.arp_announce=2")
	kconf := kaInstance{version: 3, prio: 150, interval: 100 * ms, vip: vip + "/24", extra: "  use_vmac\n"}.conf("k")
	ka := startKeepalived(t, k, kconf)
	qn := startNode(t, q, lanConfig(100, 100*ms, vip+"/24", func(c *InstanceConfig) { c.VMAC = &VMACConfig{} }))
	bound := 2*MasterDownInterval(3, 100, 100*ms) + 3*time.Second
	waitAddr(t, k, vip, true, bound)
	qn.waitState(t, "VI_1", StateBackup, bound)
	if hasAddr(t, q, vip) {
		t.Fatalf("both hold the VIP")
	}
	cl.MustRun("ping", "-c", "1", "-W", "2", vip)
	if got := neighMAC(t, cl, vip); got != vmacMAC {
		t.Fatalf("client: %s at %s under keepalived, want %s", vip, got, vmacMAC)
	}
	// keepalived → quadrature.
	ka.stop(t)
	qn.waitState(t, "VI_1", StateMaster, MasterDownInterval(3, 100, 100*ms)+time.Second)
	waitAddr(t, q, vip, true, time.Second)
	cl.MustRun("ping", "-c", "1", "-W", "2", vip)
	if got := neighMAC(t, cl, vip); got != vmacMAC {
		t.Fatalf("client: %s at %s under quadrature, want %s", vip, got, vmacMAC)
	}
	// quadrature → keepalived (a new keepalived of higher priority preempts).
	ka2 := startKeepalived(t, k, kconf)
	qn.waitState(t, "VI_1", StateBackup, bound)
	waitAddr(t, k, vip, true, bound)
	waitAddr(t, q, vip, false, time.Second)
	if out, err := cl.Run("ping", "-c", "5", "-i", "0.5", "-w", "4", vip); err != nil {
		t.Logf("pings after the way back: %v\n%s", err, out)
	}
	if got := neighMAC(t, cl, vip); got != vmacMAC {
		t.Fatalf("client: %s at %s after the way back, want %s", vip, got, vmacMAC)
	}
	ka2.stop(t)
	ka.checkLog(t)
}
