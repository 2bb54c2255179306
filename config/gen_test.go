package config

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// gen writes random valid keepalived.conf text, for property tests.
type gen struct {
	r *rand.Rand
	b strings.Builder
	n int // makes generated addresses unique within a file
}

func (g *gen) p(format string, args ...any) { fmt.Fprintf(&g.b, format+"\n", args...) }

func (g *gen) maybe() bool { return g.r.IntN(2) == 0 }

func (g *gen) pick(s ...string) string { return s[g.r.IntN(len(s))] }

// sep varies the syntax: newline, or "; " between statements.
func (g *gen) secs() string {
	switch g.r.IntN(3) {
	case 0:
		return fmt.Sprint(1 + g.r.IntN(30))
	case 1:
		return fmt.Sprintf("%d.%d", g.r.IntN(10), 1+g.r.IntN(9))
	default:
		return fmt.Sprintf("%d.%02d", 1+g.r.IntN(5), 1+g.r.IntN(99))
	}
}

func (g *gen) v4(net string) string {
	g.n++
	return fmt.Sprintf("%s.%d", net, g.n%250+1)
}

func (g *gen) v6(net string) string {
	g.n++
	return fmt.Sprintf("%s::%x", net, g.n)
}

func (g *gen) config(node string) string {
	g.b.Reset()
	g.n = g.r.IntN(100)
	g.p("# generated for %s", node)
	if g.maybe() {
		g.global()
	}
	if g.maybe() {
		// A three-node group needs credentials, tls and a gossip key, or
		// insecure.
		security := g.pick(
			"credentials /etc/quadrature/credentials",
			"credentials \"/etc/quadrature/my creds\"\n insecure yes",
			"insecure",
			"insecure on",
			"tls {\n  cert_file /etc/q/node.crt\n  key_file /etc/q/node.key\n  ca_file /etc/q/ca.crt\n }\n gossip_key_file /etc/q/gossip.key",
			"gossip_key_file /etc/q/gossip.key\n insecure true",
		)
		apiTLS := g.pick("", "\n  cert_file /etc/q/api.crt\n  key_file /etc/q/api.key", "\n  ca_file /etc/q/api-ca.crt")
		g.p("cluster {\n bind 192.0.2.%d\n peers 192.0.2.201 192.0.2.202\n verdict_policy %s\n degraded_after %s\n placement %s\n quorum_fence %s\n %s\n api {\n  token_file /etc/q/token\n  metrics_auth %s%s\n }\n}",
			1+g.r.IntN(199), g.pick("any", "majority", "all"), g.pick("5s", "1m30s", "12"), g.pick("auto", "configured"), g.pick("on", "off"), security, g.pick("on", "off"), apiTLS)
	}
	scripts := []string{}
	for i := range g.r.IntN(3) {
		name := fmt.Sprintf("chk_%d", i)
		scripts = append(scripts, name)
		g.p("vrrp_script %s {\n script \"/usr/bin/check %d --flag\"\n interval %s", name, i, g.secs())
		if g.maybe() {
			g.p(" timeout %s", g.secs())
		}
		if g.maybe() {
			g.p(" weight %d%s", g.r.IntN(507)-253, g.pick("", " reverse"))
		}
		g.p(" rise %d ; fall %d", 1+g.r.IntN(5), 1+g.r.IntN(5))
		if g.maybe() {
			g.p(" user nobody%s\n init_fail", g.pick("", " nogroup"))
		}
		g.p("}")
	}
	if g.maybe() {
		g.p("track_file tf1 {\n file /run/tf1\n weight %d%s\n}", g.r.IntN(100)-50, g.pick("", " reverse"))
	}
	var instances []string
	for i := range 1 + g.r.IntN(3) {
		instances = append(instances, g.instance(i, scripts))
	}
	if len(instances) > 1 && g.maybe() {
		g.p("vrrp_sync_group SG {\n group {\n  %s\n }\n notify_master \"/bin/echo master\"", strings.Join(instances, "\n  "))
		if len(scripts) > 0 {
			g.p(" track_script {\n  %s weight 0\n }", scripts[0])
		}
		g.p("}")
	}
	if g.maybe() {
		g.p("virtual_server_group G4 {\n 198.51.100.%d-%d 80\n 203.0.113.0/30 80\n fwmark 7\n}", 1+g.r.IntN(10), 20+g.r.IntN(10))
	}
	for i := range g.r.IntN(4) {
		g.virtualServer(i)
	}
	return g.b.String()
}

