package scriptexec

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func runner(t *testing.T, opts Options) *Runner {
	t.Helper()
	if os.Geteuid() == 0 && opts.User == "" {
		opts.User = "root"
	}
	r, err := NewRunner(opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRunExitStatusAndArguments(t *testing.T) {
	r := runner(t, Options{})
	ctx := t.Context()
	if res := r.RunLine(ctx, "/bin/sh -c 'exit 0'", "", 5*time.Second); !res.OK() {
		t.Fatalf("exit 0: %v", res)
	}
	// Extra arguments follow the split command line ($0 = x, $1 = 7).
	if res := r.RunLine(ctx, `/bin/sh -c "exit \$1" x`, "", 5*time.Second, "7"); res.OK() || res.Status != 7 {
		t.Fatalf("exit $1 with 7: %+v", res)
	}
	// A clean environment: PATH only, no HOME, working directory /.
	if res := r.RunLine(ctx, `/bin/sh -c '[ "$PATH" = /usr/sbin:/usr/bin:/sbin:/bin ] && [ -z "$HOME" ] && [ "$(pwd)" = / ]'`, "", 5*time.Second); !res.OK() {
		t.Fatalf("environment: %v", res)
	}
	if res := r.RunLine(ctx, "", "", time.Second); res.Err == nil {
		t.Fatal("empty command line accepted")
	}
	if res := r.RunLine(ctx, `/bin/sh -c "unterminated`, "", time.Second); res.Err == nil {
		t.Fatal("unterminated quote accepted")
	}
	if res := r.RunLine(ctx, "no-such-script-q", "", time.Second); res.Err == nil {
		t.Fatal("missing script accepted")
	}
}

func TestRunTimeoutKillsGroup(t *testing.T) {
	r := runner(t, Options{KillGrace: 200 * time.Millisecond})
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child")
	start := time.Now()
	// The script leaves a grandchild in its group and waits: both must go.
	res := r.RunLine(t.Context(), `/bin/sh -c 'sleep 30 & echo $! > `+pidFile+`; wait'`, "", 300*time.Millisecond)
	if !res.TimedOut {
		t.Fatalf("not timed out: %+v", res)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("took %v", el)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat("/proc/" + string(b[:len(b)-1])); errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("grandchild %s survived the timeout", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRunCancelled(t *testing.T) {
	r := runner(t, Options{KillGrace: 100 * time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	if res := r.RunLine(ctx, "/bin/sh -c 'sleep 30'", "", time.Minute); !res.TimedOut || res.OK() {
		t.Fatalf("cancelled run: %+v", res)
	}
}

func TestRunSecurity(t *testing.T) {
	dir := t.TempDir() // under /tmp: world-writable, so never secure
	script := filepath.Join(dir, "s.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if CheckPath("/tmp", uint32(os.Geteuid())) == nil {
		t.Skip("/tmp passes the security check here")
	}
	res := runner(t, Options{}).RunLine(t.Context(), script, "", 5*time.Second)
	if !errors.Is(res.Err, ErrInsecure) {
		t.Fatalf("insecure script: %+v, want ErrInsecure", res)
	}
	if res := runner(t, Options{Insecure: true}).RunLine(t.Context(), script, "", 5*time.Second); !res.OK() {
		t.Fatalf("with the check off: %v", res)
	}
	// /bin/sh is root's: secure.
	if res := runner(t, Options{}).RunLine(t.Context(), "/bin/sh -c true", "", 5*time.Second); !res.OK() {
		t.Fatalf("/bin/sh refused: %v", res)
	}
}

// TestRunAsUser: as root, scripts run as script_user (or their own user)
// with no supplementary groups; without root, naming a user is an error.
func TestRunAsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		r, err := NewRunner(Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Credential("nobody"); err == nil {
			t.Fatal("an unprivileged runner accepted a user switch")
		}
		return
	}
	r, err := NewRunner(Options{User: "nobody"})
	if err != nil {
		t.Fatal(err)
	}
	check := `/bin/sh -c '[ "$(id -u)" = 65534 ] && [ "$(id -G)" = "$(id -g)" ]'`
	if res := r.RunLine(t.Context(), check, "", 5*time.Second); !res.OK() {
		t.Fatalf("as script_user nobody: %v", res)
	}
	if res := r.RunLine(t.Context(), `/bin/sh -c '[ "$(id -u)" = 0 ]'`, "root", 5*time.Second); !res.OK() {
		t.Fatalf("as the script's own user root: %v", res)
	}
	if _, err := NewRunner(Options{User: "no-such-user-q"}); err == nil {
		t.Fatal("unknown script_user accepted")
	}
}
