package cluster

// Backup and restore of the replicated state: SaveSnapshot copies a
// consistent snapshot of the FSM out of the group, RestoreSnapshot puts one
// back with raft's user restore, on the leader (forwarded like Apply), so
// that every node installs it.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/raft"
)

// opRestore is the forwarding RPC of RestoreSnapshot (rpcRequest.Cmd holds
// the snapshot, rpcRequest.Index the index it was taken at).
const opRestore = "restore"

// MaxRestoreBytes bounds a snapshot RestoreSnapshot sends to the leader: it
// travels in one RPC frame (base64 inside JSON, 4/3 of its size).
const MaxRestoreBytes = 16 << 20

// SnapshotChecker is implemented by an FSM that can tell whether a
// snapshot would restore, without changing anything. RestoreSnapshot
// refuses to restore into an FSM without it: raft panics (the process
// stops) when the FSM's Restore fails during a user restore, so the data
// must be known good before raft sees it.
type SnapshotChecker interface {
	CheckSnapshot(data []byte) error
}

// ErrInvalidSnapshot: the FSM (on the leader) refused the snapshot given to
// RestoreSnapshot; nothing changed. It survives forwarding (errors.Is
// matches the *ApplyError the follower gets back).
var ErrInvalidSnapshot error = invalidSnapshotError{}

type invalidSnapshotError struct{}

func (invalidSnapshotError) Error() string { return "cluster: invalid snapshot" }
func (invalidSnapshotError) Code() string  { return "invalid_snapshot" }

// SnapshotInfo describes a snapshot taken by SaveSnapshot.
type SnapshotInfo struct {
	Index uint64 // raft index of the last entry the FSM had applied
	Term  uint64 // raft term of that entry
}

// SaveSnapshot returns a consistent snapshot of the FSM (its Persist
// bytes): every write committed before the call is in it. It waits for a
// read barrier (ConsistentRead), then has raft take a snapshot on this node
// now (which also compacts the log, as raft does by itself every so often)
// or, when nothing was applied since the last one, opens that one. limit
// bounds its size.
func (n *Node) SaveSnapshot(ctx context.Context, limit int64) (SnapshotInfo, []byte, error) {
	if !n.running() {
		return SnapshotInfo{}, nil, ErrShutdown
	}
	if err := n.ConsistentRead(ctx); err != nil {
		return SnapshotInfo{}, nil, err
	}
	f := n.raft.Snapshot()
	var meta *raft.SnapshotMeta
	var rc io.ReadCloser
	err := waitFuture(ctx, f)
	switch {
	case err == nil:
		meta, rc, err = f.Open()
	case errors.Is(err, raft.ErrNothingNewToSnapshot):
		meta, rc, err = n.openNewestSnapshot()
	}
	if err != nil {
		return SnapshotInfo{}, nil, fmt.Errorf("cluster: snapshot: %w", mapRaftError(err))
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return SnapshotInfo{}, nil, fmt.Errorf("cluster: read snapshot %s: %w", meta.ID, err)
	}
	if int64(len(data)) > limit {
		return SnapshotInfo{}, nil, fmt.Errorf("cluster: snapshot %s is larger than %d bytes", meta.ID, limit)
	}
	if int64(len(data)) != meta.Size {
		return SnapshotInfo{}, nil, fmt.Errorf("cluster: snapshot %s: read %d bytes, its metadata says %d", meta.ID, len(data), meta.Size)
	}
	return SnapshotInfo{Index: meta.Index, Term: meta.Term}, data, nil
}

// openNewestSnapshot opens the newest snapshot of the store.
func (n *Node) openNewestSnapshot() (*raft.SnapshotMeta, io.ReadCloser, error) {
	metas, err := n.tracker.snaps.List()
	if err != nil {
		return nil, nil, err
	}
	if len(metas) == 0 {
		return nil, nil, errors.New("no snapshot in the store")
	}
	return n.tracker.snaps.Open(metas[0].ID)
}

// RestoreSnapshot replaces the group's replicated state with data, a
// snapshot as SaveSnapshot returns it, taken at raft index index. It runs
// on the leader (forwarded from a follower): the leader's FSM checks data
// first (SnapshotChecker; ErrInvalidSnapshot and nothing changed when it
// refuses), then raft's user restore installs it on the leader at an index
// past the log (and past index) and sends it to every follower, and a no-op
// entry committed after it shows that a quorum has it. It returns the
// index the snapshot was installed at.
//
// The raft configuration is not part of the snapshot and stays as it is.
// When ctx ends or leadership is lost once raft has the snapshot, the
// outcome is unknown: check the config version on the nodes.
func (n *Node) RestoreSnapshot(ctx context.Context, data []byte, index uint64) (uint64, error) {
	if len(data) == 0 {
		return 0, newApplyError(fmt.Errorf("%w: empty", ErrInvalidSnapshot))
	}
	if len(data) > MaxRestoreBytes {
		return 0, newApplyError(fmt.Errorf("%w: %d bytes, more than the %d a restore can carry", ErrInvalidSnapshot, len(data), MaxRestoreBytes))
	}
	resp, err := n.withLeader(ctx, rpcRequest{Op: opRestore, Cmd: data, Index: index}, func(ctx context.Context) (rpcResponse, error) {
		idx, err := n.restoreLocal(ctx, data, index)
		return rpcResponse{Index: idx}, err
	}, nil)
	return resp.Index, err
}

// restoreLocal is the leader's half of RestoreSnapshot.
func (n *Node) restoreLocal(ctx context.Context, data []byte, index uint64) (uint64, error) {
	if !n.running() {
		return 0, ErrShutdown
	}
	if n.raft.State() != raft.Leader {
		return 0, ErrNotLeader
	}
	if len(data) == 0 || len(data) > MaxRestoreBytes {
		return 0, newApplyError(fmt.Errorf("%w: %d bytes", ErrInvalidSnapshot, len(data)))
	}
	chk, ok := n.fsm.(SnapshotChecker)
	if !ok {
		return 0, newApplyError(fmt.Errorf("%w: this node's state machine cannot check a snapshot before restoring it", ErrInvalidSnapshot))
	}
	if err := chk.CheckSnapshot(data); err != nil {
		return 0, newApplyError(fmt.Errorf("%w: %v", ErrInvalidSnapshot, err))
	}
	var timeout time.Duration
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(dl), time.Millisecond)
	}
	meta := &raft.SnapshotMeta{
		Version: raft.SnapshotVersionMax,
		Index:   index,
		Term:    n.raft.CurrentTerm(),
		Size:    int64(len(data)),
	}
	n.logger.Warn("restoring a snapshot into the group", "bytes", len(data), "snapshot_index", index, "last_index", n.raft.LastIndex())
	// ErrNotLeader after raft has the snapshot (leadership lost before the
	// no-op committed) makes withLeader restore it again on the new
	// leader: the same state again, so the group ends up with it.
	done := make(chan error, 1)
	go func() { done <- n.raft.Restore(meta, bytes.NewReader(data), timeout) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		return 0, fmt.Errorf("cluster: restore: %w (outcome unknown)", ctx.Err())
	}
	if err != nil {
		if errors.Is(err, raft.ErrNotLeader) {
			return 0, ErrNotLeader
		}
		return 0, fmt.Errorf("cluster: restore: %w", mapRaftError(err))
	}
	idx := n.tracker.applied.Load()
	n.logger.Warn("snapshot restored into the group", "index", idx)
	return idx, nil
}
