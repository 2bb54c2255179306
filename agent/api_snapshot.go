package agent

import (
	"context"
	"errors"
	"fmt"
	"quadrature/api"
	"time"

	"quadrature/cluster"
	"quadrature/fsm"
)

var _ api.Snapshotter = (*APIBackend)(nil)

// SaveSnapshot takes a consistent snapshot of the FSM on this node (after
// a read barrier, so it holds every write acknowledged before the call)
// and describes it.
func (b *APIBackend) SaveSnapshot(ctx context.Context) (api.SnapshotHeader, []byte, error) {
	n, err := b.node()
	if err != nil {
		return api.SnapshotHeader{}, nil, err
	}
	info, data, err := n.SaveSnapshot(ctx, api.MaxSnapshotBody)
	if err != nil {
		return api.SnapshotHeader{}, nil, mapErr(err)
	}
	st, err := b.Agent.FSM().DecodeSnapshot(data)
	if err != nil {
		return api.SnapshotHeader{}, nil, fmt.Errorf("the snapshot taken at raft index %d does not decode: %w", info.Index, err)
	}
	return api.SnapshotHeader{
		Node:              b.Agent.Name(),
		Created:           time.Now().UTC().Truncate(time.Second),
		QuadratureVersion: b.Version,
		RaftIndex:         info.Index,
		RaftTerm:          info.Term,
		ConfigVersion:     st.ConfigVersion(),
		FSMFormat:         fsm.SnapshotFormat,
	}, data, nil
}

// RestoreSnapshot checks data as the FSM would restore it (decoded into a
// scratch state: nothing of the running one is touched), then has the
// leader restore it into the group, and waits until this node runs it.
func (b *APIBackend) RestoreSnapshot(ctx context.Context, h api.SnapshotHeader, data []byte) (api.SnapshotRestoreResult, error) {
	n, err := b.node()
	if err != nil {
		return api.SnapshotRestoreResult{}, err
	}
	st, err := CheckSnapshotPayload(b.Agent.FSM(), h, data)
	if err != nil {
		return api.SnapshotRestoreResult{}, err
	}
	// Raft installs the snapshot past both its own log and the index the
	// state was taken at, so the entries after it keep growing indexes
	// also in a group younger than the snapshot.
	idx, err := n.RestoreSnapshot(ctx, data, max(h.RaftIndex, st.Index()))
	if err != nil {
		if errors.Is(err, cluster.ErrInvalidSnapshot) {
			return api.SnapshotRestoreResult{}, api.InvalidSnapshotError(err)
		}
		return api.SnapshotRestoreResult{}, mapErr(err)
	}
	// Read-your-writes: this node shows the restored state from now on.
	if err := n.ConsistentRead(ctx); err != nil {
		return api.SnapshotRestoreResult{}, fmt.Errorf("snapshot restored at raft index %d; this node has not caught up yet: %w", idx, mapErr(err))
	}
	return api.SnapshotRestoreResult{Restored: true, ConfigVersion: st.ConfigVersion(), RaftIndex: idx, Snapshot: h}, nil
}

// CheckSnapshotPayload decodes a verified envelope's payload with f (into a
// new state; f is unchanged) and checks that it can be restored and that
// the header describes it. Refusals are *InvalidError (code
// invalid_snapshot).
func CheckSnapshotPayload(f *fsm.FSM, h api.SnapshotHeader, data []byte) (*fsm.State, error) {
	if h.FSMFormat != 0 && h.FSMFormat != fsm.SnapshotFormat {
		return nil, api.InvalidSnapshotError(fmt.Errorf("state format %d, this build reads %d", h.FSMFormat, fsm.SnapshotFormat))
	}
	st, err := f.DecodeSnapshot(data)
	if err != nil {
		return nil, api.InvalidSnapshotError(err)
	}
	if err := fsm.CheckRestorable(st); err != nil {
		return nil, api.InvalidSnapshotError(err)
	}
	if st.ConfigVersion() != h.ConfigVersion {
		return nil, api.InvalidSnapshotError(fmt.Errorf("the header says config version %d, the state holds %d", h.ConfigVersion, st.ConfigVersion()))
	}
	return st, nil
}
