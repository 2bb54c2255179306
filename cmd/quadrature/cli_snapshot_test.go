package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"quadrature/api"
)

// TestCLISnapshot runs save, inspect and restore against the fake: the
// file is private and verified, a damaged file never reaches the backend.
func TestCLISnapshot(t *testing.T) {
	f, conn := cliEnv(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "backup.snap")
	with := func(args ...string) []string { return append(args, conn...) }

	code, out, errs := runCLI(with("snapshot", "save", path)...)
	if code != 0 || !strings.HasPrefix(out, "snapshot saved to "+path+": config version 7, raft index 42 (term 2) on iwash1, ") {
		t.Fatalf("save: %d %q %q", code, out, errs)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("saved file: %v %v", fi, err)
	}
	if code, _, errs := runCLI(with("snapshot", "save", path)...); code != 1 || !strings.Contains(errs, "exists (-force overwrites it)") {
		t.Errorf("save over a file: %d %q", code, errs)
	}
	code, out, errs = runCLI(with("snapshot", "save", "-force", "-o", "json", path)...)
	var h api.SnapshotHeader
	if code != 0 || json.Unmarshal([]byte(out), &h) != nil || h.ConfigVersion != 7 || h.Format != 1 || len(h.SHA256) != 64 {
		t.Fatalf("save -force -o json: %d %q %q", code, out, errs)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}

	// The fake's state is not an FSM state: inspect verifies the
	// envelope, shows the header and says it would not restore.
	code, out, _ = runCLI("snapshot", "inspect", path)
	if code != 1 || !strings.Contains(out, "config version  7") || !strings.Contains(out, "restorable      no") || !strings.Contains(out, "(verified)") {
		t.Errorf("inspect of the fake's snapshot: %d\n%s", code, out)
	}

	// Damaged: refused here, nothing sent.
	env, _ := os.ReadFile(path)
	bad := filepath.Join(dir, "bad.snap")
	os.WriteFile(bad, env[:len(env)-1], 0o600)
	f.ResetCalls()
	code, _, errs = runCLI(with("snapshot", "restore", bad)...)
	if code != 1 || !strings.Contains(errs, bad+": not a valid quadrature snapshot: truncated") || !strings.Contains(errs, "nothing was sent: the group is unchanged") {
		t.Errorf("restore of a truncated file: %d %q", code, errs)
	}
	if code, _, errs := runCLI("snapshot", "inspect", bad); code != 1 || !strings.Contains(errs, "truncated") {
		t.Errorf("inspect of a truncated file: %d %q", code, errs)
	}
	if calls := f.Calls(); len(calls) != 0 {
		t.Errorf("a damaged snapshot reached the backend: %v", calls)
	}

	// Restore: the fake goes back to the saved configuration.
	f.Mu.Lock()
	f.Conf.Version, f.Conf.Files = 9, map[string]string{"keepalived.conf": "# changed\n"}
	f.Mu.Unlock()
	code, out, errs = runCLI(with("snapshot", "restore", path)...)
	if code != 0 || !strings.HasPrefix(out, "snapshot "+path+" restored: the group runs config version 7 (saved on iwash1 at raft index 42, ") {
		t.Fatalf("restore: %d %q %q", code, out, errs)
	}
	calls := f.Calls()
	f.Mu.Lock()
	v, main := f.Conf.Version, f.Conf.Files["keepalived.conf"]
	f.Mu.Unlock()
	if !slices.Contains(calls, "RestoreSnapshot") || v != 7 || strings.Contains(main, "# changed") {
		t.Errorf("fake after restore: v%d %v", v, calls)
	}

	// Usage.
	if code, _, errs := runCLI("snapshot"); code != 2 || !strings.Contains(errs, "quadrature snapshot save [flags] FILE") {
		t.Errorf("snapshot without a verb: %d %q", code, errs)
	}
	if code, _, errs := runCLI("snapshot", "load", path); code != 2 || !strings.Contains(errs, "unknown subcommand") {
		t.Errorf("unknown verb: %d %q", code, errs)
	}
	if code, _, errs := runCLI(with("snapshot", "save")...); code != 2 || !strings.Contains(errs, "want 1 argument(s), got 0") {
		t.Errorf("save without FILE: %d %q", code, errs)
	}
}
