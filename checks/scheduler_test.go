package checks

import (
	"container/heap"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// fakeClock is a manual clock for the scheduler.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c    chan time.Time
	at   time.Time
	live bool
	clk  *fakeClock
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (f *fakeClock) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }

func (f *fakeClock) NewTimer(d time.Duration) Timer {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := &fakeTimer{c: make(chan time.Time, 1), at: f.now.Add(d), live: true, clk: f}
	f.timers = append(f.timers, t)
	return t
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	for _, t := range f.timers {
		if t.live && !t.at.After(f.now) {
			t.live = false
			select {
			case t.c <- f.now:
			default:
			}
		}
	}
	f.mu.Unlock()
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }
func (t *fakeTimer) Reset(d time.Duration) {
	t.clk.mu.Lock()
	defer t.clk.mu.Unlock()
	t.at, t.live = t.clk.now.Add(d), true
}
func (t *fakeTimer) Stop() { t.clk.mu.Lock(); t.live = false; t.clk.mu.Unlock() }

// scriptedChecker returns queued results; the zero queue means up.
type scriptedChecker struct {
	mu      sync.Mutex
	results []Result
	calls   int
}

func (s *scriptedChecker) Check(context.Context) Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if len(s.results) == 0 {
		return up("ok")
	}
	r := s.results[0]
	if len(s.results) > 1 {
		s.results = s.results[1:]
	}
	return r
}

func (s *scriptedChecker) set(r ...Result) { s.mu.Lock(); s.results = r; s.mu.Unlock() }

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newTestScheduler(t *testing.T, clk Clock) (*Scheduler, map[string]*scriptedChecker, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	s, err := NewScheduler(Options{Logger: quietLogger(), Registerer: reg, Clock: clk,
		Rand: rand.New(rand.NewPCG(1, 2)), InsecureScripts: true})
	if err != nil {
		t.Fatal(err)
	}
	fakes := map[string]*scriptedChecker{}
	var mu sync.Mutex
	s.factory = func(sp *Spec, _ *runtimeEnv) (Checker, error) {
		mu.Lock()
		defer mu.Unlock()
		f := &scriptedChecker{}
		fakes[sp.key()] = f
		return f, nil
	}
	return s, fakes, reg
}

func tcpSpec(id string, mods ...func(*Spec)) Spec {
	s := Spec{ID: id, Kind: KindTCP, Target: netip.MustParseAddrPort("127.0.0.1:80"), DelayLoop: 10 * time.Second}
	for _, m := range mods {
		m(&s)
	}
	return s
}

func miscSpec(id string, dynamic bool) Spec {
	return Spec{ID: id, Kind: KindMisc, DelayLoop: 10 * time.Second, Misc: &MiscSpec{Path: "/bin/true", Dynamic: dynamic}}
}

func checkerOf(t *testing.T, s *Scheduler, rs, id string) *checkerState {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.rs[rs].find(id); c != nil {
		return c
	}
	t.Fatalf("no checker %s/%s", rs, id)
	return nil
}

func drain(s *Scheduler) []Observation {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Observation
	for {
		o, ok := s.pending.pop()
		if !ok {
			return out
		}
		out = append(out, o)
	}
}

