package checks

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"quadrature/internal/scriptexec"
)

// scriptDir makes a directory for test scripts that passes the security
// check (no directory on the path writable by another user): the package
// directory when it is such a place, else /run (root) or the user's cache
// directory — never /tmp, which is world-writable. A checkout under /tmp
// (as CI may use) falls through to the next candidate.
func scriptDir(t *testing.T) string {
	t.Helper()
	var bases []string
	if wd, err := os.Getwd(); err == nil {
		bases = append(bases, wd)
	}
	if os.Geteuid() == 0 {
		bases = append(bases, "/run")
	}
	if c, err := os.UserCacheDir(); err == nil {
		bases = append(bases, c)
	}
	var why []string
	for _, base := range bases {
		if err := securePath(base); err != nil {
			why = append(why, err.Error())
			continue
		}
		d, err := os.MkdirTemp(base, ".quadrature-scripts-")
		if err != nil {
			why = append(why, err.Error())
			continue
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	skipOrFail(t, "no secure place for test scripts: %s", strings.Join(why, "; "))
	return ""
}

// securePath checks dir and every parent with the script security rule.
func securePath(dir string) error { return scriptexec.CheckPath(dir, uint32(os.Geteuid())) }

func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o755); err != nil { // umask-proof
		t.Fatal(err)
	}
	return p
}

func skipOrFail(t testing.TB, format string, a ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true: "+format, a...)
	}
	t.Skipf(format, a...)
}

