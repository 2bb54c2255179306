package config

import (
	"strings"
	"testing"
)

func TestCheckSupportNamesEachUnsupportedKeyword(t *testing.T) {
	src := []byte(`global_defs {
  smtp_alert
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 1
  lower_prio_no_advert
  down_timer_adverts 5
  authentication {
    auth_type AH
    auth_pass secret
  }
  unicast_src_ip 192.0.2.1
  unicast_peer {
    192.0.2.2 min_ttl 250
  }
  virtual_ipaddress {
    192.0.2.10/24
  }
}
`)
	c, _, err := LoadBytes("x.conf", src, LoadOptions{Node: "a"})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	got := CheckSupport(c).Error()
	// Each at the line of its keyword; smtp_alert is parsed, not applied
	// (a warning), no longer refused.
	for _, want := range []string{
		"x.conf:7: not supported: lower_prio_no_advert",
		"x.conf:10: not supported: auth_type AH (IPsec AH is not implemented",
		"x.conf:8: not supported: down_timer_adverts",
		"x.conf:15: not supported: unicast_peer min_ttl/max_ttl",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, "smtp_alert") {
		t.Errorf("smtp_alert refused:\n%s", got)
	}
	plain, _, err := LoadBytes("y.conf", []byte("vrrp_instance V {\n interface eth0\n virtual_router_id 2\n virtual_ipaddress {\n  192.0.2.11/24\n }\n}\n"), LoadOptions{Node: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if errs := CheckSupport(plain); len(errs) != 0 {
		t.Fatalf("plain config: %v", errs)
	}
}

// TestCheckSupportNamesOnlyWrittenKeywords: a setting inherited from
// global_defs is reported at the global keyword, and what vrrp_strict
// implies is not reported as a keyword the file does not contain.
func TestCheckSupportNamesOnlyWrittenKeywords(t *testing.T) {
	inst := "vrrp_instance V {\n interface eth0\n virtual_router_id 2\n virtual_ipaddress {\n  192.0.2.11/24\n }\n}\n"
	c, _, err := LoadBytes("g.conf", []byte("global_defs {\n router_id r\n vrrp_lower_prio_no_advert\n}\n"+inst), LoadOptions{Node: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if got := CheckSupport(c).Error(); got != "g.conf:3: not supported: vrrp_lower_prio_no_advert (the master always answers a lower-priority advert)" {
		t.Errorf("global: %q", got)
	}
	c, warns, err := LoadBytes("s.conf", []byte("global_defs {\n vrrp_strict\n}\n"+strings.Replace(inst, "interface", "state MASTER\n priority 255\n interface", 1)), LoadOptions{Node: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if errs := CheckSupport(c); len(errs) != 0 {
		t.Errorf("strict: %v", errs)
	}
	if got := diagLines(warns); !strings.Contains(got, "s.conf:2: warning: vrrp_strict: parsed but not applied yet") {
		t.Errorf("strict warnings: %s", got)
	}
}