func TestWarmupOffsetsWithinDelayLoop(t *testing.T) {
	clk := newFakeClock()
	s, _, _ := newTestScheduler(t, clk)
	var specs []RealServerSpec
	for i := 0; i < 2000; i++ {
		specs = append(specs, RealServerSpec{ID: "rs" + itoa(i), Weight: 1, Checkers: []Spec{tcpSpec("t")}})
	}
	specs = append(specs, RealServerSpec{ID: "nowarm", Weight: 1, Checkers: []Spec{tcpSpec("t", func(s *Spec) { s.Warmup = Ptr(time.Duration(0)) })}})
	if err := s.Update(specs); err != nil {
		t.Fatal(err)
	}
	now := clk.Now()
	lo, hi := 10*time.Second, time.Duration(0)
	for i := 0; i < 2000; i++ {
		off := checkerOf(t, s, "rs"+itoa(i), "t").next.Sub(now)
		if off < 0 || off >= 10*time.Second {
			t.Fatalf("warmup offset %v outside [0,10s)", off)
		}
		lo, hi = min(lo, off), max(hi, off)
	}
	if lo > time.Second || hi < 9*time.Second {
		t.Fatalf("offsets not spread over the delay loop: min %v max %v", lo, hi)
	}
	if off := checkerOf(t, s, "nowarm", "t").next.Sub(now); off != 0 {
		t.Fatalf("warmup 0: first check at +%v, want now", off)
	}
}

func itoa(i int) string { return string(rune('a'+i%26)) + time.Duration(i).String() }

// TestRetryTable follows keepalived's epilog: retries while up, delay_before_retry
// between them, down after retry+1 failures, no retries while down.
func TestRetryTable(t *testing.T) {
	steps := []struct {
		up        bool
		wantUp    bool
		wantDelay time.Duration
		wantRetry int
	}{
		{true, true, 10 * time.Second, 0},
		{false, true, 1 * time.Second, 1},
		{false, true, 1 * time.Second, 2},
		{true, true, 10 * time.Second, 0}, // recovered before retries ran out
		{false, true, 1 * time.Second, 1},
		{false, true, 1 * time.Second, 2},
		{false, false, 10 * time.Second, 0}, // retry 2 used up: down
		{false, false, 10 * time.Second, 0}, // down: no retries
		{true, true, 10 * time.Second, 0},
	}
	clk := newFakeClock()
	s, _, _ := newTestScheduler(t, clk)
	err := s.Update([]RealServerSpec{{ID: "rs", Weight: 3, Checkers: []Spec{tcpSpec("t", func(s *Spec) { s.Retry = Ptr(2) })}}})
	if err != nil {
		t.Fatal(err)
	}
	c := checkerOf(t, s, "rs", "t")
	obs := drain(s)
	for i, st := range steps {
		s.mu.Lock()
		if c.index >= 0 {
			s.queue.Swap(c.index, s.queue.Len()-1)
			s.queue.Pop()
		}
		s.mu.Unlock()
		r := up("ok")
		if !st.up {
			r = down("refused", "refused")
		}
		s.complete(c, r, time.Millisecond, 0)
		obs = append(obs, drain(s)...)
		if c.up != st.wantUp || c.next.Sub(clk.Now()) != st.wantDelay || c.retryIt != st.wantRetry {
			t.Fatalf("step %d: up=%v next=+%v retry=%d, want up=%v +%v retry=%d",
				i, c.up, c.next.Sub(clk.Now()), c.retryIt, st.wantUp, st.wantDelay, st.wantRetry)
		}
	}
	// initial up, down at step 6, up at step 8
	if len(obs) != 3 || !obs[0].Up || obs[1].Up || !obs[2].Up || obs[1].Checker != "t" {
		t.Fatalf("observations: %+v", obs)
	}
}

func TestDefaults(t *testing.T) {
	cases := []struct {
		kind  Kind
		retry int
		dbr   time.Duration
	}{
		{KindTCP, 1, time.Second}, {KindHTTP, 1, 3 * time.Second}, {KindSSL, 1, 3 * time.Second},
		{KindDNS, 3, 60 * time.Second}, {KindMisc, 0, time.Second}, {KindSMTP, 1, time.Second},
	}
	for _, c := range cases {
		s := Spec{Kind: c.kind}
		if s.EffectiveRetry() != c.retry || s.EffectiveDelayBeforeRetry() != c.dbr ||
			s.EffectiveDelayLoop() != 60*time.Second || s.EffectiveConnectTimeout() != 5*time.Second ||
			s.EffectiveWarmup() != 60*time.Second {
			t.Errorf("%s defaults: retry %d dbr %v", c.kind, s.EffectiveRetry(), s.EffectiveDelayBeforeRetry())
		}
	}
}

