package cluster

import (
	"io"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// fsmTracker wraps the injected FSM to learn which log index the FSM has
// really applied. raft's AppliedIndex moves when entries are handed to the
// FSM goroutine, before the FSM has run them, so ConsistentRead waits on
// this instead. (The wrapper hides optional interfaces such as
// raft.BatchingFSM: commands are applied one at a time.)
type fsmTracker struct {
	inner   raft.FSM
	snaps   raft.SnapshotStore
	applied atomic.Uint64 // index of the last command applied, or restored snapshot
}

func (f *fsmTracker) Apply(l *raft.Log) any {
	res := f.inner.Apply(l)
	f.applied.Store(l.Index)
	return res
}

func (f *fsmTracker) Snapshot() (raft.FSMSnapshot, error) { return f.inner.Snapshot() }

// Restore runs the inner restore, then records the index of the snapshot
// just restored: raft writes every snapshot it restores (startup, install
// from the leader, user restore) to the store first, so it is the newest.
func (f *fsmTracker) Restore(rc io.ReadCloser) error {
	if err := f.inner.Restore(rc); err != nil {
		return err
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
