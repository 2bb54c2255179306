package vrrp

import (
	"testing"
	"time"
)

// BenchmarkBackupAdvert is the hot path of a backup: one valid advert
// from the master re-arms the down timer.
func BenchmarkBackupAdvert(b *testing.B) {
	r := newRig(b, v3cfg(100, 100*ms))
	r.toBackup()
	ev := r.advert(t0, "192.0.2.9", 150)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ev.Now = t0.Add(time.Duration(i) * 100 * ms)
		r.m.Step(ev)
	}
}

// BenchmarkMasterAdvertTimer is the hot path of a master: the advert
// timer fires, an advert goes out and the timer is re-armed.
func BenchmarkMasterAdvertTimer(b *testing.B) {
	r := newRig(b, v3cfg(150, 100*ms))
	r.toMaster()
	b.ReportAllocs()
	for b.Loop() {
		r.m.Step(EvTimer{Now: r.m.Deadline(TimerAdvert), Kind: TimerAdvert})
	}
}

// BenchmarkFailover is a whole master/backup round: a backup takes over
// when the down timer expires and steps back for a higher-priority
// advert (two transitions).
func BenchmarkFailover(b *testing.B) {
	r := newRig(b, v3cfg(100, 100*ms))
	r.toBackup()
	b.ReportAllocs()
	for b.Loop() {
		dl := r.m.Deadline(TimerMasterDown)
		r.m.Step(EvTimer{Now: dl, Kind: TimerMasterDown})
		ev := r.advert(dl.Add(10*ms), "192.0.2.9", 150)
		r.m.Step(ev)
	}
}

// BenchmarkEvaluateTracking evaluates an instance in a sync group with
// two tracked interfaces and two scripts of its own and one of each from
// the group (every link and script event runs it for every instance).
func BenchmarkEvaluateTracking(b *testing.B) {
	cfg := v3cfg(100, 100*ms)
	cfg.TrackInterfaces = []TrackInterface{{Name: "eth1", Weight: 10}, {Name: "eth2", Weight: -20, Reverse: true}}
	cfg.TrackScripts = []TrackScript{{Name: "chk"}, {Name: "hard"}}
	in := TrackInput{
		Instance: cfg,
		Group:    &GroupConfig{Name: "G", TrackInterfaces: []TrackInterface{{Name: "eth3"}}, TrackScripts: []TrackScript{{Name: "g", Weight: 5, OverrideWeight: true}}},
		Scripts:  []ScriptConfig{{Name: "chk", Weight: -30}, {Name: "hard"}, {Name: "g"}},
		Base:     100,
		Links:    map[string]bool{"eth0": true, "eth1": true, "eth2": false, "eth3": true},
		ScriptOK: map[string]bool{"chk": false, "hard": true},
	}
	b.ReportAllocs()
	for b.Loop() {
		if r := EvaluateTracking(in); r.Priority != 85 || r.Fault {
			b.Fatalf("%+v", r)
		}
	}
}

// BenchmarkSyncFollow is the group policy for one member's move in a
// group of four.
func BenchmarkSyncFollow(b *testing.B) {
	members := []GroupMember{{Name: "a", State: StateMaster}, {Name: "b", State: StateBackup}, {Name: "c", State: StateBackup}, {Name: "d", State: StateBackup}}
	t := ActTransition{From: StateBackup, To: StateMaster, Cause: CauseMasterDown, Reason: "no advert for Master_Down_Interval 361ms"}
	b.ReportAllocs()
	for b.Loop() {
		if len(FollowTransition(members, 0, t)) != 3 || GroupReached(members, StateBackup, StateMaster) {
			b.Fatal("policy")
		}
	}
}