func newMisc(t *testing.T, path string, dynamic bool, timeout time.Duration) Checker {
	t.Helper()
	c, err := NewChecker(Spec{Kind: KindMisc, Misc: &MiscSpec{Path: path, Dynamic: dynamic, Timeout: timeout}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestMiscExitCodes(t *testing.T) {
	dir := scriptDir(t)
	exit := writeScript(t, dir, "exit.sh", `exit "$1"`)
	cases := []struct {
		status  int
		dynamic bool
		up      bool
	}{
		{0, false, true}, {0, true, true},
		{1, false, false}, {1, true, false},
		{2, true, true}, {12, true, true}, {255, true, true},
		{3, false, false}, {12, false, false},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("exit%d_dynamic%v", c.status, c.dynamic), func(t *testing.T) {
			r := newMisc(t, fmt.Sprintf("%s %d", exit, c.status), c.dynamic, 5*time.Second).Check(context.Background())
			if r.Up != c.up || r.ExitStatus != c.status {
				t.Fatalf("exit %d dynamic=%v: %+v, want up=%v", c.status, c.dynamic, r, c.up)
			}
		})
	}
	// A signal is a failure.
	r := newMisc(t, writeScript(t, dir, "kill.sh", `kill -KILL $$`), true, 5*time.Second).Check(context.Background())
	if r.Up || r.Outcome != "signal" {
		t.Fatalf("killed script: %+v", r)
	}
}

// TestMiscEnvironmentAndSession: clean PATH only, own session, unprivileged user.
func TestMiscEnvironmentAndSession(t *testing.T) {
	dir := scriptDir(t)
	t.Setenv("QUADRATURE_LEAK", "1")
	body := `[ "$PATH" = "/usr/sbin:/usr/bin:/sbin:/bin" ] || exit 10
[ -z "$QUADRATURE_LEAK" ] || exit 11
[ -z "$HOME" ] || exit 12
set -- $(cat /proc/$$/stat)
[ "$6" = "$$" ] || exit 13   # session leader
[ "$5" = "$$" ] || exit 14   # process group leader
[ "$(id -u)" = "$WANT_UID" ] || [ -z "$WANT_UID" ] || exit 15
[ "$1" = "$$" ] || exit 16
exit 0`
	want := ""
	if os.Geteuid() == 0 {
		want = "0" // root (no keepalived_script user here)
		if _, err := scriptexec.LookupCredential("keepalived_script"); err == nil {
			t.Skip("keepalived_script exists; uid differs")
		}
	}
	p := writeScript(t, dir, "env.sh", strings.Replace(body, "$WANT_UID", want, 2))
	r := newMisc(t, p, false, 5*time.Second).Check(context.Background())
	if !r.Up {
		t.Fatalf("environment check failed: %+v (exit 10 PATH, 11 leak, 12 HOME, 13 session, 14 pgrp, 15 uid)", r)
	}
}

// TestMiscCommandLineArguments: quotes are honoured.
func TestMiscCommandLineArguments(t *testing.T) {
	dir := scriptDir(t)
	p := writeScript(t, dir, "args.sh", `[ "$#" = 3 ] && [ "$1" = "a b" ] && [ "$2" = "c'd" ] && [ "$3" = 'e"f' ] && exit 0; exit 1`)
	r := newMisc(t, p+` "a b" "c'd" 'e"f'`, false, 5*time.Second).Check(context.Background())
	if !r.Up {
		t.Fatalf("arguments not passed as split: %+v", r)
	}
}

// alive lists processes (not zombies) whose command line contains token.
func alive(t *testing.T, token string) []string {
	t.Helper()
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		cmd, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !strings.Contains(string(cmd), token) {
			continue
		}
		st, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		if f := strings.Fields(string(st)); len(f) > 2 && f[2] != "Z" {
			out = append(out, e.Name()+":"+strings.ReplaceAll(string(cmd), "\x00", " "))
		}
	}
	return out
}

func TestMiscTimeoutKillsProcessGroup(t *testing.T) {
	dir := scriptDir(t)
	cases := []struct {
		name, body string
		minWait    time.Duration // SIGKILL needed: at least the grace period
	}{
		{"leader_ignores_sigterm", `trap '' TERM; sleep "$1"; exit 0`, MiscKillGrace},
		{"child_ignores_sigterm", `(trap '' TERM; sleep "$1") & sleep "$1"; exit 0`, 0}, // leader dies of SIGTERM: group SIGKILLed at once
		{"plain_sleep_with_child", `sleep "$1" & sleep "$1"; exit 0`, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			token := fmt.Sprintf("%d.%06d", 900+rand.IntN(99), rand.IntN(1000000))
			p := writeScript(t, dir, c.name+".sh", c.body)
			const timeout = 300 * time.Millisecond
			start := time.Now()
			r := newMisc(t, p+" "+token, true, timeout).Check(context.Background())
			el := time.Since(start)
			if r.Up || r.Outcome != "timeout" {
				t.Fatalf("result %+v, want timeout", r)
			}
			if el < timeout+c.minWait-50*time.Millisecond || el > timeout+MiscKillGrace+2*time.Second {
				t.Fatalf("took %v (timeout %v, grace %v)", el, timeout, MiscKillGrace)
			}
			time.Sleep(50 * time.Millisecond)
			if left := alive(t, token); len(left) > 0 {
				t.Fatalf("processes of the script group survived: %v", left)
			}
		})
	}
}

