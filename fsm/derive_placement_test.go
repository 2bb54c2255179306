package fsm

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func prio(s *State, node, inst string) (int, string) {
	for _, p := range s.Priorities(node) {
		if p.Instance == inst {
			return p.Priority, p.Reason
		}
	}
	return -1, ""
}

func TestIWashConfiguredPriorities(t *testing.T) {
	h := iwashHarness(t)
	want := map[string]int{"iwash1": 150, "iwash2": 100, "iwash3": 50}
	for node, w := range want {
		if p, r := prio(h.state(), node, "iwash"); p != w || r != ReasonConfigured {
			t.Errorf("%s: priority %d (%s), want %d configured", node, p, r, w)
		}
	}
	pl := h.state().Placement()
	if len(pl) != 1 || pl[0].Instance != "iwash" || fmt.Sprint(pl[0].Nodes) != "[{iwash1 150 configured} {iwash2 100 configured} {iwash3 50 configured}]" {
		t.Fatalf("placement %+v", pl)
	}
}

func TestMaintenanceAndTransfer(t *testing.T) {
	h := iwashHarness(t)
	s := func() *State { return h.state() }
	// Maintenance: priority 1 so the VIP moves before the node stops.
	h.must(SetMaintenance{Node: "iwash1", On: true})
	if p, r := prio(s(), "iwash1", "iwash"); p != MaintenancePriority || r != ReasonMaintenance {
		t.Fatalf("iwash1 in maintenance: %d %s", p, r)
	}
	if p, _ := prio(s(), "iwash2", "iwash"); p != 100 {
		t.Fatalf("iwash2 changed to %d", p)
	}
	h.must(SetMaintenance{Node: "iwash1", On: false})
	if p, _ := prio(s(), "iwash1", "iwash"); p != 150 {
		t.Fatalf("iwash1 after maintenance: %d", p)
	}
	// Transfer to iwash3: max(others)+1 = 151.
	h.must(TransferVIP{Instance: "iwash", ToNode: "iwash3"})
	if p, r := prio(s(), "iwash3", "iwash"); p != 151 || r != ReasonTransfer {
		t.Fatalf("transfer target: %d %s, want 151 transfer", p, r)
	}
	// Maintenance of the former master: the target still outbids the rest.
	h.must(SetMaintenance{Node: "iwash1", On: true})
	if p, _ := prio(s(), "iwash3", "iwash"); p != 101 {
		t.Fatalf("transfer target with iwash1 in maintenance: %d, want 101", p)
	}
	// Maintenance of the target wins over the transfer.
	h.must(SetMaintenance{Node: "iwash3", On: true})
	if p, _ := prio(s(), "iwash3", "iwash"); p != MaintenancePriority {
		t.Fatalf("target in maintenance: %d", p)
	}
	h.must(SetMaintenance{Node: "iwash3", On: false})
	h.must(SetMaintenance{Node: "iwash1", On: false})
	// Clearing the transfer.
	h.must(TransferVIP{Instance: "iwash", ToNode: ""})
	if p, _ := prio(s(), "iwash3", "iwash"); p != 50 {
		t.Fatalf("after clearing: %d, want 50", p)
	}
	// A transfer to a dead node is refused; one whose target dies is dropped.
	h.must(SetLiveNodes{Nodes: []string{"iwash1", "iwash2"}})
	if r := h.apply(TransferVIP{Instance: "iwash", ToNode: "iwash3"}); !errors.Is(r.Err, ErrInvalid) {
		t.Fatalf("transfer to dead node: %v", r.Err)
	}
	h.must(TransferVIP{Instance: "iwash", ToNode: "iwash2"})
	h.must(SetLiveNodes{Nodes: []string{"iwash1"}})
	if tr := s().Transfers(); len(tr) != 0 {
		t.Fatalf("transfer to a dead node kept: %+v", tr)
	}
	if r := h.apply(TransferVIP{Instance: "nope", ToNode: "iwash1"}); !errors.Is(r.Err, ErrNotFound) {
		t.Fatalf("transfer of unknown instance: %v", r.Err)
	}
	// The cap: a target cannot outbid 254.
	h.must(SetLiveNodes{Nodes: iwashNodes})
	h.must(SetPlacement{Priorities: []InstancePriorities{{Instance: "iwash", Nodes: []NodePriority{{"iwash1", 254}}}}})
	h.must(TransferVIP{Instance: "iwash", ToNode: "iwash2"})
	if p, _ := prio(s(), "iwash2", "iwash"); p != MaxTransferPriority {
		t.Fatalf("capped transfer: %d", p)
	}
}

