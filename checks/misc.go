package checks

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// MiscSpec is MISC_CHECK.
type MiscSpec struct {
	Path    string        // misc_path: command line with arguments (quotes honoured)
	Timeout time.Duration // misc_timeout (default delay_loop)
	Dynamic bool          // misc_dynamic: exit 2..255 sets weight = status - 2
	User    string        // user: "name", "name group" or "name:group"; default script_user
}

func (m *MiscSpec) effectiveTimeout(delayLoop time.Duration) time.Duration {
	if m != nil && m.Timeout > 0 {
		return m.Timeout
	}
	return delayLoop
}

func (m *MiscSpec) validate() error {
	argv, err := SplitCommandLine(m.Path)
	if err != nil {
		return fmt.Errorf("misc_path %q: %w", m.Path, err)
	}
	if len(argv) == 0 {
		return errors.New("misc_path is empty")
	}
	if m.Timeout < 0 {
		return errors.New("negative misc_timeout")
	}
	return nil
}

// scriptRunner runs scripts with keepalived's security rules and a
// concurrency limit shared by all MISC_CHECKs of a scheduler.
type scriptRunner struct {
	sem      chan struct{}
	root     bool
	euid     uint32
	defUser  string
	insecure bool
}

func newScriptRunner(opts Options) (*scriptRunner, error) {
	n := opts.MaxScripts
	if n <= 0 {
		n = 8
	}
	r := &scriptRunner{
		sem:      make(chan struct{}, n),
		euid:     uint32(os.Geteuid()),
		insecure: opts.InsecureScripts,
		defUser:  opts.ScriptUser,
	}
	r.root = r.euid == 0
	if r.defUser == "" && r.root {
		r.defUser = defaultScriptUser()
	}
	if r.defUser != "" && r.root {
		if _, err := lookupCredential(r.defUser); err != nil {
			return nil, fmt.Errorf("checks: %w", err)
		}
	}
	return r, nil
}

// credential returns who runs the script: nil (ourselves) when we are not
// root; otherwise the checker's user or the default script user.
func (r *scriptRunner) credential(userSpec string) (*syscall.Credential, error) {
	if userSpec == "" {
		userSpec = r.defUser
	}
	if !r.root {
		if userSpec != "" {
			return nil, fmt.Errorf("script user %q: not running as root, cannot switch user", userSpec)
		}
		return nil, nil
	}
	return lookupCredential(userSpec)
}

// scriptResult is the outcome of one script run.
type scriptResult struct {
	status   int // exit status, -1 when killed or not started
	signaled bool
	timedOut bool
	err      error // could not run at all
}

// run executes argv in a new session (so it leads its own process group)
// with a clean environment. On timeout the whole group gets SIGTERM, then
// SIGKILL MiscKillGrace later (keepalived's behaviour).
func (r *scriptRunner) run(ctx context.Context, argv []string, timeout time.Duration, cred *syscall.Credential) scriptResult {
	path, err := resolveScript(argv[0])
	if err != nil {
		return scriptResult{status: -1, err: err}
	}
	if !r.insecure {
		if err := CheckScriptSecurity(path, r.euid); err != nil {
			return scriptResult{status: -1, err: err}
		}
	}
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return scriptResult{status: -1, err: fmt.Errorf("waiting for a script slot: %w", ctx.Err())}
	}
	defer func() { <-r.sem }()

	cmd := exec.Command(path, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Env = []string{ScriptPath}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Credential: cred}
	if err := cmd.Start(); err != nil {
		return scriptResult{status: -1, err: fmt.Errorf("start %s: %w", path, err)}
	}
	pgid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-done:
		return exitResult(cmd.ProcessState)
	case <-timer.C:
	case <-ctx.Done():
	}
	killGroup(pgid, done)
	res := exitResult(cmd.ProcessState)
	res.timedOut = true
	return res
}

// killGroup is keepalived's timeout sequence: SIGTERM to the group; when
// the leader dies of it, SIGKILL at once to whatever it left in the group;
// if it is still alive MiscKillGrace later, SIGKILL the group; if even that
// does not end it within 10 s, SIGKILL again.
func killGroup(pgid int, done <-chan error) {
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	grace := time.NewTimer(MiscKillGrace)
	defer grace.Stop()
	select {
	case <-done:
		_ = syscall.Kill(-pgid, syscall.SIGKILL) // the leader is gone: its children too
		return
	case <-grace.C:
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
	}
}

func exitResult(ps *os.ProcessState) scriptResult {
	if ps == nil {
		return scriptResult{status: -1}
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return scriptResult{status: -1, signaled: true, err: fmt.Errorf("killed by signal %v", ws.Signal())}
	}
	return scriptResult{status: ps.ExitCode()}
}

// miscChecker is MISC_CHECK.
type miscChecker struct {
	argv    []string
	timeout time.Duration
	dynamic bool
	user    string
	runner  *scriptRunner
}

func newMiscChecker(s *Spec, r *scriptRunner) (*miscChecker, error) {
	argv, err := SplitCommandLine(s.Misc.Path)
	if err != nil || len(argv) == 0 {
		return nil, fmt.Errorf("misc_path %q: bad command line: %v", s.Misc.Path, err)
	}
	c := &miscChecker{
		argv: argv, timeout: s.Misc.effectiveTimeout(s.EffectiveDelayLoop()),
		dynamic: s.Misc.Dynamic, user: s.Misc.User, runner: r,
	}
	if _, err := r.credential(c.user); err != nil {
		return nil, err
	}
	return c, nil
}

// Check maps the exit status as keepalived's check_misc.c does: 0 is up at
// the configured weight; with misc_dynamic 2..255 is up (weight status-2);
// 1, any other status without misc_dynamic, a signal or a timeout is down.
func (c *miscChecker) Check(ctx context.Context) Result {
	cred, err := c.runner.credential(c.user)
	if err != nil {
		return Result{Reason: err.Error(), Outcome: "error", ExitStatus: -1}
	}
	r := c.runner.run(ctx, c.argv, c.timeout, cred)
	switch {
	case r.timedOut:
		return Result{Reason: fmt.Sprintf("script %s timed out after %v", c.argv[0], c.timeout), Outcome: "timeout", ExitStatus: -1}
	case errors.Is(r.err, ErrInsecureScript):
		return Result{Reason: r.err.Error(), Outcome: "insecure", ExitStatus: -1}
	case r.signaled:
		return Result{Reason: fmt.Sprintf("script %s %v", c.argv[0], r.err), Outcome: "signal", ExitStatus: -1}
	case r.err != nil:
		return Result{Reason: r.err.Error(), Outcome: "error", ExitStatus: -1}
	case r.status == 0:
		return Result{Up: true, Reason: "exit 0", Outcome: "ok", ExitStatus: 0}
	case c.dynamic && r.status >= 2 && r.status <= 255:
		return Result{Up: true, Reason: fmt.Sprintf("exit %d (dynamic weight %d)", r.status, r.status-2), Outcome: "ok", ExitStatus: r.status}
	}
	return Result{Reason: fmt.Sprintf("script %s exited %d", c.argv[0], r.status), Outcome: "exit_status", ExitStatus: r.status}
}