func (g *gen) global() {
	g.p("global_defs {")
	g.p(" router_id %s", g.pick("lb1", "LVS_DEVEL", "\"edge router\""))
	if g.maybe() {
		g.p(" notification_email {\n  a@example.org\n  b@example.org\n }\n notification_email_from lb@example.org\n smtp_server 192.0.2.25 %d\n smtp_connect_timeout %d", 25+g.r.IntN(2)*562, 1+g.r.IntN(60))
	}
	for _, kw := range []string{"enable_script_security", "vrrp_skip_check_adv_addr", "vrrp_check_unicast_src", "vrrp_lower_prio_no_advert", "vrrp_higher_prio_send_advert", "v3_checksum_as_v2", "lvs_flush", "dynamic_interfaces", "smtp_alert"} {
		if g.r.IntN(4) == 0 {
			g.p(" %s", kw)
		}
	}
	if g.maybe() {
		g.p(" vrrp_version %d", 2+g.r.IntN(2))
	}
	if g.maybe() {
		g.p(" vrrp_garp_master_delay %d\n vrrp_garp_master_repeat %d\n vrrp_garp_master_refresh %d", g.r.IntN(10), g.r.IntN(10), g.r.IntN(100))
	}
	if g.maybe() {
		g.p(" lvs_timeouts tcp %d udp %d", 1+g.r.IntN(900), 1+g.r.IntN(300))
	}
	if g.maybe() {
		g.p(" lvs_backend %s\n max_auto_priority %d\n script_user root", g.pick("auto", "ipvs", "nftables"), g.r.IntN(99))
	}
	g.p("}")
}

func (g *gen) instance(i int, scripts []string) string {
	name := fmt.Sprintf("VI_%d", i)
	v6 := g.r.IntN(4) == 0
	g.p("vrrp_instance %s\n{", name)
	state := g.pick("MASTER", "BACKUP")
	g.p(" state %s\n interface eth%d\n virtual_router_id %d", state, i, 1+g.r.IntN(255))
	prio := 1 + g.r.IntN(254)
	if g.maybe() {
		g.p(" priority %d", prio)
	} else if state == "MASTER" {
		prio = 255
	}
	g.p(" advert_int %s", g.pick("1", "2", "3"))
	g.p(" virtual_ipaddress {")
	for range 1 + g.r.IntN(3) {
		if v6 {
			g.p("  %s/64%s", g.v6("2001:db8:5"), g.pick("", " -nodad", " dev eth9", " noprefixroute"))
		} else {
			g.p("  %s/%d%s", g.v4("192.0.2"), 24+g.r.IntN(9), g.pick("", " brd 192.0.2.255", " dev eth1 scope global", " label eth0:vip"))
		}
	}
	g.p(" }")
	if g.maybe() {
		g.p(" virtual_ipaddress_excluded {\n  %s\n  %s/64\n }", g.v4("203.0.113"), g.v6("2001:db8:e"))
	}
	if g.maybe() && !v6 {
		g.p(" unicast_src_ip %s\n unicast_peer {\n  %s\n  %s max_ttl 255\n }", g.v4("198.51.100"), g.v4("198.51.101"), g.v4("198.51.102"))
	}
	if !v6 && g.maybe() {
		g.p(" version 2\n authentication {\n  auth_type %s\n  auth_pass %s\n }", g.pick("PASS"), g.pick("pw", "12345678", "\"a b\""))
	}
	if state == "BACKUP" && prio != 255 && g.maybe() {
		g.p(" nopreempt")
	} else if g.maybe() {
		g.p(" preempt_delay %d", g.r.IntN(1001))
	}
	if len(scripts) > 0 && g.maybe() {
		g.p(" track_script {")
		for _, s := range scripts {
			g.p("  %s%s", s, g.pick("", " weight 10", " weight -5 reverse"))
		}
		g.p(" }")
	}
	if g.maybe() {
		g.p(" track_interface {\n  eth%d\n  eth%d weight %d\n }", g.r.IntN(3), 3+g.r.IntN(3), g.r.IntN(100)-50)
	}
	for _, kw := range []string{"notify_master", "notify_backup", "notify_fault", "notify_stop", "notify"} {
		if g.r.IntN(3) == 0 {
			g.p(" %s \"/etc/keepalived/n.sh %s\"", kw, kw)
		}
	}
	for _, kw := range []string{"no_accept", "dont_track_primary", "smtp_alert", "lower_prio_no_advert", "higher_prio_send_advert", "quorum_fence", "v3_checksum_as_v2"} {
		if g.r.IntN(5) == 0 {
			g.p(" %s", kw)
		}
	}
	if g.maybe() {
		g.p(" garp_master_delay %d ; garp_master_repeat %d ; down_timer_adverts %d", g.r.IntN(10), g.r.IntN(10), 1+g.r.IntN(10))
	}
	g.p("}")
	return name
}

