package loopguard

import (
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"quadrature/lvs"
)

func mac(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func svc(key string, port uint16, dests ...lvs.Destination) lvs.Service {
	k := lvs.ServiceKey{Protocol: lvs.TCP, Port: port}
	if strings.HasPrefix(key, "udp:") {
		k.Protocol, key = lvs.UDP, key[4:]
	}
	k.Addr = mustAddr(key)
	k.Family = lvs.FamilyOf(k.Addr)
	return lvs.Service{Key: k, Scheduler: "wrr", Destinations: dests}
}

func dest(addr string, port uint16, w int32, m lvs.Method) lvs.Destination {
	return lvs.Destination{Addr: mustAddr(addr), Port: port, Weight: w, Method: m}
}

func TestTargetsFor(t *testing.T) {
	self := []netip.Addr{mustAddr("203.0.113.11"), mustAddr("2001:db8::11"), mustAddr("203.0.113.99")}
	tab := lvs.Table{Services: []lvs.Service{
		// The iWash service: three DR real servers, one of them us.
		svc("203.0.113.10", 3128, dest("203.0.113.11", 3128, 10, lvs.DR), dest("203.0.113.12", 3128, 20, lvs.DR), dest("203.0.113.13", 3128, 20, lvs.DR)),
		// Draining (weight 0) still needs the rule for established connections.
		svc("udp:203.0.113.10", 53, dest("203.0.113.11", 53, 0, lvs.DR), dest("203.0.113.12", 53, 1, lvs.DR)),
		// Not a real server of this one.
		svc("203.0.113.20", 80, dest("203.0.113.12", 80, 1, lvs.DR)),
		// NAT and TUN to us need no guard.
		svc("203.0.113.21", 80, dest("203.0.113.11", 8080, 1, lvs.NAT)),
		svc("203.0.113.22", 80, dest("203.0.113.11", 80, 1, lvs.TUN)),
		// IPv6, and a port-0 service.
		svc("2001:db8::10", 443, dest("2001:db8::11", 443, 1, lvs.DR), dest("2001:db8::12", 443, 1, lvs.DR)),
		svc("203.0.113.10", 0, dest("203.0.113.11", 0, 1, lvs.DR)),
		// Two local destinations: the lowest address serves, reported.
		svc("203.0.113.30", 25, dest("203.0.113.99", 25, 1, lvs.DR), dest("203.0.113.11", 25, 1, lvs.DR)),
		// A DR real-server port other than the virtual port: DR delivers
		// the virtual port, so that is what the rule keeps.
		svc("203.0.113.31", 8443, dest("203.0.113.11", 443, 1, lvs.DR)),
		// fwmark: cannot be guarded, reported.
		{Key: lvs.ServiceKey{Family: lvs.IPv4, FWMark: 7}, Scheduler: "rr", Destinations: []lvs.Destination{dest("203.0.113.11", 0, 1, lvs.DR)}},
		{Key: lvs.ServiceKey{Family: lvs.IPv4, FWMark: 8}, Scheduler: "rr", Destinations: []lvs.Destination{dest("203.0.113.12", 0, 1, lvs.DR)}},
	}}
	got, skipped := TargetsFor(tab, self)
	want := []Target{
		{lvs.TCP, mustAddr("203.0.113.10"), 3128, mustAddr("203.0.113.11"), 3128},
		{lvs.TCP, mustAddr("203.0.113.10"), 0, mustAddr("203.0.113.11"), 0},
		{lvs.TCP, mustAddr("203.0.113.30"), 25, mustAddr("203.0.113.11"), 25},
		{lvs.TCP, mustAddr("203.0.113.31"), 8443, mustAddr("203.0.113.11"), 8443},
		{lvs.UDP, mustAddr("203.0.113.10"), 53, mustAddr("203.0.113.11"), 53},
		{lvs.TCP, mustAddr("2001:db8::10"), 443, mustAddr("2001:db8::11"), 443},
	}
	if !slices.Equal(got, want) {
		t.Errorf("targets:\n got %v\nwant %v", got, want)
	}
	if len(skipped) != 2 || skipped[0].Service.FWMark != 7 && skipped[1].Service.FWMark != 7 {
		t.Errorf("skipped %+v: want the fwmark 7 service and the two-local-destinations one", skipped)
	}
	for _, s := range skipped {
		if s.Reason == "" {
			t.Errorf("skipped %v without a reason", s.Service)
		}
	}
	// The derivation is what Normalize expects: normalizing changes nothing.
	n, err := Desired{Peers: []net.HardwareAddr{mac("02:00:00:00:00:01")}, Targets: got}.Normalize()
	if err != nil || !slices.Equal(n.Targets, got) {
		t.Errorf("Normalize of derived targets: %v %v", n.Targets, err)
	}
	// Deterministic whatever the input order.
	rev := lvs.Table{Services: slices.Clone(tab.Services)}
	slices.Reverse(rev.Services)
	if got2, _ := TargetsFor(rev, []netip.Addr{self[2], self[1], self[0]}); !slices.Equal(got2, got) {
		t.Errorf("order-dependent: %v vs %v", got2, got)
	}
	// No local address, no targets; empty input is fine.
	if g, s := TargetsFor(tab, nil); len(g) != 0 || len(s) != 0 {
		t.Errorf("no self: %v %v", g, s)
	}
	if g, s := TargetsFor(lvs.Table{}, self); len(g) != 0 || len(s) != 0 {
		t.Errorf("empty table: %v %v", g, s)
	}
	// A 4-in-6 local address still matches (203.0.113.12 serves three).
	if g, _ := TargetsFor(tab, []netip.Addr{netip.AddrFrom16(mustAddr("203.0.113.12").As16())}); len(g) != 3 {
		t.Errorf("4in6 self: %v", g)
	}
}

func TestTargetsForOddInput(t *testing.T) {
	// Whatever the table holds, the derivation never panics and only
	// returns targets that Normalize accepts.
	tabs := []lvs.Table{
		{Services: []lvs.Service{{Key: lvs.ServiceKey{Protocol: 99, Addr: mustAddr("203.0.113.10"), Port: 1}, Destinations: []lvs.Destination{dest("203.0.113.11", 1, 1, lvs.DR)}}}},
		{Services: []lvs.Service{{Key: lvs.ServiceKey{Protocol: lvs.TCP, Port: 1}, Destinations: []lvs.Destination{dest("203.0.113.11", 1, 1, lvs.DR)}}}},
		{Services: []lvs.Service{{Key: lvs.ServiceKey{Protocol: lvs.TCP, Addr: mustAddr("2001:db8::1"), Port: 1}, Destinations: []lvs.Destination{dest("203.0.113.11", 1, 1, lvs.DR)}}}},
		{Services: []lvs.Service{{Key: lvs.ServiceKey{Protocol: lvs.TCP, Addr: mustAddr("224.0.0.1"), Port: 1}, Destinations: []lvs.Destination{dest("203.0.113.11", 1, 1, lvs.DR)}}}},
		{Services: []lvs.Service{{Key: lvs.ServiceKey{Protocol: lvs.TCP, Addr: mustAddr("203.0.113.10"), Port: 1}, Destinations: []lvs.Destination{{Method: lvs.DR}}}}},
	}
	for i, tab := range tabs {
		got, skipped := TargetsFor(tab, []netip.Addr{mustAddr("203.0.113.11"), {}})
		if len(got) != 0 {
			t.Errorf("table %d: targets %v from an invalid service", i, got)
		}
		if i < 4 && len(skipped) != 1 {
			t.Errorf("table %d: skipped %v, want one reason", i, skipped)
		}
	}
}

func TestNormalize(t *testing.T) {
	a, b := mac("02:00:00:00:00:0b"), mac("02:00:00:00:00:0a")
	tg := Target{Protocol: lvs.TCP, VIP: mustAddr("203.0.113.10"), Port: 80, Local: mustAddr("203.0.113.11")}
	d, err := Desired{Peers: []net.HardwareAddr{a, b, a}, Targets: []Target{tg, tg}}.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Peers) != 2 || d.Peers[0].String() != "02:00:00:00:00:0a" || len(d.Targets) != 1 || d.Targets[0].LocalPort != 80 {
		t.Fatalf("normalized %s", d)
	}
	if !d.Equal(d) || d.Empty() {
		t.Fatal("Equal/Empty")
	}
	if !(Desired{Targets: d.Targets}).Empty() || !(Desired{Peers: d.Peers}).Empty() {
		t.Fatal("Empty without peers or targets")
	}
	// Port-0 target after the specific ones of the same VIP.
	all := tg
	all.Port, all.LocalPort = 0, 0
	d, err = Desired{Peers: []net.HardwareAddr{a}, Targets: []Target{all, tg}}.Normalize()
	if err != nil || d.Targets[0].Port != 80 || d.Targets[1].Port != 0 {
		t.Fatalf("port-0 order: %v %v", d.Targets, err)
	}
	bad := []struct {
		d    Desired
		want string
	}{
		{Desired{Peers: []net.HardwareAddr{{1, 2, 3}}}, "6-byte"},
		{Desired{Peers: []net.HardwareAddr{mac("01:00:5e:00:00:01")}}, "multicast"},
		{Desired{Peers: []net.HardwareAddr{mac("ff:ff:ff:ff:ff:ff")}}, "multicast or broadcast"},
		{Desired{Peers: []net.HardwareAddr{mac("00:00:00:00:00:00")}}, "all-zero"},
		{Desired{Targets: []Target{{Protocol: 1, VIP: tg.VIP, Port: 1, Local: tg.Local}}}, "protocol"},
		{Desired{Targets: []Target{{Protocol: lvs.TCP, Port: 1, Local: tg.Local}}}, "virtual address"},
		{Desired{Targets: []Target{{Protocol: lvs.TCP, VIP: tg.VIP, Port: 1}}}, "local address"},
		{Desired{Targets: []Target{{Protocol: lvs.TCP, VIP: tg.VIP, Port: 1, Local: mustAddr("2001:db8::1")}}}, "family"},
		{Desired{Targets: []Target{{Protocol: lvs.TCP, VIP: mustAddr("fe80::1%eth0"), Port: 1, Local: mustAddr("fe80::2")}}}, "virtual address"},
		{Desired{Targets: []Target{{Protocol: lvs.TCP, VIP: tg.VIP, Port: 0, Local: tg.Local, LocalPort: 8}}}, "port-0"},
		{Desired{Targets: []Target{tg, {Protocol: lvs.TCP, VIP: tg.VIP, Port: 80, Local: mustAddr("203.0.113.12")}}}, "same packets"},
	}
	for _, c := range bad {
		if _, err := c.d.Normalize(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Normalize(%s) = %v, want an error containing %q", c.d, err, c.want)
		}
	}
}

