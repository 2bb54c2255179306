package lvs

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

// BenchmarkReconcilerNoopSync measures the in-memory part of a no-change
// full resync at keepalived scale (the MemDataPlane's Read is a copy).
func BenchmarkReconcilerNoopSync(b *testing.B) {
	dp := NewMemDataPlane()
	r, _ := NewReconciler(Config{DataPlane: dp, Logger: quiet})
	want := ScaleTable()
	if _, err := r.Sync(b.Context(), want); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.Sync(b.Context(), want); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReconcilerOneChange measures an incremental one-destination
// change at keepalived scale.
func BenchmarkReconcilerOneChange(b *testing.B) {
	dp := NewMemDataPlane()
	r, _ := NewReconciler(Config{DataPlane: dp, Logger: quiet})
	want := ScaleTable().Normalize()
	if _, err := r.Sync(b.Context(), want); err != nil {
		b.Fatal(err)
	}
	i := 0
	b.ResetTimer()
	for b.Loop() {
		i++
		want.Services[100].Destinations[1].Weight = int32(i%50 + 1)
		if _, err := r.Update(b.Context(), want); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDigest(b *testing.B) {
	want := ScaleTable()
	for b.Loop() {
		_ = want.Digest()
	}
}

// nullApply is a MemDataPlane whose Apply does nothing, to measure the
// reconciler's own cost.
type nullApply struct{ *MemDataPlane }

func (nullApply) Apply(context.Context, Plan) error { return nil }

func BenchmarkReconcilerOneChangeOwnCost(b *testing.B) {
	dp := NewMemDataPlane()
	want := ScaleTable().Normalize()
	dp.Set(want)
	r, _ := NewReconciler(Config{DataPlane: nullApply{dp}, Logger: quiet})
	if _, err := r.Sync(b.Context(), want); err != nil {
		b.Fatal(err)
	}
	i := 0
	b.ResetTimer()
	for b.Loop() {
		i++
		want.Services[100].Destinations[1].Weight = int32(i%50 + 1)
		if _, err := r.Update(b.Context(), want); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReconcilerPatchOwnCost(b *testing.B) {
	dp := NewMemDataPlane()
	want := ScaleTable().Normalize()
	dp.Set(want)
	r, _ := NewReconciler(Config{DataPlane: nullApply{dp}, Logger: quiet})
	if _, err := r.Sync(b.Context(), want); err != nil {
		b.Fatal(err)
	}
	s := want.Services[100]
	i := 0
	b.ResetTimer()
	for b.Loop() {
		i++
		s.Destinations = append([]Destination(nil), s.Destinations...)
		s.Destinations[1].Weight = int32(i%50 + 1)
		if _, err := r.Patch(b.Context(), []Service{s}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRunPassShared is Run's pass over the table SetDesired kept
// (no copy, no normalization) against the public Update, which normalizes
// a copy of its argument as the pass did before (the baseline, measured
// in the same run); both on ScaleTable with nothing to change.
func BenchmarkRunPassShared(b *testing.B) {
	ctx := b.Context()
	r, err := NewReconciler(Config{DataPlane: NewMemDataPlane(), OwnWholeTable: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	norm := ScaleTable().Normalize()
	if _, err := r.Sync(ctx, norm); err != nil {
		b.Fatal(err)
	}
	r.SetDesired(norm)
	const rounds = 20
	start := time.Now()
	for range rounds {
		if _, err := r.Update(ctx, norm); err != nil {
			b.Fatal(err)
		}
	}
	base := time.Since(start) / rounds
	b.ResetTimer()
	for b.Loop() {
		r.syncMu.Lock()
		_, err := r.update(ctx, *r.desired, true)
		r.syncMu.Unlock()
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	per := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(base.Microseconds()), "µs/copying-pass")
	b.ReportMetric(float64(base)/float64(per), "copying/shared")
}
