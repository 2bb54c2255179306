package ids

import (
	"net/netip"
	"testing"
)

func TestForms(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{Service("TCP", netip.MustParseAddrPort("192.0.2.10:80")), "tcp/192.0.2.10:80"},
		{Service("", netip.MustParseAddrPort("192.0.2.10:80")), "tcp/192.0.2.10:80"},
		{Service("udp", netip.MustParseAddrPort("[2001:db8::1]:53")), "udp/[2001:db8::1]:53"},
		{Service("SCTP", netip.MustParseAddrPort("[::ffff:192.0.2.1]:9")), "sctp/192.0.2.1:9"},
		{FWMark(7, false), "fwmark/7"},
		{FWMark(7, true), "fwmark/7/ipv6"},
		{Group("web", "TCP"), "group/web/tcp"},
		{Group("a/b", ""), "group/a/b/tcp"},
		{RealServer(netip.MustParseAddrPort("[2001:db8::21]:8080")), "[2001:db8::21]:8080"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		// current scheme: unchanged
		"tcp/192.0.2.10:80":        "tcp/192.0.2.10:80",
		"udp/[2001:db8::1]:53":     "udp/[2001:db8::1]:53",
		"fwmark/7":                 "fwmark/7",
		"fwmark/7/ipv6":            "fwmark/7/ipv6",
		"group/web/tcp":            "group/web/tcp",
		"group/a/b/udp":            "group/a/b/udp",
		"TCP/192.0.2.10:80":        "tcp/192.0.2.10:80",
		"tcp/[::ffff:c000:20a]:80": "tcp/192.0.2.10:80",
		// earlier builds
		"TCP 192.0.2.10:80":    "tcp/192.0.2.10:80",
		"UDP [2001:db8::1]:53": "udp/[2001:db8::1]:53",
		"SCTP 192.0.2.1:9":     "sctp/192.0.2.1:9",
		"FWM 7":                "fwmark/7",
		"FWM 7 IPv6":           "fwmark/7/ipv6",
		"GROUP web TCP":        "group/web/tcp",
	} {
		got, ok := Normalize(in)
		if !ok || got != want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{
		"", "tcp", "tcp/", "tcp/192.0.2.10", "icmp/192.0.2.10:80", "tcp/192.0.2.10:99999",
		"fwmark/0", "fwmark/07", "fwmark/x", "fwmark/7/ipv4", "fwmark/4294967296",
		"group//tcp", "group/web", "group/web/icmp", "group/w b/tcp",
		"TCP  192.0.2.10:80", " TCP 192.0.2.10:80", "FWM 0", "FWM 7 IPv4", "GROUP web", "HTTP 192.0.2.1:80",
	} {
		if got, ok := Normalize(in); ok {
			t.Errorf("Normalize(%q) = %q, want refused", in, got)
		}
	}
}

// FuzzNormalize: never panics, a normalized ID is a fixed point, and it is
// never longer than the bound the input was held to.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"tcp/192.0.2.10:80", "fwmark/7/ipv6", "group/web/tcp", "TCP 192.0.2.10:80",
		"FWM 7 IPv6", "GROUP web TCP", "udp/[2001:db8::1%eth0]:53", "tcp/[::ffff:192.0.2.1]:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := Normalize(s)
		if !ok {
			return
		}
		again, ok2 := Normalize(n)
		if !ok2 || again != n {
			t.Fatalf("Normalize(%q) = %q, but Normalize(%q) = %q, %v", s, n, n, again, ok2)
		}
	})
}
