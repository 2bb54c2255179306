package nftables

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"quadrature/lvs"
)

// TestRulesetListable: operators inspect the table with nft; every rule
// shape this backend writes must be printable (an earlier persistence rule
// made `nft list` abort), read naturally and load again from a file.
func TestRulesetListable(t *testing.T) {
	l := newLBLab(t, Options{})
	p4 := svc(lvs.TCP, vip4, "wrr", 1, 2, 0)
	p4.Persistence = 300 * time.Second
	p4.Netmask = 24
	p6 := svc(lvs.UDP, vip6, "sh", 1, 1, 1)
	p6.Persistence = 60 * time.Second
	fw := lvs.Service{Key: lvs.ServiceKey{Family: lvs.IPv6, FWMark: 9}, Scheduler: "dh",
		Destinations: []lvs.Destination{{Addr: rsAddr(0, true), Weight: 1}, {Addr: rsAddr(1, true), Port: 8080, Weight: 1}}}
	empty := svc(lvs.TCP, vip4, "rr")
	empty.Key.Port = 81
	l.sync(t, table(p4, p6, fw, empty))
	out := string(l.director.MustRun("nft", "list", "ruleset"))
	for _, want := range []string{
		"ip saddr & 255.255.255.0 == @p1d2_300_24 jump s1d2 comment \"q1 w id=1 d=2 w=1\"",
		"ip6 saddr @p", "update @p1d2_300_24 { ip saddr & 255.255.255.0 }", "continue comment \"q1 w id=", "numgen inc mod 3 vmap { 0 : jump s", "jhash ip6 saddr mod 3 seed 0x71756164 vmap {",
		"jhash ip6 daddr mod 2", "meta l4proto { tcp, udp }", "meta mark 0x00000009", "dnat ip to 192.0.2.11:8080", "dnat ip6 to [2001:db8:2::11]:8080",
		"dnat ip6 to 2001:db8:2::11 ", "masquerade",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("ruleset lacks %q", want)
		}
	}
	// A saved ruleset must load again (operators keep `nft list ruleset`
	// in /etc/nftables.conf).
	f := filepath.Join(t.TempDir(), "ruleset.nft")
	if err := os.WriteFile(f, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	if res, err := l.director.Run("nft", "-c", "-f", f); err != nil {
		t.Errorf("saved ruleset does not load: %v\n%s", err, res)
	}
	if t.Failed() {
		t.Log(out)
	}
}
