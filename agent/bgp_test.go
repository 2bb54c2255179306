package agent

import (
	"net/netip"
	"slices"
	"testing"

	"quadrature/bgp"
	"quadrature/config"
	"quadrature/lvs"
)

func TestBGPRoutes(t *testing.T) {
	med := uint32(7)
	g := &config.BGP{Announce: []config.BGPAnnounce{
		{Prefix: netip.MustParsePrefix("192.0.2.10/32"), Communities: []string{"64512:1"}, MED: &med},
		{Prefix: netip.MustParsePrefix("198.51.100.0/24")},
		{Prefix: netip.MustParsePrefix("2001:db8::/64")},
		{Prefix: netip.MustParsePrefix("203.0.113.0/28")}, // no address service: as written
	}}
	svc := func(addr string, weights ...int32) lvs.Service {
		s := lvs.Service{Key: lvs.ServiceKey{Protocol: lvs.TCP, Addr: netip.MustParseAddr(addr), Port: 80}}
		for i, w := range weights {
			s.Destinations = append(s.Destinations, lvs.Destination{Addr: netip.AddrFrom4([4]byte{198, 18, 0, byte(i + 1)}), Port: 80, Weight: w})
		}
		return s
	}
	table := lvs.Table{Services: []lvs.Service{
		svc("192.0.2.10", 0, 1),   // one live server: announced
		svc("198.51.100.5", 0, 0), // all down (quiesced): not announced
		svc("198.51.100.6"),       // no servers: not announced
		svc("198.51.100.7", 5),    // announced, as a host route inside the /24
		svc("2001:db8::8", 1),
		{Key: lvs.ServiceKey{FWMark: 3}, Destinations: []lvs.Destination{{Weight: 1}}},
	}}
	got := bgpRoutes(g, table)
	var names []string
	for _, r := range got {
		names = append(names, r.Prefix.String())
	}
	want := []string{"192.0.2.10/32", "198.51.100.7/32", "2001:db8::8/128", "203.0.113.0/28"}
	if !slices.Equal(names, want) {
		t.Fatalf("routes %v, want %v", names, want)
	}
	if r := got[0]; !slices.Equal(r.Communities, []uint32{64512<<16 | 1}) || r.MED == nil || *r.MED != 7 {
		t.Errorf("attributes of %s: %+v", r.Prefix, r)
	}
	// The last live server of 192.0.2.10 down: its route goes.
	table.Services[0].Destinations[1].Weight = 0
	if slices.ContainsFunc(bgpRoutes(g, table), func(r bgp.Route) bool { return r.Prefix.Addr() == netip.MustParseAddr("192.0.2.10") }) {
		t.Error("a VIP without live real servers is still announced")
	}
	if bgpRoutes(nil, table) != nil {
		t.Error("routes without a bgp block")
	}
}
