package lvs

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"quadrature/internal/promtest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newMemReconciler(t *testing.T, dp *MemDataPlane, mod func(*Config)) *Reconciler {
	t.Helper()
	cfg := Config{DataPlane: dp, Logger: quiet}
	if mod != nil {
		mod(&cfg)
	}
	r, err := NewReconciler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func twoServices() Table {
	return Table{Services: []Service{
		svc("192.0.2.1", 80, "wrr", dst("198.51.100.1", 80, 1), dst("198.51.100.2", 80, 2)),
		svc("192.0.2.2", 443, "rr", dst("198.51.100.3", 443, 1)),
	}}
}

func TestReconcilerSyncAndUpdate(t *testing.T) {
	dp := NewMemDataPlane()
	r := newMemReconciler(t, dp, nil)
	ctx := t.Context()
	want := twoServices()
	res, err := r.Sync(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	if res.Plan.Ops() != 5 || res.Digest != want.Digest() || res.Drift {
		t.Fatalf("first sync: %+v", res)
	}
	if dp.Table().Digest() != want.Digest() {
		t.Fatal("table not programmed")
	}
	reads, _, _ := dp.Counts()
	// Update does not dump.
	next := want.Normalize()
	next.Services[0].Destinations[0].Weight = 7
	res, err = r.Update(ctx, next)
	if err != nil || res.Plan.Ops() != 1 {
		t.Fatalf("update: %v %+v", err, res.Plan)
	}
	if r2, _, _ := dp.Counts(); r2 != reads {
		t.Fatalf("Update read the kernel (%d reads, was %d)", r2, reads)
	}
	if dp.Table().Digest() != next.Digest() {
		t.Fatal("update not applied")
	}
	st := r.Status()
	if st.LastSuccess.IsZero() || st.LastError != "" || len(st.Services) != 2 || st.Owned != 2 {
		t.Fatalf("status %+v", st)
	}
	for k, s := range st.Services {
		if s.State != StateSynced {
			t.Errorf("%s: %+v", k, s)
		}
	}
	// Removing a service deletes it (owned).
	res, err = r.Update(ctx, Table{Services: next.Services[:1]})
	if err != nil || len(res.Plan.DeleteServices) != 1 {
		t.Fatalf("removal: %v %+v", err, res.Plan)
	}
	if got := r.Owned(); len(got) != 1 {
		t.Fatalf("owned %v", got)
	}
}

func TestReconcilerDriftRepair(t *testing.T) {
	dp := NewMemDataPlane()
	reg := prometheus.NewRegistry()
	r := newMemReconciler(t, dp, func(c *Config) { c.Registerer = reg; c.DrainTimeout = -1 })
	want := twoServices()
	if _, err := r.Sync(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	// Behind its back: a weight change, a deleted destination, a foreign
	// service.
	drifted := want.Normalize()
	drifted.Services[0].Destinations[0].Weight = 99
	drifted.Services[1].Destinations = nil
	foreign := svc("203.0.113.9", 80, "rr", dst("198.51.100.9", 80, 1))
	drifted.Services = append(drifted.Services, foreign)
	dp.Set(drifted)
	// An incremental Update trusts its view and sees nothing to do ...
	if res, err := r.Update(t.Context(), want); err != nil || !res.Plan.Empty() {
		t.Fatalf("update: %v %+v", err, res.Plan)
	}
	// ... the full resync repairs.
	res, err := r.Sync(t.Context(), want)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Drift || res.Plan.Ops() != 2 {
		t.Fatalf("resync: drift=%v plan=%s", res.Drift, summarize(res.Plan))
	}
	expect := want
	expect.Services = append(want.Normalize().Services, foreign)
	if dp.Table().Digest() != expect.Digest() {
		t.Fatalf("after repair:\n%s", dp.Table().CanonicalText())
	}
	if got := promtest.Value(t, reg, "quadrature_lvs_drift_repairs_total", nil); got != 2 {
		t.Errorf("drift_repairs_total = %v, want 2", got)
	}
	// The next resync is clean.
	if res, err := r.Sync(t.Context(), want); err != nil || res.Drift || !res.Plan.Empty() {
		t.Fatalf("clean resync: %v %+v", err, res)
	}
}

func TestReconcilerIncrementalFailureFallsBackToSync(t *testing.T) {
	dp := NewMemDataPlane()
	r := newMemReconciler(t, dp, func(c *Config) { c.DrainTimeout = -1 })
	want := twoServices()
	if _, err := r.Sync(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	dp.Set(Table{}) // someone flushed the table
	next := want.Normalize()
	next.Services[0].Destinations[0].Weight = 3
	res, err := r.Update(t.Context(), next) // update-dest fails, full sync recreates
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Plan.AddServices) != 2 || dp.Table().Digest() != next.Digest() {
		t.Fatalf("fallback: %s\n%s", summarize(res.Plan), dp.Table().CanonicalText())
	}
}

func TestReconcilerPerServiceErrors(t *testing.T) {
	dp := NewMemDataPlane()
	dp.SupportsFunc = func(s Service) error {
		if s.Scheduler == "mh" {
			return errors.New("mem: no mh")
		}
		return nil
	}
	r := newMemReconciler(t, dp, nil)
	want := twoServices()
	bad := svc("192.0.2.3", 80, "mh", dst("198.51.100.1", 80, 1))
	invalid := svc("192.0.2.4", 80, "rr", dst("198.51.100.1", 80, -1))
	want.Services = append(want.Services, bad, invalid)
	if _, err := r.Sync(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	st := r.Status()
	if st.Services[bad.Key].State != StateInvalid || !strings.Contains(st.Services[bad.Key].Error, "no mh") {
		t.Errorf("unsupported service status %+v", st.Services[bad.Key])
	}
	if st.Services[invalid.Key].State != StateInvalid || !strings.Contains(st.Services[invalid.Key].Error, "negative weight") {
		t.Errorf("invalid service status %+v", st.Services[invalid.Key])
	}
	if len(dp.Table().Services) != 2 {
		t.Fatalf("kernel has %d services", len(dp.Table().Services))
	}
	// An operation that fails is reported on its service.
	dp.Set(Table{Services: []Service{svc("192.0.2.9", 80, "rr")}})
	r2 := newMemReconciler(t, NewMemDataPlane(), nil)
	_ = r2
	dp2 := NewMemDataPlane()
	r3 := newMemReconciler(t, dp2, nil)
	dp2.FailApply(errors.Join(&OpError{Op: OpAddService, Service: tcpKey("192.0.2.1", 80), Err: errors.New("boom")}))
	if _, err := r3.Sync(t.Context(), twoServices()); err == nil {
		t.Fatal("failure not returned")
	}
	st = r3.Status()
	if s := st.Services[tcpKey("192.0.2.1", 80)]; s.State != StateError || !strings.Contains(s.Error, "boom") {
		t.Errorf("failed service status %+v", s)
	}
	if s := st.Services[tcpKey("192.0.2.2", 443)]; s.State != StateSynced {
		t.Errorf("other service status %+v", s)
	}
	if st.Failures != 1 || st.LastError == "" {
		t.Errorf("status %+v", st)
	}
}

func TestReconcilerRateLimit(t *testing.T) {
	dp := NewMemDataPlane()
	r := newMemReconciler(t, dp, func(c *Config) { c.MaxOpsPerBatch = 1000; c.MaxOpsPerSecond = 2000 })
	want := Table{}
	for i := range 50 {
		s := svc("192.0.2.1", uint16(1000+i), "rr")
		for j := range 19 {
			s.Destinations = append(s.Destinations, dst("198.51.100.1", uint16(2000+j), 1))
		}
		want.Services = append(want.Services, s)
	}
	// 50 services × 20 ops = 1000 ops at 2000/s: batches of 1000 → one
	// batch, no wait. Make it 3000 ops: three batches, ≥ 1s.
	for i := 50; i < 150; i++ {
		s := svc("192.0.2.2", uint16(1000+i), "rr")
		for j := range 19 {
			s.Destinations = append(s.Destinations, dst("198.51.100.2", uint16(2000+j), 1))
		}
		want.Services = append(want.Services, s)
	}
	start := time.Now()
	res, err := r.Sync(t.Context(), want)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	_, applies, ops := dp.Counts()
	if ops != 3000 || res.Plan.Ops() != 3000 {
		t.Fatalf("ops %d / %d", ops, res.Plan.Ops())
	}
	if applies != 3 {
		t.Errorf("%d Apply calls, want 3 batches", applies)
	}
	// 3000 ops at 2000/s: the third batch starts no earlier than 1s.
	if took < 900*time.Millisecond {
		t.Errorf("3000 ops at 2000/s took %s", took)
	}
	// Cancelling stops between batches.
	dp2 := NewMemDataPlane()
	r2 := newMemReconciler(t, dp2, func(c *Config) { c.MaxOpsPerBatch = 500; c.MaxOpsPerSecond = 500 })
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if _, err := r2.Sync(ctx, want); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled sync: %v", err)
	}
	if _, applies, _ := dp2.Counts(); applies != 1 {
		t.Errorf("%d batches before the deadline, want 1", applies)
	}
}

func TestReconcilerGracefulDrain(t *testing.T) {
	dp := NewMemDataPlane()
	clk := &fakeClock{now: time.Unix(1000, 0)}
	r := newMemReconciler(t, dp, func(c *Config) { c.DrainTimeout = time.Minute; c.Now = clk.Now })
	ctx := t.Context()
	want := twoServices()
	if _, err := r.Sync(ctx, want); err != nil {
		t.Fatal(err)
	}
	k := tcpKey("192.0.2.1", 80)
	busy := dst("198.51.100.2", 80, 2)
	dp.SetDestStats(k, busy.Key(), DestStats{ActiveConns: 3})
	idle := dst("198.51.100.1", 80, 1)
	// Both destinations leave; a new one arrives.
	next := want.Normalize()
	next.Services[0].Destinations = []Destination{dst("198.51.100.7", 80, 1)}
	res, err := r.Update(ctx, next)
	if err != nil {
		t.Fatal(err)
	}
	// idle is deleted at once, busy set to weight 0 and kept.
	if got := summarize(res.Plan); got != "+dest tcp/192.0.2.1:80 198.51.100.7:80\n~dest tcp/192.0.2.1:80 198.51.100.2:80\n-dest tcp/192.0.2.1:80 198.51.100.1:80\n" {
		t.Fatalf("plan:\n%s", got)
	}
	_ = idle
	s, _ := dp.Table().Lookup(k)
	if len(s.Destinations) != 2 || s.Destinations[0].Key() != busy.Key() || s.Destinations[0].Weight != 0 {
		t.Fatalf("after drain start: %+v", s.Destinations)
	}
	if st := r.Status(); st.Services[k].State != StateDraining || st.Draining != 1 {
		t.Fatalf("status %+v", st.Services[k])
	}
	// Still busy 30s later: kept, nothing to do.
	clk.Add(30 * time.Second)
	if res, err := r.Sync(ctx, next); err != nil || !res.Plan.Empty() || res.Drift {
		t.Fatalf("still draining: %v %+v", err, res)
	}
	// Connections end: deleted.
	dp.SetDestStats(k, busy.Key(), DestStats{ActiveConns: 0, InactiveConns: 4})
	if res, err := r.Update(ctx, next); err != nil || len(res.Plan.DeleteDests) != 1 {
		t.Fatalf("drained: %v %s", err, summarize(res.Plan))
	}
	if st := r.Status(); st.Services[k].State != StateSynced || st.Draining != 0 {
		t.Fatalf("status after drain %+v", st.Services[k])
	}
	// The timeout path: a busy destination goes after DrainTimeout.
	again := next.Normalize()
	again.Services[0].Destinations = append(again.Services[0].Destinations, busy)
	if _, err := r.Update(ctx, again); err != nil {
		t.Fatal(err)
	}
	dp.SetDestStats(k, busy.Key(), DestStats{ActiveConns: 9})
	if res, _ := r.Update(ctx, next); len(res.Plan.UpdateDests) != 1 {
		t.Fatalf("drain start: %s", summarize(res.Plan))
	}
	clk.Add(59 * time.Second)
	if res, _ := r.Update(ctx, next); !res.Plan.Empty() {
		t.Fatalf("before timeout: %s", summarize(res.Plan))
	}
	clk.Add(2 * time.Second)
	if res, _ := r.Update(ctx, next); len(res.Plan.DeleteDests) != 1 {
		t.Fatalf("after timeout: %s", summarize(res.Plan))
	}
	// A draining destination that comes back is restored.
	if _, err := r.Update(ctx, again); err != nil {
		t.Fatal(err)
	}
	dp.SetDestStats(k, busy.Key(), DestStats{ActiveConns: 1})
	if res, err := r.Update(ctx, next); err != nil || len(res.Plan.UpdateDests) != 1 { // draining again
		t.Fatalf("drain again: %v %s", err, summarize(res.Plan))
	}
	if res, _ := r.Update(ctx, again); len(res.Plan.UpdateDests) != 1 || res.Plan.UpdateDests[0].Dest.Weight != 2 {
		t.Fatalf("comeback: %s", summarize(res.Plan))
	}
	if st := r.Status(); st.Draining != 0 {
		t.Fatalf("still draining after comeback: %+v", st)
	}
}

func TestBackoff(t *testing.T) {
	min, max := 100*time.Millisecond, 2*time.Second
	for n := 1; n <= 10; n++ {
		ceil := min << (n - 1)
		if ceil > max {
			ceil = max
		}
		for range 50 {
			d := backoff(min, max, n)
			if d < ceil/2 || d > ceil {
				t.Fatalf("backoff(%d) = %s, want in [%s, %s]", n, d, ceil/2, ceil)
			}
		}
	}
}

func TestReconcilerRunRetriesWithBackoff(t *testing.T) {
	dp := NewMemDataPlane()
	reg := prometheus.NewRegistry()
	r := newMemReconciler(t, dp, func(c *Config) {
		c.Registerer = reg
		c.BackoffMin = 20 * time.Millisecond
		c.BackoffMax = 80 * time.Millisecond
		c.ResyncInterval = time.Hour
	})
	dp.FailRead(errors.New("netlink: boom"), errors.New("netlink: boom"), errors.New("netlink: boom"))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v", err)
		}
	}()
	want := twoServices()
	start := time.Now()
	r.SetDesired(want)
	deadline := time.Now().Add(5 * time.Second)
	for dp.Table().Digest() != want.Digest() {
		if time.Now().After(deadline) {
			t.Fatalf("not converged; status %+v", r.Status())
		}
		time.Sleep(5 * time.Millisecond)
	}
	took := time.Since(start)
	// Three failures: waits of at least 10+20+40ms (half of 20, 40, 80).
	if took < 70*time.Millisecond {
		t.Errorf("converged after %s: no backoff", took)
	}
	if got := promtest.Value(t, reg, "quadrature_lvs_reconcile_errors_total", nil); got != 3 {
		t.Errorf("errors_total = %v, want 3", got)
	}
	waitUntil(t, func() bool { return r.Status().Failures == 0 && !r.Status().LastSuccess.IsZero() })
	// A new desired table is applied incrementally.
	next := want.Normalize()
	next.Services[1].Destinations[0].Weight = 5
	r.SetDesired(next)
	waitUntil(t, func() bool { return dp.Table().Digest() == next.Digest() })
}

