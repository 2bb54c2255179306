package vrrp

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"quadrature/internal/scriptexec"
)

// testRunner runs scripts as the test's own user, without the security
// check (test scripts live in temporary directories).
func testRunner() *scriptexec.Runner {
	r, err := scriptexec.NewRunner(scriptexec.Options{User: testScriptUser(), Insecure: true})
	if err != nil {
		panic(err)
	}
	return r
}

func TestScriptRiseFall(t *testing.T) {
	r := newScriptRunner(ScriptConfig{Name: "s", Command: "true", Rise: 2, Fall: 3}, testRunner, slog.Default(), nil)
	seq := []struct {
		ok      bool
		changed bool
		state   bool
	}{
		{false, false, true}, {false, false, true}, {false, true, false}, // fall 3
		{true, false, false}, {false, false, false}, {true, false, false}, {true, true, true}, // rise 2, streak reset
	}
	for i, s := range seq {
		if ch := r.observe(s.ok); ch != s.changed || r.ok != s.state {
			t.Fatalf("step %d: changed %v ok %v, want %v %v", i, ch, r.ok, s.changed, s.state)
		}
	}
	if r := newScriptRunner(ScriptConfig{Name: "s", Command: "true", InitFail: true}, testRunner, slog.Default(), nil); r.ok {
		t.Errorf("init_fail script starts ok")
	}
}

func TestNotifyJobs(t *testing.T) {
	nc := NotifyConfig{Master: "/m", Backup: "/b", Fault: "/f", Stop: "/s", Generic: "/g x"}
	got := notifyJobs(nc, "INSTANCE", "VI_1", StateMaster, 150)
	want := []notifyJob{{line: "/m"}, {line: "/g x", args: []string{"INSTANCE", "VI_1", "MASTER", "150"}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("notifyJobs = %+v, want %+v", got, want)
	}
	if got := notifyJobs(NotifyConfig{Generic: "/g"}, "GROUP", "G", StateStopped, 0); got[0].args[2] != "STOP" {
		t.Errorf("stop state name %q", got[0].args[2])
	}
}

// Notify scripts run asynchronously but in order, each bounded by the
// timeout.
func TestNotifierOrderAndTimeout(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	script := filepath.Join(dir, "n.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n[ \"$1\" = slow ] && sleep 0.2\n[ \"$1\" = hang ] && sleep 30\necho \"$@\" >> "+out+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	n := newNotifier(slog.Default(), time.Second, testRunner)
	start := time.Now()
	n.enqueue(notifyJob{line: script, args: []string{"slow", "1"}}, notifyJob{line: script, args: []string{"fast", "2"}})
	n.enqueue(notifyJob{line: script, args: []string{"hang"}}, notifyJob{line: script + " third", args: []string{"3"}})
	if time.Since(start) > 100*time.Millisecond {
		t.Fatalf("enqueue blocked")
	}
	n.wait(10 * time.Second)
	b, _ := os.ReadFile(out)
	if got := strings.TrimSpace(string(b)); got != "slow 1\nfast 2\nthird 3" {
		t.Errorf("notify output %q", got)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("hung script not bounded by the timeout: %v", d)
	}
}

// vrrp_script and notify scripts run as script_user (a vrrp_script's own
// user wins) and, with enable_script_security, refuse scripts a non-root
// user could change — like MISC_CHECK.
func TestScriptUserAndSecurity(t *testing.T) {
	ctx := t.Context()
	if os.Geteuid() == 0 {
		r, err := newRunner(NodeConfig{ScriptUser: "nobody"}, slog.Default(), false)
		if err != nil {
			t.Fatal(err)
		}
		if err := runScript(ctx, r, `/bin/sh -c '[ "$(id -u)" = 65534 ]'`, "", 5*time.Second); err != nil {
			t.Fatalf("as script_user nobody: %v", err)
		}
		if err := runScript(ctx, r, `/bin/sh -c '[ "$(id -u)" = 0 ]'`, "root", 5*time.Second); err != nil {
			t.Fatalf("as the script's user root: %v", err)
		}
		if _, err := newRunner(NodeConfig{ScriptUser: "no-such-user-q"}, slog.Default(), false); err == nil {
			t.Fatal("unknown script_user accepted")
		}
	}
	script := filepath.Join(t.TempDir(), "s.sh") // under world-writable /tmp
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	secure, err := newRunner(NodeConfig{ScriptUser: testScriptUser(), ScriptSecurity: true}, slog.Default(), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := runScript(ctx, secure, script, "", 5*time.Second); !errors.Is(err, scriptexec.ErrInsecure) {
		t.Fatalf("enable_script_security ran a script under /tmp: %v", err)
	}
	if err := runScript(ctx, testRunner(), script, "", 5*time.Second); err != nil {
		t.Fatalf("without the check: %v", err)
	}
}
