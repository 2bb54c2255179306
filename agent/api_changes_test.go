package agent

import (
	"quadrature/api"
	"reflect"
	"testing"

	"quadrature/config"
	"quadrature/fsm"
)

func evalFor(t *testing.T, text string, nodes ...string) map[string]*config.Config {
	t.Helper()
	out := map[string]*config.Config{}
	for _, n := range nodes {
		c, err := fsm.DefaultParse(map[string][]byte{"keepalived.conf": []byte(text)}, "keepalived.conf", nil, n)
		if err != nil {
			t.Fatalf("parse for %s: %v\n%s", n, err, text)
		}
		out[n] = c
	}
	return out
}

const changesOld = `vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  priority 100
  virtual_ipaddress {
    192.0.2.100/24
  }
}
vrrp_instance VI_2 {
  interface eth0
  virtual_router_id 52
  priority 100
  virtual_ipaddress {
    192.0.2.101/24
  }
}
virtual_server 192.0.2.100 80 {
  protocol TCP
  real_server 198.51.100.11 80 {
  }
}
virtual_server 192.0.2.100 443 {
  protocol TCP
  real_server 198.51.100.11 443 {
  }
}
`

// TestSummarizeChanges: instances by name and virtual servers by ID,
// added, removed and changed (also when a block changes on one node only);
// a comment or a move within the file is no change.
func TestSummarizeChanges(t *testing.T) {
	const changesNew = `# reordered, commented
virtual_server 192.0.2.100 443 {
  protocol TCP
  real_server 198.51.100.11 443 {
  }
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  @n2 priority 150
  @^n2 priority 100
  virtual_ipaddress {
    192.0.2.100/24
  }
}
vrrp_instance VI_3 {
  interface eth0
  virtual_router_id 53
  priority 100
  virtual_ipaddress {
    192.0.2.102/24
  }
}
virtual_server 192.0.2.100 80 {
  protocol TCP
  real_server 198.51.100.11 80 {
  }
  real_server 198.51.100.12 80 {
  }
}
virtual_server 192.0.2.100 53 {
  protocol UDP
  real_server 198.51.100.11 53 {
  }
}
`
	got := summarizeChanges(evalFor(t, changesOld, "n1", "n2"), evalFor(t, changesNew, "n1", "n2"))
	want := &api.ConfigChanges{
		InstancesAdded: []string{"VI_3"}, InstancesRemoved: []string{"VI_2"}, InstancesChanged: []string{"VI_1"},
		VirtualServersAdded: []string{"udp/192.0.2.100:53"}, VirtualServersRemoved: []string{},
		VirtualServersChanged: []string{"tcp/192.0.2.100:80"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("changes:\n%+v\nwant\n%+v", got, want)
	}
	same := summarizeChanges(evalFor(t, changesOld, "n1"), evalFor(t, "# a comment\n"+changesOld, "n1"))
	if !same.Empty() {
		t.Errorf("a comment changed something: %+v", same)
	}
	gone := summarizeChanges(evalFor(t, changesOld, "n1"), map[string]*config.Config{})
	if len(gone.InstancesRemoved) != 2 || len(gone.VirtualServersRemoved) != 2 || gone.Empty() {
		t.Errorf("everything removed: %+v", gone)
	}
	if !(*api.ConfigChanges)(nil).Empty() {
		t.Error("nil changes not empty")
	}
}
