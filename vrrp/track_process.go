package vrrp

import (
	"bytes"
	"fmt"
	"strings"
	"time"
)

// track_process: the number of running processes matching a pattern
// moves the priority of the instances that track it, or puts them in
// FAULT (keepalived's vrrp_track_process). The processes are followed
// with the kernel's proc connector, a /proc scan at start
// (track_process_linux.go); matching, the quorum and the delays are
// decided here.

// ParamMatch is how a vrrp_track_process's parameters are compared.
type ParamMatch int

// Parameter matches.
const (
	// ParamNone: no parameters and no param_match: the process name
	// (/proc/PID/comm) is compared, unless FullCommand.
	ParamNone ParamMatch = iota
	// ParamExact: the command line is the process and exactly the
	// parameters (param_match without a value is not written in
	// keepalived; parameters alone mean this).
	ParamExact
	// ParamPartial: the first parameters are exactly those configured,
	// more may follow.
	ParamPartial
	// ParamInitial: the command line starts with the process and the
	// parameters, the last parameter may be longer (and more may follow).
	ParamInitial
)

// CommLen is the longest process name the kernel keeps (TASK_COMM_LEN-1).
const CommLen = 15

// TrackProcessConfig is a vrrp_track_process definition.
type TrackProcessConfig struct {
	Name string
	// Process is the command name (or argv[0] when the command line is
	// compared); Params the parameters.
	Process    string
	Params     []string
	ParamMatch ParamMatch
	// FullCommand compares the command line even without parameters.
	FullCommand bool
	// Weight and Reverse are the defaults of the entries naming it.
	Weight  int
	Reverse bool
	// Quorum is the fewest matching processes for success, QuorumMax
	// the most; both are explicit (keepalived's defaults, which the
	// config layer fills in, are 1 and no limit: math.MaxInt). Quorum 0
	// with QuorumMax 0 means success while none runs.
	Quorum    int
	QuorumMax int
	// ForkDelay delays success after the quorum is gained,
	// TerminateDelay the failure after it is lost.
	ForkDelay      time.Duration
	TerminateDelay time.Duration
}

// usesCmdline reports whether the command line (not the name) is
// compared.
func (p TrackProcessConfig) usesCmdline() bool {
	return p.FullCommand || p.ParamMatch != ParamNone || len(p.Params) > 0
}

// Matches reports whether a process with name comm (/proc/PID/comm,
// without the newline) and command line cmdline (/proc/PID/cmdline:
// arguments each ended by a NUL) is one of p's.
func (p TrackProcessConfig) Matches(comm string, cmdline []byte) bool {
	if !p.usesCmdline() {
		want := p.Process
		if len(want) > CommLen {
			want = want[:CommLen] // the kernel truncates the name
		}
		return comm == want
	}
	args := splitCmdline(cmdline)
	if len(args) == 0 {
		return false // a kernel thread or a zombie
	}
	if len(p.Params) == 0 && p.ParamMatch == ParamNone {
		return args[0] == p.Process // full_command alone: argv[0]
	}
	want := append([]string{p.Process}, p.Params...)
	switch p.ParamMatch {
	case ParamPartial:
		return len(args) >= len(want) && equalStrings(args[:len(want)], want)
	case ParamInitial:
		if len(args) < len(want) {
			return false
		}
		n := len(want) - 1
		return equalStrings(args[:n], want[:n]) && strings.HasPrefix(args[n], want[n])
	}
	return equalStrings(args, want)
}