func (g *gen) virtualServer(i int) {
	v6 := g.r.IntN(4) == 0
	switch g.r.IntN(5) {
	case 0:
		g.p("virtual_server fwmark %d {", 100+i)
		v6 = false
	default:
		if v6 {
			g.p("virtual_server 2001:db8:7::%d %d {", 1+i, 80+i)
		} else {
			g.p("virtual_server 192.0.2.%d %d {", 100+i, 80+i)
		}
	}
	g.p(" protocol %s ; lb_algo %s ; lb_kind %s", g.pick("TCP", "UDP", "SCTP"), Schedulers[g.r.IntN(len(Schedulers))], g.pick("NAT", "DR", "TUN", "TUN type gue port 6080 csum"))
	if g.maybe() {
		g.p(" delay_loop %s\n connect_timeout %s", g.secs(), g.secs())
	}
	if g.maybe() {
		g.p(" persistence_timeout %d\n persistence_granularity %s", 1+g.r.IntN(600), g.pick("24", "16")[:2])
	}
	if g.maybe() {
		g.p(" retry %d\n delay_before_retry %s\n warmup %s", g.r.IntN(5), g.secs(), g.secs())
	}
	for _, kw := range []string{"alpha", "omega", "ha_suspend", "inhibit_on_failure", "ops", "hashed"} {
		if g.r.IntN(5) == 0 {
			g.p(" %s", kw)
		}
	}
	if g.maybe() {
		if v6 {
			g.p(" sorry_server 2001:db8:9::1 8080")
		} else {
			g.p(" sorry_server 192.0.2.250 8080\n sorry_server_lvs_method NAT")
		}
	}
	g.p(" quorum %d ; hysteresis 0", 1+g.r.IntN(3))
	for j := range 1 + g.r.IntN(3) {
		if v6 {
			g.p(" real_server 2001:db8:8::%d %d {", 1+j, 8000+j)
		} else {
			g.p(" real_server %s %d {", g.pick("tic", fmt.Sprintf("198.51.100.%d", 10+j)), 8000+j)
		}
		if g.maybe() {
			g.p("  weight %d", g.r.IntN(100))
		}
		if g.maybe() {
			g.p("  notify_up \"/bin/up %d\"\n  uthreshold 100\n  lthreshold 10\n  retry 2", j)
		}
		for range g.r.IntN(3) {
			g.checker(v6)
		}
		g.p(" }")
		if g.pick("tic", "x") == "tic" {
			break // "tic" may have been used: one real server is enough
		}
	}
	g.p("}")
}

