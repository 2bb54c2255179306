package cluster

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// Files in DataDir.
const (
	raftDBFile = "raft.db"
	// markerFile names the node that owns a data directory. It is written
	// once the node holds Raft state; a data directory with the marker but
	// without state lost its raft.db, and the node refuses to start rather
	// than bootstrap (or vote) over it.
	markerFile = "node-id"
)

// recoveryAdvice is appended to every data-directory refusal.
const recoveryAdvice = "stop the node, move the data directory aside and start it again to re-join from its peers " +
	"(or restore a snapshot into it); it will not start over a damaged state"

// ErrDataDir marks a data directory the node refuses to start from.
var ErrDataDir = errors.New("cluster: data directory refused")

// boltCheckMaxPages bounds the structural check of raft.db: past this many
// pages (1 GiB of 4 KiB pages) the rest of the file is not walked.
const boltCheckMaxPages = 1 << 18

// checkRaftDB refuses a raft.db that would lose the committed state: empty
// (0 bytes), truncated or scrambled. It reports whether the file existed.
// The file is first walked page by page with plain reads (checkBoltFile,
// bbolt's own consistency checks: it cannot fault or panic), then opened
// read-only with bbolt in a function that recovers from panics and memory
// faults, so raftboltdb never opens a file bbolt would crash on.
func checkRaftDB(path string) (existed bool, err error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return true, fmt.Errorf("%w: %s: %w", ErrDataDir, path, err)
	}
	if st.Size() == 0 {
		return true, fmt.Errorf("%w: %s is empty (0 bytes): the committed state is not there; %s", ErrDataDir, path, recoveryAdvice)
	}
	f, err := os.Open(path)
	if err != nil {
		return true, fmt.Errorf("%w: %s: %w", ErrDataDir, path, err)
	}
	err = checkBoltFile(f, st.Size(), boltCheckMaxPages)
	_ = f.Close()
	if err != nil {
		return true, fmt.Errorf("%w: %s is corrupt (%v); %s", ErrDataDir, path, err, recoveryAdvice)
	}
	if err := checkBoltOpen(path); err != nil {
		if errors.Is(err, bbolt.ErrTimeout) {
			return true, fmt.Errorf("cluster: open %s (in use by another process?): %w", path, err)
		}
		return true, fmt.Errorf("%w: %s is corrupt (%v); %s", ErrDataDir, path, err, recoveryAdvice)
	}
	return true, nil
}

// errBoltPanic marks a panic or memory fault inside bbolt.
var errBoltPanic = errors.New("bbolt panicked")

// checkBoltOpen opens path read-only with bbolt and reads the first and
// last key of every top-level bucket, turning any panic or memory fault
// into an error.
func checkBoltOpen(path string) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", errBoltPanic, r)
		}
	}()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
	if err != nil {
		return err
	}
	defer db.Close()
	return db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(_ []byte, b *bbolt.Bucket) error {
			c := b.Cursor()
			c.First()
			c.Last()
			return nil
		})
	})
}

// storeHasState reports whether raft.db itself holds Raft state: a log
// entry or a current term. (Snapshots alone do not count: without the
// stable store the node would forget its term and vote.)
func storeHasState(s *raftboltdb.BoltStore) bool {
	if last, err := s.LastIndex(); err == nil && last > 0 {
		return true
	}
	term, err := s.GetUint64([]byte("CurrentTerm"))
	return err == nil && term > 0
}

// checkMarker refuses a data directory that belongs to another node, or
// that a node initialised (the marker exists) but whose raft.db holds no
// state any more (deleted or replaced).
func checkMarker(dir, name string, dbHasState bool) error {
	p := filepath.Join(dir, markerFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrDataDir, p, err)
	}
	owner := strings.TrimSpace(string(b))
	if owner != name {
		return fmt.Errorf("%w: %s belongs to node %q (its %s says so), not to %q: refusing to run another node's raft state; "+
			"point data_dir at this node's own directory", ErrDataDir, dir, owner, markerFile, name)
	}
	if !dbHasState {
		return fmt.Errorf("%w: %s belonged to node %s, which had raft state, but %s holds none (deleted or replaced?): "+
			"refusing to bootstrap over it; %s", ErrDataDir, dir, owner, raftDBFile, recoveryAdvice)
	}
	return nil
}

// writeMarker records once that this data directory holds the node's Raft
// state (written to a temporary file, synced and renamed into place).
func (n *Node) writeMarker() error {
	if n.markerDone.Load() {
		return nil
	}
	if err := writeMarker(n.cfg.DataDir, n.cfg.NodeName); err != nil {
		return err
	}
	n.markerDone.Store(true)
	return nil
}

func writeMarker(dir, name string) error {
	p := filepath.Join(dir, markerFile)
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	tmp := p + ".tmp"
	err := func() error {
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		if _, err := f.WriteString(name + "\n"); err != nil {
			_ = f.Close()
			return err
		}
		if err := f.Sync(); err != nil {
			_ = f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		if err := os.Rename(tmp, p); err != nil {
			return err
		}
		if d, err := os.Open(dir); err == nil {
			_ = d.Sync()
			_ = d.Close()
		}
		return nil
	}()
	if err != nil {
		_ = os.Remove(tmp)
		return diskError(fmt.Errorf("cluster: write %s: %w", p, err))
	}
	return nil
}

// diskError says plainly when the disk is full.
func diskError(err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("%w (the disk holding the data directory is full: free space and start again)", err)
	}
	return err
}
