package nftables

import (
	"strings"
	"testing"
	"time"

	"quadrature/lvs"
)

// TestRulesetListable: operators inspect the table with nft; every rule
// shape this backend writes must be printable (an earlier persistence rule
// made `nft list` abort) and read naturally.
func TestRulesetListable(t *testing.T) {
	l := newLBLab(t, Options{})
	p4 := svc(lvs.TCP, vip4, "wrr", 1, 2, 0)
	p4.Persistence = 300 * time.Second
	p4.Netmask = 24
	p6 := svc(lvs.UDP, vip6, "sh", 1, 1, 1)
	p6.Persistence = 60 * time.Second
	fw := lvs.Service{Key: lvs.ServiceKey{Family: lvs.IPv6, FWMark: 9}, Scheduler: "dh",
		Destinations: []lvs.Destination{{Addr: rsAddr(0, true), Weight: 1}}}
	empty := svc(lvs.TCP, vip4, "rr")
	empty.Key.Port = 81
	l.sync(t, table(p4, p6, fw, empty))
	out := string(l.director.MustRun("nft", "list", "ruleset"))
	for _, want := range []string{
		"ct mark set ip saddr & 255.255.255.0 map @p",
		"ct mark set ip6 saddr map @p",
		"update @p", "numgen inc mod 3 vmap @m", "jhash ip6 saddr mod 3 seed 0x71756164 vmap @m",
		"jhash ip6 daddr mod 1", "meta mark 0x00000009", "dnat ip to 192.0.2.11:8080", "dnat ip6 to [2001:db8:2::11]:8080",
		"dnat ip6 to 2001:db8:2::11 ", "masquerade",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("ruleset lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(out)
	}
}
