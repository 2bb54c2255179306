package vrrp

import (
	"context"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"quadrature/internal/netnstest"
)

func TestNewNodeRejectsBadConfig(t *testing.T) {
	_, err := NewNode(NodeConfig{Instances: []InstanceConfig{{Name: "x", Interface: "eth0", VRID: 300}}})
	if err == nil || !strings.Contains(err.Error(), "virtual_router_id") {
		t.Fatalf("NewNode = %v", err)
	}
}

// Before Run the node reports INIT and accepts priority changes and
// reloads without touching the network.
func TestNodeBeforeRun(t *testing.T) {
	n, err := NewNode(lanConfig(100, 100*ms, "192.0.2.100/32"))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.SetPriority("VI_1", 200); err != nil {
		t.Fatal(err)
	}
	if err := n.SetPriority("nope", 200); err == nil {
		t.Errorf("SetPriority of an unknown instance succeeded")
	}
	if err := n.SetPriority("VI_1", 256); err == nil {
		t.Errorf("priority 256 accepted")
	}
	s := n.Status()
	if len(s) != 1 || s[0].State != StateInit || s[0].BasePriority != 200 || s[0].VRID != 42 {
		t.Errorf("status %+v", s)
	}
	if err := n.Update(lanConfig(120, 100*ms, "192.0.2.100/32")); err != nil {
		t.Fatal(err)
	}
	if s := n.Status(); s[0].BasePriority != 120 {
		t.Errorf("after Update: %+v", s[0])
	}
}

// In-process node placed in a namespace with WithNetNS; metrics are
// served from the registry passed in.
func TestInProcessWithNetNS(t *testing.T) {
	lab := netnstest.NewLab(t)
	a := lab.AddHost("a", "192.0.2.1/24")
	var mu sync.Mutex
	var changes []StateChange
	n, err := NewNode(lanConfig(150, 100*ms, "192.0.2.100/32"),
		WithNetNS("/var/run/netns/"+a.Name),
		WithStateChange(func(c StateChange) { mu.Lock(); changes = append(changes, c); mu.Unlock() }))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	if err := n.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitAddr(t, a, "192.0.2.100", true, 3*time.Second)
	if s := n.Status()[0]; s.State != StateMaster || s.Self.String() != "192.0.2.1" {
		t.Fatalf("status %+v", s)
	}
	// The test's own namespace must not have the address.
	if out, err := exec.Command("ip", "-o", "addr", "show").CombinedOutput(); err != nil || strings.Contains(string(out), "192.0.2.100/") {
		t.Errorf("address leaked into the caller's namespace (%v): %s", err, out)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" {
					key += "/" + l.GetValue()
				}
			}
			got[key] = v
		}
	}
	for k, want := range map[string]float64{"quadrature_vrrp_state": 2, "quadrature_vrrp_priority": 150, "quadrature_vrrp_packets_dropped_total/ttl": 0} {
		if v, ok := got[k]; !ok || v != want {
			t.Errorf("metric %s = %v (present %v), want %v", k, v, ok, want)
		}
	}
	if got["quadrature_vrrp_adverts_sent_total"] < 1 {
		t.Errorf("no adverts counted as sent")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	done <- nil
	waitAddr(t, a, "192.0.2.100", false, time.Second)
	mu.Lock()
	defer mu.Unlock()
	// (The link may still be coming up at start: INIT → FAULT → BACKUP.)
	k := len(changes)
	if k < 3 || changes[0].From != StateInit || changes[k-2].To != StateMaster || changes[k-1].To != StateStopped {
		t.Errorf("changes %+v", changes)
	}
	if s := n.Status()[0]; s.Counters.Transitions != uint64(k) || s.Counters.PriorityZeroSent != 1 {
		t.Errorf("counters %+v after %d changes", s.Counters, k)
	}
}
