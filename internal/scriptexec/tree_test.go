//go:build linux

package scriptexec

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// containments returns every mechanism this host offers, the last
// being the marker scan alone, and a function selecting one for the
// test (restored at the end).
func containments(t *testing.T) []string {
	t.Helper()
	detect()
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	own, _ := os.ReadFile("/proc/self/cgroup")
	var modes []string
	for _, m := range []string{ContainCgroup2, ContainPids, ContainFreezer} {
		if dir := cgroupDir(string(mounts), string(own), m); dir != "" && probe(dir) {
			modes = append(modes, m)
		}
	}
	if len(modes) > 0 && modes[0] == ContainCgroup2 {
		modes = append(modes, ContainCgroup2+"-late") // pid written after start
	}
	t.Logf("host containment %s; testing %v and %s", Containment(), modes, ContainMarker)
	return append(modes, ContainMarker)
}

// useContainment makes the runs of the test use mode.
func useContainment(t *testing.T, mode string) {
	t.Helper()
	savedBase, savedClone := base, cloneInto.Load()
	t.Cleanup(func() { base = savedBase; cloneInto.Store(savedClone) })
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	own, _ := os.ReadFile("/proc/self/cgroup")
	switch mode {
	case ContainMarker:
		base = nil
	case ContainCgroup2 + "-late":
		b := &cgroupBase{mode: ContainCgroup2, dir: cgroupDir(string(mounts), string(own), ContainCgroup2)}
		b.kill = probeKill(b.dir)
		base = b
		cloneInto.Store(false)
	default:
		b := &cgroupBase{mode: mode, dir: cgroupDir(string(mounts), string(own), mode)}
		if mode == ContainCgroup2 {
			b.kill = probeKill(b.dir)
		}
		base = b
		cloneInto.Store(mode == ContainCgroup2)
	}
}

// alive reports whether pid is a live process (not gone, not a zombie).
func alive(pid int) bool { return !zombie(pid) }

// watchPids reads the pid files a script writes and kills those
// processes at the end of the test, whatever happens (only these pids,
// and only while they still run "sleep 300").
func watchPids(t *testing.T, files ...string) func() []int {
	t.Helper()
	var pids []int
	t.Cleanup(func() {
		for _, f := range files {
			if b, err := os.ReadFile(f); err == nil {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
					pids = append(pids, pid)
				}
			}
		}
		for _, pid := range pids {
			if cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && string(cmd) == "sleep\x00300\x00" {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	return func() []int {
		pids = pids[:0]
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatalf("pid file %s: %v", f, err)
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatalf("pid file %s: %q", f, b)
			}
			pids = append(pids, pid)
		}
		return pids
	}
}

// Scripts whose children leave the session (setsid), double-fork or
// both: when the script exits, and when it times out, Run returns only
// after every one of them is gone — with each containment this host
// offers.
func TestRunKillsDescendants(t *testing.T) {
	// escape starts `sleep 300` detached as described and makes the
	// script wait until its pid is written to the file.
	escape := func(how, file string) string {
		inner := `sh -c "echo \$\$ > ` + file + `; exec sleep 300"`
		switch how {
		case "setsid":
			return `setsid ` + inner + ` &`
		case "double fork":
			return `( ` + inner + ` & ) ;`
		case "setsid + double fork":
			return `( setsid ` + inner + ` & ) ;`
		case "daemon":
			// Closes its descriptors and becomes a session leader's orphan
			// with a new process group.
			return `( setsid sh -c '(` + inner + ` </dev/null >/dev/null 2>&1 &)' & ) ;`
		}
		panic(how)
	}
	wait := func(files ...string) string {
		var conds []string
		for _, f := range files {
			conds = append(conds, `[ -s `+f+` ]`)
		}
		return `until ` + strings.Join(conds, " && ") + `; do sleep 0.01; done;`
	}
	for _, mode := range containments(t) {
		t.Run(mode, func(t *testing.T) {
			useContainment(t, mode)
			for _, how := range []string{"setsid", "double fork", "setsid + double fork", "daemon"} {
				for _, timeout := range []bool{false, true} {
					name := how + " then exit 0"
					if timeout {
						name = how + " then time out"
					}
					t.Run(name, func(t *testing.T) {
						dir := t.TempDir()
						f1, f2 := filepath.Join(dir, "p1"), filepath.Join(dir, "p2")
						pids := watchPids(t, f1, f2)
						body := escape(how, f1) + " " + escape("setsid", f2) + " " + wait(f1, f2)
						if timeout {
							body += " sleep 30;"
						}
						body += " exit 0"
						r := runner(t, Options{KillGrace: 100 * time.Millisecond, Insecure: true})
						limit := 10 * time.Second
						if timeout {
							limit = 500 * time.Millisecond
						}
						res := r.Run(t.Context(), []string{"/bin/sh", "-c", body}, limit, nil)
						if timeout != res.TimedOut || (!timeout && !res.OK()) {
							t.Fatalf("result %+v", res)
						}
						for _, pid := range pids() {
							if alive(pid) {
								t.Errorf("pid %d (sleep 300) survived Run", pid)
							}
						}
						// At timeout what stayed in the process group goes with it
						// and is not counted; the setsid one always is.
						if want := map[bool]int{false: 2, true: 1}[timeout]; res.Leftover < want {
							t.Errorf("Leftover %d, want ≥ %d", res.Leftover, want)
						}
					})
				}
			}
		})
	}
}

// Nothing of a run is left: no per-run cgroup, no marked process.
func TestRunLeavesNoCgroup(t *testing.T) {
	detect()
	r := runner(t, Options{})
	if res := r.Run(t.Context(), []string{"/bin/sh", "-c", "sleep 0.01 & exit 0"}, 5*time.Second, nil); !res.OK() {
		t.Fatal(res)
	}
	if base == nil {
		t.Skip("no cgroup here")
	}
	ents, _ := os.ReadDir(base.dir)
	prefix := fmt.Sprintf("%s%d-", cgroupPrefix, os.Getpid())
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			t.Errorf("cgroup %s left", e.Name())
		}
	}
}

