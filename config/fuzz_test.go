package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seedFiles adds every example and real-world sample as a fuzz seed.
func seedFiles(f *testing.F) {
	for _, pat := range []string{"testdata/examples/*.conf", "testdata/realworld/*.conf"} {
		files, _ := filepath.Glob(pat)
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(string(b))
		}
	}
	for _, s := range []string{
		"", "{", "}", "a {", "a { b { c } }", "\"", "'", "@n x", "@^n x", "$A=$A\nx $A",
		"$A=${A}${A}\nx $A", "include x", "include {a,{b}", "a;;;b", "x \\\n y", "\"\\x4\"",
		"vrrp_instance V { virtual_ipaddress { 192.0.2.1/33 } }",
		"virtual_server_group G { 192.0.2.1-0 80\n 2001:db8::1-ffff 80\n 10.0.0.0/8\n fwmark 1 inet6 }",
		"virtual_server fwmark 1 { persistence_granularity 255.0.255.0 }",
		// Routes, rules, static addresses, VMAC, SMTP hosts, FIFOs,
		// semicolons keepalived reads differently, flag words.
		"static_routes {\n src 192.0.2.1 198.51.100.0/24 via 192.0.2.254 dev eth0 table 100 metric 5 scope link proto static onlink\n" +
			" 203.0.113.0/24 via 192.0.2.1 or 192.0.2.2\n blackhole 203.0.113.128/25\n default nexthop via 192.0.2.1 weight 2 nexthop via 192.0.2.3 dev eth1 onlink\n" +
			" 2001:db8:1::/48 via 2001:db8::1 mtu lock 1400 initcwnd 10 tos 0x10 append no_track\n inet6 default via fe80::1 dev eth0\n}",
		"static_rules {\n from 192.0.2.0/24 table 1 preference 10\n not to 2001:db8::/32 lookup main fwmark 0x10/0xff iif eth0 oif eth1 pref 20\n" +
			" inet6 priority 30 unreachable\n from all goto 40 order 5 suppress_prefixlength 0 l3mdev protocol 12\n}",
		"static_routes {\n 198.51.100.0/24 dev eth0 rtt 10ms rttvar 1s realms 3/20 features ecn congctl cubic add\n" +
			" 2001:db8::/48 from 2001:db8:1::/48 via inet6 2001:db8::1 nexthop via 2001:db8::2 weight 3 realms 4\n unreachable 192.0.2.0/24 expires 5\n}\n" +
			"static_rules {\n table 7 uidrange 1-2 ipproto udp sport 10-20 dport 53 sup_group 3 realms 1/2\n type goto 40 preference 5\n dev eth0 nop\n}",
		"static_ipaddress {\n 192.0.2.16/24 dev eth0 scope link\n 2001:db8::16/64 dev eth1 -nodad\n}",
		"vrrp_instance V {\n interface eth0\n virtual_router_id 9\n use_vmac vrrp9 00:00:5e:00:01:09\n vmac_xmit_base\n" +
			" virtual_routes {\n 0.0.0.0/0 gw 192.0.2.1 table 100\n }\n virtual_rules {\n from 192.0.2.9 table 100 preference 50\n }\n nopreempt 1\n}",
		"virtual_server 192.0.2.1 25 dev eth0 {\n protocol TCP\n real_server 198.51.100.1 25 {\n SMTP_CHECK {\n host {\n connect_ip 198.51.100.2\n connect_port 587\n }\n }\n }\n}",
		"global_defs {\n notify_fifo /run/f user grp\n notify_fifo_script /bin/s\n vrrp_strict\n max_auto_priority -1\n net_namespace blue\n}",
		"vrrp_instance V { authentication { auth_type PASS; auth_pass x } }\nvirtual_server 192.0.2.1 80 { protocol TCP ; lb_algo rr\n}",
		"vrrp_instance V {\n interface eth0\n virtual_router_id 9\n use_vmac name v9 02:00:5e:aa:bb netlink_notify_msg group 3\n}\n" +
			"vrrp_instance W {\n interface eth0\n virtual_router_id 8\n use_ipvlan ipv8 192.0.2.8/24 vepa group x\n vmac_xmit_base\n}",
		"vrrp_instance V {\n use_vmac a b c : :: name\n use_ipvlan name\n use_vmac 00:00:5e:00:01\n}",
		"include nothing*.conf\nvrrp_instance V {\n interface eth0\n virtual_router_id 1\n}",
		// quadrature's bgp block.
		"bgp {\n local_as 64512\n router_id 192.0.2.11\n hold_time 3\n listen_port 1179\n neighbor 192.0.2.1 {\n remote_as 64500\n password \"a b\"\n" +
			" port 1179\n local_address 192.0.2.11\n multihop 2\n bfd\n }\n neighbor 2001:db8::1 {\n remote_as 1.10\n hold_time 0\n }\n" +
			" announce {\n 192.0.2.100 community 64512:100 no_export med 10\n 2001:db8::/64 communities 1:1\n }\n}\nvirtual_server 192.0.2.100 80 {\n}\n",
		"bgp {\n local_as 4294967295\n neighbor ::1 {\n remote_as 1\n }\n announce {\n 0.0.0.0/0 med 4294967295\n }\n}\ncluster {\n bind 192.0.2.1\n insecure\n}",
		trackConf, // vrrp_track_process, track_file and track_process (track_test.go)
	} {
		f.Add(s)
	}
}

