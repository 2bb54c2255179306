package cluster

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"quadrature/internal/promtest"
)

// TestRaftReplicationMetrics runs a real three-node group on disk and
// reads what an operator would alert on from each node's registry: the
// leader's view of every follower (last contact, lag), commit and FSM
// apply latency, and the snapshot figures, while a follower is cut off
// and after it comes back.
func TestRaftReplicationMetrics(t *testing.T) {
	regs := map[string]*prometheus.Registry{}
	nodes := startCluster(t, 3, func(i int, c *Config) {
		regs[c.NodeName] = prometheus.NewRegistry()
		c.Registerer = regs[c.NodeName]
	})
	leader := waitLeader(t, nodes, 15*time.Second)
	fs := followers(nodes, leader)
	lreg := regs[leader.Name()]
	for i := range 20 {
		apply(t, leader, fmt.Sprintf("k%d=%d", i, i))
	}
	waitValue(t, nodes, "k19", "19")

	// Every follower is in contact and caught up.
	for _, f := range fs {
		peer := map[string]string{"peer": f.Name()}
		waitFor(t, 5*time.Second, "lag 0 for "+f.Name(), func() bool {
			v, ok := promtest.Find(t, lreg, "quadrature_raft_peer_replication_lag_entries", peer)
			return ok && v == 0
		})
		if c := promtest.Value(t, lreg, "quadrature_raft_peer_last_contact_seconds", peer); c < 0 || c > 1 {
			t.Fatalf("leader's last contact with %s: %vs, want under 1s (heartbeats every 30 ms)", f.Name(), c)
		}
	}
	// Followers replicate to nobody: no peer series there.
	for _, f := range fs {
		if _, ok := promtest.Find(t, regs[f.Name()], "quadrature_raft_peer_last_contact_seconds", nil); ok {
			t.Fatalf("follower %s exports peer last contact", f.Name())
		}
	}
	// Commit latency is measured where the entries were appended; every
	// node times its FSM.
	if n := promtest.Value(t, lreg, "quadrature_raft_commit_duration_seconds", nil); n < 20 {
		t.Fatalf("leader's commit histogram has %v samples, want ≥ 20", n)
	}
	for _, f := range fs {
		if n := promtest.Value(t, regs[f.Name()], "quadrature_raft_commit_duration_seconds", nil); n != 0 {
			t.Fatalf("follower %s timed %v commits of another node's clock", f.Name(), n)
		}
	}
	for _, n := range nodes {
		if c := promtest.Value(t, regs[n.Name()], "quadrature_raft_fsm_apply_duration_seconds", nil); c < 20 {
			t.Fatalf("%s: FSM apply histogram has %v samples, want ≥ 20", n.Name(), c)
		}
	}

	// Cut one follower off from the leader: its contact ages, its lag
	// grows with every command the others commit.
	cut, ok := fs[0], fs[1]
	partition(cut, leader)
	for i := range 5 {
		apply(t, leader, fmt.Sprintf("p%d=%d", i, i))
	}
	cutPeer := map[string]string{"peer": cut.Name()}
	waitFor(t, 10*time.Second, "the cut-off follower's contact to age past 1.5 s", func() bool {
		v, _ := promtest.Find(t, lreg, "quadrature_raft_peer_last_contact_seconds", cutPeer)
		return v > 1.5
	})
	if lag := promtest.Value(t, lreg, "quadrature_raft_peer_replication_lag_entries", cutPeer); lag < 5 {
		t.Fatalf("lag of the cut-off follower %s: %v, want ≥ 5", cut.Name(), lag)
	}
	okPeer := map[string]string{"peer": ok.Name()}
	waitFor(t, 5*time.Second, "lag 0 for the follower still connected", func() bool {
		v, _ := promtest.Find(t, lreg, "quadrature_raft_peer_replication_lag_entries", okPeer)
		return v == 0
	})
	if c := promtest.Value(t, lreg, "quadrature_raft_peer_last_contact_seconds", okPeer); c > 1 {
		t.Fatalf("last contact of the connected follower %s: %vs", ok.Name(), c)
	}
	heal(cut, leader)
	waitFor(t, 10*time.Second, "the healed follower to catch up", func() bool {
		v, _ := promtest.Find(t, lreg, "quadrature_raft_peer_replication_lag_entries", cutPeer)
		c, _ := promtest.Find(t, lreg, "quadrature_raft_peer_last_contact_seconds", cutPeer)
		return v == 0 && c < 1
	})

	// Snapshots: none yet, then one, with its index and size.
	if v := promtest.Value(t, lreg, "quadrature_raft_snapshots_total", nil); v != 0 {
		t.Fatalf("snapshots before any: %v", v)
	}
	if err := leader.Snapshot(); err != nil {
		t.Fatal(err)
	}
	if v := promtest.Value(t, lreg, "quadrature_raft_snapshots_total", nil); v != 1 {
		t.Fatalf("snapshots after one: %v", v)
	}
	applied := leader.Stats().AppliedIndex
	if idx := promtest.Value(t, lreg, "quadrature_raft_snapshot_last_index", nil); idx < 25 || idx > float64(applied) {
		t.Fatalf("snapshot index %v, want 25..%d", idx, applied)
	}
	if sz := promtest.Value(t, lreg, "quadrature_raft_snapshot_last_size_bytes", nil); sz <= 0 {
		t.Fatalf("snapshot size %v", sz)
	}
	if d := promtest.Value(t, lreg, "quadrature_raft_snapshot_last_duration_seconds", nil); d <= 0 || d > 5 {
		t.Fatalf("snapshot duration %vs", d)
	}

	// A restart reads the snapshot back: one restore, counted.
	for i, n := range nodes {
		if n == leader {
			nodes[i] = n.restart(t)
			leader = nodes[i]
		}
	}
	waitFor(t, 10*time.Second, "the restarted node's restore", func() bool {
		v, _ := promtest.Find(t, lreg, "quadrature_raft_snapshot_restores_total", nil)
		return v == 1
	})
}
