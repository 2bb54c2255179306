package config

import (
	"strings"
	"testing"
)

// inst wraps VRRP instance lines in a minimal valid instance.
func inst(lines ...string) string {
	return "vrrp_instance VI {\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {\n  192.0.2.1\n }\n" +
		strings.Join(lines, "\n") + "\n}\n"
}

// vs wraps lines in a minimal valid virtual server (line 1 is the header).
func vs(lines ...string) string {
	return "virtual_server 192.0.2.1 80 {\n" + strings.Join(lines, "\n") + "\n}\n"
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"unknown keyword with suggestion", inst(" virtual_router 12"),
			[]string{`main.conf:7: unknown keyword "virtual_router" in vrrp_instance (did you mean "virtual_router_id"?)`}},
		{"typo", inst(" prority 100"),
			[]string{`main.conf:7: unknown keyword "prority" in vrrp_instance (did you mean "priority"?)`}},
		{"unknown without suggestion", inst(" frobnicate"),
			[]string{`main.conf:7: unknown keyword "frobnicate" in vrrp_instance`}},
		{"not supported", inst(" use_vmac_addr"), []string{`main.conf:7: not supported: use_vmac_addr (a VMAC per VIP interface is not created; use_vmac makes the instance's)`}},
		{"notify user", inst(` notify_master "/etc/keepalived/n.sh master" nobody nogroup`),
			[]string{`main.conf:7: notify_master: not supported: running the script as user "nobody nogroup" (notify scripts run as script_user); to pass arguments, quote the whole command line`}},
		{"notify unquoted argument", inst(` notify /etc/keepalived/n.sh arg`),
			[]string{`main.conf:7: notify: not supported: running the script as user "arg" (notify scripts run as script_user); to pass arguments, quote the whole command line`}},
		{"not supported top", "track_group G {\n group {\n  VI\n }\n}\n", []string{`main.conf:1: not supported: track_group (static addresses, routes and rules do not drive instances)`}},
		{"bad route", "static_routes {\n 198.51.100.0/24 via 2001:db8::1\n 203.0.113.0/24 frob 1\n}\n",
			[]string{`main.conf:2: static_routes: via 2001:db8::1 is IPv6, the route is IPv4 (keepalived: cannot mix IPv4 and IPv6 addresses for route)`, `main.conf:3: static_routes: unknown route option "frob"`}},
		{"bad rule", "static_rules {\n from 192.0.2.0/24 table 1 preference 10\n to 192.0.2./24 table 1 preference 11\n}\n",
			[]string{`main.conf:3: static_rules: to "192.0.2./24" is not an address or prefix`}},
		{"semicolon in authentication", inst(" authentication {\n  auth_type PASS;\n  auth_pass secret\n }"),
			[]string{`main.conf:8: auth_type: keepalived does not end a statement at ';': it reads "PASS;" as its value and refuses it; remove the ';'`}},
		{"not supported vip option", "vrrp_instance VI {\n virtual_router_id 1\n virtual_ipaddress {\n  192.0.2.1 use_vmac\n }\n interface eth0\n}\n",
			[]string{`main.conf:4: not supported: use_vmac`}},
		{"vrid range", "vrrp_instance VI {\n virtual_router_id 256\n virtual_ipaddress {\n 192.0.2.1\n }\n interface eth0\n}\n",
			[]string{`main.conf:2: virtual_router_id 256 out of range (1-255)`}},
		{"priority range", inst(" priority 0"), []string{`main.conf:7: priority 0 out of range (1-255)`}},
		{"priority not int", inst(" priority high"), []string{`main.conf:7: priority: "high" is not an integer`}},
		{"advert range", inst(" advert_int 300"), []string{`main.conf:7: advert_int "300" out of range (0.01-255 seconds)`}},
		{"nopreempt 255", inst(" state MASTER", " nopreempt"),
			[]string{`main.conf:1: vrrp_instance VI: nopreempt is incompatible with priority 255 (the address owner always preempts)`}},
		{"auth v3", inst(" version 3", " authentication {\n auth_type PASS\n auth_pass secret\n }"),
			[]string{`main.conf:1: vrrp_instance VI: authentication is only for VRRPv2 over IPv4`}},
		{"v2 ipv6", "vrrp_instance VI {\n version 2\n interface eth0\n virtual_router_id 5\n virtual_ipaddress {\n  2001:db8::1/64\n }\n}\n",
			[]string{`main.conf:1: vrrp_instance VI: VRRP version 2 does not support IPv6`}},
		{"duplicate vrid", inst() + strings.Replace(inst(), "VI", "VI2", 1),
			[]string{`main.conf:9: vrrp_instance VI2: virtual_router_id 51 on eth0 (IPv4) is already used by vrrp_instance VI (main.conf:1)`,
				`main.conf:13: vrrp_instance VI2: VIP 192.0.2.1 duplicates the one at main.conf:13`}[:1]},
		{"undefined script", inst(" track_script {\n  chk_nginx\n }"),
			[]string{`main.conf:8: track_script: no vrrp_script named "chk_nginx"`}},
		{"sync group member", inst() + "vrrp_sync_group G {\n group {\n VI\n VI_9\n }\n}\n",
			[]string{`main.conf:9: vrrp_sync_group G: no vrrp_instance named "VI_9"`}},
		{"missing brace", "global_defs {\n router_id x\n", []string{`main.conf:1: missing '}' for the block opened here`}},
		{"unterminated quote", "global_defs {\n router_id \"abc\n}\n", []string{`main.conf:2: unterminated quoted string`}},
		{"bad vip", "vrrp_instance VI {\n virtual_router_id 1\n virtual_ipaddress {\n  192.0.2.300\n }\n interface eth0\n}\n",
			[]string{`main.conf:4: virtual_ipaddress: "192.0.2.300" is not an IP address or prefix`}},
		{"unknown scheduler", vs(" lb_algo foo"), []string{`main.conf:1: virtual_server 192.0.2.1 80 has no real servers`, `main.conf:2: lb_algo: "foo" is not one of rr, wrr, lc, wlc, lblc, sh, mh, dh, fo, ovf, lblcr, sed, nq, twos`}[1:]},
		{"unknown method", vs(" lb_kind FOO"), []string{`main.conf:2: lb_kind: "FOO" is not one of NAT, DR, TUN`}},
		{"rs family", vs(" real_server 2001:db8::5 80 {\n }"),
			[]string{`main.conf:2: virtual_server 192.0.2.1 80: real_server 2001:db8::5 80 is not IPv4 like the virtual server`}},
		{"duplicate rs", vs(" real_server 192.0.2.5 80 {\n }", " real_server 192.0.2.5 80 {\n }"),
			[]string{`main.conf:4: duplicate virtual_server 192.0.2.1 80: real_server 192.0.2.5 80 (first at main.conf:2)`}},
		{"duplicate vs", vs(" real_server 192.0.2.5 80 {\n }") + vs(" real_server 192.0.2.5 80 {\n }"),
			[]string{`main.conf:5: duplicate virtual_server 192.0.2.1 80 TCP (first at main.conf:1)`}},
		{"undefined group", "virtual_server group WEB {\n real_server 192.0.2.5 80 {\n }\n}\n",
			[]string{`main.conf:1: virtual_server group WEB: no virtual_server_group named "WEB"`}},
		{"unresolvable host", vs(" real_server nosuchhost 80 {\n }"),
			[]string{`main.conf:2: real_server: cannot resolve "nosuchhost": host "nosuchhost" not found`}},
		{"checker unknown", vs(" real_server 192.0.2.5 80 {\n  TCP_CHECK {\n   connect_tmeout 3\n  }\n }"),
			[]string{`main.conf:4: unknown keyword "connect_tmeout" in TCP_CHECK (did you mean "connect_timeout"?)`}},
		{"status code", vs(" real_server 192.0.2.5 80 {\n  HTTP_GET {\n   url {\n    path /\n    status_code 200-1000\n   }\n  }\n }"),
			[]string{`main.conf:6: status_code: "200-1000" is not a status or range (100-599)`}},
		{"digest", vs(" real_server 192.0.2.5 80 {\n  HTTP_GET {\n   url {\n    path /\n    digest abc\n   }\n  }\n }"),
			[]string{`main.conf:6: digest "abc" is not an MD5 digest (32 hex digits)`}},
		{"misc without path", vs(" real_server 192.0.2.5 80 {\n  MISC_CHECK {\n   misc_dynamic\n  }\n }"),
			[]string{`main.conf:3: MISC_CHECK without misc_path`}},
		{"hysteresis", vs(" quorum 2", " hysteresis 2", " real_server 192.0.2.5 80 {\n weight 3\n }"),
			[]string{`main.conf:1: virtual_server 192.0.2.1 80: hysteresis 2 must be below quorum 2`}},
		{"args count", "global_defs {\n router_id a b\n}\n", []string{`main.conf:2: router_id needs exactly 1 argument(s), got 2`}},
		{"block expected", "global_defs\n", []string{`main.conf:1: global_defs needs a block in braces`}},
		{"cluster bind", "cluster {\n peers 192.0.2.2\n insecure yes\n}\n", []string{`main.conf:1: cluster: bind is required (the address raft, gossip and the API use)`}},
		{"cluster policy", "cluster {\n bind 192.0.2.1\n verdict_policy most\n}\n", []string{`main.conf:3: verdict_policy: "most" is not one of any, majority, all`}},
		{"strict", "global_defs {\n vrrp_strict\n}\n" + inst(" unicast_peer {\n 192.0.2.9\n }"),
			nil},
		{"strict master", "global_defs {\n vrrp_strict\n}\n" + inst(" state MASTER", " priority 100"),
			[]string{`main.conf:10: vrrp_instance VI: strict mode: state MASTER requires priority 255, the address owner (keepalived: "State MASTER must match being address owner")`}},
		{"strict no vip", "global_defs {\n vrrp_strict\n}\nvrrp_instance VI {\n interface eth0\n virtual_router_id 51\n}\n",
			[]string{`main.conf:4: vrrp_instance VI has no virtual_ipaddress: strict mode requires at least one (as keepalived does)`}},
		{"no interface", "vrrp_instance VI {\n virtual_router_id 1\n virtual_ipaddress {\n  192.0.2.1\n }\n}\n",
			[]string{`main.conf:1: vrrp_instance VI needs an interface (or unicast peers)`}},
		{"checker port", "virtual_server fwmark 3 {\n real_server 192.0.2.5 0 {\n  TCP_CHECK {\n  }\n }\n}\n",
			[]string{`main.conf:3: virtual_server fwmark 3: real_server 192.0.2.5 0: TCP_CHECK needs connect_port (the real server has no port)`}},
		{"top-level typo", "vrrp_instanse VI {\n}\n", []string{`main.conf:1: unknown keyword "vrrp_instanse" at the top level (did you mean "vrrp_instance"?)`}},
	} {
		_, _, err := loadMem(t, memFS{"main.conf": tc.src}, "n")
		got := ""
		if err != nil {
			got = err.Error()
		}
		want := strings.Join(tc.want, "\n")
		// Errors are sorted by line; compare as sets of lines in order.
		if !sameLines(got, want) {
			t.Errorf("%s:\n got:\n%s\nwant:\n%s", tc.name, got, want)
		}
	}
}

