package config

import (
	"strings"
	"testing"
)

// TestKeepalivedAccepts: what keepalived 2.2.7 accepts (keepalived -t),
// quadrature accepts, warning where keepalived warns.
func TestKeepalivedAccepts(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		warn      string // a warning line that must be there ("" = none needed)
		check     func(*Config) bool
	}{
		{"no VIP", "vrrp_instance VI {\n interface eth0\n virtual_router_id 51\n}\n",
			"main.conf:1: warning: vrrp_instance VI has no virtual_ipaddress",
			func(c *Config) bool { return len(c.Instances) == 1 && len(c.Instances[0].VIPs) == 0 }},
		{"no_virtual_ipaddress", "vrrp_instance VI {\n interface eth0\n virtual_router_id 51\n no_virtual_ipaddress\n}\n", "",
			func(c *Config) bool { return c.Instances[0].NoVirtualIPAddress }},
		{"max_auto_priority -1", "global_defs {\n max_auto_priority -1\n}\n" + inst(), "",
			func(c *Config) bool { return c.Global.MaxAutoPriority == -1 }},
		{"nopreempt 1", inst(" nopreempt 1"),
			`main.conf:7: warning: nopreempt takes no value: "1" is ignored (as keepalived does) and nopreempt is set`,
			func(c *Config) bool { return c.Instances[0].NoPreempt }},
		{"nopreempt off", inst(" nopreempt off"), `"off" is ignored`,
			func(c *Config) bool { return c.Instances[0].NoPreempt }},
		{"alpha 1", vs(" alpha 1", " real_server 198.51.100.1 80 {\n }"), `alpha takes no value`,
			func(c *Config) bool { return c.VirtualServers[0].Alpha }},
		{"virtual_server dev", "virtual_server 192.0.2.10 53 dev eth0 {\n protocol UDP\n real_server 198.51.100.1 53 {\n }\n}\n",
			`main.conf:1: warning: virtual_server 192.0.2.10 53: "dev eth0" ignored (as keepalived does)`,
			func(c *Config) bool { return c.VirtualServers[0].Port == 53 && c.VirtualServers[0].Protocol == "UDP" }},
		{"AH master", inst(" state MASTER", " priority 100", " authentication {\n  auth_type AH\n  auth_pass 1111\n }"),
			"main.conf:7: warning: vrrp_instance VI: state MASTER is incompatible with auth_type AH: the instance starts as BACKUP (as keepalived does)",
			func(c *Config) bool { return c.Instances[0].State == "BACKUP" && c.Instances[0].Priority == 100 }},
		{"AH owner keeps MASTER", inst(" state MASTER", " authentication {\n  auth_type AH\n  auth_pass 1111\n }"), "",
			func(c *Config) bool { return c.Instances[0].State == "MASTER" && c.Instances[0].Priority == 255 }},
		{"VIP twice", "vrrp_instance VI {\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {\n  192.0.2.18\n  192.0.2.18 label eth0:1\n }\n}\n",
			"main.conf:6: warning: vrrp_instance VI: VIP 192.0.2.18 is listed twice (first at main.conf:5)",
			func(c *Config) bool { return len(c.Instances[0].VIPs) == 2 }},
		{"strict resets", "global_defs {\n vrrp_strict\n}\n" + inst(" priority 100", " preempt_delay 5", " authentication {\n  auth_type PASS\n  auth_pass x\n }", " garp_lower_prio_repeat 2", " lower_prio_no_advert off", " higher_prio_send_advert"),
			"main.conf:13: warning: vrrp_instance VI: strict mode: authentication is not allowed; it is ignored (as keepalived does)",
			func(c *Config) bool {
				in := c.Instances[0]
				return c.Global.VRRPStrict && in.Auth == nil && in.PreemptDelay == 0 && in.GarpLowerPrioRepeat == 0 &&
					in.LowerPrioNoAdvert && !in.HigherPrioSendAdvert && !in.Accept
			}},
		{"strict owner accepts", "global_defs {\n vrrp_strict\n}\n" + inst(" state MASTER", " priority 255", " version 3"), "",
			func(c *Config) bool { return c.Instances[0].Accept }},
		{"strict unicast", "global_defs {\n vrrp_strict\n}\n" + inst(" unicast_peer {\n  192.0.2.9\n }"), "keepalived 2.2.7 accepts them",
			func(c *Config) bool { return len(c.Instances[0].UnicastPeers) == 1 }},
		{"v3 advert above 40.95", inst(" version 3", " advert_int 50"), "40.95s is used",
			func(c *Config) bool { return c.Instances[0].AdvertInt.Seconds() == 40.95 }},
		{"semicolon elsewhere", vs(" protocol TCP ; lb_algo rr", " real_server 198.51.100.1 80 {\n }"),
			`main.conf:2: warning: keepalived does not split statements at ';': it ignores "lb_algo"`,
			func(c *Config) bool { return c.VirtualServers[0].Scheduler == "rr" }},
	} {
		c, warns, err := loadMem(t, memFS{"main.conf": tc.src}, "n")
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := diagLines(warns); tc.warn != "" && !strings.Contains(got, tc.warn) {
			t.Errorf("%s: warnings:\n%s\nwant a line with %q", tc.name, got, tc.warn)
		}
		if !tc.check(c) {
			t.Errorf("%s: model %s", tc.name, c.JSON())
		}
		roundTrip(t, tc.name, c, LoadOptions{})
	}
}

