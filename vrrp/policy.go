package vrrp

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Policy: the decisions the Node takes beside each Machine, as pure
// functions of what it observed. Tracking turns link states, vrrp_script
// results, the fence and socket errors into an effective priority and an
// own fault; the sync-group policy says which members follow a member's
// transition and when a faulty member holds the whole group in FAULT.
// The Node gathers the inputs, calls these and feeds the resulting
// events to the machines; it keeps only I/O and timers.

// TrackInput is what the tracking evaluation of one instance reads.
type TrackInput struct {
	// Instance is the instance's configuration (interface,
	// dont_track_primary, track_interface, track_script).
	Instance InstanceConfig
	// Group is the instance's vrrp_sync_group (nil when none): its
	// trackers apply to every member, with their weights.
	Group *GroupConfig
	// Scripts are the vrrp_script definitions (weight, reverse,
	// init_fail) that track_script entries name.
	Scripts []ScriptConfig
	// Base is the base priority (configured, or set by SetPriority).
	Base int
	// Links is the state of each interface (true = up; absent = down).
	Links map[string]bool
	// ScriptOK is each vrrp_script's current result; a script that has
	// not reported yet counts as ok unless it is init_fail.
	ScriptOK map[string]bool
	// SetupErr is why the instance's socket could not be opened ("" when
	// it is open).
	SetupErr string
	// Fenced is set while the quorum fence holds the instance.
	Fenced bool
	// Files are the track_file definitions; FileValues the integer each
	// holds now (absent: not watched, no effect).
	Files      []TrackFileConfig
	FileValues map[string]int64
	// Processes are the vrrp_track_process definitions; ProcessUp says
	// whether each has its quorum now, after fork_delay and
	// terminate_delay (absent: not monitored, no effect).
	Processes []TrackProcessConfig
	ProcessUp map[string]bool
}

// Tracking is the outcome of EvaluateTracking.
type Tracking struct {
	// Priority is the effective priority (see EffectivePriority).
	Priority int
	// Fault is set when the instance must be in FAULT on its own account.
	Fault bool
	// Reason lists the faults, joined by "; " ("" without a fault).
	Reason string
	// Cause is CauseFence while fenced, else CauseFault; CauseNone
	// without a fault.
	Cause Cause
	// Faults are the faults one by one, each with the kind of tracker
	// that raised it; Weights the trackers that moved the priority.
	Faults  []TrackFault
	Weights []TrackWeight
}

// FenceReason is the fault reason of a fenced instance.
const FenceReason = "quorum fence: no contact with a quorum of the group"

// EvaluateTracking computes an instance's effective priority and own
// fault, keepalived's way:
//   - the instance's interface down is a fault unless dont_track_primary;
//   - a tracked interface or script of weight 0 that is down (failed) is
//     a fault;
//   - a positive weight is added while the tracker is up, a negative one
//     while it is down; reverse swaps up and down;
//   - a track_script entry's own weight (and reverse) replaces the
//     script's;
//   - the sum is clamped to 1..254, and an owner (base 255) stays 255.
//
// The sync group's trackers apply after the instance's own.
func EvaluateTracking(in TrackInput) Tracking {
	c := in.Instance
	var ts trackSum
	if in.SetupErr != "" {
		ts.fault(TrackerSocket, c.Interface, in.SetupErr)
	}
	if in.Fenced {
		ts.fault(TrackerFence, "", FenceReason)
	}
	if !c.DontTrackPrimary && !in.Links[c.Interface] {
		ts.fault(TrackerLink, c.Interface, "interface "+c.Interface+" down")
	}
	ifs, scripts := c.TrackInterfaces, c.TrackScripts
	files, procs := c.TrackFiles, c.TrackProcesses
	if in.Group != nil {
		ifs = append(slices.Clip(ifs), in.Group.TrackInterfaces...)
		scripts = append(slices.Clip(scripts), in.Group.TrackScripts...)
		files = append(slices.Clip(files), in.Group.TrackFiles...)
		procs = append(slices.Clip(procs), in.Group.TrackProcesses...)
	}
	for _, t := range ifs {
		up := in.Links[t.Name] != t.Reverse
		switch {
		case t.Weight == 0 && !up:
			ts.fault(TrackerInterface, t.Name, "tracked interface "+t.Name+" down")
		case t.Weight > 0 && up, t.Weight < 0 && !up:
			ts.weight(TrackerInterface, t.Name, t.Weight)
		}
	}
	for _, t := range scripts {
		sc := scriptByName(in.Scripts, t.Name)
		ok, known := in.ScriptOK[t.Name]
		if !known {
			ok = !sc.InitFail
		}
		w, rev := sc.Weight, sc.Reverse
		if t.OverrideWeight {
			w, rev = t.Weight, t.Reverse
		}
		ok = ok != rev
		switch {
		case w == 0 && !ok:
			ts.fault(TrackerScript, t.Name, "tracked script "+t.Name+" failed")
		case w > 0 && ok, w < 0 && !ok:
			ts.weight(TrackerScript, t.Name, w)
		}
	}
	ts.files(in, files)
	ts.processes(in, procs)
	r := Tracking{Priority: EffectivePriority(in.Base, ts.deltas()...), Faults: ts.faults, Weights: ts.weights}
	if len(ts.faults) > 0 {
		reasons := make([]string, len(ts.faults))
		for i, f := range ts.faults {
			reasons[i] = f.Reason
		}
		r.Fault, r.Reason, r.Cause = true, strings.Join(reasons, "; "), CauseFault
		if in.Fenced {
			r.Cause = CauseFence
		}
	}
	return r
}

