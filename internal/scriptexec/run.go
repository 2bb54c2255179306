package scriptexec

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// MarkerEnv is the environment variable every script gets besides PATH:
// MarkerEnv=<run id>, unique per run. Its descendants inherit it, which
// finds them when they left the script's session, process group and
// (before it could be entered) cgroup.
const MarkerEnv = "QUADRATURE_SCRIPT_RUN"

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
	// KeepDescendants lets the processes a script starts outlive it when
	// it exits in time (keepalived's behaviour: a notify script may start
	// a daemon directly). By default they are killed when the script
	// exits, as on timeout; timed-out scripts lose them in any case.
	KeepDescendants bool
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
	log     *slog.Logger

	// rootFallback: no script_user and no keepalived_script user, so
	// scripts without a user of their own run as root.
	rootFallback bool

	mu     sync.Mutex
	warned map[string]bool // "insecure|path", "leftover|path": warned once
}

// fallbackWarned: the root fallback was reported (once per process, not
// once per runner: checkers, vrrp_script and notify scripts each have one).
var fallbackWarned atomic.Bool

// NewRunner checks the default user and returns a runner.
func NewRunner(opts Options) (*Runner, error) {
	if opts.Max <= 0 {
		opts.Max = 8
	}
	if opts.KillGrace <= 0 {
		opts.KillGrace = 2 * time.Second
	}
	r := &Runner{sem: make(chan struct{}, opts.Max), euid: uint32(os.Geteuid()), defUser: opts.User, opts: opts,
		log: opts.Logger, warned: map[string]bool{}}
	if r.log == nil {
		r.log = slog.Default()
	}
	r.root = r.euid == 0
	if r.defUser == "" && r.root {
		r.defUser, r.rootFallback = DefaultUser()
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
		if r.rootFallback && fallbackWarned.CompareAndSwap(false, true) {
			// Said once per process, when a script needs it (a
			// configuration without scripts never hears of it).
			r.log.Warn("script_user is not set and user keepalived_script does not exist: scripts run as root; " +
				"create keepalived_script or set script_user in global_defs")
		}
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
	// Leftover counts the processes the script left running (after it
	// exited, or beside it at timeout) that were killed.
	Leftover int
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
	} else if err := CheckSecurity(path, r.euid); errors.Is(err, ErrInsecure) {
		r.warnInsecure(path, err, cred)
	}
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return Result{Status: -1, Err: fmt.Errorf("waiting for a script slot: %w", ctx.Err())}
	}
	defer func() { <-r.sem }()

	tr := newTree()
	attr := &syscall.SysProcAttr{Setsid: true, Credential: cred}
	cloned := tr.prepare(attr)
	cmd := r.command(path, argv, tr, attr)
	err = cmd.Start()
	if err != nil && tr.startFailed(attr) {
		// The kernel refused CLONE_INTO_CGROUP: start it plainly.
		cmd = r.command(path, argv, tr, attr)
		if err = cmd.Start(); err == nil {
			tr.retrySucceeded()
		}
		cloned = false
	}
	if err != nil {
		tr.abort()
		return Result{Status: -1, Err: fmt.Errorf("start %s: %w", path, err)}
	}
	tr.started(cmd.Process.Pid, cloned)
	pgid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-done:
		res := exitResult(cmd.ProcessState)
		if !r.opts.KeepDescendants {
			res.Leftover = tr.killAll()
			r.warnLeftover(path, res.Leftover)
		}
		return res
	case <-timer.C:
	case <-ctx.Done():
	}
	r.killGroup(pgid, done)
	res := exitResult(cmd.ProcessState)
	res.TimedOut = true
	res.Leftover = tr.killAll()
	return res
}

func (r *Runner) command(path string, argv []string, tr *tree, attr *syscall.SysProcAttr) *exec.Cmd {
	cmd := exec.Command(path, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Env = []string{Env, tr.marker}
	cmd.Dir = "/"
	cmd.SysProcAttr = attr
	return cmd
}

// once reports whether key is new to this runner.
func (r *Runner) once(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.warned[key] {
		return false
	}
	r.warned[key] = true
	return true
}

// warnInsecure is keepalived's warning for an unsafe script run without
// enable_script_security, once per script.
func (r *Runner) warnInsecure(path string, why error, cred *syscall.Credential) {
	if !r.once("insecure|" + path) {
		return
	}
	uid := r.euid
	if cred != nil {
		uid = cred.Uid
	}
	r.log.Warn("unsafe script: a user other than root can change it, yet it runs (enable_script_security is off); "+
		"with enable_script_security it would be refused. Make the script and every directory above it owned by root "+
		"and writable only by root, or set enable_script_security in global_defs",
		"script", path, "reason", why.Error(), "uid", uid)
}

// warnLeftover reports, once per script, that it left processes behind.
func (r *Runner) warnLeftover(path string, n int) {
	if n == 0 {
		return
	}
	if r.once("leftover|" + path) {
		r.log.Warn("script left processes running after it exited; they were killed (logged once per script)",
			"script", path, "processes", n, "containment", Containment())
		return
	}
	r.log.Debug("script left processes running after it exited; they were killed", "script", path, "processes", n)
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
