package config

import (
	"net/netip"
	"testing"
)

// TestVirtualServerID pins the one ID scheme (package internal/ids) as the
// configuration produces it: the API's VirtualService.ID, the state's keys
// and the metrics' vs label.
func TestVirtualServerID(t *testing.T) {
	for _, tc := range []struct {
		vs   VirtualServer
		want string
	}{
		{VirtualServer{Protocol: "TCP", Addr: netip.MustParseAddr("203.0.113.10"), Port: 80}, "tcp/203.0.113.10:80"},
		{VirtualServer{Protocol: "UDP", Addr: netip.MustParseAddr("2001:db8::1"), Port: 53, Family: FamilyInet6}, "udp/[2001:db8::1]:53"},
		{VirtualServer{Addr: netip.MustParseAddr("::ffff:192.0.2.1"), Port: 443}, "tcp/192.0.2.1:443"},
		{VirtualServer{Protocol: "TCP", Fwmark: 7}, "fwmark/7"},
		{VirtualServer{Protocol: "TCP", Fwmark: 7, Family: FamilyInet6}, "fwmark/7/ipv6"},
		{VirtualServer{Protocol: "SCTP", Group: "web"}, "group/web/sctp"},
	} {
		if got := tc.vs.ID(); got != tc.want {
			t.Errorf("ID(%+v) = %q, want %q", tc.vs, got, tc.want)
		}
	}
}