// The marker is in the script's environment and unique per run.
func TestRunMarkerEnv(t *testing.T) {
	r := runner(t, Options{})
	dir := t.TempDir()
	var seen []string
	for i := range 2 {
		out := filepath.Join(dir, strconv.Itoa(i))
		if res := r.Run(t.Context(), []string{"/bin/sh", "-c", `echo "$` + MarkerEnv + `" > ` + out}, 5*time.Second, nil); !res.OK() {
			t.Fatal(res)
		}
		b, _ := os.ReadFile(out)
		seen = append(seen, strings.TrimSpace(string(b)))
	}
	if seen[0] == "" || seen[0] == seen[1] {
		t.Errorf("markers %q", seen)
	}
}

// KeepDescendants restores keepalived's behaviour for scripts that exit
// in time: what they start survives.
func TestRunKeepDescendants(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "p")
	pids := watchPids(t, f)
	r := runner(t, Options{KeepDescendants: true})
	res := r.Run(t.Context(), []string{"/bin/sh", "-c", `setsid sh -c "echo \$\$ > ` + f + `; exec sleep 300" & until [ -s ` + f + ` ]; do sleep 0.01; done`}, 5*time.Second, nil)
	if !res.OK() || res.Leftover != 0 {
		t.Fatal(res)
	}
	if pid := pids()[0]; !alive(pid) {
		t.Errorf("pid %d did not survive with KeepDescendants", pid)
	}
}

func TestCgroupDir(t *testing.T) {
	mountinfo := `25 30 0:22 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
27 25 0:24 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
28 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
29 25 0:26 /docker/abc /sys/fs/cgroup/freezer rw - cgroup cgroup rw,freezer
`
	own := "4:pids:/system.slice/quadrature.service\n3:freezer:/docker/abc/x\n2:cpu,cpuacct:/\n0::/system.slice/quadrature.service\n"
	for _, c := range []struct{ mode, want string }{
		{ContainCgroup2, "/sys/fs/cgroup/unified/system.slice/quadrature.service"},
		{ContainPids, "/sys/fs/cgroup/pids/system.slice/quadrature.service"},
		{ContainFreezer, "/sys/fs/cgroup/freezer/x"},
	} {
		if got := cgroupDir(mountinfo, own, c.mode); got != c.want {
			t.Errorf("%s: %q, want %q", c.mode, got, c.want)
		}
	}
	if got := cgroupDir("26 25 0:23 / /sys/fs/cgroup\\040x rw - cgroup2 cgroup2 rw\n", "0::/\n", ContainCgroup2); got != "/sys/fs/cgroup x" {
		t.Errorf("escaped mount point: %q", got)
	}
	if got := cgroupDir(mountinfo, "0::/a\n", ContainPids); got != "" {
		t.Errorf("pids without a pids line: %q", got)
	}
}

// Without enable_script_security an unsafe script still runs, with one
// warning per script naming it, the reason and what the option would do.
func TestRunWarnsInsecureOnce(t *testing.T) {
	dir := t.TempDir() // under /tmp: world-writable above it
	if CheckPath(dir, uint32(os.Geteuid())) == nil {
		t.Skip("the temporary directory passes the security check here")
	}
	script := filepath.Join(dir, "s.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "o.sh")
	if err := os.WriteFile(other, []byte("#!/bin/sh\nexit 0\n"), 0o777); err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(other, 0o777)
	var logs bytes.Buffer
	r := runner(t, Options{Insecure: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for range 3 {
		if res := r.RunLine(t.Context(), script, "", 5*time.Second); !res.OK() {
			t.Fatalf("unsafe script refused without enable_script_security: %v", res)
		}
	}
	if res := r.RunLine(t.Context(), other, "", 5*time.Second); !res.OK() {
		t.Fatal(res)
	}
	if res := r.RunLine(t.Context(), "/bin/sh -c true", "", 5*time.Second); !res.OK() {
		t.Fatal(res)
	}
	out := logs.String()
	if c := strings.Count(out, "level=WARN"); c != 2 {
		t.Errorf("%d warnings, want one per unsafe script:\n%s", c, out)
	}
	real, _ := filepath.EvalSymlinks(script)
	realOther, _ := filepath.EvalSymlinks(other)
	for _, want := range []string{"script=" + real, "script=" + realOther, "world-writable", "enable_script_security", "would be refused"} {
		if !strings.Contains(out, want) {
			t.Errorf("warning lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "/bin/sh") || strings.Contains(out, "script=/usr/bin/dash") {
		t.Errorf("a safe script was warned about:\n%s", out)
	}
}