func TestMiscScriptSecurity(t *testing.T) {
	dir := scriptDir(t)
	ok := writeScript(t, dir, "ok.sh", "exit 0")
	if r := newMisc(t, ok, false, 5*time.Second).Check(context.Background()); !r.Up {
		t.Fatalf("secure script refused: %+v", r)
	}
	ww := writeScript(t, dir, "ww.sh", "exit 0")
	os.Chmod(ww, 0o757)
	wwDir := filepath.Join(dir, "wwdir")
	os.Mkdir(wwDir, 0o755)
	os.Chmod(wwDir, 0o777)
	inWW := writeScript(t, wwDir, "in.sh", "exit 0")
	cases := map[string]string{"world-writable script": ww, "script in world-writable dir": inWW}
	if os.Geteuid() == 0 {
		nr := writeScript(t, dir, "nonroot.sh", "exit 0")
		if err := os.Chown(nr, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		gw := writeScript(t, dir, "groupw.sh", "exit 0")
		os.Chown(gw, 0, 65534)
		os.Chmod(gw, 0o775)
		nrDir := filepath.Join(dir, "nrdir")
		os.Mkdir(nrDir, 0o755)
		inNR := writeScript(t, nrDir, "in.sh", "exit 0")
		os.Chown(nrDir, 65534, 65534)
		cases["script owned by non-root"] = nr
		cases["group-writable by non-root group"] = gw
		cases["script in dir owned by non-root"] = inNR
		gwRoot := writeScript(t, dir, "groupw-root.sh", "exit 0")
		os.Chmod(gwRoot, 0o775) // group root may write: allowed, as keepalived
		if r := newMisc(t, gwRoot, false, 5*time.Second).Check(context.Background()); !r.Up {
			t.Fatalf("root-group-writable script refused: %+v", r)
		}
	} else {
		t.Log("not root: ownership cases skipped")
	}
	for name, p := range cases {
		r := newMisc(t, p, false, 5*time.Second).Check(context.Background())
		if r.Up || r.Outcome != "insecure" || !strings.Contains(r.Reason, "insecure script") {
			t.Errorf("%s: %+v, want refused as insecure", name, r)
		}
	}
	// The escape hatch runs it anyway.
	c, err := NewChecker(Spec{Kind: KindMisc, Misc: &MiscSpec{Path: ww}}, Options{InsecureScripts: true})
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Check(context.Background()); !r.Up {
		t.Fatalf("InsecureScripts: %+v", r)
	}
}

// TestIWashWeightScript runs the real servers of the three-node iWash
// configuration (the reference Squid farm): three real servers, each with
// MISC_CHECK { misc_path "/opt/bin/iweight -p iwashN" misc_dynamic } and the
// default weight 1. The script prints nothing and exits 2+weight.
func TestIWashWeightScript(t *testing.T) {
	dir := scriptDir(t)
	iweight := writeScript(t, dir, "iweight", `[ "$1" = "-p" ] || exit 1
read s < "`+dir+`/$2.status" || exit 1
exit "$s"`)
	set := func(host, v string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, host+".status"), []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	hosts := []string{"iwash1", "iwash2", "iwash3"}
	var specs []RealServerSpec
	for _, h := range hosts {
		set(h, "1") // down until the test says otherwise
		specs = append(specs, RealServerSpec{ID: h + ":3128", Weight: 1, Checkers: []Spec{{
			Kind: KindMisc, DelayLoop: 50 * time.Millisecond, Warmup: Ptr(time.Duration(0)),
			Misc: &MiscSpec{Path: iweight + " -p " + h, Dynamic: true, Timeout: 2 * time.Second},
		}}})
	}
	s, err := NewScheduler(Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(specs); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	go func() {
		for range s.Observations() {
		}
	}()
	expect := func(want map[string][2]int) { // host -> {up(0/1), weight}
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			ok := true
			for _, rs := range s.State() {
				w := want[strings.TrimSuffix(rs.ID, ":3128")]
				if (w[0] == 1) != rs.Up || w[1] != rs.Weight || !rs.Checkers[0].HasRun {
					ok = false
				}
			}
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("want %v, state %+v", want, s.State())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	expect(map[string][2]int{"iwash1": {0, 1}, "iwash2": {0, 1}, "iwash3": {0, 1}}) // exit 1: down
	set("iwash1", "12")
	set("iwash2", "22")
	set("iwash3", "0")
	expect(map[string][2]int{"iwash1": {1, 10}, "iwash2": {1, 20}, "iwash3": {1, 1}})
	set("iwash1", "2")   // weight 0: up but drained
	set("iwash2", "255") // maximum dynamic weight
	set("iwash3", "1")
	expect(map[string][2]int{"iwash1": {1, 0}, "iwash2": {1, 253}, "iwash3": {0, 1}})
	set("iwash3", "3")
	expect(map[string][2]int{"iwash1": {1, 0}, "iwash2": {1, 253}, "iwash3": {1, 1}})
}
