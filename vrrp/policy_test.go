package vrrp

import (
	"reflect"
	"testing"
)

// The sync-group policy follows moves to MASTER and from MASTER to
// BACKUP, never a following itself (that would echo through the group),
// never FAULT (GroupFault's job) and never a closed member.
func TestFollowTransition(t *testing.T) {
	members := []GroupMember{{Name: "a", State: StateMaster}, {Name: "b", State: StateBackup}, {Name: "c", State: StateBackup, Closed: true}}
	cases := []struct {
		name string
		i    int
		tr   ActTransition
		want []GroupStep
	}{
		{"to master", 0, ActTransition{From: StateBackup, To: StateMaster, Cause: CauseMasterDown, Reason: "r"},
			[]GroupStep{{Member: 1, To: StateMaster, Reason: "a MASTER: r"}}},
		{"master to backup", 1, ActTransition{From: StateMaster, To: StateBackup, Cause: CauseHigherPriority, Reason: "r"},
			[]GroupStep{{Member: 0, To: StateBackup, Reason: "b BACKUP: r"}}},
		{"owner at startup", 0, ActTransition{From: StateInit, To: StateMaster, Cause: CauseStartup, Reason: "r"},
			[]GroupStep{{Member: 1, To: StateMaster, Reason: "a MASTER: r"}}},
		{"a following is not followed", 0, ActTransition{From: StateBackup, To: StateMaster, Cause: CauseSync}, nil},
		{"a following to backup is not followed", 0, ActTransition{From: StateMaster, To: StateBackup, Cause: CauseSync}, nil},
		{"fault spreads elsewhere", 0, ActTransition{From: StateMaster, To: StateFault, Cause: CauseFault}, nil},
		{"startup backup", 1, ActTransition{From: StateInit, To: StateBackup, Cause: CauseStartup}, nil},
		{"fault cleared", 1, ActTransition{From: StateFault, To: StateBackup, Cause: CauseFaultCleared}, nil},
		{"shutdown", 0, ActTransition{From: StateMaster, To: StateStopped, Cause: CauseShutdown}, nil},
		{"a closed member does not lead", 2, ActTransition{From: StateBackup, To: StateMaster, Cause: CauseMasterDown}, nil},
	}
	for _, c := range cases {
		if got := FollowTransition(members, c.i, c.tr); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestGroupFault(t *testing.T) {
	healthy := []GroupMember{{Name: "a"}, {Name: "b"}, {Name: "c", OwnFault: true, FaultReason: "old", Closed: true}}
	if f, steps := GroupFault(healthy, false); f || steps != nil {
		t.Errorf("healthy group (a closed member's fault ignored): %v %+v", f, steps)
	}
	two := []GroupMember{{Name: "a", OwnFault: true, FaultReason: "x"}, {Name: "b", OwnFault: true, FaultReason: "y"}, {Name: "c", Closed: true}}
	f, steps := GroupFault(two, false)
	want := []GroupStep{{Member: 0, To: StateFault, Reason: "b: y"}, {Member: 1, To: StateFault, Reason: "b: y"}}
	if !f || !reflect.DeepEqual(steps, want) {
		t.Errorf("faulty group: %v %+v, want true %+v", f, steps, want)
	}
	if f, steps := GroupFault(two, true); !f || steps != nil {
		t.Errorf("still faulty: %v %+v, want no steps", f, steps)
	}
	f, steps = GroupFault(healthy, true)
	want = []GroupStep{{Member: 0, To: StateBackup, Reason: "all members healthy"}, {Member: 1, To: StateBackup, Reason: "all members healthy"}}
	if f || !reflect.DeepEqual(steps, want) {
		t.Errorf("recovered group: %v %+v, want false %+v", f, steps, want)
	}
}

func TestGroupReached(t *testing.T) {
	m := []GroupMember{{State: StateMaster}, {State: StateMaster}}
	if !GroupReached(m, StateBackup, StateMaster) {
		t.Error("all MASTER after BACKUP: not reached")
	}
	if GroupReached(m, StateMaster, StateMaster) {
		t.Error("notified twice")
	}
	m[1].State = StateBackup
	if GroupReached(m, StateBackup, StateMaster) {
		t.Error("reached with a member behind")
	}
}

// Tracking.Events feeds a machine only what changed.
func TestTrackingEvents(t *testing.T) {
	r := newRig(t, v3cfg(100, 100*ms))
	r.toBackup()
	if evs := (Tracking{Priority: 100}).Events(t0, 100, r.m); evs != nil {
		t.Errorf("nothing changed: %+v", evs)
	}
	evs := (Tracking{Priority: 90, Fault: true, Reason: "x", Cause: CauseFence}).Events(t0, 100, r.m)
	want := []Event{EvPriority{Now: t0, Base: 100, Effective: 90}, EvFault{Now: t0, Fault: true, Reason: "x", Cause: CauseFence}}
	if !reflect.DeepEqual(evs, want) {
		t.Fatalf("events %+v, want %+v", evs, want)
	}
	for _, ev := range evs {
		r.m.Step(ev)
	}
	if evs := (Tracking{Priority: 90, Fault: true, Reason: "x; y", Cause: CauseFault}).Events(t0, 100, r.m); len(evs) != 1 || evs[0] != (EvFault{Now: t0, Fault: true, Reason: "x; y", Cause: CauseFault}) {
		t.Errorf("new fault reason: %+v", evs)
	}
	if evs := (Tracking{Priority: 90}).Events(t0, 100, r.m); len(evs) != 1 || evs[0] != (EvFault{Now: t0, Reason: "fault cleared", Cause: CauseFaultCleared}) {
		t.Errorf("fault gone: %+v", evs)
	}
	if evs := (Tracking{Priority: 90, Fault: true, Reason: "x"}).Events(t0, 120, r.m); len(evs) != 1 || evs[0] != (EvPriority{Now: t0, Base: 120, Effective: 90}) {
		t.Errorf("base changed: %+v", evs)
	}
}

func TestCauseNames(t *testing.T) {
	for c := CauseNone; c <= CauseShutdown; c++ {
		if got, ok := ParseCause(c.String()); !ok || got != c {
			t.Errorf("ParseCause(%q) = %v %v", c.String(), got, ok)
		}
	}
	if Cause(99).String() != "unknown" {
		t.Error("out of range cause")
	}
}
