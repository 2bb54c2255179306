package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/bbolt"
)

// markerFile names the node that owns a data directory. It is written once
// the node holds Raft state; a data directory with the marker but without
// state lost its raft.db, and the node refuses to start rather than
// bootstrap a new group over it.
const markerFile = "node-id"

// recoveryAdvice is appended to every data-directory refusal.
const recoveryAdvice = "stop the node, move the data directory aside and start it again to re-join from its peers " +
	"(or restore a snapshot into it); it will not start over a damaged state"

// ErrDataDir marks a data directory the node refuses to start from.
var ErrDataDir = errors.New("cluster: data directory refused")

// checkRaftDB refuses a raft.db that would lose the committed state: empty
// (0 bytes), truncated or scrambled. bbolt panics on some corrupt files, so
// the check opens the file read-only in a function that recovers.
func checkRaftDB(path string) error {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrDataDir, path, err)
	}
	if st.Size() == 0 {
		return fmt.Errorf("%w: %s is empty (0 bytes): the committed state is not there; %s", ErrDataDir, path, recoveryAdvice)
	}
	if err := checkBoltSize(path, st.Size()); err != nil {
		return fmt.Errorf("%w: %s is corrupt (%v); %s", ErrDataDir, path, err, recoveryAdvice)
	}
	if err := checkBolt(path); err != nil {
		if errors.Is(err, bbolt.ErrTimeout) {
			return fmt.Errorf("cluster: open %s (in use by another process?): %w", path, err)
		}
		return fmt.Errorf("%w: %s is corrupt (%v); %s", ErrDataDir, path, err, recoveryAdvice)
	}
	return nil
}

// checkBoltSize compares the file's size with the high-water page id its
// meta pages record: a shorter file was truncated (bbolt would fault or
// panic reading the missing pages).
func checkBoltSize(path string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	const magic = 0xED0CDAED
	var need int64
	valid := 0
	for _, off := range []int64{0, -1} {
		var hdr [64]byte
		at := off
		if off < 0 {
			// The second meta page starts one page in; the page size is in
			// the first meta page (or the default when that one is bad).
			at = 4096
			if need > 0 {
				at = need
			}
		}
		if _, err := f.ReadAt(hdr[:], at); err != nil {
			continue
		}
		m := hdr[16:]
		if binary.LittleEndian.Uint32(m[0:4]) != magic {
			continue
		}
		pageSize := int64(binary.LittleEndian.Uint32(m[8:12]))
		hwm := int64(binary.LittleEndian.Uint64(m[40:48]))
		if pageSize < 512 || pageSize > 1<<16 {
			continue
		}
		valid++
		if off == 0 {
			need = pageSize // where the second meta page is
		}
		if size < hwm*pageSize {
			return fmt.Errorf("%d bytes, but its meta page records %d pages of %d bytes (truncated)", size, hwm, pageSize)
		}
	}
	if valid == 0 {
		return errors.New("no valid bbolt meta page")
	}
	return nil
}

func checkBolt(path string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("bbolt: %v", r)
		}
	}()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
	if err != nil {
		return err
	}
	defer db.Close()
	return db.View(func(tx *bbolt.Tx) error {
		var errs []string
		for e := range tx.Check() {
			if len(errs) < 3 {
				errs = append(errs, e.Error())
			}
		}
		if len(errs) > 0 {
			return errors.New(strings.Join(errs, "; "))
		}
		return nil
	})
}

// checkMarker refuses a data directory that a node initialised (the
// marker exists) but that holds no Raft state any more.
func checkMarker(dir string, hasState bool) error {
	b, err := os.ReadFile(filepath.Join(dir, markerFile))
	if errors.Is(err, fs.ErrNotExist) || hasState {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrDataDir, filepath.Join(dir, markerFile), err)
	}
	return fmt.Errorf("%w: %s belonged to node %s, which had raft state, but raft.db holds none (deleted or replaced?): "+
		"refusing to bootstrap over it; %s", ErrDataDir, dir, strings.TrimSpace(string(b)), recoveryAdvice)
}

// writeMarker records that this data directory holds name's Raft state.
func writeMarker(dir, name string) error {
	p := filepath.Join(dir, markerFile)
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	if err := os.WriteFile(p, []byte(name+"\n"), 0o600); err != nil {
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
