package main

// End-to-end test of 'quadrature snapshot save|restore|inspect' on a real
// secure three-node group (internal/clustertest): save on a follower,
// change the configuration, refuse damaged snapshots with the group
// unchanged, restore through the other follower and wait until all three
// nodes run the saved configuration (version, content, kernel table)
// again. Needs root (skips otherwise, fails under CI=true) and nft.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"quadrature/api"
	"quadrature/cluster/credentials"
	"quadrature/internal/clustertest"
)

func TestE2ESnapshot(t *testing.T) {
	start := time.Now()
	e := &e2eEnv{}
	e.g = clustertest.New(t, clustertest.Options{Nodes: 3})
	e.adminFile = filepath.Join(e.g.CredDir, credentials.TokenFile)
	e.readFile = filepath.Join(e.g.CredDir, credentials.ReadTokenFile)
	saved := e.g.WaitReady()
	t.Logf("group ready in %v: config version %d, digest %.19s", time.Since(start).Round(time.Millisecond), saved.ConfigVersion, saved.TableDigest)
	dir := t.TempDir()
	snap := filepath.Join(dir, "group.snap")
	leader := e.g.Leader()
	var fols []*clustertest.Node
	for _, n := range e.g.Nodes {
		if n.Name != leader {
			fols = append(fols, n)
		}
	}

	// The saved configuration, as every node serves it.
	r := e.mustCLI(t, fols[0], "config", "get")
	orig := r.stdout
	v := saved.ConfigVersion

	// save needs the admin token: the read-only one is refused, no file.
	if r := e.cliAs(t, fols[0], e.readFile, nil, "snapshot", "save", snap); r.code != 1 || !strings.Contains(r.stderr, "403") ||
		!strings.Contains(r.stderr, "needs the admin token") {
		t.Errorf("save with the read-only token: %s", r)
	}
	if _, err := os.Stat(snap); err == nil {
		t.Fatal("a refused save left a file")
	}
	// save on a follower.
	s := time.Now()
	r = e.mustCLI(t, fols[0], "snapshot", "save", snap)
	t.Logf("save on %s (%v): %s", fols[0].Name, time.Since(s).Round(time.Millisecond), strings.TrimSpace(r.stdout))
	if !regexp.MustCompile(`^snapshot saved to ` + regexp.QuoteMeta(snap) + `: config version ` + strconv.FormatUint(v, 10) +
		`, raft index \d+ \(term \d+\) on ` + fols[0].Name + `, \d+ bytes of state, sha256 [0-9a-f]{64}\n$`).MatchString(r.stdout) {
		t.Errorf("save output: %s", r)
	}
	fi, err := os.Stat(snap)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("snapshot file: %v %v", fi, err)
	}
	env, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	// No overwrite without -force.
	if r := e.cli(t, fols[0], "snapshot", "save", snap); r.code != 1 || !strings.Contains(r.stderr, "exists (-force overwrites it)") {
		t.Errorf("save over an existing file: %s", r)
	}
	// inspect, offline.
	ins := e.mustCLI(t, fols[0], "snapshot", "inspect", snap)
	for _, re := range []string{
		`(?m)^config version +` + strconv.FormatUint(v, 10) + `$`,
		`(?m)^main file +keepalived\.conf$`,
		`(?m)^nodes +n1 n2 n3$`,
		`(?m)^restorable +yes$`,
	} {
		if !regexp.MustCompile(re).MatchString(ins.stdout) {
			t.Errorf("inspect does not match %s:\n%s", re, ins.stdout)
		}
	}
	t.Logf("snapshot inspect:\n%s", ins.stdout)

	// Change the configuration: a real server's weight (the kernel
	// table changes) and a comment.
	edited := strings.Replace(orig, "    weight 1\n", "    weight 3\n", 1) + "# edited after the backup\n"
	if edited == orig+"# edited after the backup\n" {
		t.Fatalf("no weight line in the configuration:\n%s", orig)
	}
	path := filepath.Join(dir, "edited.conf")
	if err := os.WriteFile(path, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	e.mustCLI(t, fols[1], "config", "put", "-if-match", strconv.FormatUint(v, 10), path)
	changed := e.g.AssertConvergedWith("the edited configuration", func(st api.Status) error {
		if st.ConfigVersion != v+1 || st.TableDigest == saved.TableDigest {
			return fmt.Errorf("v%d digest %.19s", st.ConfigVersion, st.TableDigest)
		}
		return nil
	})
	mustRun := func(what string) {
		t.Helper()
		for _, n := range e.g.Nodes {
			r := e.mustCLI(t, n, "config", "get")
			if r.stdout != edited || !strings.Contains(r.stderr, fmt.Sprintf("# config version %d", v+1)) {
				t.Fatalf("%s: %s does not run the edited configuration v%d: %s", what, n.Name, v+1, r)
			}
		}
		if st, err := e.g.Converged(); err != nil || st.TableDigest != changed.TableDigest || st.ConfigVersion != v+1 {
			t.Fatalf("%s: the group moved: %+v %v", what, st, err)
		}
	}
	mustRun("after the edit")

	// Damaged files: refused by the CLI before anything is sent.
	payloadAt := bytes.IndexByte(env[len("quadrature-snapshot 1\n"):], '\n') + len("quadrature-snapshot 1\n") + 1
	flipped := bytes.Clone(env)
	flipped[payloadAt+(len(env)-payloadAt)/2] ^= 0x01
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"one bit flipped", flipped, "checksum mismatch"},
		{"truncated", env[:len(env)-100], "truncated: the header announces"},
		{"a keepalived.conf", []byte(orig), `it does not start with "quadrature-snapshot 1"`},
		{"empty", nil, "not a valid quadrature snapshot: empty"},
	} {
		bad := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".snap")
		if err := os.WriteFile(bad, c.data, 0o600); err != nil {
			t.Fatal(err)
		}
		r := e.cli(t, fols[1], "snapshot", "restore", bad)
		t.Logf("restore of %s: exit %d: %s", c.name, r.code, strings.TrimSpace(r.stderr))
		if r.code != 1 || !strings.Contains(r.stderr, bad+": not a valid quadrature snapshot") || !strings.Contains(r.stderr, c.want) ||
			!strings.Contains(r.stderr, "nothing was sent: the group is unchanged") {
			t.Errorf("restore of %s: %s", c.name, r)
		}
	}
	// Intact envelopes around states the group must refuse: the node
	// decodes the state in full before anything changes (422).
	h, payload, err := api.ReadSnapshot(bytes.NewReader(env), api.MaxSnapshotBody)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	m["config"].(map[string]any)["files"].([]any)[0].(map[string]any)["content"] = []byte("vrrp_instance {\n")
	broken, _ := json.Marshal(m)
	otherVersion := h
	otherVersion.ConfigVersion = v + 7
	for _, c := range []struct {
		name    string
		h       api.SnapshotHeader
		payload []byte
		want    string
	}{
		{"a state that is not quadrature's", h, []byte(`{"kv":{"a":"1"}}`), `unknown field "kv"`},
		{"a configuration that does not compile", h, broken, "does not compile with this build"},
		{"a header that lies about the version", otherVersion, payload, fmt.Sprintf("the header says config version %d, the state holds %d", v+7, v)},
	} {
		_, data, err := api.EncodeSnapshot(c.h, c.payload)
		if err != nil {
			t.Fatal(err)
		}
		bad := filepath.Join(dir, "tampered.snap")
		if err := os.WriteFile(bad, data, 0o600); err != nil {
			t.Fatal(err)
		}
		r := e.cli(t, fols[1], "snapshot", "restore", bad)
		t.Logf("restore of %s: exit %d: %s", c.name, r.code, firstLine(r.stderr))
		if r.code != 1 || !strings.Contains(r.stderr, "snapshot refused, nothing changed") || !strings.Contains(r.stderr, "(422)") || !strings.Contains(r.stderr, c.want) {
			t.Errorf("restore of %s: %s", c.name, r)
		}
	}
	mustRun("after the refused restores")

	// The restore, through the other follower (forwarded to the leader).
	s = time.Now()
	r = e.mustCLI(t, fols[1], "snapshot", "restore", snap)
	t.Logf("restore on %s (%v): %s", fols[1].Name, time.Since(s).Round(time.Millisecond), strings.TrimSpace(r.stdout))
	if !strings.Contains(r.stdout, fmt.Sprintf("snapshot %s restored: the group runs config version %d (saved on %s at raft index %d", snap, v, fols[0].Name, h.RaftIndex)) {
		t.Errorf("restore output: %s", r)
	}
	d := waitT(t, "every node back on the saved configuration", 30*time.Second, func() error {
		for _, n := range e.g.Nodes {
			r := e.cli(t, n, "config", "get")
			if r.code != 0 || r.stdout != orig || !strings.Contains(r.stderr, fmt.Sprintf("# config version %d\n", v)) {
				return fmt.Errorf("%s: %s", n.Name, firstLine(r.stderr))
			}
		}
		return nil
	})
	st := e.g.AssertConvergedWith("the saved table", func(st api.Status) error {
		if st.ConfigVersion != v || st.TableDigest != saved.TableDigest {
			return fmt.Errorf("v%d digest %.19s, want v%d %.19s", st.ConfigVersion, st.TableDigest, v, saved.TableDigest)
		}
		return nil
	})
	t.Logf("every node runs config version %d and the saved table (digest %.19s) %v after the restore", st.ConfigVersion, st.TableDigest, d.Round(time.Millisecond))
	e.sameVersion(t, v)
	// What the agents logged about it: the leader restores, the followers
	// install the snapshot from it, every node applies the configuration.
	for _, n := range e.g.Nodes {
		b, err := os.ReadFile(filepath.Join(e.g.Dir, n.Name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "snapshot") && !strings.Contains(l, "snapshot saved") || strings.Contains(l, "applying committed config") {
				lines = append(lines, l)
			}
		}
		if len(lines) > 8 {
			lines = lines[len(lines)-8:]
		}
		t.Logf("%s log:\n%s", n.Name, strings.Join(lines, "\n"))
	}
	for _, n := range e.g.Nodes {
		if !rsLine(clustertest.RealServerID(1), 1, "up 3/3").MatchString(e.mustCLI(t, n, "list").stdout) {
			t.Errorf("%s: list after the restore does not show weight 1 again", n.Name)
		}
	}
	// The group goes on from the restored version: a compare-and-swap
	// write on it succeeds, one on the version the restore replaced fails.
	if r := e.cli(t, e.g.Node(leader), "config", "put", "-if-match", strconv.FormatUint(v+1, 10), path); r.code != 1 || !strings.Contains(r.stderr, "412") {
		t.Errorf("put with the replaced version %d: %s", v+1, r)
	}
	r = e.mustCLI(t, e.g.Node(leader), "config", "put", "-if-match", strconv.FormatUint(v, 10), path)
	if !strings.Contains(r.stdout, fmt.Sprintf("configuration version %d applied", v+1)) {
		t.Errorf("put after the restore: %s", r)
	}
	e.g.AssertConvergedWith("the edit again", func(st api.Status) error {
		if st.ConfigVersion != v+1 || st.TableDigest != changed.TableDigest {
			return fmt.Errorf("v%d digest %.19s", st.ConfigVersion, st.TableDigest)
		}
		return nil
	})
	if got := e.servedBy(t, 6); got["error"] != 0 {
		t.Errorf("traffic after the restore: %v", got)
	}
	t.Logf("total %v", time.Since(start).Round(time.Millisecond))
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
