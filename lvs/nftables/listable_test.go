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
		"meta l4proto . ip daddr . th dport vmap @svc4", "meta l4proto . ip6 daddr . th dport vmap @svc6",
		"meta mark vmap @fwm6", "0x00000009 : jump s",
		"ct mark set ip saddr & 255.255.255.0 map @p1_300_24_4 comment \"q2 pl id=1\"",
		"ct mark set ip6 saddr map @p", "update @p1_300_24_4 { ip saddr & 255.255.255.0 : ct mark }",
		"ct mark != @stats_new ct mark set 0x0001ffff", "ct mark set numgen inc mod 3 offset 65536 comment \"q2 sched id=1 n=3\"",
		"jhash ip6 saddr mod 3 seed 0x71756164 offset ", "jhash ip6 daddr mod 2 seed 0x71756164 offset ",
		"ct mark set ct mark map @slots", "jump pick", "goto nat4", "goto nat6",
		"meta l4proto tcp dnat ip to ct mark map @dst4", "meta l4proto udp dnat ip6 to ct mark map @dst6", "dnat ip6 to ct mark map @dst6a",
		": 192.0.2.11 . 8080", ": 2001:db8:2::11 . 8080", "comment \"q2 s=",
		"masquerade",
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
