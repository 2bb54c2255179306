package agent

import (
	"net/netip"
	"testing"

	"quadrature/config"
)

// TestServiceID pins the API's virtual service IDs that the agent backend
// derives from the configuration (the contract of VirtualService.ID).
func TestServiceID(t *testing.T) {
	for _, tc := range []struct {
		vs   config.VirtualServer
		want string
	}{
		{config.VirtualServer{Protocol: "TCP", Addr: netip.MustParseAddr("203.0.113.10"), Port: 80}, "tcp/203.0.113.10:80"},
		{config.VirtualServer{Protocol: "UDP", Addr: netip.MustParseAddr("2001:db8::1"), Port: 53, Family: config.FamilyInet6}, "udp/[2001:db8::1]:53"},
		{config.VirtualServer{Addr: netip.MustParseAddr("::ffff:192.0.2.1"), Port: 443}, "tcp/192.0.2.1:443"},
		{config.VirtualServer{Protocol: "TCP", Fwmark: 7}, "fwmark/7"},
		{config.VirtualServer{Protocol: "TCP", Fwmark: 7, Family: config.FamilyInet6}, "fwmark/7/ipv6"},
		{config.VirtualServer{Protocol: "SCTP", Group: "web"}, "group/web/sctp"},
	} {
		if got := serviceID(&tc.vs); got != tc.want {
			t.Errorf("serviceID(%+v) = %q, want %q", tc.vs, got, tc.want)
		}
	}
}
