package checks

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Options configure a Scheduler.
type Options struct {
	Logger     *slog.Logger          // nil: slog.Default()
	Registerer prometheus.Registerer // nil: metrics are kept but not registered
	Clock      Clock                 // nil: real time
	Rand       *rand.Rand            // warmup offsets; nil: randomly seeded

	// MaxConcurrent bounds checks in flight (default 1024). Every check has
	// its own deadline, so a hanging target holds one slot for at most its
	// timeout and never delays the others.
	MaxConcurrent int
	// MaxScripts bounds MISC_CHECK scripts running at once (default 8).
	MaxScripts int
	// ScriptUser runs scripts as "user" or "user:group" (default
	// keepalived_script if it exists, else root with a warning, as in
	// keepalived). Only root can switch.
	ScriptUser string
	// InsecureScripts disables the script security check (keepalived
	// without enable_script_security). Not recommended.
	InsecureScripts bool
	// ObservationBuffer is the capacity of the Observations channel (default 256).
	ObservationBuffer int
}

// Observation is a change of a real server's verdict, for the node runtime.
type Observation struct {
	RealServer string
	Up         bool
	Weight     int           // IPVS weight to program (clamped to [0, MaxInt32])
	Latency    time.Duration // duration of the check that caused the change
	Reason     string
	Checker    string // checker that caused the change ("" for config changes)
	Kind       Kind
	At         time.Time
}

// Scheduler runs thousands of checkers from one timer heap with bounded
// concurrency. Update may be called at any time, also before Run.
type Scheduler struct {
	opts    Options
	log     *slog.Logger
	clock   Clock
	metrics *metrics
	env     *runtimeEnv
	factory func(*Spec, *runtimeEnv) (Checker, error) // newChecker; tests replace it
	// resultHook, when set (benchmarks), sees every run's latency and its
	// dispatch lag (start minus due time). Called with mu held.
	resultHook func(latency, lag time.Duration)
	sem        chan struct{}
	wake       chan struct{}
	obs        chan Observation

	mu      sync.Mutex
	rnd     *rand.Rand
	rs      map[string]*rsState
	queue   checkHeap
	pending obsQueue
	started bool
	stopped bool
	obsWake chan struct{}
	wg      sync.WaitGroup
}

type rsState struct {
	id       string
	weight   int // configured
	omega    bool
	checkers []*checkerState
	up       bool
	effW     int
}

type checkerState struct {
	rs      *rsState
	key     string
	digest  string
	spec    Spec
	checker Checker
	retry   int

	next    time.Time
	index   int // position in the heap, -1 when not queued
	running bool
	removed bool

	up          bool
	hasRun      bool
	retryIt     int
	status      int // last successful MISC_CHECK exit status
	contrib     int // FILE_CHECK weight contribution
	lastReason  string
	lastOutcome string
	lastLatency time.Duration
	lastAt      time.Time
	lastExit    int
	latency     prometheus.Gauge // its quadrature_check_last_duration_seconds series (metrics.observe)
}

