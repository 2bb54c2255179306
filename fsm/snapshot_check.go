package fsm

import (
	"errors"
	"fmt"
)

// DecodeSnapshot decodes a snapshot written by Persist (MarshalSnapshot's
// bytes) into a new State with this FSM's parse function, without changing
// the FSM: a scratch copy to inspect (config version, source) or to check
// before a restore. A configuration this build cannot compile is kept, as
// Restore keeps it (see State.CompileError).
func (f *FSM) DecodeSnapshot(b []byte) (*State, error) {
	if len(b) > MaxSnapshotBytes {
		return nil, fmt.Errorf("fsm: snapshot: larger than %d bytes", MaxSnapshotBytes)
	}
	return unmarshalSnapshot(b, &compiler{parse: f.comp.parse})
}

// CheckSnapshot reports whether b may be restored into a running group:
// Restore accepts it (the encoding decodes), it holds a configuration, and
// that configuration compiles with this build for every node it names
// (Restore would keep one that does not, with an empty table). It changes
// nothing. Package cluster calls it on the leader before a user restore,
// because raft stops the process when the FSM refuses a user restore.
func (f *FSM) CheckSnapshot(b []byte) error {
	s, err := f.DecodeSnapshot(b)
	if err != nil {
		return err
	}
	return CheckRestorable(s)
}

// CheckRestorable is the part of CheckSnapshot that looks at the decoded
// state: a configuration is committed and compiles.
func CheckRestorable(s *State) error {
	if s.ConfigVersion() == 0 || s.Source() == nil {
		return errors.New("fsm: snapshot: it holds no configuration (taken before the group committed one)")
	}
	if err := s.CompileError(); err != nil {
		return fmt.Errorf("fsm: snapshot: its configuration (version %d) does not compile with this build: %w", s.ConfigVersion(), err)
	}
	return nil
}
