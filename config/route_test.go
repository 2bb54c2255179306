package config

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// TestParseRouteOptions: every route option keepalived 2.2.7 documents,
// read into the model, with its warnings.
func TestParseRouteOptions(t *testing.T) {
	for _, tc := range []struct {
		line string
		want func(r Route) bool
		warn string
	}{
		{"src 192.0.2.1 to 198.51.100.0/24 via 192.0.2.254 dev eth0", func(r Route) bool {
			return r.Src == mustAddr("192.0.2.1") && r.Dst.String() == "198.51.100.0/24" && r.Via == mustAddr("192.0.2.254") && r.Dev == "eth0"
		}, ""},
		{"198.51.100.0/24 gw 192.0.2.254 oif eth1", func(r Route) bool { return r.Via == mustAddr("192.0.2.254") && r.Dev == "eth1" }, `"gw" is deprecated`},
		{"blackhole 203.0.113.1/32", func(r Route) bool { return r.Type == "blackhole" && r.Dst.Bits() == 32 }, ""},
		{"to unreachable 203.0.113.0/24 table 100 metric 7", func(r Route) bool { return r.Type == "unreachable" && r.Table == 100 && r.Metric == 7 }, ""},
		{"prohibit 203.0.113.0/24 preference 9", func(r Route) bool { return r.Type == "prohibit" && r.Metric == 9 }, ""},
		{"throw 203.0.113.0/24 table main", func(r Route) bool { return r.Type == "throw" && r.Table == 254 }, ""},
		{"198.51.100.0/24 dev eth0 scope link protocol bird no_track", func(r Route) bool {
			return r.Scope == "link" && r.Protocol == "bird" && r.NoTrack
		}, ""},
		{"198.51.100.0/24 dev eth0 protocol bird", func(r Route) bool { return r.Protocol == "bird" }, "protocol bird is replaced by keepalived (18)"},
		{"198.51.100.0/24 via 192.0.2.1 dev eth0 onlink tos 0x04 realms 3/20", func(r Route) bool {
			return r.Onlink && r.Tos == 4 && r.Realms == 3<<16|20
		}, ""},
		{"198.51.100.0/24 dev eth0 mtu lock 1400 advmss 1360 hoplimit 64 window 100 cwnd 10 initcwnd 20 initrwnd 30 ssthresh lock 40 reordering 3 quickack 1 fastopen_no_cookie 1",
			func(r Route) bool {
				return len(r.Metrics) == 11 && r.Metrics[0] == (RouteMetric{Name: "mtu", Value: 1400, Lock: true}) &&
					r.Metrics[7] == (RouteMetric{Name: "ssthresh", Value: 40, Lock: true})
			}, ""},
		{"198.51.100.0/24 dev eth0 rtt 10ms rttvar 1s rto_min 200 features ecn congctl cubic", func(r Route) bool {
			return r.Metrics[0].Value == 80 && r.Metrics[1].Value == 4000 && r.Metrics[2].Value == 200 && r.FeatureECN && r.Congctl == "cubic"
		}, ""},
		{"198.51.100.0/24 via 192.0.2.1 append", func(r Route) bool { return r.Append && !r.Add }, ""},
		{"198.51.100.0/24 via 192.0.2.1 append add", func(r Route) bool { return r.Add && !r.Append }, ""},
		{"198.51.100.0/24 via 192.0.2.1 add prepend", func(r Route) bool { return !r.Add && !r.Append }, ""},
		{"198.51.100.0/24 via 192.0.2.252 or 192.0.2.253 dev eth0", func(r Route) bool {
			return len(r.Nexthops) == 2 && r.Nexthops[1].Via == mustAddr("192.0.2.253") && r.Nexthops[0].Dev == "eth0" && r.Dev == ""
		}, `"or" is deprecated`},
		{"198.51.100.0/24 table 6909 nexthop via 192.0.2.1 dev eth0 onlink weight 1 nexthop via 192.0.2.2 dev eth1 weight 2 realms 7", func(r Route) bool {
			return len(r.Nexthops) == 2 && r.Nexthops[0].Onlink && r.Nexthops[1].Weight == 2 && r.Nexthops[1].Realms == 7 && r.Table == 6909
		}, ""},
		{"2001:db8:1::/48 via inet6 2001:db8::1 dev eth0", func(r Route) bool { return r.Family == FamilyInet6 && r.Via == mustAddr("2001:db8::1") }, ""},
		{"inet6 default via fe80::1 dev eth0", func(r Route) bool { return r.Family == FamilyInet6 && r.Dst.String() == "::/0" }, ""},
		{"default via 192.0.2.1", func(r Route) bool { return r.Family == FamilyInet && r.Dst.String() == "0.0.0.0/0" }, ""},
		{"2001:db8:1::/48 from 2001:db8:2::/48 dev eth0", func(r Route) bool { return r.From.String() == "2001:db8:2::/48" }, ""},
	} {
		r, warns, err := parseRoute(strings.Fields(tc.line))
		if err != nil {
			t.Errorf("%q: %v", tc.line, err)
			continue
		}
		if !tc.want(r) {
			b, _ := json.Marshal(r)
			t.Errorf("%q: got %s", tc.line, b)
		}
		var ws []string
		for _, w := range warns {
			ws = append(ws, string(w))
		}
		if got := strings.Join(ws, "; "); (tc.warn == "") != (got == "") || !strings.Contains(got, tc.warn) {
			t.Errorf("%q: warnings %q, want %q", tc.line, got, tc.warn)
		}
		back, _, err := parseRoute(strings.Fields(r.String()))
		if err != nil || !reflect.DeepEqual(back, r) {
			t.Errorf("%q: renders as %q, which reads back as %+v (%v)", tc.line, r.String(), back, err)
		}
	}
}

