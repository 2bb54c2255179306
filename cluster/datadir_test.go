package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// aRaftDB runs a one-node group in a fresh data dir, applies a few entries
// and stops, leaving a real raft.db; it returns the config to restart.
func aRaftDB(t *testing.T) Config {
	t.Helper()
	cfg := testConfig(t, "solo", 1)
	n := startNode(t, cfg)
	waitLeader(t, []*tnode{n}, 10*time.Second)
	for _, kv := range []string{"a=1", "b=2", "c=3"} {
		apply(t, n, kv)
	}
	if err := n.Shutdown(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestDataDirFaultsRefuseToStart(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   string
	}{
		{"empty raft.db", func(t *testing.T, dir string) {
			if err := os.Truncate(filepath.Join(dir, "raft.db"), 0); err != nil {
				t.Fatal(err)
			}
		}, "is empty (0 bytes)"},
		{"truncated raft.db", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "raft.db")
			st, _ := os.Stat(p)
			if err := os.Truncate(p, st.Size()/2); err != nil {
				t.Fatal(err)
			}
		}, "is corrupt"},
		{"scrambled raft.db", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "raft.db")
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < len(b); i += 7 {
				b[i] ^= 0x5a
			}
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "is corrupt"},
		{"raft.db deleted", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "raft.db")); err != nil {
				t.Fatal(err)
			}
			_ = os.RemoveAll(filepath.Join(dir, "snapshots"))
		}, "refusing to bootstrap over it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := aRaftDB(t)
			if _, err := os.Stat(filepath.Join(cfg.DataDir, markerFile)); err != nil {
				t.Fatalf("no marker after bootstrap: %v", err)
			}
			tc.damage(t, cfg.DataDir)
			n, err := tryStartNode(cfg)
			if err == nil {
				_ = n.Shutdown()
				t.Fatal("started over a damaged data dir")
			}
			t.Logf("refused: %v", err)
			if !errors.Is(err, ErrDataDir) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "re-join") {
				t.Fatalf("error %q, want ErrDataDir with %q and the recovery advice", err, tc.want)
			}
		})
	}
	t.Run("intact raft.db restarts", func(t *testing.T) {
		cfg := aRaftDB(t)
		n := startNode(t, cfg)
		waitFor(t, 10*time.Second, "the old entries", func() bool { v, ok := n.fsm.get("c"); return ok && v == "3" })
	})
}

// TestFullDiskRefusesToStart: a data dir on a full file system gives an
// error that says so.
func TestFullDiskRefusesToStart(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root to mount a tmpfs (CI runs as root)")
		}
		t.Skip("needs root to mount a small tmpfs")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", mnt).Run() })
	// Fill it.
	f, err := os.Create(filepath.Join(mnt, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	f.Close()
	cfg := testConfig(t, "full", 1)
	cfg.DataDir = filepath.Join(mnt, "data")
	n, err := tryStartNode(cfg)
	if err == nil {
		_ = n.Shutdown()
		t.Fatal("started on a full disk")
	}
	t.Logf("refused: %v", err)
	if !strings.Contains(err.Error(), "full") {
		t.Fatalf("error %q does not say the disk is full", err)
	}
	// Once space is freed the node starts: the failed attempt left no
	// half-made raft.db behind to be refused as empty.
	if err := os.Remove(filepath.Join(mnt, "fill")); err != nil {
		t.Fatal(err)
	}
	n = startNode(t, cfg)
	waitLeader(t, []*tnode{n}, 10*time.Second)
	if err := n.Shutdown(); err != nil {
		t.Fatal(err)
	}
}

// boltMetaOf reads the page size and high-water mark of a bbolt file.
func boltMetaOf(t *testing.T, path string) (pageSize int64, pgid uint64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	w := &boltWalker{r: f, size: st.Size(), maxPages: boltCheckMaxPages}
	if err := w.readMeta(); err != nil {
		t.Fatal(err)
	}
	return w.pageSize, w.meta.pgid
}

func TestDataDirDamagedPagesAndForeignMarker(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   string
	}{
		{"used half of raft.db cut off", func(t *testing.T, dir string) {
			p := filepath.Join(dir, raftDBFile)
			ps, pgid := boltMetaOf(t, p)
			if err := os.Truncate(p, int64(pgid)*ps/2); err != nil {
				t.Fatal(err)
			}
		}, "truncated"},
		{"data pages scrambled, meta pages intact", func(t *testing.T, dir string) {
			p := filepath.Join(dir, raftDBFile)
			ps, pgid := boltMetaOf(t, p)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			rnd := rand.New(rand.NewPCG(1, 2))
			for i := 2 * ps; i < int64(pgid)*ps; i++ {
				b[i] = byte(rnd.Uint32())
			}
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "is corrupt"},
		{"marker of another node", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, markerFile), []byte("other\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, `belongs to node "other"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := aRaftDB(t)
			tc.damage(t, cfg.DataDir)
			n, err := tryStartNode(cfg)
			if err == nil {
				_ = n.Shutdown()
				t.Fatal("started over a damaged data dir")
			}
			t.Logf("refused: %v", err)
			if !errors.Is(err, ErrDataDir) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want ErrDataDir with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "is corrupt") && !strings.Contains(err.Error(), filepath.Join(cfg.DataDir, raftDBFile)) {
				t.Fatalf("error %q does not name the file", err)
			}
		})
	}
}