func sameLines(a, b string) bool {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	if len(la) != len(lb) {
		return false
	}
	seen := map[string]int{}
	for _, l := range la {
		seen[l]++
	}
	for _, l := range lb {
		seen[l]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}

func TestErrorListSorted(t *testing.T) {
	src := "global_defs {\n bogus1\n}\n" + inst(" bogus2")
	_, _, err := loadMem(t, memFS{"main.conf": src}, "n")
	el, ok := err.(ErrorList)
	if !ok || len(el) != 2 || el[0].Pos.Line != 2 || el[1].Pos.Line != 10 {
		t.Fatalf("%#v", err)
	}
}

func TestWarnings(t *testing.T) {
	_, warns, err := loadMem(t, memFS{"main.conf": "global_defs {\n vrrp_priority -10\n}\n" + inst(" advert_int 1.4", " state MASTER", " priority 100")}, "n")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range warns {
		got = append(got, w.String())
	}
	want := []string{
		"main.conf:2: warning: ignored: vrrp_priority (process scheduling is not configurable in quadrature)",
		"main.conf:4: warning: vrrp_instance VI: state MASTER with priority 100 starts as BACKUP and waits for the master-down timer",
		"main.conf:10: warning: vrrp_instance VI: advert_int 1.4 rounded to 1s (VRRPv2 carries whole seconds)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got:\n%s", strings.Join(got, "\n"))
	}
}