// NewScheduler builds a scheduler; it registers its metrics on
// opts.Registerer.
func NewScheduler(opts Options) (*Scheduler, error) {
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = 1024
	}
	if opts.MaxScripts <= 0 {
		opts.MaxScripts = 8
	}
	if opts.ObservationBuffer <= 0 {
		opts.ObservationBuffer = 256
	}
	s := &Scheduler{
		opts:    opts,
		log:     opts.Logger,
		clock:   opts.Clock,
		rnd:     opts.Rand,
		sem:     make(chan struct{}, opts.MaxConcurrent),
		wake:    make(chan struct{}, 1),
		obsWake: make(chan struct{}, 1),
		obs:     make(chan Observation, opts.ObservationBuffer),
		rs:      map[string]*rsState{},
		factory: newChecker,
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.clock == nil {
		s.clock = realClock{}
	}
	if s.rnd == nil {
		s.rnd = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	sr, err := newScriptRunner(opts)
	if err != nil {
		return nil, err
	}
	s.env = &runtimeEnv{scripts: sr, ping: &pingMode{}}
	return s, nil
}

// Observations delivers real-server verdict changes in order. It is closed
// after Run returns and every pending observation was delivered.
func (s *Scheduler) Observations() <-chan Observation { return s.obs }

// Update replaces the set of real servers and checkers. Checkers whose real
// server ID, checker ID and spec are unchanged keep their state and schedule.
// An invalid set is rejected as a whole and the running set is untouched.
func (s *Scheduler) Update(specs []RealServerSpec) error {
	if err := validateAll(specs); err != nil {
		return fmt.Errorf("checks: update rejected: %w", err)
	}
	// Identities and digests are computed before taking the lock, so a big
	// reload does not stall the checks in flight.
	type ident struct{ key, digest string }
	ids := make([][]ident, len(specs))
	for i := range specs {
		ids[i] = make([]ident, len(specs[i].Checkers))
		for j := range specs[i].Checkers {
			cs := &specs[i].Checkers[j]
			ids[i][j] = ident{cs.key(), cs.digest()}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errors.New("checks: scheduler stopped")
	}
	now := s.clock.Now()
	next := make(map[string]*rsState, len(specs))
	var fresh []*checkerState
	for i := range specs {
		sp := &specs[i]
		old := s.rs[sp.ID]
		r := &rsState{id: sp.ID, weight: sp.Weight, omega: sp.Omega}
		for j := range sp.Checkers {
			cs := sp.Checkers[j]
			key, dg := ids[i][j].key, ids[i][j].digest
			if prev := old.find(key); prev != nil && prev.digest == dg {
				r.checkers = append(r.checkers, prev)
				continue
			}
			chk, err := s.factory(&cs, s.env)
			if err != nil {
				return fmt.Errorf("checks: update rejected: real server %s checker %s: %w", sp.ID, key, err)
			}
			c := &checkerState{
				key: key, digest: dg, spec: cs, checker: chk, retry: cs.EffectiveRetry(),
				index: -1, up: !(sp.Alpha || cs.Alpha), lastExit: -1,
			}
			r.checkers = append(r.checkers, c)
			fresh = append(fresh, c)
		}
		next[sp.ID] = r
	}
	// Commit: retire what disappeared, adopt the new structures.
	for id, old := range s.rs {
		nr := next[id]
		for _, c := range old.checkers {
			if nr == nil || nr.findPtr(c) == nil {
				s.retire(c)
			}
		}
		if nr == nil {
			s.metrics.forgetRS(id)
			if old.omega && old.up {
				s.emitLocked(Observation{RealServer: id, Up: false, Weight: old.effW,
					Reason: "omega: real server removed", At: now})
			}
			s.log.Info("real server removed", "rs", id)
		}
	}
	for _, c := range fresh {
		warm := c.spec.EffectiveWarmup()
		var off time.Duration
		if warm > 0 {
			off = time.Duration(s.rnd.Int64N(int64(warm)))
		}
		c.next = now.Add(off)
	}
	for i := range specs { // spec order: observations come out deterministically
		id, r := specs[i].ID, next[specs[i].ID]
		for _, c := range r.checkers {
			c.rs = r
			s.metrics.setChecker(id, c)
		}
		prev := s.rs[id]
		r.up, r.effW = r.aggregate()
		switch {
		case prev == nil:
			s.emitLocked(Observation{RealServer: id, Up: r.up, Weight: r.effW, Reason: "initial state", At: now})
		case prev.up != r.up || prev.effW != r.effW:
			s.emitLocked(Observation{RealServer: id, Up: r.up, Weight: r.effW, Reason: "configuration changed", At: now})
		}
		s.metrics.setRS(id, r.up, r.effW)
	}
	s.rs = next
	for _, c := range fresh {
		heap.Push(&s.queue, c)
	}
	s.metrics.checkers.Set(float64(s.countCheckers()))
	s.poke()
	return nil
}

func (s *Scheduler) countCheckers() int {
	n := 0
	for _, r := range s.rs {
		n += len(r.checkers)
	}
	return n
}

func (r *rsState) find(key string) *checkerState {
	if r == nil {
		return nil
	}
	for _, c := range r.checkers {
		if c.key == key {
			return c
		}
	}
	return nil
}

func (r *rsState) findPtr(c *checkerState) *checkerState {
	for _, x := range r.checkers {
		if x == c {
			return x
		}
	}
	return nil
}

func (s *Scheduler) retire(c *checkerState) {
	c.removed = true
	if c.index >= 0 {
		heap.Remove(&s.queue, c.index)
	}
	s.metrics.forgetChecker(c.rs.id, c)
}

// aggregate computes liveness (all checkers up) and the effective weight:
// configured + sum of dynamic contributions. A MISC_CHECK with misc_dynamic
// contributes (status - 2 - configured) for its last successful status
// (0 for exit 0); keepalived#2720 is avoided because the sum is recomputed
// from per-checker state every time instead of being patched incrementally.
func (r *rsState) aggregate() (bool, int) {
	alive := true
	w := r.weight
	for _, c := range r.checkers {
		if !c.up {
			alive = false
			continue
		}
		switch c.spec.Kind {
		case KindMisc:
			if c.spec.Misc.Dynamic && c.status >= 2 {
				w += c.status - 2 - r.weight
			}
		case KindFile:
			w += c.contrib
		}
	}
	return alive, clampWeight(w)
}

func clampWeight(w int) int {
	const maxW = 1<<31 - 1
	return min(max(w, 0), maxW)
}

func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run schedules checks until ctx is done, then waits for checks in flight,
// emits omega observations and closes Observations once drained.
func (s *Scheduler) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("checks: Run called twice")
	}
	s.started = true
	s.mu.Unlock()

	go s.emitter()

	timer := s.clock.NewTimer(time.Hour)
	defer timer.Stop()
	var due []*checkerState
	for {
		if ctx.Err() != nil {
			s.shutdown()
			return nil
		}
		s.mu.Lock()
		now := s.clock.Now()
		due = due[:0]
		for s.queue.Len() > 0 && !s.queue[0].next.After(now) {
			c := heap.Pop(&s.queue).(*checkerState)
			c.running = true
			due = append(due, c)
		}
		wait := time.Hour
		if s.queue.Len() > 0 {
			wait = s.queue[0].next.Sub(now)
		}
		s.mu.Unlock()
		for _, c := range due {
			select {
			case s.sem <- struct{}{}:
			case <-ctx.Done():
				s.requeue(c)
				continue
			}
			s.wg.Add(1)
			go s.runOne(ctx, c, c.next)
		}
		if len(due) > 0 {
			continue // time moved on while dispatching
		}
		// Sleep at least a millisecond: with thousands of checkers the due
		// times are dense, and batching them saves wake-ups for a delay no
		// health check can notice.
		timer.Reset(max(wait, time.Millisecond))
		select {
		case <-ctx.Done():
			s.shutdown()
			return nil
		case <-timer.C():
		case <-s.wake:
		}
	}
}