func TestAlphaStartsDownAndAllCheckersMustBeUp(t *testing.T) {
	clk := newFakeClock()
	s, _, _ := newTestScheduler(t, clk)
	err := s.Update([]RealServerSpec{{ID: "rs", Weight: 7, Alpha: true,
		Checkers: []Spec{tcpSpec("a"), tcpSpec("b", func(s *Spec) { s.Retry = Ptr(0) })}}})
	if err != nil {
		t.Fatal(err)
	}
	if obs := drain(s); len(obs) != 1 || obs[0].Up {
		t.Fatalf("alpha: initial observation %+v, want one down", obs)
	}
	a, b := checkerOf(t, s, "rs", "a"), checkerOf(t, s, "rs", "b")
	finish(s, a, up("ok"))
	if obs := drain(s); len(obs) != 0 {
		t.Fatalf("one of two checkers up must not raise the real server: %+v", obs)
	}
	finish(s, b, up("ok"))
	obs := drain(s)
	if len(obs) != 1 || !obs[0].Up || obs[0].Weight != 7 || obs[0].Checker != "b" {
		t.Fatalf("both up: %+v", obs)
	}
	finish(s, b, down("timeout", "connect timeout")) // retry 0: down at once
	obs = drain(s)
	if len(obs) != 1 || obs[0].Up || obs[0].Reason != "connect timeout" {
		t.Fatalf("b down: %+v", obs)
	}
}

func misc(status int) Result {
	if status == 0 || (status >= 2 && status <= 255) {
		return Result{Up: true, ExitStatus: status, Outcome: "ok"}
	}
	return Result{ExitStatus: status, Outcome: "exit_status", Reason: "exit"}
}

// TestMiscDynamicWeight is the iWash case: exit 2+w sets weight w.
func TestMiscDynamicWeight(t *testing.T) {
	clk := newFakeClock()
	s, _, _ := newTestScheduler(t, clk)
	if err := s.Update([]RealServerSpec{{ID: "squid", Weight: 5, Checkers: []Spec{miscSpec("w", true)}}}); err != nil {
		t.Fatal(err)
	}
	drain(s)
	c := checkerOf(t, s, "squid", "w")
	for _, st := range []struct {
		exit   int
		up     bool
		weight int
	}{{12, true, 10}, {22, true, 20}, {22, true, 20}, {0, true, 5}, {2, true, 0}, {255, true, 253}, {1, false, 5}, {12, true, 10}} {
		finish(s, c, misc(st.exit))
		st2 := s.State()[0]
		if st2.Up != st.up || st2.Weight != st.weight {
			t.Fatalf("exit %d: up=%v weight=%d, want up=%v weight=%d", st.exit, st2.Up, st2.Weight, st.up, st.weight)
		}
	}
}

// TestMiscDynamicSeveralCheckers: weight = configured + sum(status_i-2-configured)
// from the last successful status; a timeout does not ratchet (keepalived#2720).
func TestMiscDynamicSeveralCheckers(t *testing.T) {
	clk := newFakeClock()
	s, _, _ := newTestScheduler(t, clk)
	if err := s.Update([]RealServerSpec{{ID: "rs", Weight: 5, Checkers: []Spec{miscSpec("a", true), miscSpec("b", true), miscSpec("c", false)}}}); err != nil {
		t.Fatal(err)
	}
	a, b, c := checkerOf(t, s, "rs", "a"), checkerOf(t, s, "rs", "b"), checkerOf(t, s, "rs", "c")
	weight := func() int { return s.State()[0].Weight }
	finish(s, a, misc(12)) // +5
	finish(s, b, misc(7))  // +0
	finish(s, c, misc(0))
	if w := weight(); w != 10 {
		t.Fatalf("weight %d, want 5+(10-5)+(5-5)=10", w)
	}
	for i := 0; i < 3; i++ { // timeouts then the same status again
		finish(s, a, Result{ExitStatus: -1, Outcome: "timeout"})
		if st := s.State()[0]; st.Up {
			t.Fatal("a timed out: real server must be down")
		}
		finish(s, a, misc(12))
		if w := weight(); w != 10 {
			t.Fatalf("round %d: weight %d after timeout+recovery, want 10", i, w)
		}
	}
	finish(s, c, Result{ExitStatus: 3, Outcome: "exit_status"}) // retry 0: down at once
	if st := s.State()[0]; st.Up {
		t.Fatal("exit 3 without misc_dynamic must be down")
	}
}

