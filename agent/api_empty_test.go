package agent

import (
	"testing"

	"quadrature/fsm"
)

func TestEmptyCandidate(t *testing.T) {
	cmd := func(text string) fsm.SetConfig {
		return fsm.SetConfig{Main: "keepalived.conf", Files: []fsm.File{{Name: "keepalived.conf", Content: []byte(text)}}, Nodes: []string{"n1", "n2"}}
	}
	for _, tc := range []struct {
		name, text string
		empty      bool
	}{
		{"zero bytes", "", true},
		{"comments only", "# nothing\n! here\n", true},
		{"global_defs only", "global_defs {\n router_id x\n}\n", true},
		{"an instance", "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n priority 100\n virtual_ipaddress {\n  192.0.2.10/24\n }\n}\n", false},
		{"an instance on one node only", "@n2 vrrp_instance VI_1 {\n@n2 interface eth0\n@n2 virtual_router_id 51\n@n2 priority 100\n@n2 virtual_ipaddress {\n@n2 192.0.2.10/24\n@n2 }\n@n2 }\n", false},
		{"a virtual server", "virtual_server 192.0.2.10 80 {\n protocol TCP\n real_server 198.51.100.1 80 {\n }\n}\n", false},
	} {
		cand, err := fsm.New(fsm.Options{}).Compile(cmd(tc.text))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := cand.Empty(); got != tc.empty {
			t.Errorf("%s: empty = %v, want %v", tc.name, got, tc.empty)
		}
	}
}
