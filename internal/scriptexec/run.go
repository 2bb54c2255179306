package scriptexec

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Options configure a Runner.
type Options struct {
	// User is the default user scripts run as ("user", "user:group" or
	// "user group"): global_defs script_user. Empty: keepalived_script if
	// that user exists, else root with a warning, as keepalived does. It
	// only applies when the process is root; an unprivileged process runs
	// scripts as itself.
	User string
	// Logger receives the warning about the root fallback (default
	// slog.Default()).
	Logger *slog.Logger
	// Insecure disables the enable_script_security check (keepalived's
	// default when enable_script_security is not set).
	Insecure bool
	// Max bounds the scripts running at once (default 8).
	Max int
	// KillGrace is the time between SIGTERM and SIGKILL of a timed-out
	// script's process group (default 2s).
	KillGrace time.Duration
}

// Runner runs scripts the way keepalived does: resolved to a real path,
// refused when a non-root user could change them (unless Insecure), as the
// configured user with no supplementary groups, in a session of their own
// with a clean environment and / as working directory, and on timeout the
// whole process group is terminated (SIGTERM, then SIGKILL).
type Runner struct {
	sem     chan struct{}
	root    bool
	euid    uint32
	defUser string
	opts    Options
}

// NewRunner checks the default user and returns a runner.
func NewRunner(opts Options) (*Runner, error) {
	if opts.Max <= 0 {
		opts.Max = 8
	}
	if opts.KillGrace <= 0 {
		opts.KillGrace = 2 * time.Second
	}
	r := &Runner{sem: make(chan struct{}, opts.Max), euid: uint32(os.Geteuid()), defUser: opts.User, opts: opts}
	r.root = r.euid == 0
	if r.defUser == "" && r.root {
		var fallback bool
		if r.defUser, fallback = DefaultUser(); fallback {
			log := opts.Logger
			if log == nil {
				log = slog.Default()
			}
			log.Warn("script_user is not set and user keepalived_script does not exist: scripts run as root; " +
				"create keepalived_script or set script_user in global_defs")
		}
	}
	if r.defUser != "" && r.root {
		if _, err := LookupCredential(r.defUser); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Credential returns who runs a script with the given user ("" = the
// default user): nil (ourselves) when the process is not root.
func (r *Runner) Credential(userSpec string) (*syscall.Credential, error) {
	if userSpec == "" {
		userSpec = r.defUser
	}
	if !r.root {
		if userSpec != "" {
			return nil, fmt.Errorf("script user %q: not running as root, cannot switch user", userSpec)
		}
		return nil, nil
	}
	return LookupCredential(userSpec)
}

// Result is the outcome of one run.
type Result struct {
	Status   int // exit status; -1 when killed or not started
	Signaled bool
	TimedOut bool
	Err      error // could not run at all (wraps ErrInsecure when refused), or the signal
}

// OK reports a clean exit with status 0.
func (r Result) OK() bool { return r.Err == nil && !r.TimedOut && !r.Signaled && r.Status == 0 }

// String describes the outcome for logs.
func (r Result) String() string {
	switch {
	case r.TimedOut:
		return "timed out"
	case r.Err != nil:
		return r.Err.Error()
	default:
		return fmt.Sprintf("exit %d", r.Status)
	}
}

// Run executes argv as cred (nil: as this process) with the timeout; ctx
// ending also terminates the script.
func (r *Runner) Run(ctx context.Context, argv []string, timeout time.Duration, cred *syscall.Credential) Result {
	if len(argv) == 0 {
		return Result{Status: -1, Err: errors.New("empty command")}
	}
	path, err := Resolve(argv[0])
	if err != nil {
		return Result{Status: -1, Err: err}
	}
	if !r.opts.Insecure {
		if err := CheckSecurity(path, r.euid); err != nil {
			return Result{Status: -1, Err: err}
		}
	}
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return Result{Status: -1, Err: fmt.Errorf("waiting for a script slot: %w", ctx.Err())}
	}
	defer func() { <-r.sem }()

	cmd := exec.Command(path, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Env = []string{Env}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Credential: cred}
	if err := cmd.Start(); err != nil {
		return Result{Status: -1, Err: fmt.Errorf("start %s: %w", path, err)}
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
	r.killGroup(pgid, done)
	res := exitResult(cmd.ProcessState)
	res.TimedOut = true
	return res
}

// RunLine splits a command line (Split), appends extra arguments and runs
// it as the user ("" = the default user).
func (r *Runner) RunLine(ctx context.Context, line, user string, timeout time.Duration, extra ...string) Result {
	argv, err := Split(line)
	if err != nil {
		return Result{Status: -1, Err: err}
	}
	if len(argv) == 0 {
		return Result{Status: -1, Err: errors.New("empty command")}
	}
	cred, err := r.Credential(user)
	if err != nil {
		return Result{Status: -1, Err: err}
	}
	return r.Run(ctx, append(argv, extra...), timeout, cred)
}

// killGroup is keepalived's timeout sequence: SIGTERM to the group; when
// the leader dies of it, SIGKILL at once to whatever it left in the group;
// if it is still alive KillGrace later, SIGKILL the group; if even that
// does not end it within 10 s, SIGKILL again.
func (r *Runner) killGroup(pgid int, done <-chan error) {
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	grace := time.NewTimer(r.opts.KillGrace)
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

func exitResult(ps *os.ProcessState) Result {
	if ps == nil {
		return Result{Status: -1}
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return Result{Status: -1, Signaled: true, Err: fmt.Errorf("killed by signal %v", ws.Signal())}
	}
	return Result{Status: ps.ExitCode()}
}
