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
	for _, want := range []string{
		"x.conf:1: not supported: smtp_alert",
		"x.conf:4: not supported: lower_prio_no_advert",
		"x.conf:4: not supported: auth_type AH",
		"x.conf:4: not supported: down_timer_adverts",
		"x.conf:15: not supported: unicast_peer min_ttl/max_ttl",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	plain, _, err := LoadBytes("y.conf", []byte("vrrp_instance V {\n interface eth0\n virtual_router_id 2\n virtual_ipaddress {\n  192.0.2.11/24\n }\n}\n"), LoadOptions{Node: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if errs := CheckSupport(plain); len(errs) != 0 {
		t.Fatalf("plain config: %v", errs)
	}
}