// scriptByName returns the vrrp_script called name (a bare one, weight
// 0, when none is defined).
func scriptByName(scripts []ScriptConfig, name string) ScriptConfig {
	for _, s := range scripts {
		if s.Name == name {
			return s
		}
	}
	return ScriptConfig{Name: name}
}

// Events returns what m must be fed for it to reflect r with base
// priority base: an EvPriority when the base or effective priority
// changed, then an EvFault when the own fault appeared, cleared or
// changed its reason. Nothing when m already agrees.
func (r Tracking) Events(now time.Time, base int, m *Machine) []Event {
	var evs []Event
	if r.Priority != m.Priority() || base != m.BasePriority() {
		evs = append(evs, EvPriority{Now: now, Base: base, Effective: r.Priority})
	}
	if r.Fault != m.OwnFault() || (r.Fault && r.Reason != m.FaultReason()) {
		ev := EvFault{Now: now, Fault: r.Fault, Reason: r.Reason, Cause: r.Cause}
		if !r.Fault {
			ev.Reason, ev.Cause = "fault cleared", CauseFaultCleared
		}
		evs = append(evs, ev)
	}
	return evs
}

// GroupMember is a vrrp_sync_group member as the group policy sees it.
type GroupMember struct {
	Name        string
	State       State
	OwnFault    bool   // Machine.OwnFault
	FaultReason string // Machine.FaultReason
	Closed      bool   // stopped (removed by a reload, or shut down)
}

// GroupStep orders a member (an index into the members) to follow: feed
// it EvSync{To, Reason}.
type GroupStep struct {
	Member int
	To     State
	Reason string
}

// FollowTransition returns the steps the other members of a group take
// after member i made transition t: all follow it to MASTER, and from
// MASTER to BACKUP. FAULT spreads through GroupFault instead, on the
// members' own faults. A transition that was itself a following
// (CauseSync) orders nothing, so members never echo one another; a
// closed member neither leads nor follows.
func FollowTransition(members []GroupMember, i int, t ActTransition) []GroupStep {
	if t.Cause == CauseSync || members[i].Closed {
		return nil
	}
	var to State
	switch {
	case t.To == StateMaster:
		to = StateMaster
	case t.From == StateMaster && t.To == StateBackup:
		to = StateBackup
	default:
		return nil
	}
	reason := fmt.Sprintf("%s %s: %s", members[i].Name, t.To, t.Reason)
	var steps []GroupStep
	for j, o := range members {
		if j != i && !o.Closed {
			steps = append(steps, GroupStep{Member: j, To: to, Reason: reason})
		}
	}
	return steps
}

// GroupFault applies keepalived's rule that one member in FAULT holds
// the whole group in FAULT. faulty is the group's level so far; it
// returns the new level and, when it changed, a step for every member:
// to FAULT with the faulty member's reason (the last one in order when
// several are), or back to BACKUP once no open member has a fault of its
// own.
func GroupFault(members []GroupMember, faulty bool) (bool, []GroupStep) {
	culprit := ""
	for _, m := range members {
		if m.OwnFault && !m.Closed {
			culprit = m.Name + ": " + m.FaultReason
		}
	}
	now := culprit != ""
	if now == faulty {
		return faulty, nil
	}
	steps := make([]GroupStep, 0, len(members))
	for j, m := range members {
		if m.Closed {
			continue
		}
		if now {
			steps = append(steps, GroupStep{Member: j, To: StateFault, Reason: culprit})
		} else {
			steps = append(steps, GroupStep{Member: j, To: StateBackup, Reason: "all members healthy"})
		}
	}
	return now, steps
}

// GroupReached reports whether the group as a whole has just reached
// state to (every member is in it and the group's last notified state
// was another): the moment for the group's notify scripts.
func GroupReached(members []GroupMember, last, to State) bool {
	if last == to {
		return false
	}
	for _, m := range members {
		if m.State != to {
			return false
		}
	}
	return true
}