func TestParseRouteErrors(t *testing.T) {
	for line, want := range map[string]string{
		"via 192.0.2.1":                                       "no destination",
		"198.51.100.0/24 via 2001:db8::1":                     "via 2001:db8::1 is IPv6, the route is IPv4",
		"inet6 198.51.100.0/24":                               "198.51.100.0/24 is IPv4, the route is IPv6",
		"198.51.100.0/24 metric x":                            `metric "x" is not a number`,
		"198.51.100.0/24 table foo":                           `table "foo" is not a number`,
		"198.51.100.0/24 scope galaxy":                        `scope "galaxy"`,
		"198.51.100.0/24 protocol nonsense":                   `protocol "nonsense"`,
		"198.51.100.0/24 hoplimit 300":                        `hoplimit "300" is not a number 0-255`,
		"198.51.100.0/24 quickack 2":                          `quickack "2" is not a number 0-1`,
		"198.51.100.0/24 window lock 5":                       "window takes no lock",
		"198.51.100.0/24 rtt 5min":                            `rtt "5min" is not a number`,
		"198.51.100.0/24 features fast":                       `feature "fast"`,
		"198.51.100.0/24 realms PQA/0x14":                     "realm names from rt_realms are not read",
		"2001:db8::/32 realms 5 dev eth0":                     "realms are IPv4 only",
		"198.51.100.0/24 from 192.0.2.0/24":                   "IPv6 only",
		"198.51.100.0/24 via 192.0.2.1 expires 10":            "not supported: route option expires",
		"198.51.100.0/24 vrf blue":                            "not supported: route option vrf",
		"198.51.100.0/24 encap mpls 200 via 192.0.2.1":        "not supported: route option encap",
		"198.51.100.0/24 nexthop via 192.0.2.1 metric 5":      `"metric" after the nexthops`,
		"198.51.100.0/24 nexthop via 192.0.2.1 weight 0":      "weight",
		"198.51.100.0/24 via 192.0.2.1 nexthop via 192.0.2.2": "via and dev go in each nexthop",
		"blackhole 198.51.100.0/24 via 192.0.2.1":             "a blackhole route has no gateway",
		"198.51.100.0/24 frob":                                `unknown route option "frob"`,
		"198.51.100.0/24 track_group G":                       "not supported: track_group",
		"198.51.100.0/24 via":                                 "via needs a value",
		"198.51.100.0/24 or 192.0.2.1":                        `"or" needs a via before it`,
		"198.51.100.0/24 via 192.0.2.1 or 192.0.2.2 nexthop":  "exclude each other",
		"blackhole": "needs a destination",
	} {
		_, _, err := parseRoute(strings.Fields(line))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", line, err, want)
		}
	}
}

