package cluster

import (
	"context"
	"testing"
	"time"
)

// TestDegradedAndFencingOnPartition isolates a follower, then the leader,
// and checks the degraded and quorum-lost signals on both sides.
func TestDegradedAndFencingOnPartition(t *testing.T) {
	nodes := startCluster(t, 3, nil)
	leader := waitLeader(t, nodes, 10*time.Second)
	fs := followers(nodes, leader)
	f, other := fs[0], fs[1]
	for _, n := range nodes {
		waitFor(t, 5*time.Second, n.Name()+" healthy", func() bool {
			_, lost := n.QuorumLost()
			return !lost && !n.Degraded()
		})
	}
	events, cancel := f.Subscribe(64)
	defer cancel()

	// 1. A follower alone on its side of a partition.
	cut := time.Now()
	partition(f, leader, other)
	waitFor(t, 5*time.Second, "quorum lost on isolated follower", func() bool { _, lost := f.QuorumLost(); return lost })
	lostAfter := time.Since(cut)
	if f.Degraded() && time.Since(cut) < f.cfg.DegradedAfter {
		t.Fatalf("degraded after %s, before DegradedAfter %s", time.Since(cut), f.cfg.DegradedAfter)
	}
	waitFor(t, 5*time.Second, "isolated follower degraded", f.Degraded)
	degradedAfter := time.Since(cut)
	t.Logf("isolated follower: quorum lost after %s, degraded after %s", lostAfter, degradedAfter)
	// since is the last contact with a quorum: before the cut, or just
	// after it when a message was already on its way (delivered after
	// partition() returned).
	since, _ := f.QuorumLost()
	if since.After(cut.Add(100*time.Millisecond)) || cut.Sub(since) > time.Second {
		t.Fatalf("quorum lost since %s, partition at %s", since, cut)
	}
	// The majority keeps working and is neither degraded nor fenced.
	apply(t, other, "during=1")
	for _, n := range []*tnode{leader, other} {
		// (waitFor, not a snapshot check: a load-induced election on a busy
		// machine may fence the majority for a moment, legitimately.)
		waitFor(t, 5*time.Second, n.Name()+" on the majority side neither degraded nor fenced", func() bool {
			_, lost := n.QuorumLost()
			return !lost && !n.Degraded()
		})
	}
	// The isolated follower cannot commit.
	ctx, c2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	if _, _, err := f.Apply(ctx, []byte("minority=1")); err == nil {
		t.Fatal("apply on the isolated follower succeeded")
	}
	c2()

	heal(f, leader, other)
	waitFor(t, 10*time.Second, "follower back in contact", func() bool {
		_, lost := f.QuorumLost()
		return !lost && !f.Degraded()
	})
	waitValue(t, nodes, "during", "1")
	wantKinds := map[EventKind][]bool{}
	drain := true
	for drain {
		select {
		case e := <-events:
			switch e.Kind {
			case EventDegraded:
				wantKinds[e.Kind] = append(wantKinds[e.Kind], e.Degraded)
			case EventQuorum:
				wantKinds[e.Kind] = append(wantKinds[e.Kind], e.QuorumLost)
			}
		default:
			drain = false
		}
	}
	for _, k := range []EventKind{EventDegraded, EventQuorum} {
		got := wantKinds[k]
		if len(got) < 2 || !got[0] || got[len(got)-1] {
			t.Fatalf("%s events %v, want true ... false", k, got)
		}
	}

	// 2. The leader alone: it must fence itself and step down; the
	// majority elects a new leader.
	leader = waitLeader(t, nodes, 10*time.Second)
	rest := followers(nodes, leader)
	cut = time.Now()
	partition(leader, rest...)
	waitFor(t, 5*time.Second, "quorum lost on isolated leader", func() bool { _, lost := leader.QuorumLost(); return lost })
	t.Logf("isolated leader: quorum lost after %s", time.Since(cut))
	nl := waitLeader(t, rest, 10*time.Second)
	if nl.Name() == leader.Name() {
		t.Fatal("isolated leader still leads the majority")
	}
	if leader.IsLeader() {
		// raft steps down within about two leases; allow for that.
		waitFor(t, 2*time.Second, "isolated leader steps down", func() bool { return !leader.IsLeader() })
	}
	apply(t, rest[0], "after=1")
	heal(leader, rest...)
	waitValue(t, nodes, "after", "1")
	waitFor(t, 10*time.Second, "old leader recovered", func() bool {
		_, lost := leader.QuorumLost()
		return !lost && !leader.Degraded()
	})
}
