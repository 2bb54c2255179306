package agent

import (
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"quadrature/cluster"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"quadrature/fsm"
	"quadrature/vrrp"
)

const opsTestConfig = `global_defs {
  router_id ops
}
vrrp_instance vi1 {
  state BACKUP
  interface lo
  virtual_router_id 51
  priority 100
  virtual_ipaddress {
    192.0.2.10/24
    192.0.2.11/24
  }
}
virtual_server 192.0.2.10 80 {
  protocol TCP
  lb_algo rr
  lb_kind NAT
  quorum 2
  real_server 198.51.100.1 80 {
    weight 1
    TCP_CHECK {
      connect_timeout 1
    }
  }
  real_server 198.51.100.2 80 {
    weight 3
    TCP_CHECK {
      connect_timeout 1
    }
  }
}
virtual_server fwmark 7 {
  lb_algo rr
  lb_kind DR
  real_server 198.51.100.3 80 {
    weight 1
    TCP_CHECK {
      connect_timeout 1
    }
  }
}
`

// opsAgent is an agent that has not run, with its config committed to its
// state machine at version 1 by hand.
func opsAgent(t *testing.T) (*Agent, *prometheus.Registry) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keepalived.conf")
	if err := os.WriteFile(path, []byte(opsTestConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	// Pedantic: what Collect sends must match what Describe declares.
	reg := prometheus.NewPedanticRegistry()
	a, err := New(Config{ConfigPath: path, Node: "ops1", Registry: reg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return a, reg
}

func applyCmd(t *testing.T, a *Agent, idx uint64, c fsm.Command) {
	t.Helper()
	b, err := fsm.Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	if r := a.fsm.ApplyCommand(idx, b); r.Err != nil {
		t.Fatalf("apply %s: %v", c.CommandType(), r.Err)
	}
}

func TestOpsMetricsBeforeConfig(t *testing.T) {
	_, reg := opsAgent(t)
	// Before Run and before any commit: who the node is and version 0,
	// nothing else (no leader view without a node, no table, no quorum).
	want := `
# HELP quadrature_cluster_config_version Version of the committed configuration this node's state machine has applied (0: none yet).
# TYPE quadrature_cluster_config_version gauge
quadrature_cluster_config_version 0
# HELP quadrature_cluster_node_info Always 1: this node's name in the group, its role (voter, witness) and data plane (ipvs, nftables, memory; "" on a witness or before start).
# TYPE quadrature_cluster_node_info gauge
quadrature_cluster_node_info{backend="",node="ops1",role="voter"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}

func TestOpsMetricsCommitted(t *testing.T) {
	a, reg := opsAgent(t)
	cmd := a.localSrc.Command()
	cmd.Nodes = []string{"ops1"}
	applyCmd(t, a, 1, cmd)
	applyCmd(t, a, 2, fsm.SetLiveNodes{Nodes: []string{"ops1"}})
	vsID := a.local.VirtualServers[0].ID()
	fwID := a.local.VirtualServers[1].ID()
	// Only the weight-1 real server is up: 1 < quorum 2, the quorum is
	// down; the fwmark service's only real server is up (quorum 1).
	applyCmd(t, a, 3, fsm.ReportVerdicts{Node: "ops1", Full: true, Observations: []fsm.Observation{
		{VS: vsID, RS: netip.MustParseAddrPort("198.51.100.1:80"), Up: true, Weight: 1, Seq: 1},
		{VS: vsID, RS: netip.MustParseAddrPort("198.51.100.2:80"), Up: false, Weight: 3, Seq: 1},
		{VS: fwID, RS: netip.MustParseAddrPort("198.51.100.3:80"), Up: true, Weight: 1, Seq: 1},
	}})
	// The kernel digest as read lags the table handed to the reconciler.
	a.mu.Lock()
	newDigest := a.fsm.State().TableDigest()
	a.digest, a.desired = "sha256:old", a.fsm.State()
	a.mu.Unlock()

	names := []string{"quadrature_cluster_config_version", "quadrature_cluster_table_digest_info",
		"quadrature_cluster_table_in_sync", "quadrature_virtualserver_quorum_up",
		"quadrature_virtualserver_alive_weight", "quadrature_virtualserver_quorum"}
	want := `
# HELP quadrature_cluster_config_version Version of the committed configuration this node's state machine has applied (0: none yet).
# TYPE quadrature_cluster_config_version gauge
quadrature_cluster_config_version 1
# HELP quadrature_cluster_table_digest_info Always 1: digest of this director's kernel table as last read (the one gossiped to peers and shown in status).
# TYPE quadrature_cluster_table_digest_info gauge
quadrature_cluster_table_digest_info{digest="sha256:old"} 1
# HELP quadrature_cluster_table_in_sync 1 when this director's kernel table digest is that of the table it wants programmed (the committed one, or its own view in degraded mode).
# TYPE quadrature_cluster_table_in_sync gauge
quadrature_cluster_table_in_sync 0
# HELP quadrature_virtualserver_alive_weight Sum of the weights of the virtual server's real servers whose verdict is up (drained ones count 0), compared with its quorum.
# TYPE quadrature_virtualserver_alive_weight gauge
quadrature_virtualserver_alive_weight{vs="fwmark/7"} 1
quadrature_virtualserver_alive_weight{vs="tcp/192.0.2.10:80"} 1
# HELP quadrature_virtualserver_quorum Configured quorum of the virtual server (keepalived quorum, default 1).
# TYPE quadrature_virtualserver_quorum gauge
quadrature_virtualserver_quorum{vs="fwmark/7"} 1
quadrature_virtualserver_quorum{vs="tcp/192.0.2.10:80"} 2
# HELP quadrature_virtualserver_quorum_up 1 while the virtual server's quorum is up (alive weight sum against quorum and hysteresis, as keepalived), in the state this node programs.
# TYPE quadrature_virtualserver_quorum_up gauge
quadrature_virtualserver_quorum_up{vs="fwmark/7"} 1
quadrature_virtualserver_quorum_up{vs="tcp/192.0.2.10:80"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}

	// Both real servers up: weight 4 >= 2, the quorum is up again; the
	// kernel caught up with the table.
	applyCmd(t, a, 4, fsm.ReportVerdicts{Node: "ops1", Observations: []fsm.Observation{
		{VS: vsID, RS: netip.MustParseAddrPort("198.51.100.2:80"), Up: true, Weight: 3, Seq: 2},
	}})
	a.mu.Lock()
	a.digest = newDigest
	a.mu.Unlock()
	for name, v := range map[string]float64{
		`quadrature_cluster_table_in_sync`:                                  1,
		`quadrature_virtualserver_quorum_up{vs="tcp/192.0.2.10:80"}`:        1,
		`quadrature_virtualserver_alive_weight{vs="tcp/192.0.2.10:80"}`:     4,
		`quadrature_cluster_table_digest_info{digest="` + newDigest + `"}`:  1,
		`quadrature_cluster_config_version`:                                 1,
		`quadrature_cluster_node_info{backend="",node="ops1",role="voter"}`: 1,
	} {
		if got, ok := sample(t, reg, name); !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, v)
		}
	}
	if _, ok := sample(t, reg, `quadrature_cluster_table_digest_info{digest="sha256:old"}`); ok {
		t.Error("the old digest is still exported")
	}
}

func TestOpsMetricsWitness(t *testing.T) {
	a, reg := opsAgent(t)
	a.role = cluster.RoleWitness
	cmd := a.localSrc.Command()
	cmd.Nodes = []string{"ops1"}
	applyCmd(t, a, 1, cmd)
	a.mu.Lock()
	a.digest, a.desired = "sha256:x", a.fsm.State()
	a.mu.Unlock()
	// A witness programs nothing: no table or quorum metrics.
	for _, name := range []string{"quadrature_cluster_table_digest_info", "quadrature_cluster_table_in_sync",
		"quadrature_virtualserver_quorum_up"} {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n != 0 {
			t.Errorf("%s: %d series (%v) on a witness", name, n, err)
		}
	}
	if got, ok := sample(t, reg, `quadrature_cluster_node_info{backend="",node="ops1",role="witness"}`); !ok || got != 1 {
		t.Errorf("node_info on a witness: %v %v", got, ok)
	}
}

// TestOpsMetricsLeaderAndVIPs gathers the series that need a running node
// and VRRP through a registry, with those parts replaced.
func TestOpsMetricsLeaderAndVIPs(t *testing.T) {
	a, _ := opsAgent(t)
	m := newOpsMetrics(a)
	leader, running := "", false
	m.leaderOf = func() (string, bool) { return leader, running }
	m.addrs = func() ([]netip.Addr, error) { return []netip.Addr{netip.MustParseAddr("192.0.2.10")}, nil }
	m.vrrpStatus = func() []vrrp.InstanceStatus {
		return []vrrp.InstanceStatus{{Name: "vi1", VRID: 51, VIPs: []netip.Prefix{
			netip.MustParsePrefix("192.0.2.10/24"), netip.MustParsePrefix("192.0.2.11/24")}}}
	}
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(m); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(reg, "quadrature_cluster_leader_info"); err != nil || n != 0 {
		t.Errorf("leader_info before the node runs: %d series, %v", n, err)
	}
	running = true
	for _, c := range []struct {
		leader string
		want   string
	}{
		{"", `quadrature_cluster_leader_info{leader=""} 0`},
		{"ops2", `quadrature_cluster_leader_info{leader="ops2"} 1`},
	} {
		leader = c.leader
		want := "# HELP quadrature_cluster_leader_info 1 with the name of the Raft leader this node knows; 0 with leader=\"\" while it knows none.\n" +
			"# TYPE quadrature_cluster_leader_info gauge\n" + c.want + "\n"
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "quadrature_cluster_leader_info"); err != nil {
			t.Errorf("leader %q: %v", c.leader, err)
		}
	}
	want := `
# HELP quadrature_vrrp_vip_held 1 when the instance's virtual address is configured on one of this host's interfaces (0 otherwise), whatever the VRRP state says.
# TYPE quadrature_vrrp_vip_held gauge
quadrature_vrrp_vip_held{instance="vi1",vip="192.0.2.10",vrid="51"} 1
quadrature_vrrp_vip_held{instance="vi1",vip="192.0.2.11",vrid="51"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "quadrature_vrrp_vip_held"); err != nil {
		t.Error(err)
	}
	if _, err := reg.Gather(); err != nil {
		t.Errorf("gather: %v", err)
	}
}

func TestOpsMetricsVIPHeld(t *testing.T) {
	a, _ := opsAgent(t)
	m := newOpsMetrics(a)
	m.addrs = func() ([]netip.Addr, error) {
		// 192.0.2.11 held, as a v4-mapped address too; 192.0.2.10 not.
		return []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::ffff:192.0.2.11"),
			netip.MustParseAddr("2001:db8::1")}, nil
	}
	sts := []vrrp.InstanceStatus{
		{Name: "vi1", VRID: 51, VIPs: []netip.Prefix{netip.MustParsePrefix("192.0.2.10/24"), netip.MustParsePrefix("192.0.2.11/24")}},
		{Name: "vi6", VRID: 52, VIPs: []netip.Prefix{netip.MustParsePrefix("2001:db8::1/64"), netip.MustParsePrefix("2001:db8::1/128")}},
	}
	got := map[string]float64{}
	m.collectVIPs(sts, func(d *prometheus.Desc, v float64, labels ...string) {
		if d != m.vipHeld {
			t.Fatalf("unexpected metric %v", d)
		}
		got[strings.Join(labels, " ")] = v
	})
	want := map[string]float64{"vi1 51 192.0.2.10": 0, "vi1 51 192.0.2.11": 1, "vi6 52 2001:db8::1": 1}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s: %v (present %v), want %v", k, g, ok, v)
		}
	}
}

func TestHostAddrsHasLoopback(t *testing.T) {
	as, err := hostAddrs()
	if err != nil {
		t.Skipf("no interface addresses here: %v", err)
	}
	for _, a := range as {
		if a.IsLoopback() {
			return
		}
	}
	t.Errorf("no loopback address among %v", as)
}

// sample returns the value of the series name{labels} (exactly as
// written, labels sorted) gathered from reg.
func sample(t *testing.T, reg *prometheus.Registry, series string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+`="`+l.GetValue()+`"`)
			}
			s := mf.GetName()
			if len(ls) > 0 {
				s += "{" + strings.Join(ls, ",") + "}"
			}
			if s == series {
				return m.GetGauge().GetValue(), true
			}
		}
	}
	return 0, false
}