func TestParseRuleOptions(t *testing.T) {
	u32 := func(v uint32) *uint32 { return &v }
	for _, tc := range []struct {
		line string
		want func(r Rule) bool
	}{
		{"from 192.0.2.0/24 table 1 preference 10", func(r Rule) bool {
			return r.From.String() == "192.0.2.0/24" && r.Table == 1 && *r.Preference == 10 && r.Family == FamilyInet
		}},
		{"not to 2001:db8::/32 lookup main priority 200 fwmark 24/0xff iif eth0 oif eth1 tos 0x10", func(r Rule) bool {
			return r.Not && r.Family == FamilyInet6 && r.Table == 254 && r.Fwmark == 24 && r.FwmarkMask == 0xff && r.IIf == "eth0" && r.OIf == "eth1" && r.Tos == 16
		}},
		{"dev eth2 order 5 blackhole", func(r Rule) bool { return r.IIf == "eth2" && r.Action == "blackhole" && *r.Preference == 5 }},
		{"inet6 preference 300 type unreachable", func(r Rule) bool { return r.Action == "unreachable" && r.Family == FamilyInet6 }},
		{"preference 5 goto 40", func(r Rule) bool { return r.Action == "goto" && r.Goto == 40 }},
		{"preference 5 type goto 40", func(r Rule) bool { return r.Action == "goto" && r.Goto == 40 }},
		{"from all preference 6 nop", func(r Rule) bool { return r.Action == "nop" && !r.From.IsValid() }},
		{"to 198.51.100.0/24 table 7 preference 8 suppress_prefixlength 0 sup_group 3 realms 30/20", func(r Rule) bool {
			return *r.SuppressPrefixLength == 0 && *r.SuppressIfgroup == 3 && r.Realms == 30<<16|20
		}},
		{"table 7 preference 8 uidrange 10000-19999 ipproto udp sport 10-20 dport 53 protocol 12 no_track", func(r Rule) bool {
			return *r.UIDRange == Range{10000, 19999} && r.IPProto == 17 && *r.Sport == Range{10, 20} && *r.Dport == Range{53, 53} && r.Protocol == "12" && r.NoTrack
		}},
		{"preference 9 l3mdev", func(r Rule) bool { return r.L3mdev && r.Table == 0 }},
	} {
		r, _, err := parseRule(strings.Fields(tc.line))
		if err != nil {
			t.Errorf("%q: %v", tc.line, err)
			continue
		}
		if !tc.want(r) {
			b, _ := json.Marshal(r)
			t.Errorf("%q: got %s", tc.line, b)
		}
		back, _, err := parseRule(strings.Fields(r.String()))
		if err != nil || !reflect.DeepEqual(back, r) {
			t.Errorf("%q: renders as %q, which reads back as %+v (%v)", tc.line, r.String(), back, err)
		}
	}
	_ = u32
}

func TestParseRuleErrors(t *testing.T) {
	for line, want := range map[string]string{
		"from 192.0.2.0/24 preference 5":                 "no action",
		"from 192.0.2.0/24 table 0 preference 5":         "table 0 is not valid",
		"table 1 blackhole preference 5":                 "only one of table",
		"goto 40":                                        "goto 40 needs a preference",
		"preference 50 goto 40":                          "preference 50 is not below the goto target 40",
		"from 192.0.2.0/24 to 2001:db8::/32 table 1":     "mixes IPv4 and IPv6",
		"inet6 from 192.0.2.0/24 table 1":                "mixes IPv4 and IPv6",
		"to 192.168.100./24 table 1":                     `to "192.168.100./24" is not an address or prefix`,
		"fwmark 5/x table 1":                             "fwmark mask",
		"preference 5 blackhole suppress_prefixlength 0": "suppress_prefixlength needs a table action",
		"table 1 preference 5 uidrange 5":                "uidrange",
		"table 1 preference 5 sport 70000":               "sport",
		"table 1 preference 5 ipproto foo":               "ipproto",
		"preference 5 type unicast":                      `rule action "unicast"`,
		"table 1 preference 5 tunnel-id 7":               "not supported: rule option tunnel-id",
		"table 1 preference 5 l3mdev":                    "only one of table",
		"table 1 frob":                                   `unknown rule option "frob"`,
	} {
		_, _, err := parseRule(strings.Fields(line))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", line, err, want)
		}
	}
}

// TestRulePreferencesAssigned: rules without a preference get keepalived's
// numbers (16384 down, per family, static and virtual in file order) with
// keepalived's warning, at the rule's line; a bad line is an error at its
// own line.
func TestRulePreferencesAssigned(t *testing.T) {
	src := "static_rules {\n from 192.0.2.0/24 table 1\n inet6 to 2001:db8::/32 table 1\n to 198.51.100.0/24 table 2 preference 7\n}\n" +
		"vrrp_instance VI {\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {\n  192.0.2.20\n }\n" +
		" virtual_rules {\n  from 192.0.2.20 table 100\n }\n}\n"
	c, warns, err := loadMem(t, memFS{"main.conf": src}, "n")
	if err != nil {
		t.Fatal(err)
	}
	got := []uint32{*c.StaticRules[0].Preference, *c.StaticRules[1].Preference, *c.StaticRules[2].Preference, *c.Instances[0].VirtualRules[0].Preference}
	if !reflect.DeepEqual(got, []uint32{16384, 16384, 7, 16383}) {
		t.Errorf("preferences %v", got)
	}
	w := diagLines(warns)
	for _, want := range []string{"main.conf:2: warning: static_rules: the rule has no preference: set to 16384",
		"main.conf:3: warning: static_rules: the rule has no preference: set to 16384",
		"main.conf:13: warning: virtual_rules: the rule has no preference: set to 16383"} {
		if !strings.Contains(w, want) {
			t.Errorf("missing %q in\n%s", want, w)
		}
	}
	_, _, err = loadMem(t, memFS{"main.conf": "static_routes {\n 198.51.100.0/24 dev eth0\n 198.51.100.0/24 metric x\n}\n"}, "n")
	if err == nil || !strings.Contains(err.Error(), `main.conf:3: static_routes: metric "x" is not a number`) {
		t.Errorf("error %v", err)
	}
}