// FuzzLex checks that the lexer never panics and that every token carries a
// position inside the input.
func FuzzLex(f *testing.F) {
	seedFiles(f)
	f.Fuzz(func(t *testing.T, src string) {
		files := memFS{"f.conf": src, "inc.conf": "a b\n"}
		l := newLexer(&LoadOptions{Node: "n", ReadFile: files.readFile, Glob: files.glob})
		l.file("f.conf", []byte(src))
		lines := map[string]int{"f.conf": strings.Count(src, "\n") + 1, "inc.conf": 1}
		for _, tk := range l.toks {
			if n, ok := lines[tk.Pos.File]; !ok || tk.Pos.Line < 1 || tk.Pos.Line > n {
				t.Fatalf("token %q at %v outside the input", tk.Text, tk.Pos)
			}
		}
		for _, e := range l.errs {
			if _, ok := lines[e.Pos.File]; !ok || e.Pos.Line < 1 {
				t.Fatalf("error %q without a position in the input", e.Msg)
			}
		}
	})
}

// FuzzParse loads arbitrary text (with an in-memory include tree) and checks
// that nothing panics, that errors carry positions, and that whatever loads
// cleanly renders to text that loads back to an equal model.
func FuzzParse(f *testing.F) {
	seedFiles(f)
	f.Fuzz(func(t *testing.T, src string) {
		files := memFS{"main.conf": src, "inc.conf": "router_id x\n", "loop.conf": "include main.conf\n"}
		opts := files.options("n")
		opts.Resolver = Hosts{"tic": {mustAddr("192.0.2.133"), mustAddr("2001:db8::133")}}
		cfg, _, err := Load("main.conf", opts)
		if err != nil {
			for _, d := range err.(ErrorList) {
				if d.Pos.File == "" || d.Pos.Line < 1 {
					t.Fatalf("error without position: %q", d.Msg)
				}
			}
			return
		}
		for _, text := range [][]byte{cfg.Render(), cfg.RenderCompact()} {
			back, _, err := LoadBytes("rendered.conf", text, opts)
			if err != nil {
				t.Fatalf("rendered text does not load: %v\n%s", err, text)
			}
			if d := Diff(cfg, back); d != "" {
				t.Fatalf("round trip changed the model: %s\n%s", d, text)
			}
		}
	})
}

// FuzzHosts checks the hosts(5) parser never panics and only returns valid
// entries.
func FuzzHosts(f *testing.F) {
	b, _ := os.ReadFile(examplesHosts)
	f.Add(string(b))
	f.Add("127.0.0.1 localhost\n::1 localhost ip6-localhost # c\nbad line\n1.2.3.4\n")
	f.Add("fe80::1%eth0 ll\n::ffff:192.0.2.1 mapped\n")
	f.Fuzz(func(t *testing.T, src string) {
		h, errs := ParseHosts("hosts", []byte(src))
		for name, addrs := range h {
			if !validHostName(name) || len(addrs) == 0 {
				t.Fatalf("bad entry %q %v", name, addrs)
			}
			for _, a := range addrs {
				if !a.IsValid() || a.Is4In6() {
					t.Fatalf("bad address %v", a)
				}
			}
		}
		for _, e := range errs {
			if e.Pos.Line < 1 {
				t.Fatalf("error without line: %v", e)
			}
		}
	})
}

// FuzzMerge evaluates one input for two nodes (its @a / @b lines make them
// differ), merges the two models and checks the merge is sound: evaluated
// for each node, the merged text gives back that node's model.
func FuzzMerge(f *testing.F) {
	seedFiles(f)
	f.Add("@a global_defs {\n@b global_defs { router_id b\n}\nvrrp_instance V {\n interface eth0\n@a virtual_router_id 1\n@^a virtual_router_id 2\n virtual_ipaddress {\n@b 192.0.2.9\n  192.0.2.1\n }\n}\n")
	f.Add("@a vrrp_script s {\n@b vrrp_script t {\n script x\n}\n")
	f.Fuzz(func(t *testing.T, src string) {
		opts := LoadOptions{Resolver: Hosts{"tic": {mustAddr("192.0.2.133")}}}
		var in []NodeConfig
		for _, node := range []string{"a", "b"} {
			o := opts
			o.Node = node
			cfg, _, err := LoadBytes("m.conf", []byte(src), o)
			if err != nil {
				return
			}
			in = append(in, NodeConfig{Node: node, Config: cfg})
		}
		text, problems := Merge(in, opts)
		for _, p := range problems {
			if s := p.Error(); strings.Contains(s, "internal error") || strings.Contains(s, "does not load") {
				t.Fatalf("%v\n%s", p, text)
			}
		}
	})
}
