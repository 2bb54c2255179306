package agent

import (
	"strings"
	"testing"

	"quadrature/config"
)

func TestCheckBackendNamesBackendAndKeyword(t *testing.T) {
	src := []byte(`virtual_server 192.0.2.10 80 {
  lb_algo wlc
  lb_kind NAT
  real_server 192.0.2.21 80 {
    weight 1
  }
}
virtual_server 192.0.2.10 443 {
  lb_algo rr
  lb_kind DR
  real_server 192.0.2.21 443 {
    weight 1
  }
}
virtual_server 192.0.2.10 8080 {
  lb_algo wrr
  lb_kind NAT
  persistence_timeout 60
  real_server 192.0.2.21 8080 {
    weight 2
  }
}
`)
	c, _, err := config.LoadBytes("lb.conf", src, config.LoadOptions{Node: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if errs := CheckBackend(c, "ipvs"); len(errs) != 0 {
		t.Fatalf("ipvs: %v", errs)
	}
	errs := CheckBackend(c, "nftables")
	if len(errs) != 2 {
		t.Fatalf("nftables: want 2 errors, got %v", errs)
	}
	got := errs.Error()
	for _, want := range []string{"lb.conf:1: virtual_server 192.0.2.10 80: nftables backend", "wlc", "lb.conf:8:", "DR"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in %s", want, got)
		}
	}
}