func (s *Scheduler) requeue(c *checkerState) {
	s.mu.Lock()
	c.running = false
	if !c.removed {
		heap.Push(&s.queue, c)
	}
	s.mu.Unlock()
}

func (s *Scheduler) shutdown() {
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	now := s.clock.Now()
	ids := make([]string, 0, len(s.rs))
	for id := range s.rs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if r := s.rs[id]; r.omega && r.up {
			s.emitLocked(Observation{RealServer: id, Up: false, Weight: r.effW, Reason: "omega: checker shutdown", At: now})
		}
	}
	s.pokeEmitter()
}

func (s *Scheduler) runOne(ctx context.Context, c *checkerState, due time.Time) {
	defer s.wg.Done()
	cctx, cancel := ctx, context.CancelFunc(func() {})
	if _, ok := c.checker.(selfBounded); !ok {
		cctx, cancel = context.WithTimeout(ctx, c.spec.checkTimeout())
	}
	start := time.Now()
	lag := s.clock.Now().Sub(due)
	s.metrics.inflight.Inc()
	res := safeCheck(cctx, c.checker)
	s.metrics.inflight.Dec()
	lat := time.Since(start)
	cancel()
	<-s.sem
	if ctx.Err() != nil {
		return // stopping: a cancelled check says nothing about the target
	}
	s.complete(c, res, lat, lag)
}

// selfBounded is implemented by checkers that enforce their own deadline
// (and honour ctx cancellation), sparing a timer per run.
type selfBounded interface{ boundsItself() }

// safeCheck turns a panicking checker into a failed run instead of a crash.
func safeCheck(ctx context.Context, c Checker) (r Result) {
	defer func() {
		if p := recover(); p != nil {
			r = Result{Reason: fmt.Sprintf("checker panicked: %v", p), Outcome: "panic", ExitStatus: -1}
		}
	}()
	return c.Check(ctx)
}

