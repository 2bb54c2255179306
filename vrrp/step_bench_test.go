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