// TestDesignClusterBlock loads the cluster block exactly as docs/design.md shows
// it, with two api statements on one line.
func TestDesignClusterBlock(t *testing.T) {
	src := `cluster {
  node_name iwash1
  bind 198.51.100.11          # raft + gossip + api address of this node
  peers 198.51.100.12 198.51.100.13
  data_dir /var/lib/quadrature
  verdict_policy majority     # any | majority | all
  api { listen 198.51.100.11:9900  token_file /etc/quadrature/token }
  credentials /etc/quadrature/credentials
}
`
	cfg, _, err := loadMem(t, memFS{"main.conf": src}, "iwash1")
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Cluster
	if c.NodeName != "iwash1" || c.Bind.String() != "198.51.100.11" || len(c.Peers) != 2 || c.API.Listen.String() != "198.51.100.11:9900" ||
		c.API.TokenFile != "/etc/quadrature/token" || c.RaftPort != 9901 || c.GossipPort != 9902 || c.BootstrapExpect != 3 ||
		c.Role != "voter" || c.Placement != "configured" || c.DegradedAfter.Seconds() != 10 {
		t.Fatalf("%+v", c)
	}
}

// TestDiagnosticFormat pins the compiler convention: "file:line: message"
// for errors, "file:line: warning: message" for warnings.
func TestDiagnosticFormat(t *testing.T) {
	p := Pos{File: "k.conf", Line: 7}
	for _, tc := range []struct {
		d    Diagnostic
		want string
	}{
		{Diagnostic{Pos: p, Msg: "bad"}, "k.conf:7: bad"},
		{Diagnostic{Pos: p, Msg: "odd", Warning: true}, "k.conf:7: warning: odd"},
	} {
		if got := tc.d.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
	if got := FormatDiagnostic("", "odd", true); got != "warning: odd" {
		t.Errorf("no position: %q", got)
	}
	if got := FormatDiagnostic("k.conf", "odd", true); got != "k.conf: warning: odd" {
		t.Errorf("file only: %q", got)
	}
}
