package cluster

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	if !strings.Contains(err.Error(), "full") {
		t.Fatalf("error %q does not say the disk is full", err)
	}
}
