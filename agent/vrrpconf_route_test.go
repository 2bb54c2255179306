package agent

import (
	"testing"

	"quadrature/config"
	"quadrature/vrrp"
)

// TestVRRPConfigRoutes: static and virtual routes, rules and addresses
// reach the vrrp model with numbers for names, protocol keepalived unless
// no_track, and default_interface for a static address without dev; the
// result validates.
func TestVRRPConfigRoutes(t *testing.T) {
	src := "global_defs {\n default_interface eth1\n}\n" +
		"static_ipaddress {\n 198.51.100.77/32\n 198.51.100.78/32 dev eth0\n}\n" +
		"static_routes {\n 203.0.113.64/26 via 192.0.2.254 dev eth0 onlink table main scope link protocol bird no_track mtu lock 1400 rtt 10ms\n}\n" +
		"static_rules {\n from 198.51.100.77 table 200 preference 200\n}\n" +
		"vrrp_instance VI {\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {\n  192.0.2.100/24\n }\n" +
		" virtual_routes {\n  blackhole 203.0.113.0/25 table 100\n  198.51.100.0/24 nexthop via 192.0.2.1 weight 2 nexthop via 192.0.2.2\n }\n" +
		" virtual_rules {\n  to 203.0.113.0/24 prohibit preference 102 no_track\n  inet6 fwmark 0x10/0xff lookup 100 preference 5\n  preference 1 goto 9\n }\n}\n"
	c, _, err := config.LoadBytes("t.conf", []byte(src), config.LoadOptions{Node: "n"})
	if err != nil {
		t.Fatal(err)
	}
	vc := VRRPConfig(c)
	if err := vc.Validate(); err != nil {
		t.Fatal(err)
	}
	if a := vc.StaticAddresses; len(a) != 2 || a[0].Dev != "eth1" || a[1].Dev != "eth0" {
		t.Errorf("static addresses %+v", a)
	}
	r := vc.StaticRoutes[0]
	if r.Table != 254 || r.Scope != 253 || r.Protocol != 12 || !r.Onlink || r.Metrics.MTU != 1400 || !r.Metrics.MTULock || r.Metrics.RTT != 80 {
		t.Errorf("static route %+v", r)
	}
	if ru := vc.StaticRules[0]; ru.Action != vrrp.RuleToTable || ru.Table != 200 || ru.Priority != 200 || ru.Protocol != 18 || ru.From.String() != "198.51.100.77/32" {
		t.Errorf("static rule %+v", ru)
	}
	in := vc.Instances[0]
	if r := in.VirtualRoutes[0]; r.Type != 6 || r.Table != 100 || r.Protocol != 18 {
		t.Errorf("blackhole %+v", r)
	}
	if n := in.VirtualRoutes[1].Nexthops; len(n) != 2 || n[0].Weight != 2 {
		t.Errorf("nexthops %+v", n)
	}
	rs := in.VirtualRules
	if rs[0].Action != vrrp.RuleProhibit || rs[0].Protocol != 0 || !rs[1].IPv6 || !rs[1].HasMask || rs[1].FwmarkMask != 0xff ||
		rs[2].Action != vrrp.RuleGoto || rs[2].Goto != 9 {
		t.Errorf("virtual rules %+v", rs)
	}
}