func TestRuleComment(t *testing.T) {
	for _, tg := range []Target{
		{lvs.TCP, mustAddr("203.0.113.10"), 3128, mustAddr("203.0.113.11"), 3128},
		{lvs.UDP, mustAddr("2001:db8::10"), 53, mustAddr("2001:db8::11"), 5353},
		{lvs.SCTP, mustAddr("203.0.113.10"), 0, mustAddr("203.0.113.11"), 0},
	} {
		c := ruleComment(tg)
		got, err := parseRuleComment(c)
		if err != nil || got != tg {
			t.Errorf("round trip of %q: %v %v", c, got, err)
		}
	}
	for _, c := range []string{
		"", "q1 aa", "q1 aa TCP 203.0.113.10:80", "q2 aa TCP 203.0.113.10:80 203.0.113.11:80",
		"q1 aa ICMP 203.0.113.10:80 203.0.113.11:80", "q1 aa TCP 203.0.113.10 203.0.113.11:80",
		"q1 aa TCP 203.0.113.10:80 [2001:db8::1]:80", "q1 aa TCP 203.0.113.10:0 203.0.113.11:80",
		"q1  aa TCP 203.0.113.10:80 203.0.113.11:80", "q1 aa TCP 203.0.113.10:080 203.0.113.11:80",
		"q1 aa TCP [::ffff:203.0.113.10]:80 203.0.113.11:80", "q1 aa TCP 203.0.113.10:80 203.0.113.11:80 x",
	} {
		if tg, err := parseRuleComment(c); err == nil {
			t.Errorf("parseRuleComment(%q) = %v, want an error", c, tg)
		}
	}
}

