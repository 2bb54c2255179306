package lvs

import (
	"context"
	"testing"
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
