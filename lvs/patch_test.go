package lvs

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestReconcilerPatch(t *testing.T) {
	dp := NewMemDataPlane()
	clk := &fakeClock{now: time.Unix(1000, 0)}
	r := newMemReconciler(t, dp, func(c *Config) { c.Now = clk.Now; c.DrainTimeout = time.Minute })
	ctx := t.Context()
	if _, err := r.Patch(ctx, nil, nil); !errors.Is(err, ErrNoBaseline) {
		t.Fatalf("patch before sync: %v", err)
	}
	want := ScaleTable().Normalize()
	if _, err := r.Sync(ctx, want); err != nil {
		t.Fatal(err)
	}
	reads, _, _ := dp.Counts()
	// One weight change: one operation, no dump.
	s := want.Services[500]
	s.Destinations = append([]Destination(nil), s.Destinations...)
	s.Destinations[2].Weight = 0
	res, err := r.Patch(ctx, []Service{s}, nil)
	if err != nil || res.Plan.Ops() != 1 || len(res.Plan.UpdateDests) != 1 {
		t.Fatalf("patch: %v %s", err, summarize(res.Plan))
	}
	if r2, _, _ := dp.Counts(); r2 != reads {
		t.Fatal("Patch read the kernel")
	}
	want.Services[500] = s
	if dp.Table().Digest() != want.Digest() {
		t.Fatal("kernel differs after patch")
	}
	// Remove one service, add another; a destination leaving drains.
	busy := s.Destinations[0]
	dp.SetDestStats(s.Key, busy.Key(), DestStats{ActiveConns: 2})
	s2 := s
	s2.Destinations = s.Destinations[1:]
	added := svc("203.0.113.200", 80, "rr", dst("198.51.100.200", 80, 1))
	res, err = r.Patch(ctx, []Service{s2, added}, []ServiceKey{want.Services[7].Key})
	if err != nil || len(res.Plan.AddServices) != 1 || len(res.Plan.DeleteServices) != 1 || len(res.Plan.UpdateDests) != 1 {
		t.Fatalf("patch 2: %v %s", err, summarize(res.Plan))
	}
	st := r.Status()
	if st.Services[s.Key].State != StateDraining || st.Draining != 1 {
		t.Fatalf("status %+v draining %d", st.Services[s.Key], st.Draining)
	}
	if _, ok := st.Services[want.Services[7].Key]; ok {
		t.Error("removed service still has a status")
	}
	// An invalid patch is refused and leaves the kernel alone.
	bad := s2
	bad.Destinations = append([]Destination(nil), s2.Destinations...)
	bad.Destinations[0].Weight = -5
	before := dp.Table().Digest()
	if res, err := r.Patch(ctx, []Service{bad}, nil); err != nil || !res.Plan.Empty() {
		t.Fatalf("invalid patch: %v %s", err, summarize(res.Plan))
	}
	if st := r.Status().Services[bad.Key]; st.State != StateInvalid || dp.Table().Digest() != before {
		t.Fatalf("invalid patch: status %+v, kernel changed %v", st, dp.Table().Digest() != before)
	}
	// A full resync agrees with the patched state: nothing to do, no drift.
	full := want.Normalize()
	full.Services[500] = s2
	full.Services = append(full.Services[:7:7], full.Services[8:]...)
	full.Services = append(full.Services, added)
	res, err = r.Sync(ctx, full)
	if err != nil || !res.Plan.Empty() || res.Drift {
		t.Fatalf("resync after patches: %v drift=%v %s", err, res.Drift, summarize(res.Plan))
	}
}

// TestPatchUpdatesRunDesired: Run's periodic resync keeps a patch.
func TestPatchUpdatesRunDesired(t *testing.T) {
	dp := NewMemDataPlane()
	r := newMemReconciler(t, dp, func(c *Config) { c.ResyncInterval = 20 * time.Millisecond })
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	want := twoServices()
	r.SetDesired(want)
	waitUntil(t, func() bool { return dp.Table().Digest() == want.Digest() })
	s := want.Normalize().Services[1]
	s.Destinations = []Destination{dst("198.51.100.3", 443, 9)}
	if _, err := r.Patch(t.Context(), []Service{s}, nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // several resyncs
	got, _ := dp.Table().Lookup(s.Key)
	if got.Destinations[0].Weight != 9 {
		t.Fatalf("resync reverted the patch: %+v", got.Destinations)
	}
}
