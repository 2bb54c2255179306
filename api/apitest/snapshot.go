package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"quadrature/api"
)

var _ api.Snapshotter = (*Fake)(nil)

// fakeSnapshot is the payload of the fake's snapshots: its configuration
// and deny list.
type fakeSnapshot struct {
	Fake    string            `json:"fake"` // always "apitest"
	Version uint64            `json:"version"`
	Main    string            `json:"main"`
	Files   map[string]string `json:"files"`
	Revoked []string          `json:"revoked"`
}

// SaveSnapshot returns the fake's configuration and deny list as a
// snapshot at its applied index.
func (f *Fake) SaveSnapshot(context.Context) (api.SnapshotHeader, []byte, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.record("SaveSnapshot")
	data, err := json.Marshal(fakeSnapshot{Fake: "apitest", Version: f.Conf.Version, Main: f.Conf.Main,
		Files: maps.Clone(f.Conf.Files), Revoked: slices.Clone(f.Revoked)})
	if err != nil {
		return api.SnapshotHeader{}, nil, err
	}
	return api.SnapshotHeader{Node: f.Node, RaftIndex: f.Stat.AppliedIndex, RaftTerm: 2,
		ConfigVersion: f.Conf.Version, FSMFormat: 1}, data, nil
}

// RestoreSnapshot replaces the fake's configuration and deny list with a
// snapshot of SaveSnapshot; anything else is refused (invalid_snapshot)
// and changes nothing.
func (f *Fake) RestoreSnapshot(_ context.Context, h api.SnapshotHeader, data []byte) (api.SnapshotRestoreResult, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.record("RestoreSnapshot")
	var s fakeSnapshot
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return api.SnapshotRestoreResult{}, api.InvalidSnapshotError(fmt.Errorf("state: %v", err))
	}
	switch {
	case s.Fake != "apitest":
		return api.SnapshotRestoreResult{}, api.InvalidSnapshotError(errors.New("state: not a snapshot of this fake"))
	case s.Version == 0 || s.Files[s.Main] == "":
		return api.SnapshotRestoreResult{}, api.InvalidSnapshotError(errors.New("state: no configuration"))
	case s.Version != h.ConfigVersion:
		return api.SnapshotRestoreResult{}, api.InvalidSnapshotError(fmt.Errorf("the header says config version %d, the state holds %d", h.ConfigVersion, s.Version))
	}
	f.Conf.Version, f.Conf.Main, f.Conf.Files = s.Version, s.Main, s.Files
	f.render()
	f.Revoked = s.Revoked
	f.Stat.AppliedIndex++
	return api.SnapshotRestoreResult{Restored: true, ConfigVersion: s.Version, RaftIndex: f.Stat.AppliedIndex, Snapshot: h}, nil
}