func (g *gen) checker(v6 bool) {
	switch g.r.IntN(8) {
	case 0:
		g.p("  TCP_CHECK {\n   connect_timeout %s\n   connect_port %d\n  }", g.secs(), 1+g.r.IntN(65535))
	case 1, 2:
		kind := g.pick("HTTP_GET", "SSL_GET")
		g.p("  %s {\n   url {\n    path /h%d\n    status_code 200-299 404\n    digest 0123456789abcdef0123456789ABCDEF\n   }", kind, g.r.IntN(10))
		g.p("   url {\n    path \"/q?a=1 b\"\n    regex \"^ok$\"\n    regex_no_match\n   }\n   http_protocol %s\n   virtualhost www.example.org", g.pick("1.0", "1.1", "1.0C"))
		if kind == "SSL_GET" {
			g.p("   enable_sni\n   sni_name x.example.org")
		}
		g.p("   nb_get_retry %d\n   delay_loop %s\n  }", g.r.IntN(5), g.secs())
	case 3:
		g.p("  MISC_CHECK {\n   misc_path \"/bin/check -x %d\"\n   misc_timeout %s\n   %s\n  }", g.r.IntN(9), g.secs(), g.pick("misc_dynamic", "user nobody", "warmup 3"))
	case 4:
		g.p("  DNS_CHECK {\n   type %s\n   name example.org\n  }", g.pick("A", "AAAA", "MX"))
	case 5:
		g.p("  SMTP_CHECK {\n   helo_name mx.example.org\n   retry 0\n  }")
	case 6:
		g.p("  UDP_CHECK {\n   payload 0a0b\n   require_reply 0aXx\n   max_reply_length 100\n  }")
	case 7:
		if v6 {
			g.p("  PING_CHECK {\n   bindto 2001:db8:8::99\n  }")
		} else {
			g.p("  PING_CHECK {\n   bindto tic\n   alpha\n  }")
		}
	}
}

func genHosts() Hosts {
	return Hosts{"tic": {mustAddr("198.51.100.133"), mustAddr("2001:db8:8::133")}}
}

// TestRandomRoundTrip is the round-trip property over generated configs:
// every generated file loads, renders, and loads back to an equal model.
func TestRandomRoundTrip(t *testing.T) {
	g := &gen{r: rand.New(rand.NewPCG(1, 2))}
	for i := range 300 {
		src := g.config("n1")
		cfg, _, err := LoadBytes(fmt.Sprintf("gen%d.conf", i), []byte(src), LoadOptions{Node: "n1", Resolver: genHosts()})
		if err != nil {
			t.Fatalf("generated config %d does not load: %v\n%s", i, err, src)
		}
		roundTrip(t, fmt.Sprintf("gen%d", i), cfg, LoadOptions{Resolver: genHosts()})
	}
}

var (
	rePriority = regexp.MustCompile(` priority \d+`)
	reTimeout  = regexp.MustCompile(`\n connect_timeout [0-9.]+`)
)

// TestRandomMerge is the merge property: merging per-node variants of
// generated configs and evaluating the result for node X gives X's model.
// Merge re-checks that itself; here any such report fails the test.
func TestRandomMerge(t *testing.T) {
	for i := range 60 {
		var inputs []NodeConfig
		nodes := 2 + i%3
		for n := range nodes {
			// Same seed for the structure, a per-node tweak for values: most
			// lines agree, some differ.
			g := &gen{r: rand.New(rand.NewPCG(uint64(i), uint64(n*(i%2))))}
			node := fmt.Sprintf("node%d", n+1)
			src := g.config(node)
			// Per-node values inside shared blocks.
			src = rePriority.ReplaceAllString(src, fmt.Sprintf(" priority %d", 100+10*n))
			if n > 0 {
				src = reTimeout.ReplaceAllString(src, fmt.Sprintf("\n connect_timeout %d", n+1))
			}
			cfg, _, err := LoadBytes(node+".conf", []byte(src), LoadOptions{Node: node, Resolver: genHosts()})
			if err != nil {
				t.Fatalf("generated config does not load: %v", err)
			}
			inputs = append(inputs, NodeConfig{Node: node, Config: cfg})
		}
		text, problems := Merge(inputs, LoadOptions{Resolver: genHosts()})
		for _, p := range problems {
			if s := p.Error(); strings.Contains(s, "internal error") || strings.Contains(s, "does not load") {
				t.Fatalf("merge %d: %v\n%s", i, p, text)
			}
		}
	}
}