func splitCmdline(b []byte) []string {
	b = bytes.TrimSuffix(b, []byte{0})
	if len(b) == 0 {
		return nil
	}
	return strings.Split(string(b), "\x00")
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// QuorumOK reports whether n matching processes satisfy p's quorum.
func (p TrackProcessConfig) QuorumOK(n int) bool {
	return n >= p.Quorum && n <= p.QuorumMax
}

// ProcessDelay follows a vrrp_track_process's quorum with its
// fork_delay and terminate_delay: Up changes only after the quorum has
// held (or been lost) for the delay. A pure state machine; the Node arms
// a timer at the returned wake time and calls Observe again then.
type ProcessDelay struct {
	Up    bool      // the reported state
	raw   bool      // the quorum now
	since time.Time // when raw last changed
}

// NewProcessDelay starts in the state of the first scan (no delay at
// start: keepalived takes the initial scan as it is).
func NewProcessDelay(up bool, now time.Time) ProcessDelay {
	return ProcessDelay{Up: up, raw: up, since: now}
}

// Observe records the quorum ok at now and returns whether Up changed
// and, while a delay runs, when to call Observe again (zero otherwise).
func (d *ProcessDelay) Observe(now time.Time, ok bool, forkDelay, terminateDelay time.Duration) (changed bool, wake time.Time) {
	if ok != d.raw {
		d.raw, d.since = ok, now
	}
	if d.raw == d.Up {
		return false, time.Time{}
	}
	delay := terminateDelay
	if d.raw {
		delay = forkDelay
	}
	if at := d.since.Add(delay); now.Before(at) {
		return false, at
	}
	d.Up = d.raw
	return true, time.Time{}
}

// ProcessEffect is what a tracked process's state does to an instance
// tracking it with weight and reverse, keepalived's way: with weight 0
// the instance is in FAULT while the quorum is not met (with reverse,
// while it is); a positive weight is added while the quorum is met, a
// negative one while it is not; reverse negates the weight.
func ProcessEffect(up bool, weight int, reverse bool) (delta int, fault bool) {
	if weight == 0 {
		return 0, up == reverse
	}
	if (weight > 0) != up {
		return 0, false
	}
	if reverse {
		return -weight, false
	}
	return weight, false
}

// processes adds the effect of the tracked processes.
func (s *trackSum) processes(in TrackInput, refs []TrackRef) {
	for _, t := range refs {
		up, known := in.ProcessUp[t.Name]
		if !known {
			continue
		}
		delta, fault := ProcessEffect(up, t.Weight, t.Reverse)
		switch {
		case fault && up:
			s.fault(TrackerProcess, t.Name, "tracked process "+t.Name+" running (reverse)")
		case fault:
			s.fault(TrackerProcess, t.Name, "tracked process "+t.Name+" below quorum or above quorum_max")
		case delta != 0:
			s.weight(TrackerProcess, t.Name, delta)
		}
	}
}

// validateProcesses checks the vrrp_track_process definitions and the
// entries naming them.
func (c NodeConfig) validateProcesses() []error {
	var errs []error
	defined := map[string]bool{}
	for _, p := range c.Processes {
		switch {
		case p.Name == "" || p.Process == "":
			errs = append(errs, fmt.Errorf("vrrp_track_process %q: needs a name and a process", p.Name))
		case p.Quorum < 0 || p.QuorumMax < 0:
			errs = append(errs, fmt.Errorf("vrrp_track_process %s: negative quorum", p.Name))
		case p.QuorumMax < p.Quorum:
			errs = append(errs, fmt.Errorf("vrrp_track_process %s: quorum_max %d below quorum %d", p.Name, p.QuorumMax, p.Quorum))
		case p.ForkDelay < 0 || p.TerminateDelay < 0:
			errs = append(errs, fmt.Errorf("vrrp_track_process %s: negative delay", p.Name))
		}
		if defined[p.Name] {
			errs = append(errs, fmt.Errorf("vrrp_track_process %s: defined twice", p.Name))
		}
		defined[p.Name] = true
	}
	check := func(who string, refs []TrackRef) {
		for _, t := range refs {
			if !defined[t.Name] {
				errs = append(errs, fmt.Errorf("%s: track_process %s is not defined", who, t.Name))
			}
		}
	}
	for _, ic := range c.Instances {
		check("vrrp_instance "+ic.Name, ic.TrackProcesses)
	}
	for _, g := range c.Groups {
		check("vrrp_sync_group "+g.Name, g.TrackProcesses)
	}
	return errs
}