func TestUpdateKeepsUnchangedCheckers(t *testing.T) {
	clk := newFakeClock()
	s, _, reg := newTestScheduler(t, clk)
	specs := []RealServerSpec{
		{ID: "rs1", Weight: 1, Checkers: []Spec{tcpSpec("a"), tcpSpec("b", func(s *Spec) { s.Retry = Ptr(0) })}},
		{ID: "rs2", Weight: 1, Omega: true, Checkers: []Spec{tcpSpec("a")}},
	}
	if err := s.Update(specs); err != nil {
		t.Fatal(err)
	}
	b := checkerOf(t, s, "rs1", "b")
	finish(s, b, down("refused", "refused"))
	drain(s)
	next := b.next
	// Same spec for b, new checker c, rs2 removed, weight change on rs1.
	specs2 := []RealServerSpec{{ID: "rs1", Weight: 4, Checkers: []Spec{tcpSpec("a"), tcpSpec("b", func(s *Spec) { s.Retry = Ptr(0) }), tcpSpec("c")}}}
	if err := s.Update(specs2); err != nil {
		t.Fatal(err)
	}
	if b2 := checkerOf(t, s, "rs1", "b"); b2 != b || b2.up || b2.next != next {
		t.Fatal("unchanged checker lost its state")
	}
	obs := drain(s)
	var removed bool
	for _, o := range obs {
		if o.RealServer == "rs2" && !o.Up && o.Reason == "omega: real server removed" {
			removed = true
		}
	}
	if !removed {
		t.Fatalf("omega real server removal not observed: %+v", obs)
	}
	// Changed spec (different connect timeout) is a new checker with fresh state.
	specs3 := []RealServerSpec{{ID: "rs1", Weight: 4, Checkers: []Spec{tcpSpec("a"), tcpSpec("b", func(s *Spec) { s.Retry = Ptr(0); s.ConnectTimeout = time.Second }), tcpSpec("c")}}}
	if err := s.Update(specs3); err != nil {
		t.Fatal(err)
	}
	if b3 := checkerOf(t, s, "rs1", "b"); b3 == b || !b3.up {
		t.Fatal("changed checker kept the old state")
	}
	if b.index != -1 || !b.removed {
		t.Fatal("replaced checker still queued")
	}
	if n := countSeries(t, reg, "quadrature_check_up"); n != 3 {
		t.Fatalf("quadrature_check_up series: %d, want 3", n)
	}
	// An invalid set is rejected as a whole.
	bad := append(specs3, RealServerSpec{ID: "x", Checkers: []Spec{{Kind: "NOPE_CHECK"}}})
	if err := s.Update(bad); err == nil {
		t.Fatal("invalid update accepted")
	}
	if len(s.State()) != 1 {
		t.Fatal("rejected update changed the running set")
	}
}

