package checks

import (
	"context"
	"fmt"
)

// Checker runs one check of one target. Check is called by the scheduler
// from a worker goroutine, never concurrently for the same Checker, with a
// context whose deadline bounds the whole run; it must return by then.
type Checker interface {
	Check(ctx context.Context) Result
}

// Result is the outcome of one run.
type Result struct {
	Up     bool
	Reason string // why it failed, or a short success note
	// Pending marks one passing step of a multi-step check (HTTP_GET
	// stepping through its urls): the checker keeps its state and runs
	// again after delay_loop.
	Pending bool
	// Again, with Pending, runs the next step at once (fast_recovery).
	Again bool
	// ExitStatus is the MISC_CHECK exit status (-1 when the script did not
	// exit normally); it drives misc_dynamic weights.
	ExitStatus int
	// TrackValue is FILE_CHECK's weight contribution: the file's integer
	// times the weight (negated with reverse).
	TrackValue int
	// Outcome is a short, low-cardinality label for metrics ("ok",
	// "refused", "timeout", "bad_status", ...).
	Outcome string
}

func up(reason string) Result { return Result{Up: true, Reason: reason, Outcome: "ok"} }

func down(outcome, format string, a ...any) Result {
	return Result{Up: false, Reason: fmt.Sprintf(format, a...), Outcome: outcome}
}

// runtimeEnv is what checkers need from the scheduler.
type runtimeEnv struct {
	scripts *scriptRunner
	ping    *pingMode
}

// newChecker builds the Checker for spec; env carries the script runner
// (MISC_CHECK) and the ICMP socket mode cache (PING_CHECK).
func newChecker(spec *Spec, env *runtimeEnv) (Checker, error) {
	switch spec.Kind {
	case KindTCP:
		return newTCPChecker(spec), nil
	case KindHTTP, KindSSL:
		return newHTTPChecker(spec)
	case KindSMTP:
		return newSMTPChecker(spec), nil
	case KindDNS:
		return newDNSChecker(spec)
	case KindMisc:
		return newMiscChecker(spec, env.scripts)
	case KindUDP:
		return newUDPChecker(spec)
	case KindPing:
		return newPingChecker(spec, env.ping), nil
	case KindFile:
		return newFileChecker(spec), nil
	}
	return nil, fmt.Errorf("unknown checker kind %q", spec.Kind)
}

// NewChecker builds a standalone Checker for spec (for one-shot checks such
// as a `quadrature check` command). MISC_CHECK uses opts' script settings.
func NewChecker(spec Spec, opts Options) (Checker, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	sr, err := newScriptRunner(opts)
	if err != nil {
		return nil, err
	}
	return newChecker(&spec, &runtimeEnv{scripts: sr, ping: &pingMode{}})
}
