package checks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"quadrature/internal/scriptexec"
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
	argv, err := scriptexec.Split(m.Path)
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
type scriptRunner = scriptexec.Runner

func newScriptRunner(opts Options) (*scriptRunner, error) {
	r, err := scriptexec.NewRunner(scriptexec.Options{
		User: opts.ScriptUser, Insecure: opts.InsecureScripts, Max: opts.MaxScripts, KillGrace: MiscKillGrace,
		Logger: opts.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("checks: %w", err)
	}
	return r, nil
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
	argv, err := scriptexec.Split(s.Misc.Path)
	if err != nil || len(argv) == 0 {
		return nil, fmt.Errorf("misc_path %q: bad command line: %v", s.Misc.Path, err)
	}
	c := &miscChecker{
		argv: argv, timeout: s.Misc.effectiveTimeout(s.EffectiveDelayLoop()),
		dynamic: s.Misc.Dynamic, user: s.Misc.User, runner: r,
	}
	if _, err := r.Credential(c.user); err != nil {
		return nil, err
	}
	return c, nil
}

// Check maps the exit status as keepalived's check_misc.c does: 0 is up at
// the configured weight; with misc_dynamic 2..255 is up (weight status-2);
// 1, any other status without misc_dynamic, a signal or a timeout is down.
func (c *miscChecker) Check(ctx context.Context) Result {
	cred, err := c.runner.Credential(c.user)
	if err != nil {
		return Result{Reason: err.Error(), Outcome: "error", ExitStatus: -1}
	}
	r := c.runner.Run(ctx, c.argv, c.timeout, cred)
	switch {
	case r.TimedOut:
		return Result{Reason: fmt.Sprintf("script %s timed out after %v", c.argv[0], c.timeout), Outcome: "timeout", ExitStatus: -1}
	case errors.Is(r.Err, scriptexec.ErrInsecure):
		return Result{Reason: r.Err.Error(), Outcome: "insecure", ExitStatus: -1}
	case r.Signaled:
		return Result{Reason: fmt.Sprintf("script %s %v", c.argv[0], r.Err), Outcome: "signal", ExitStatus: -1}
	case r.Err != nil:
		return Result{Reason: r.Err.Error(), Outcome: "error", ExitStatus: -1}
	case r.Status == 0:
		return Result{Up: true, Reason: "exit 0", Outcome: "ok", ExitStatus: 0}
	case c.dynamic && r.Status >= 2 && r.Status <= 255:
		return Result{Up: true, Reason: fmt.Sprintf("exit %d (dynamic weight %d)", r.Status, r.Status-2), Outcome: "ok", ExitStatus: r.Status}
	}
	return Result{Reason: fmt.Sprintf("script %s exited %d", c.argv[0], r.Status), Outcome: "exit_status", ExitStatus: r.Status}
}