// TestRouteRuleSupport: what the parser reads but the runtime cannot
// install is refused by CheckSupport at the line.
func TestRouteRuleSupport(t *testing.T) {
	src := "static_routes {\n 2001:db8:1::/48 from 2001:db8:2::/48 dev eth0\n 198.51.100.0/24 dev eth0 advmss lock 1300\n" +
		" 198.51.100.0/24 nexthop via 192.0.2.1 realms 3\n 198.51.100.0/24 dev eth0 mtu lock 1400\n}\n" +
		"static_rules {\n preference 9 l3mdev\n table 300 preference 5 suppress_prefixlength 0\n}\n"
	c, _, err := loadMem(t, memFS{"main.conf": src}, "n")
	if err != nil {
		t.Fatal(err)
	}
	got := CheckSupport(c).Error()
	for _, want := range []string{"main.conf:2: not supported: static_routes from", "main.conf:3: not supported: static_routes advmss lock",
		"main.conf:4: not supported: static_routes nexthop realms", "main.conf:8: not supported: static_rules l3mdev",
		"main.conf:9: not supported: static_rules suppress_prefixlength"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	if strings.Contains(got, "main.conf:5") {
		t.Errorf("mtu lock refused:\n%s", got)
	}
}

// FuzzRouteRule: a route or rule line never panics the parser, and every
// line it accepts renders to a line that reads back to the same value.
func FuzzRouteRule(f *testing.F) {
	for _, s := range []string{
		"src 192.0.2.1 198.51.100.0/24 via 192.0.2.254 dev eth0 table 100 metric 5 scope link proto static onlink",
		"198.51.100.0/24 table 6909 nexthop via 192.0.2.1 dev wlan0 onlink weight 1 nexthop via 192.0.2.2 dev wlan0 onlink weight 2",
		"198.51.100.0/24 dev p33p1.2 table 6909 tos 0x04 protocol bird scope link priority 12 mtu 1000 hoplimit 100 advmss 101 rtt 102 rttvar 103 reordering 104 window 105 cwnd 106 ssthresh lock 107 realms 5/0x14 rto_min 108 initcwnd 109 initrwnd 110 features ecn add",
		"2001:470:69e9:1:2::4 dev p33p1.2 table 6909 tos 0x04 protocol bird scope link priority 12 mtu 1000 hoplimit 100 advmss 101 rtt 102 rttvar 103 reordering 104 window 105 cwnd 106 ssthresh lock 107 rto_min 108 initcwnd 109 append initrwnd 110 features ecn fastopen_no_cookie 1",
		"blackhole 192.0.2.1/32", "0.0.0.0/0 gw 192.0.2.1 table 100", "192.0.2.0/24 via 192.0.2.252 or 192.0.2.253",
		"rtt 1.5s 192.0.2.0/24", "to 2001:db8::/64 from 2001:db8:1::/64 congctl lock reno",
		"from 192.0.2.0/24 to 198.51.100.0/26 table 1 iif eth0 oif eth1 tos 22 fwmark 24/12 preference 39 realms 30/20",
		"to 2001:db8::/112 from 2001:db8:1::/96 table 6908 uidrange 10000-19999 preference 3",
		"to 2001:db8::/112 l3mdev protocol 12 ipproto UDP sport 10-20 dport 20-30 preference 4",
		"preference 5 goto 40", "not from all type prohibit order 1", "inet6 preference 300 unreachable",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	// Lines go through the lexer as a block's items (the rendering quotes
	// for it); a line the lexer reads as more than one item is skipped.
	load := func(rule bool, line string) (any, bool) {
		key := "static_routes"
		if rule {
			key = "static_rules"
		}
		c, _, err := LoadBytes("f.conf", []byte(key+" {\n"+line+"\n}\n"), LoadOptions{Node: "n"})
		switch {
		case err != nil:
			return nil, false
		case rule && len(c.StaticRules) == 1:
			r := c.StaticRules[0]
			r.Pos = Pos{}
			return r, true
		case !rule && len(c.StaticRoutes) == 1:
			r := c.StaticRoutes[0]
			r.Pos = Pos{}
			return r, true
		}
		return nil, false
	}
	f.Fuzz(func(t *testing.T, line string, rule bool) {
		if strings.ContainsAny(line, "\n{}") {
			return
		}
		r, ok := load(rule, line)
		if !ok {
			return
		}
		text := fmt.Sprint(r)
		back, ok := load(rule, text)
		if !ok || !reflect.DeepEqual(back, r) {
			t.Fatalf("%q renders as %q, which reads back as %+v", line, text, back)
		}
	})
}