// TestRunRealTime drives the scheduler with the real clock and a scripted
// checker: observations arrive in order and omega fires on shutdown.
func TestRunRealTime(t *testing.T) {
	s, fakes, reg := newTestScheduler(t, nil)
	spec := tcpSpec("t", func(s *Spec) {
		s.DelayLoop, s.DelayBeforeRetry, s.Retry, s.Warmup = 10*time.Millisecond, 5*time.Millisecond, Ptr(1), Ptr(time.Duration(0))
	})
	if err := s.Update([]RealServerSpec{{ID: "rs", Weight: 2, Omega: true, Checkers: []Spec{spec}}}); err != nil {
		t.Fatal(err)
	}
	fakes["t"].set(down("refused", "refused 1"), down("refused", "refused 2"), up("ok"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	var got []bool
	timeout := time.After(5 * time.Second)
	for len(got) < 3 {
		select {
		case o := <-s.Observations():
			got = append(got, o.Up)
		case <-timeout:
			t.Fatalf("observations so far %v", got)
		}
	}
	if !(got[0] && !got[1] && got[2]) {
		t.Fatalf("observations %v, want up, down, up", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var last Observation
	for o := range s.Observations() {
		last = o
	}
	if last.Up || last.Reason != "omega: checker shutdown" {
		t.Fatalf("omega observation %+v", last)
	}
	m := &dto.Metric{}
	_ = s.metrics.results.WithLabelValues("TCP_CHECK", "refused").Write(m)
	if v := m.GetCounter().GetValue(); v != 2 {
		t.Fatalf("refused results %v, want 2", v)
	}
	if n := countSeries(t, reg, "quadrature_check_duration_seconds"); n != 1 {
		t.Fatalf("duration series %d", n)
	}
}

// TestHangingCheckDoesNotDelayOthers: a checker that blocks until its
// deadline must not hold back a fast one.
func TestHangingCheckDoesNotDelayOthers(t *testing.T) {
	s, err := NewScheduler(Options{Logger: quietLogger(), MaxConcurrent: 4})
	if err != nil {
		t.Fatal(err)
	}
	fast := &scriptedChecker{}
	s.factory = func(sp *Spec, _ *runtimeEnv) (Checker, error) {
		if sp.ID == "hang" {
			return hangChecker{}, nil
		}
		return fast, nil
	}
	mk := func(id string, timeout time.Duration) Spec {
		return tcpSpec(id, func(s *Spec) {
			s.DelayLoop, s.ConnectTimeout, s.Warmup = 20*time.Millisecond, timeout, Ptr(time.Duration(0))
		})
	}
	if err := s.Update([]RealServerSpec{
		{ID: "h", Checkers: []Spec{mk("hang", 10*time.Second)}},
		{ID: "f", Checkers: []Spec{mk("fast", time.Second)}},
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go s.Run(ctx)
	go func() {
		for range s.Observations() {
		}
	}()
	time.Sleep(time.Second)
	fast.mu.Lock()
	n := fast.calls
	fast.mu.Unlock()
	cancel()
	if n < 10 {
		t.Fatalf("fast checker ran %d times in 1s (delay_loop 20ms) beside a hanging one", n)
	}
}

type hangChecker struct{}

func (hangChecker) Check(ctx context.Context) Result {
	<-ctx.Done()
	return down("timeout", "hung")
}

func countSeries(t *testing.T, reg *prometheus.Registry, name string) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return len(mf.GetMetric())
		}
	}
	return 0
}

type panicChecker struct{}

func (panicChecker) Check(context.Context) Result { panic("boom") }

func TestPanickingCheckerIsAFailure(t *testing.T) {
	s, err := NewScheduler(Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	s.factory = func(*Spec, *runtimeEnv) (Checker, error) { return panicChecker{}, nil }
	spec := tcpSpec("p", func(s *Spec) { s.Retry, s.Warmup, s.DelayLoop = Ptr(0), Ptr(time.Duration(0)), time.Hour })
	if err := s.Update([]RealServerSpec{{ID: "rs", Weight: 1, Checkers: []Spec{spec}}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	for o := range s.Observations() {
		if !o.Up {
			if !strings.Contains(o.Reason, "panicked: boom") {
				t.Fatalf("reason %q", o.Reason)
			}
			return
		}
	}
}

// waitFor polls cond in real time.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func (f *fakeClock) armedAt(at time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range f.timers {
		if t.live && t.at.Equal(at) {
			return true
		}
	}
	return false
}

// TestRunFakeClock drives Run with the fake clock: the checker runs exactly
// at warmup, then delay_before_retry after a failure, then delay_loop.
func TestRunFakeClock(t *testing.T) {
	clk := newFakeClock()
	s, fakes, _ := newTestScheduler(t, clk)
	spec := tcpSpec("t", func(s *Spec) {
		s.DelayLoop, s.DelayBeforeRetry, s.Retry, s.Warmup = 10*time.Second, time.Second, Ptr(1), Ptr(time.Duration(0))
	})
	if err := s.Update([]RealServerSpec{{ID: "rs", Weight: 1, Checkers: []Spec{spec}}}); err != nil {
		t.Fatal(err)
	}
	f := fakes["t"]
	f.set(down("refused", "r1"), down("refused", "r2"), up("ok"))
	calls := func() int { f.mu.Lock(); defer f.mu.Unlock(); return f.calls }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	go func() {
		for range s.Observations() {
		}
	}()
	start := clk.Now()
	steps := []struct {
		advance   time.Duration
		wantCalls int
		wantUp    bool
	}{
		{0, 1, true},                      // warmup 0: at once; failure 1 -> retry in 1 s
		{999 * time.Millisecond, 1, true}, // not yet
		{time.Millisecond, 2, false},      // retry: failure 2, retries used -> down, next in 10 s
		{9 * time.Second, 2, false},
		{time.Second, 3, true}, // delay_loop: success
	}
	elapsed, prev := time.Duration(0), 0
	for i, st := range steps {
		if st.advance > 0 {
			clk.Advance(st.advance)
			elapsed += st.advance
		}
		if calls() > st.wantCalls {
			t.Fatalf("step %d: %d calls, want %d", i, calls(), st.wantCalls)
		}
		waitFor(t, fmt.Sprintf("step %d: %d calls", i, st.wantCalls), func() bool { return calls() == st.wantCalls })
		if st.wantCalls > prev {
			prev = st.wantCalls
			// wait until the result is applied and the next run is armed
			waitFor(t, fmt.Sprintf("step %d: result applied", i), func() bool {
				c := s.State()[0].Checkers[0]
				return c.LastCheck.Equal(start.Add(elapsed)) && clk.armedAt(c.NextCheck)
			})
		}
		time.Sleep(20 * time.Millisecond) // give a wrong extra run the chance to happen
		if calls() != st.wantCalls || s.State()[0].Up != st.wantUp {
			t.Fatalf("step %d: calls %d up %v, want %d %v", i, calls(), s.State()[0].Up, st.wantCalls, st.wantUp)
		}
	}
	if next := s.State()[0].Checkers[0].NextCheck.Sub(start); next != 21*time.Second {
		t.Fatalf("next check at +%v, want +21s", next)
	}
}

// TestRunStopsWhileSaturated: cancelling Run while every slot is busy and
// more checks are due returns promptly and closes Observations.
func TestRunStopsWhileSaturated(t *testing.T) {
	s, err := NewScheduler(Options{Logger: quietLogger(), MaxConcurrent: 1})
	if err != nil {
		t.Fatal(err)
	}
	s.factory = func(*Spec, *runtimeEnv) (Checker, error) { return hangChecker{}, nil }
	var specs []RealServerSpec
	for i := 0; i < 5; i++ {
		specs = append(specs, RealServerSpec{ID: fmt.Sprint("rs", i), Checkers: []Spec{tcpSpec("h", func(s *Spec) {
			s.Warmup, s.ConnectTimeout = Ptr(time.Duration(0)), time.Minute
		})}})
	}
	if err := s.Update(specs); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	for range s.Observations() {
	}
}

func TestNextRunKeepsPhase(t *testing.T) {
	t0 := time.Unix(1000, 0)
	s := time.Second
	cases := []struct {
		name           string
		due, now, want time.Duration
		retrying       bool
	}{
		{"on time", 0, 3 * time.Millisecond, s, false},
		{"a bit late keeps phase", 0, 400 * time.Millisecond, s, false},
		{"more than half a loop late re-phases", 0, 600 * time.Millisecond, 1600 * time.Millisecond, false},
		{"slow check re-phases", 0, 5 * s, 6 * s, false},
		{"retry counts from now", 0, 300 * time.Millisecond, 1300 * time.Millisecond, true},
		{"due in the future (direct call) counts from now", 2 * s, 0, s, false},
	}
	for _, c := range cases {
		got := nextRun(t0.Add(c.due), t0.Add(c.now), s, c.retrying).Sub(t0)
		if got != c.want {
			t.Errorf("%s: next at +%v, want +%v", c.name, got, c.want)
		}
	}
}

// TestStateChangesAreLogged: transitions are logged with stable keys and the reason.
func TestStateChangesAreLogged(t *testing.T) {
	var buf syncBuffer
	s, err := NewScheduler(Options{Logger: slog.New(slog.NewJSONHandler(&buf, nil)), Clock: newFakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update([]RealServerSpec{{ID: "rs1", Weight: 1, Checkers: []Spec{tcpSpec("t", func(s *Spec) { s.Retry = Ptr(0) })}}}); err != nil {
		t.Fatal(err)
	}
	c := checkerOf(t, s, "rs1", "t")
	finish(s, c, down("refused", "connect 127.0.0.1:80: connection refused"))
	out := buf.String()
	for _, want := range []string{`"level":"WARN","msg":"checker down"`, `"level":"WARN","msg":"real server down"`, `"rs":"rs1"`, `"checker":"t"`,
		`"kind":"TCP_CHECK"`, `"reason":"connect 127.0.0.1:80: connection refused"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	finish(s, c, up("ok"))
	out = buf.String()
	for _, want := range []string{`"level":"INFO","msg":"checker up"`, `"level":"INFO","msg":"real server up"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestPendingKeepsState: a Pending step neither raises nor lowers a checker.
func TestPendingKeepsState(t *testing.T) {
	clk := newFakeClock()
	s, _, _ := newTestScheduler(t, clk)
	if err := s.Update([]RealServerSpec{{ID: "rs", Weight: 1, Alpha: true, Checkers: []Spec{tcpSpec("h")}}}); err != nil {
		t.Fatal(err)
	}
	c := checkerOf(t, s, "rs", "h")
	pending := Result{Up: true, Pending: true, Outcome: "ok"}
	finish(s, c, pending)
	if c.up || c.next.Sub(clk.Now()) != 10*time.Second {
		t.Fatalf("alpha checker after a pending step: up=%v next=+%v", c.up, c.next.Sub(clk.Now()))
	}
	finish(s, c, up("ok"))
	finish(s, c, down("refused", "x")) // retry 1: still up, retrying
	finish(s, c, pending)
	if !c.up || c.retryIt != 0 {
		t.Fatalf("pending after a failure: up=%v retry=%d", c.up, c.retryIt)
	}
	finish(s, c, Result{Up: true, Pending: true, Again: true, Outcome: "ok"})
	if !c.next.Equal(clk.Now()) || c.index < 0 {
		t.Fatalf("pending+again: next at +%v, queued %v; want now", c.next.Sub(clk.Now()), c.index >= 0)
	}
}

// finish completes a run the way Run does: the checker is out of the queue
// while it runs.
func finish(s *Scheduler, c *checkerState, r Result) {
	s.mu.Lock()
	if c.index >= 0 {
		heap.Remove(&s.queue, c.index)
	}
	s.mu.Unlock()
	s.complete(c, r, 0, 0)
}