// complete applies keepalived's retry logic (check_*.c epilogs): on success,
// or on failure of an up (or never run) checker whose retries are used up,
// the state is set and the next check is after delay_loop; a failure with
// retries left is retried after delay_before_retry; a down checker that
// keeps failing is simply checked again after delay_loop.
func (s *Scheduler) complete(c *checkerState, res Result, lat, lag time.Duration) {
	s.metrics.observe(c, res.Outcome, lat)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.resultHook != nil {
		s.resultHook(lat, lag)
	}
	c.running = false
	if c.removed {
		return
	}
	now := s.clock.Now()
	c.lastReason, c.lastOutcome, c.lastLatency, c.lastAt = res.Reason, res.Outcome, lat, now
	if c.spec.Kind == KindMisc {
		c.lastExit = res.ExitStatus
	}
	wasUp := c.up
	delay := c.spec.EffectiveDelayLoop()
	retrying := false
	switch {
	case res.Pending:
		c.retryIt = 0
		c.lastOutcome = "pending"
		if res.Again {
			c.next = now
			heap.Push(&s.queue, c)
			s.poke()
			return
		}
		s.schedule(c, now, delay, false)
		return
	case res.Up || ((c.up || !c.hasRun) && c.retryIt >= c.retry):
		c.retryIt = 0
		c.up = res.Up
		c.status, c.contrib = 0, 0
		if res.Up {
			if c.spec.Kind == KindMisc {
				c.status = res.ExitStatus
			}
			if c.spec.Kind == KindFile {
				c.contrib = res.TrackValue
			}
		}
	case c.up || !c.hasRun:
		c.retryIt++
		delay = c.spec.EffectiveDelayBeforeRetry()
		retrying = true
		if c.spec.LogAllFailures {
			s.log.Info("check failed, will retry", "rs", c.rs.id, "checker", c.key, "kind", c.spec.Kind,
				"reason", res.Reason, "retry", c.retryIt, "of", c.retry)
		}
	default:
		if c.spec.LogAllFailures {
			s.log.Info("check failed", "rs", c.rs.id, "checker", c.key, "kind", c.spec.Kind, "reason", res.Reason)
		}
	}
	c.hasRun = true
	if wasUp != c.up {
		state, level := "down", slog.LevelWarn
		if c.up {
			state, level = "up", slog.LevelInfo
		}
		s.log.Log(context.Background(), level, "checker "+state, "rs", c.rs.id, "checker", c.key, "kind", c.spec.Kind,
			"reason", res.Reason, "latency", lat)
		s.metrics.setChecker(c.rs.id, c)
	}
	r := c.rs
	alive, w := r.aggregate()
	if alive != r.up || w != r.effW {
		if alive != r.up {
			// Down is what operators alert on: a warning; up is news.
			state, level := "down", slog.LevelWarn
			if alive {
				state, level = "up", slog.LevelInfo
			}
			s.log.Log(context.Background(), level, "real server "+state, "rs", r.id, "checker", c.key, "kind", c.spec.Kind,
				"reason", res.Reason, "weight", w)
		} else {
			s.log.Info("real server weight changed", "rs", r.id, "checker", c.key, "from", r.effW, "weight", w,
				"reason", res.Reason)
		}
		r.up, r.effW = alive, w
		s.metrics.setRS(r.id, alive, w)
		s.emitLocked(Observation{RealServer: r.id, Up: alive, Weight: w, Latency: lat,
			Reason: res.Reason, Checker: c.key, Kind: c.spec.Kind, At: now})
	}
	s.schedule(c, now, delay, retrying)
}

func (s *Scheduler) schedule(c *checkerState, now time.Time, delay time.Duration, retrying bool) {
	c.next = nextRun(c.next, now, delay, retrying)
	heap.Push(&s.queue, c)
	if c.index == 0 {
		s.poke()
	}
}

// nextRun keeps a checker on its phase: the next run is one delay after the
// time this run was due, so the spread created by warmup survives and late
// bursts do not clump together for ever. A run that finished more than half
// a delay late (a slow target, a long timeout) restarts its phase from now,
// as keepalived always does; so do retries.
func nextRun(due, now time.Time, delay time.Duration, retrying bool) time.Time {
	if retrying || due.After(now) {
		return now.Add(delay)
	}
	if next := due.Add(delay); !next.Before(now.Add(delay / 2)) {
		return next
	}
	return now.Add(delay)
}

// CheckerState is a snapshot of one checker.
type CheckerState struct {
	ID          string
	Kind        Kind
	Up          bool
	HasRun      bool
	RetryCount  int // consecutive failures being retried
	LastReason  string
	LastOutcome string
	LastLatency time.Duration
	LastCheck   time.Time
	NextCheck   time.Time
	ExitStatus  int // MISC_CHECK: last exit status (-1: none or killed)
}

// RealServerState is a snapshot of one real server.
type RealServerState struct {
	ID       string
	Up       bool
	Weight   int
	Checkers []CheckerState
}

// State returns a snapshot of every real server, sorted by ID.
func (s *Scheduler) State() []RealServerState {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]RealServerState, 0, len(s.rs))
	for _, r := range s.rs {
		rs := RealServerState{ID: r.id, Up: r.up, Weight: r.effW}
		for _, c := range r.checkers {
			rs.Checkers = append(rs.Checkers, CheckerState{
				ID: c.key, Kind: c.spec.Kind, Up: c.up, HasRun: c.hasRun, RetryCount: c.retryIt,
				LastReason: c.lastReason, LastOutcome: c.lastOutcome, LastLatency: c.lastLatency,
				LastCheck: c.lastAt, NextCheck: c.next, ExitStatus: c.lastExit,
			})
		}
		out = append(out, rs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// checkHeap orders checkers by next due time.
type checkHeap []*checkerState

func (h checkHeap) Len() int           { return len(h) }
func (h checkHeap) Less(i, j int) bool { return h[i].next.Before(h[j].next) }
func (h checkHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *checkHeap) Push(x any) {
	c := x.(*checkerState)
	c.index = len(*h)
	*h = append(*h, c)
}
func (h *checkHeap) Pop() any {
	old := *h
	n := len(old)
	c := old[n-1]
	old[n-1] = nil
	c.index = -1
	*h = old[:n-1]
	return c
}