func TestReconcilerRunPeriodicResync(t *testing.T) {
	dp := NewMemDataPlane()
	r := newMemReconciler(t, dp, func(c *Config) { c.ResyncInterval = 30 * time.Millisecond })
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	want := twoServices()
	r.SetDesired(want)
	waitUntil(t, func() bool { return dp.Table().Digest() == want.Digest() })
	dp.Set(Table{}) // flushed behind its back
	waitUntil(t, func() bool { return dp.Table().Digest() == want.Digest() })
	if !r.Status().Last.Drift && r.Status().Last.Plan.Empty() {
		// The repair pass may already have been followed by a clean one.
		t.Log("repaired; last pass clean")
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestReconcilerOwnershipStateFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "owned.json")
	dp := NewMemDataPlane()
	r := newMemReconciler(t, dp, func(c *Config) { c.StateFile = file })
	if _, err := r.Sync(t.Context(), twoServices()); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(file); err != nil || !strings.Contains(string(b), "192.0.2.2") {
		t.Fatalf("state file: %v %s", err, b)
	}
	// Restart: a new reconciler with a smaller desired table deletes the
	// service that left while it was down, because the state file says it
	// was ours.
	r2 := newMemReconciler(t, dp, func(c *Config) { c.StateFile = file })
	one := Table{Services: twoServices().Services[:1]}
	if res, err := r2.Sync(t.Context(), one); err != nil || len(res.Plan.DeleteServices) != 1 {
		t.Fatalf("restart with state: %v %s", err, summarize(res.Plan))
	}
	// Without the state file the leftover would stay.
	dp3 := NewMemDataPlane()
	dp3.Set(twoServices())
	r3 := newMemReconciler(t, dp3, nil)
	if res, err := r3.Sync(t.Context(), one); err != nil || len(res.Plan.DeleteServices) != 0 {
		t.Fatalf("restart without state: %v %s", err, summarize(res.Plan))
	}
	// A corrupt state file is a warning, not a failure.
	os.WriteFile(file, []byte("{nope"), 0o644)
	if _, err := NewReconciler(Config{DataPlane: dp, StateFile: file, Logger: quiet}); err != nil {
		t.Fatal(err)
	}
}