// TestDataDirMarkerWhenAddedByLeader: a node that never bootstrapped (the
// leader added it) writes the marker once it has state, so losing its
// raft.db later is refused too.
func TestDataDirMarkerWhenAddedByLeader(t *testing.T) {
	a := startNode(t, testConfig(t, "a", 1))
	waitLeader(t, []*tnode{a}, 10*time.Second)
	b := startNode(t, testConfig(t, "b", 0, a.GossipAddr()))
	waitFor(t, 10*time.Second, "b added and its marker written", func() bool {
		_, err := os.Stat(filepath.Join(b.cfg.DataDir, markerFile))
		return len(raftServers(t, a)) == 2 && err == nil
	})
}

// bboltFixture writes a bbolt file with nested, inline and large (overflow)
// values and some deletions (a non-empty freelist), and returns its bytes.
func bboltFixture(t testing.TB) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fixture.db")
	db, err := bbolt.Open(p, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	for tx := 0; tx < 8; tx++ {
		err := db.Update(func(tx *bbolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("logs"))
			if err != nil {
				return err
			}
			for i := 0; i < 50; i++ {
				k := fmt.Appendf(nil, "%08d", b.Sequence())
				_, _ = b.NextSequence()
				if err := b.Put(k, bytes.Repeat([]byte{byte(i)}, 100+i*7)); err != nil {
					return err
				}
			}
			c := b.Cursor()
			for k, _ := c.First(); k != nil && b.Stats().KeyN > 150; k, _ = c.Next() {
				if err := c.Delete(); err != nil {
					return err
				}
			}
			inline, err := tx.CreateBucketIfNotExists([]byte("conf"))
			if err != nil {
				return err
			}
			if err := inline.Put([]byte("CurrentTerm"), []byte{0, 0, 0, 0, 0, 0, 0, 7}); err != nil {
				return err
			}
			nested, err := b.CreateBucketIfNotExists([]byte("nested"))
			if err != nil {
				return err
			}
			return nested.Put([]byte("big"), bytes.Repeat([]byte("x"), 3*4096+17))
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCheckBoltFileAcceptsRealFiles(t *testing.T) {
	b := bboltFixture(t)
	if err := checkBoltFile(bytes.NewReader(b), int64(len(b)), boltCheckMaxPages); err != nil {
		t.Fatalf("a bbolt-written file refused: %v", err)
	}
	// A budget smaller than the file stops the walk without a verdict.
	if err := checkBoltFile(bytes.NewReader(b), int64(len(b)), 3); err != nil {
		t.Fatalf("a partial walk refused a good file: %v", err)
	}
	// And a real raft.db after many transactions.
	cfg := testConfig(t, "solo", 1)
	n := startNode(t, cfg)
	waitLeader(t, []*tnode{n}, 10*time.Second)
	for i := 0; i < 200; i++ {
		apply(t, n, fmt.Sprintf("k%d=%s", i, strings.Repeat("v", i*20)))
	}
	if err := n.Snapshot(); err != nil {
		t.Fatal(err)
	}
	if err := n.Shutdown(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(cfg.DataDir, raftDBFile)
	if _, err := checkRaftDB(p); err != nil {
		t.Fatalf("a good raft.db refused: %v", err)
	}
}

// FuzzCheckBoltFile: the structural check never panics, and what it
// accepts bbolt opens and reads without panicking or faulting.
func FuzzCheckBoltFile(f *testing.F) {
	good := bboltFixture(f)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(good[:8192])
	f.Add([]byte{})
	scrambled := bytes.Clone(good)
	for i := 8192; i < len(scrambled); i += 13 {
		scrambled[i] ^= 0xa5
	}
	f.Add(scrambled)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := checkBoltFile(bytes.NewReader(b), int64(len(b)), 1<<12); err != nil {
			return
		}
		p := filepath.Join(dir, "fuzz.db")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := checkBoltOpen(p); errors.Is(err, errBoltPanic) {
			t.Fatalf("checkBoltFile accepted a file bbolt panics on: %v", err)
		}
	})
}
