package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// checkedKV is kvFSM with the SnapshotChecker RestoreSnapshot needs: a
// snapshot is a kvSnap with a map.
type checkedKV struct{ *kvFSM }

func (c checkedKV) CheckSnapshot(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s kvSnap
	if err := dec.Decode(&s); err != nil {
		return fmt.Errorf("kv snapshot: %w", err)
	}
	if s.KV == nil {
		return errors.New("kv snapshot: no map")
	}
	return nil
}

// startCheckedCluster is startCluster with checkedKV state machines.
func startCheckedCluster(t *testing.T, count int) []*tnode {
	t.Helper()
	var nodes []*tnode
	for i := 0; i < count; i++ {
		var peers []string
		if i > 0 {
			peers = []string{nodes[0].GossipAddr()}
		}
		cfg := testConfig(t, fmt.Sprintf("n%d", i+1), count, peers...)
		kv := newKV()
		n, err := New(cfg, checkedKV{kv})
		if err != nil {
			t.Fatal(err)
		}
		faults := newFaultSet()
		n.faults = faults
		if err := n.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.Shutdown() })
		cfg.RaftPort, cfg.GossipPort = portOf(n.RaftAddr()), portOf(n.GossipAddr())
		nodes = append(nodes, &tnode{Node: n, fsm: kv, cfg: cfg, faults: faults})
	}
	return nodes
}

// TestSnapshotSaveRestore saves a snapshot on a follower, changes the
// state, refuses damaged snapshots (forwarded to the leader, which must not
// crash and must change nothing), then restores the saved one through a
// follower: every node gets the saved state back and later writes still
// replicate.
func TestSnapshotSaveRestore(t *testing.T) {
	nodes := startCheckedCluster(t, 3)
	leader := waitLeader(t, nodes, 15*time.Second)
	fol := followers(nodes, leader)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	apply(t, fol[0], "a=1")
	apply(t, fol[0], "b=2")
	// On the other follower, right away: the read barrier makes the
	// snapshot hold both writes.
	info, data, err := fol[1].SaveSnapshot(ctx, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var saved kvSnap
	if err := json.Unmarshal(data, &saved); err != nil || saved.KV["a"] != "1" || saved.KV["b"] != "2" {
		t.Fatalf("saved snapshot %s (%v)", data, err)
	}
	t.Logf("saved on %s: index %d term %d, %d bytes: %s", fol[1].Name(), info.Index, info.Term, len(data), bytes.TrimSpace(data))
	// Nothing new since: the same snapshot comes back from the store.
	info2, data2, err := fol[1].SaveSnapshot(ctx, 1<<20)
	if err != nil || info2 != info || !bytes.Equal(data2, data) {
		t.Fatalf("second save: %+v %v (first %+v)", info2, err, info)
	}
	if _, _, err := fol[1].SaveSnapshot(ctx, 10); err == nil || !strings.Contains(err.Error(), "larger than 10 bytes") {
		t.Errorf("save over the limit: %v", err)
	}

	apply(t, fol[0], "a=changed")
	apply(t, fol[0], "c=3")
	waitValue(t, nodes, "c", "3")

	for name, bad := range map[string][]byte{
		"not JSON":      []byte("\x00garbage"),
		"another state": []byte(`{"kv":{"a":"x"},"extra":1}`),
		"no map":        []byte(`{"log":[]}`),
		"empty":         nil,
	} {
		_, err := fol[0].RestoreSnapshot(ctx, bad, info.Index)
		if !errors.Is(err, ErrInvalidSnapshot) {
			t.Fatalf("restore of %s: %v, want ErrInvalidSnapshot", name, err)
		}
		t.Logf("restore of %s through %s: %v", name, fol[0].Name(), err)
	}
	if !leader.IsLeader() {
		t.Fatal("the leader lost its leadership over refused restores")
	}
	for _, n := range nodes {
		if v, _ := n.fsm.get("a"); v != "changed" {
			t.Fatalf("%s: a=%q after refused restores", n.Name(), v)
		}
	}
	apply(t, fol[1], "d=4") // the group still commits
	waitValue(t, nodes, "d", "4")

	before := leader.raft.LastIndex()
	idx, err := fol[0].RestoreSnapshot(ctx, data, info.Index)
	if err != nil {
		t.Fatal(err)
	}
	if idx <= before {
		t.Errorf("restored at index %d, the log was at %d", idx, before)
	}
	t.Logf("restored through %s at index %d (log was at %d)", fol[0].Name(), idx, before)
	waitValue(t, nodes, "a", "1")
	for _, n := range nodes {
		if _, ok := n.fsm.get("c"); ok {
			t.Errorf("%s still has c after the restore", n.Name())
		}
		if _, ok := n.fsm.get("d"); ok {
			t.Errorf("%s still has d after the restore", n.Name())
		}
	}
	// Linearizable reads see it on every node.
	for _, n := range nodes {
		if err := n.ConsistentRead(ctx); err != nil {
			t.Fatalf("%s: consistent read after the restore: %v", n.Name(), err)
		}
		if v, _ := n.fsm.get("b"); v != "2" {
			t.Errorf("%s: b=%q after the restore", n.Name(), v)
		}
	}
	apply(t, fol[1], "e=5")
	waitValue(t, nodes, "e", "5")
	// A follower restarted afterwards comes back with the restored state.
	fol[1].Shutdown()
	r := restartChecked(t, fol[1])
	waitFor(t, 15*time.Second, "restarted follower has the restored state", func() bool {
		a, _ := r.fsm.get("a")
		e, _ := r.fsm.get("e")
		_, c := r.fsm.get("c")
		return a == "1" && e == "5" && !c
	})
}

// restartChecked starts a stopped checked node again on its data
// directory and ports.
func restartChecked(t *testing.T, tn *tnode) *tnode {
	t.Helper()
	var n *Node
	var err error
	kv := newKV()
	for i := 0; i < 20; i++ {
		if n, err = New(tn.cfg, checkedKV{kv}); err == nil {
			if err = n.Start(context.Background()); err == nil {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("restart %s: %v", tn.cfg.NodeName, err)
	}
	t.Cleanup(func() { _ = n.Shutdown() })
	return &tnode{Node: n, fsm: kv, cfg: tn.cfg}
}

// TestRestoreNeedsChecker: without a SnapshotChecker the leader refuses
// any restore (raft would stop the process on a snapshot the FSM rejects).
func TestRestoreNeedsChecker(t *testing.T) {
	nodes := startCluster(t, 1, nil)
	waitLeader(t, nodes, 10*time.Second)
	apply(t, nodes[0], "a=1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, data, err := nodes[0].SaveSnapshot(ctx, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	_, err = nodes[0].RestoreSnapshot(ctx, data, 1)
	if !errors.Is(err, ErrInvalidSnapshot) || !strings.Contains(err.Error(), "cannot check a snapshot") {
		t.Fatalf("restore without a checker: %v", err)
	}
	if v, _ := nodes[0].fsm.get("a"); v != "1" {
		t.Fatalf("a=%q", v)
	}
}
