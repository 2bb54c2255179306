package vrrp

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"quadrature/internal/scriptexec"
)

// runScript runs a command line (split like keepalived does, never by a
// shell) with extra arguments as user ("" = script_user) through the
// node's script runner, and returns nil for exit status 0.
func runScript(ctx context.Context, r *scriptexec.Runner, line, user string, timeout time.Duration, extra ...string) error {
	res := r.RunLine(ctx, line, user, timeout, extra...)
	if res.OK() {
		return nil
	}
	if res.TimedOut {
		return fmt.Errorf("timed out after %v", timeout)
	}
	if res.Err != nil {
		return res.Err
	}
	return fmt.Errorf("exit status %d", res.Status)
}

// notifier runs notify scripts of one instance or group asynchronously
// but in order, each bounded by a timeout.
type notifier struct {
	log     *slog.Logger
	timeout time.Duration
	runner  func() *scriptexec.Runner
	mu      sync.Mutex
	queue   []notifyJob
	running bool
	idle    *sync.Cond
}

type notifyJob struct {
	line string
	args []string
}

func newNotifier(log *slog.Logger, timeout time.Duration, runner func() *scriptexec.Runner) *notifier {
	n := &notifier{log: log, timeout: timeout, runner: runner}
	n.idle = sync.NewCond(&n.mu)
	return n
}

// enqueue adds jobs; a worker goroutine runs while the queue is not empty.
func (n *notifier) enqueue(jobs ...notifyJob) {
	if len(jobs) == 0 {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.queue = append(n.queue, jobs...)
	if !n.running {
		n.running = true
		go n.work()
	}
}

func (n *notifier) work() {
	for {
		n.mu.Lock()
		if len(n.queue) == 0 {
			n.running = false
			n.idle.Broadcast()
			n.mu.Unlock()
			return
		}
		j := n.queue[0]
		n.queue = n.queue[1:]
		n.mu.Unlock()
		start := time.Now()
		err := runScript(context.Background(), n.runner(), j.line, "", n.timeout, j.args...)
		if err != nil {
			n.log.Warn("notify script failed", "script", j.line, "args", j.args, "err", err, "duration", time.Since(start))
		} else {
			n.log.Debug("notify script done", "script", j.line, "args", j.args, "duration", time.Since(start))
		}
	}
}

// wait blocks until the queue is empty or the deadline passes.
func (n *notifier) wait(d time.Duration) {
	done := make(chan struct{})
	go func() {
		n.mu.Lock()
		for n.running {
			n.idle.Wait()
		}
		n.mu.Unlock()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// notifyJobs returns the scripts to run for a transition to state: the
// state-specific script without arguments, then the generic one with
// kind ("INSTANCE" or "GROUP"), name, state and priority.
func notifyJobs(nc NotifyConfig, kind, name string, to State, prio int) []notifyJob {
	var jobs []notifyJob
	var specific string
	switch to {
	case StateMaster:
		specific = nc.Master
	case StateBackup:
		specific = nc.Backup
	case StateFault:
		specific = nc.Fault
	case StateStopped:
		specific = nc.Stop
	}
	if specific != "" {
		jobs = append(jobs, notifyJob{line: specific})
	}
	if nc.Generic != "" {
		jobs = append(jobs, notifyJob{line: nc.Generic, args: []string{kind, name, to.String(), fmt.Sprint(prio)}})
	}
	return jobs
}

// scriptRunner runs one vrrp_script periodically and reports rise/fall
// state changes through report (called from the runner's goroutine).
type scriptRunner struct {
	cfg    ScriptConfig
	runner func() *scriptexec.Runner
	log    *slog.Logger
	report func(name string, ok bool)
	ok     bool
	streak int // consecutive results against the current state
}

func newScriptRunner(cfg ScriptConfig, runner func() *scriptexec.Runner, log *slog.Logger, report func(string, bool)) *scriptRunner {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = cfg.Interval
	}
	cfg.Rise = max(cfg.Rise, 1)
	cfg.Fall = max(cfg.Fall, 1)
	return &scriptRunner{cfg: cfg, runner: runner, log: log, report: report, ok: !cfg.InitFail}
}

// observe folds one result into the rise/fall state and reports whether
// the state changed.
func (s *scriptRunner) observe(success bool) bool {
	if success == s.ok {
		s.streak = 0
		return false
	}
	s.streak++
	need := s.cfg.Fall
	if success {
		need = s.cfg.Rise
	}
	if s.streak < need {
		return false
	}
	s.ok, s.streak = success, 0
	return true
}

func (s *scriptRunner) run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		err := runScript(ctx, s.runner(), s.cfg.Command, s.cfg.User, s.cfg.Timeout)
		if ctx.Err() != nil {
			return
		}
		if s.observe(err == nil) {
			s.log.Info("vrrp_script state changed", "script", s.cfg.Name, "ok", s.ok, "err", err)
			s.report(s.cfg.Name, s.ok)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