func FuzzParseRuleComment(f *testing.F) {
	for _, s := range []string{
		"q1 aa TCP 203.0.113.10:3128 203.0.113.11:3128",
		"q1 aa UDP [2001:db8::10]:53 [2001:db8::11]:53",
		"q1 aa SCTP 203.0.113.10:0 203.0.113.11:0",
		"q1 aa TCP 203.0.113.10:80 [2001:db8::1]:80",
		"", "q1 aa \x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := parseRuleComment(s)
		if err != nil {
			return
		}
		if ruleComment(tg) != s {
			t.Fatalf("accepted %q but renders %q", s, ruleComment(tg))
		}
		if _, err := (Desired{Targets: []Target{tg}}).Normalize(); err != nil {
			t.Fatalf("accepted %q but Normalize rejects it: %v", s, err)
		}
		if len(targetExprs(tg, 1)) == 0 {
			t.Fatal("no expressions")
		}
	})
}

func TestDesiredFor(t *testing.T) {
	tab := lvs.Table{Services: []lvs.Service{
		svc("203.0.113.10", 3128, dest("203.0.113.11", 3128, 10, lvs.DR), dest("203.0.113.12", 3128, 20, lvs.DR), dest("203.0.113.13", 3128, 20, lvs.DR)),
	}}
	pub := map[string][]string{
		"iwash1": {"02:00:00:00:00:01"},
		"iwash2": {"02:00:00:00:00:02"},
		"iwash3": {"02:00:00:00:00:03", "bogus"},
	}
	d, skipped, err := DesiredFor(tab, []netip.Addr{mustAddr("203.0.113.12")}, pub, "iwash2", []net.HardwareAddr{mac("02:00:00:00:00:02")})
	if err == nil || len(skipped) != 0 {
		t.Fatalf("err %v skipped %v: want the bogus MAC reported", err, skipped)
	}
	want := Desired{
		Peers:   []net.HardwareAddr{mac("02:00:00:00:00:01"), mac("02:00:00:00:00:03")},
		Targets: []Target{{lvs.TCP, mustAddr("203.0.113.10"), 3128, mustAddr("203.0.113.12"), 3128}},
	}
	if !d.Equal(want) {
		t.Fatalf("DesiredFor = %s, want %s", d, want)
	}
	if n, err := d.Normalize(); err != nil || !n.Equal(d) {
		t.Fatalf("DesiredFor result is not normalized: %s %v", n, err)
	}
}
