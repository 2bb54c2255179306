package agent

import (
	"net/netip"
	"quadrature/cluster"
	"testing"

	"quadrature/lvs"
	"quadrature/lvs/loopguard"
)

// The guard's inputs from membership: other directors' MACs (dead ones
// kept, those that left dropped), this node's own MACs apart; with the
// iWash table (DR, every director a real server) the node guards the one
// service whose real server it is.
func TestLoopGuardInputs(t *testing.T) {
	members := []cluster.Member{
		{Name: "iwash1", Self: true, State: cluster.MemberAlive, Meta: cluster.Meta{MACs: []string{"02:00:00:00:00:01"}}},
		{Name: "iwash2", State: cluster.MemberAlive, Meta: cluster.Meta{MACs: []string{"02:00:00:00:00:02"}}},
		{Name: "iwash3", State: cluster.MemberDead, Meta: cluster.Meta{MACs: []string{"02:00:00:00:00:03"}}},
		{Name: "old", State: cluster.MemberLeft, Meta: cluster.Meta{MACs: []string{"02:00:00:00:00:09"}}},
	}
	published, own := guardPeers(members)
	if len(published) != 2 || published["iwash3"] == nil || published["old"] != nil || len(own) != 1 || own[0].String() != "02:00:00:00:00:01" {
		t.Fatalf("published %v own %v", published, own)
	}
	vip := netip.MustParseAddr("203.0.113.10")
	rs := func(last byte, w int32) lvs.Destination {
		return lvs.Destination{Addr: netip.AddrFrom4([4]byte{198, 51, 100, last}), Port: 3128, Weight: w, Method: lvs.DR}
	}
	table := lvs.Table{Services: []lvs.Service{{
		Key:          lvs.ServiceKey{Family: lvs.IPv4, Protocol: lvs.TCP, Addr: vip, Port: 3128},
		Scheduler:    "wrr",
		Destinations: []lvs.Destination{rs(11, 10), rs(12, 20), rs(13, 20)},
	}}}.Normalize()
	self := []netip.Addr{netip.MustParseAddr("198.51.100.11")}
	d, skipped, err := loopguard.DesiredFor(table, self, published, "iwash1", own)
	if err != nil || len(skipped) != 0 {
		t.Fatalf("err %v skipped %v", err, skipped)
	}
	if len(d.Peers) != 2 || len(d.Targets) != 1 || d.Targets[0].VIP != vip || d.Targets[0].Local != self[0] || d.Targets[0].LocalPort != 3128 {
		t.Fatalf("desired %s", d)
	}
}
