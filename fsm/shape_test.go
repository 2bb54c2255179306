package fsm

import (
	"testing"

	"quadrature/lvs"
)

func TestServiceShapes(t *testing.T) {
	text := `virtual_server_group web {
  192.0.2.20-21 80
  fwmark 9
}
virtual_server 192.0.2.10 80 {
  lb_algo sh
  sh-port
  sorry_server 198.51.100.9 8080
  real_server 198.51.100.1 {
    weight 3
  }
  real_server 198.51.100.2 81 {
    lb_kind DR
  }
}
virtual_server group web {
  protocol UDP
  real_server 198.51.100.5 {
  }
}
`
	cfg, err := DefaultParse(map[string][]byte{"k.conf": []byte(text)}, "k.conf", nil, "n1")
	if err != nil {
		t.Fatal(err)
	}
	one, err := ServiceShapes(cfg, &cfg.VirtualServers[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(one) != 1 {
		t.Fatalf("%d services for an address virtual server", len(one))
	}
	s := one[0]
	if s.Key.Protocol != lvs.TCP || s.Key.Port != 80 || s.Flags == 0 || len(s.Destinations) != 3 {
		t.Fatalf("shape %+v", s)
	}
	// The port-less real server takes the service's port, the sorry server
	// is there at weight 0, configured weights are kept.
	byAddr := map[string]lvs.Destination{}
	for _, d := range s.Destinations {
		byAddr[d.Addr.String()] = d
	}
	if d := byAddr["198.51.100.1"]; d.Port != 80 || d.Weight != 3 {
		t.Errorf("port-less real server: %+v", d)
	}
	if d := byAddr["198.51.100.2"]; d.Method != lvs.DR {
		t.Errorf("DR real server: %+v", d)
	}
	if d := byAddr["198.51.100.9"]; d.Port != 8080 || d.Weight != 0 {
		t.Errorf("sorry server: %+v", d)
	}
	// The group: one service per address, and the fwmark entry.
	grp, err := ServiceShapes(cfg, &cfg.VirtualServers[1])
	if err != nil {
		t.Fatal(err)
	}
	var fwm, addrs int
	for _, g := range grp {
		if g.Key.IsFWMark() {
			fwm++
		} else if g.Key.Protocol == lvs.UDP && g.Destinations[0].Port == 80 {
			addrs++
		}
	}
	if fwm != 1 || addrs != 2 {
		t.Fatalf("group shapes %+v", grp)
	}
}
