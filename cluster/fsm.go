package cluster

import (
	"io"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// fsmTracker wraps the injected FSM to learn which log index the FSM has
// really applied. raft's AppliedIndex moves when entries are handed to the
// FSM goroutine, before the FSM has run them, so ConsistentRead waits on
// this instead. (The wrapper hides optional interfaces such as
// raft.BatchingFSM: commands are applied one at a time.)
//
// It also times what the metrics report: the FSM's Apply of every command,
// on the leader the time from appending a command to applying it (the
// commit), and the snapshots.
type fsmTracker struct {
	inner   raft.FSM
	snaps   raft.SnapshotStore
	applied atomic.Uint64 // index of the last command applied, or restored snapshot
	m       *metrics
	raft    atomic.Pointer[raft.Raft] // set once NewRaft returned
}

func (f *fsmTracker) Apply(l *raft.Log) any {
	start := time.Now()
	// An entry this node appended as the leader of its current term was
	// stamped (AppendedAt) by this node's clock: the difference is the
	// commit, with the wait for the FSM goroutine. Entries of an earlier
	// leader carry another clock and are not timed.
	if r := f.raft.Load(); r != nil && f.m != nil && !l.AppendedAt.IsZero() &&
		r.State() == raft.Leader && r.CurrentTerm() == l.Term {
		f.m.commitDuration.Observe(start.Sub(l.AppendedAt).Seconds())
	}
	res := f.inner.Apply(l)
	if f.m != nil {
		f.m.applyDuration.Observe(time.Since(start).Seconds())
	}
	f.applied.Store(l.Index)
	return res
}

func (f *fsmTracker) Snapshot() (raft.FSMSnapshot, error) {
	start := time.Now()
	s, err := f.inner.Snapshot()
	if err != nil || f.m == nil {
		return s, err
	}
	return &timedSnapshot{inner: s, start: start, m: f.m}, nil
}

// Restore runs the inner restore, then records the index of the snapshot
// just restored: raft writes every snapshot it restores (startup, install
// from the leader, user restore) to the store first, so it is the newest.
func (f *fsmTracker) Restore(rc io.ReadCloser) error {
	if err := f.inner.Restore(rc); err != nil {
		return err
	}
	if f.m != nil {
		f.m.snapStats.restored.Add(1)
	}
	if metas, err := f.snaps.List(); err == nil && len(metas) > 0 {
		f.applied.Store(metas[0].Index)
	}
	return nil
}

// lastCommandIndex finds the newest command entry at or below idx (the
// entries after it are no-ops, barriers or configuration changes, which do
// not change the FSM). It returns 0 when none is found among the last 64
// stored entries; callers then rely on raft's AppliedIndex alone.
func (n *Node) lastCommandIndex(idx uint64) uint64 {
	for i := idx; i > 0 && idx-i < 64; i-- {
		var l raft.Log
		if err := n.store.GetLog(i, &l); err != nil {
			return 0
		}
		if l.Type == raft.LogCommand {
			return i
		}
	}
	return 0
}