func TestExplicitPlacement(t *testing.T) {
	h := iwashHarness(t)
	h.must(SetPlacement{Priorities: []InstancePriorities{{Instance: "iwash", Nodes: []NodePriority{{"iwash3", 200}}}}})
	if p, r := prio(h.state(), "iwash3", "iwash"); p != 200 || r != ReasonPlacement {
		t.Fatalf("explicit: %d %s", p, r)
	}
	if p, _ := prio(h.state(), "iwash1", "iwash"); p != 150 {
		t.Fatalf("others keep configured: %d", p)
	}
	for _, bad := range []SetPlacement{
		{Priorities: []InstancePriorities{{Instance: "iwash", Nodes: []NodePriority{{"iwash3", 0}}}}},
		{Priorities: []InstancePriorities{{Instance: "iwash", Nodes: []NodePriority{{"iwash3", 255}}}}},
		{Priorities: []InstancePriorities{{Instance: "", Nodes: []NodePriority{{"iwash3", 5}}}}},
		{Priorities: []InstancePriorities{{Instance: "iwash", Nodes: []NodePriority{{"iwash3", 5}, {"iwash3", 6}}}}},
	} {
		if r := h.apply(bad); !errors.Is(r.Err, ErrInvalid) {
			t.Errorf("%+v accepted: %v", bad, r.Err)
		}
	}
	if p, _ := prio(h.state(), "iwash3", "iwash"); p != 200 {
		t.Fatalf("a rejected placement changed the state: %d", p)
	}
	h.must(SetPlacement{})
	if p, _ := prio(h.state(), "iwash3", "iwash"); p != 50 {
		t.Fatalf("cleared placement: %d", p)
	}
}

const autoConf = `cluster {
 @n1 bind 198.51.100.1
 @n2 bind 198.51.100.2
 @n3 bind 198.51.100.3
 @w bind 198.51.100.4
 @w role witness
 placement auto
}
vrrp_instance a {
 interface eth0
 virtual_router_id 1
 priority 100
 virtual_ipaddress { 192.0.2.1/24 }
}
vrrp_instance b {
 interface eth0
 virtual_router_id 2
 priority 100
 virtual_ipaddress { 192.0.2.2/24 }
}
vrrp_instance c {
 interface eth0
 virtual_router_id 3
 priority 100
 virtual_ipaddress { 192.0.2.3/24 }
}
`

// master returns, per instance, the node with the highest priority.
func masters(t *testing.T, s *State) string {
	t.Helper()
	var out []string
	for _, ip := range s.Placement() {
		best, bestP := "", 0
		for _, n := range ip.Nodes {
			if n.Priority > bestP {
				best, bestP = n.Node, n.Priority
			} else if n.Priority == bestP {
				t.Fatalf("instance %s: tie at %d between %s and %s", ip.Instance, bestP, best, n.Node)
			}
		}
		out = append(out, ip.Instance+"="+best)
	}
	return strings.Join(out, " ")
}

func TestAutoPlacement(t *testing.T) {
	h := newHarness(t)
	h.must(SetLiveNodes{Nodes: []string{"n1", "n2", "n3", "w"}})
	h.must(configCmd(t, autoConf, 0, "n1", "n2", "n3", "w"))
	if got := masters(t, h.state()); got != "a=n1 b=n2 c=n3" {
		t.Fatalf("auto placement %s, want a=n1 b=n2 c=n3", got)
	}
	if p := h.state().Priorities("w"); len(p) != 0 {
		t.Fatalf("witness got instances: %+v", p)
	}
	if p, r := prio(h.state(), "n1", "a"); p != AutoTopPriority || r != ReasonAuto {
		t.Fatalf("n1/a: %d %s", p, r)
	}
	// n2 dies: its instance moves, the others stay spread over n1, n3.
	h.must(SetLiveNodes{Nodes: []string{"n1", "n3", "w"}})
	if got := masters(t, h.state()); got != "a=n1 b=n3 c=n1" {
		t.Fatalf("after n2 died: %s", got)
	}
	if p, _ := prio(h.state(), "n2", "b"); p != AutoOfflinePriority {
		t.Fatalf("dead node priority %d, want %d", p, AutoOfflinePriority)
	}
	// Maintenance takes a node out of the rotation.
	h.must(SetLiveNodes{Nodes: []string{"n1", "n2", "n3", "w"}})
	h.must(SetMaintenance{Node: "n3", On: true})
	if got := masters(t, h.state()); got != "a=n1 b=n2 c=n1" {
		t.Fatalf("n3 in maintenance: %s", got)
	}
	// A transfer overrides auto placement.
	h.must(SetMaintenance{Node: "n3", On: false})
	h.must(TransferVIP{Instance: "a", ToNode: "n3"})
	if got := masters(t, h.state()); got != "a=n3 b=n2 c=n3" {
		t.Fatalf("after transfer: %s", got)
	}
	if r := h.apply(TransferVIP{Instance: "b", ToNode: "w"}); !errors.Is(r.Err, ErrInvalid) {
		t.Fatalf("transfer to witness: %v", r.Err)
	}
}

func TestSyncGroupMovesTogether(t *testing.T) {
	conf := strings.Replace(autoConf, "placement auto", "", 1) + `
vrrp_sync_group g {
 group { a b }
}
`
	h := newHarness(t)
	h.must(SetLiveNodes{Nodes: []string{"n1", "n2", "n3"}})
	h.must(configCmd(t, conf, 0, "n1", "n2", "n3"))
	h.must(TransferVIP{Instance: "a", ToNode: "n2"})
	tr := h.state().Transfers()
	if fmt.Sprint(tr) != "[{a n2} {b n2}]" {
		t.Fatalf("transfers %+v, want a and b to n2", tr)
	}
}