func TestReconcilerMetrics(t *testing.T) {
	dp := NewMemDataPlane()
	reg := prometheus.NewRegistry()
	r := newMemReconciler(t, dp, func(c *Config) { c.Registerer = reg })
	if _, err := r.Sync(t.Context(), twoServices()); err != nil {
		t.Fatal(err)
	}
	dp.SetDestStats(tcpKey("192.0.2.1", 80), dst("198.51.100.1", 80, 1).Key(), DestStats{
		Counters: Counters{Connections: 5, PacketsIn: 10, BytesIn: 1000}, ActiveConns: 2, InactiveConns: 1})
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"quadrature_lvs_destination_active_connections", map[string]string{"rs": "198.51.100.1:80", "vs": "tcp/192.0.2.1:80"}, 2},
		{"quadrature_lvs_destination_inactive_connections", map[string]string{"rs": "198.51.100.1:80", "vs": "tcp/192.0.2.1:80"}, 1},
		{"quadrature_lvs_destination_active_connections", map[string]string{"rs": "198.51.100.3:443", "vs": "tcp/192.0.2.2:443"}, 0},
		{"quadrature_lvs_destination_packets_total", map[string]string{"rs": "198.51.100.1:80", "direction": "in"}, 10},
		{"quadrature_lvs_destination_bytes_total", map[string]string{"rs": "198.51.100.1:80", "direction": "in"}, 1000},
		{"quadrature_lvs_service_connections_total", map[string]string{"vs": "tcp/192.0.2.1:80"}, 5},
		{"quadrature_lvs_service_bytes_total", map[string]string{"vs": "tcp/192.0.2.1:80", "direction": "in"}, 1000},
		{"quadrature_lvs_reconcile_errors_total", map[string]string{"backend": "mem"}, 0},
		{"quadrature_lvs_owned_services", nil, 2},
		{"quadrature_lvs_stats_scrape_error", nil, 0},
		{"quadrature_lvs_reconcile_duration_seconds", nil, 1}, // sample count
	} {
		if got := promtest.Value(t, reg, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if promtest.Value(t, reg, "quadrature_lvs_last_success_timestamp_seconds", nil) == 0 {
		t.Error("last success timestamp not set")
	}
	// A second reconciler on the same registry is a registration error.
	if _, err := NewReconciler(Config{DataPlane: dp, Registerer: reg}); err == nil {
		t.Error("duplicate registration accepted")
	}
}