// TestRoutesRulesModel: static/virtual routes and rules, static_ipaddress,
// use_vmac, SMTP_CHECK host blocks and notify FIFOs are parsed into the
// model and render back; routes and rules with keepalived's warnings (no
// "not applied" one: the VRRP runtime installs them).
func TestRoutesRulesModel(t *testing.T) {
	src := `global_defs {
 notify_fifo /run/k.fifo
 notify_fifo_script /usr/local/bin/fifo.sh
}
static_ipaddress {
 192.0.2.16/24 dev eth0 scope link
}
static_routes {
 src 192.0.2.1 198.51.100.0/24 via 192.0.2.254 dev eth0 table 100 metric 5 scope global proto static onlink
 203.0.113.0/24 via 192.0.2.252 or 192.0.2.253
 blackhole 203.0.113.128/25
 2001:db8:1::/48 via 2001:db8::1 dev eth1 mtu lock 1400
 default nexthop via 192.0.2.1 dev eth0 weight 1 nexthop via 192.0.2.2 dev eth0 weight 2
}
static_rules {
 from 192.0.2.0/24 table 1 preference 100
 not to 2001:db8::/32 lookup main priority 200 fwmark 24/0xff iif eth0 oif eth1
 inet6 preference 300 unreachable
}
vrrp_instance VI {
 interface eth0
 virtual_router_id 51
 use_vmac vrrp51 00:00:5e:00:01:33
 vmac_xmit_base
 virtual_ipaddress {
  192.0.2.20
 }
 virtual_routes {
  0.0.0.0/0 gw 192.0.2.1 table 100
  unreachable 198.51.100.128/25 no_track
 }
 virtual_rules {
  from 192.0.2.20 table 100 preference 50
  to 198.51.100.0/24 table 100
 }
}
virtual_server 192.0.2.20 25 {
 protocol TCP
 real_server 198.51.100.10 25 {
  SMTP_CHECK {
   helo_name mx.example.net
   host {
    connect_ip 198.51.100.11
    connect_port 587
    bindto 192.0.2.20
   }
  }
 }
}
`
	c, warns, err := loadMem(t, memFS{"main.conf": src}, "n")
	if err != nil {
		t.Fatal(err)
	}
	w := diagLines(warns)
	for _, want := range []string{
		"main.conf:9: warning: static_routes: protocol static is replaced by keepalived (18)",
		"main.conf:10: warning: static_routes: \"or\" is deprecated",
		"main.conf:29: warning: virtual_routes: \"gw\" is deprecated",
		"main.conf:34: warning: virtual_rules: the rule has no preference: set to 16384",
	} {
		if !strings.Contains(w, want) {
			t.Errorf("missing %q in\n%s", want, w)
		}
	}
	if strings.Contains(w, "routes: parsed but not applied") || strings.Contains(w, "rules: parsed but not applied") {
		t.Errorf("routes or rules still warned as not applied:\n%s", w)
	}
	if len(c.StaticRoutes) != 5 || len(c.StaticRules) != 3 || len(c.StaticAddresses) != 1 {
		t.Fatalf("static: %s", c.JSON())
	}
	r := c.StaticRoutes[0]
	if r.Src.String() != "192.0.2.1" || r.Dst.String() != "198.51.100.0/24" || r.Via.String() != "192.0.2.254" || r.Dev != "eth0" ||
		r.Table != 100 || r.Metric != 5 || r.Scope != "global" || r.Protocol != "static" || !r.Onlink {
		t.Errorf("route 0: %+v", r)
	}
	if n := c.StaticRoutes[1].Nexthops; len(n) != 2 || n[1].Via.String() != "192.0.2.253" {
		t.Errorf("or: %+v", c.StaticRoutes[1])
	}
	if c.StaticRoutes[2].Type != "blackhole" || c.StaticRoutes[3].Family != FamilyInet6 || c.StaticRoutes[3].Metrics[0] != (RouteMetric{Name: "mtu", Value: 1400, Lock: true}) {
		t.Errorf("routes: %+v", c.StaticRoutes[2:4])
	}
	if n := c.StaticRoutes[4].Nexthops; c.StaticRoutes[4].Dst.Bits() != 0 || len(n) != 2 || n[1].Weight != 2 {
		t.Errorf("multipath: %+v", c.StaticRoutes[4])
	}
	ru := c.StaticRules[1]
	if !ru.Not || ru.To.String() != "2001:db8::/32" || ru.Table != 254 || *ru.Preference != 200 || ru.Fwmark != 24 || ru.FwmarkMask != 0xff ||
		ru.IIf != "eth0" || ru.OIf != "eth1" || ru.Family != FamilyInet6 {
		t.Errorf("rule 1: %+v", ru)
	}
	if c.StaticRules[2].Action != "unreachable" || c.StaticRules[2].Family != FamilyInet6 {
		t.Errorf("rule 2: %+v", c.StaticRules[2])
	}
	in := c.Instances[0]
	if in.VMAC == nil || in.VMAC.Name != "vrrp51" || in.VMAC.MAC != "" || !in.VMAC.XmitBase ||
		len(in.VirtualRoutes) != 2 || !in.VirtualRoutes[1].NoTrack || len(in.VirtualRules) != 2 {
		t.Errorf("instance: %s", c.JSON())
	}
	h := c.VirtualServers[0].RealServers[0].Checkers[0].SMTP.Hosts
	if len(h) != 1 || h[0].ConnectIP.String() != "198.51.100.11" || h[0].ConnectPort != 587 || h[0].BindTo.String() != "192.0.2.20" {
		t.Errorf("smtp hosts: %+v", h)
	}
	if f := c.Global.NotifyFIFO; f == nil || f.Path != "/run/k.fifo" || f.Script != "/usr/local/bin/fifo.sh" {
		t.Errorf("fifo: %+v", f)
	}
	roundTrip(t, "routes", c, LoadOptions{})
}
