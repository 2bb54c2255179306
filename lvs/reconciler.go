package lvs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Reconciler. Zero values take the documented
// defaults.
type Config struct {
	// DataPlane is the kernel backend (NewIPVS, NewMemDataPlane, ...).
	DataPlane DataPlane
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registerer, when set, receives the reconciler's metrics and a
	// collector of per-service/destination statistics (metrics.go).
	Registerer prometheus.Registerer

	// ResyncInterval is the period within which Run verifies the whole
	// kernel table and repairs drift (Resync). Default 30s.
	ResyncInterval time.Duration
	// ResyncSliceServices is the number of services whose destinations
	// one sliced Resync reads (see Resync), for data planes that are
	// SliceReaders. Default 64; negative: every Resync is a full pass.
	ResyncSliceServices int
	// BackoffMin and BackoffMax bound the exponential retry delay after a
	// failed pass (full jitter: a random delay in [d/2, d]). Defaults
	// 250ms and 30s.
	BackoffMin, BackoffMax time.Duration
	// DrainTimeout bounds graceful removal: a destination that leaves the
	// desired table is first set to weight 0 and deleted as soon as it has
	// no active connections, or after DrainTimeout. Default 30s; negative
	// disables draining (immediate delete, keepalived's behaviour).
	DrainTimeout time.Duration
	// DrainPoll is how often Run re-checks draining destinations.
	// Default 1s.
	DrainPoll time.Duration
	// MaxOpsPerBatch cuts large plans into DataPlane.Apply calls of at most
	// this many kernel operations (default 4096); the context is checked
	// between batches.
	MaxOpsPerBatch int
	// MaxOpsPerSecond, when positive, rate-limits very large deltas: the
	// reconciler sleeps between batches so that a pass never applies more
	// than this many operations per second. Zero (default) = unlimited.
	MaxOpsPerSecond int
	// OwnWholeTable deletes every kernel service that is not desired, not
	// only the ones this process owns (see OwnedSet).
	OwnWholeTable bool
	// StateFile, when set, persists the owned service keys (JSON) so that
	// ownership survives a restart.
	StateFile string
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// OnPass, when set, is called after every pass (Sync, Update, Resync,
	// Patch) with its result, before Status shows it: whoever publishes
	// the kernel table's digest does so as the pass ends, not on a timer.
	// It runs on the pass's goroutine with the pass lock held: it may call
	// KernelDigest and Status, never a pass method.
	OnPass func(SyncResult, error)
}

// ServiceState is the reconciliation state of one desired service.
type ServiceState string

// Service states.
const (
	StateSynced   ServiceState = "synced"
	StateDraining ServiceState = "draining" // synced; some destinations draining
	StateError    ServiceState = "error"    // the last pass failed for it
	StateInvalid  ServiceState = "invalid"  // refused by Validate or the backend; left untouched
)

// ServiceStatus is the per-service outcome of the last pass.
type ServiceStatus struct {
	State    ServiceState
	Error    string // StateError, StateInvalid
	Draining int    // destinations being drained
}

// Status is a snapshot of the reconciler.
type Status struct {
	Backend     string
	LastSuccess time.Time // end of the last successful pass
	LastError   string    // of the last pass, "" after a success
	Failures    int       // consecutive failed passes
	Last        SyncResult
	Services    map[ServiceKey]ServiceStatus
	Owned       int
	Draining    int
}

// Reconciler makes a DataPlane match a desired Table: full passes (Sync:
// one dump, diff, apply) and incremental ones (Update: diff against the
// kernel view the reconciler keeps after each successful pass, no dump),
// plus Run, a loop with periodic resync, retry with backoff and jitter,
// graceful drain and batch rate limiting. Methods are safe for concurrent
// use; passes are serialized.
type Reconciler struct {
	cfg Config
	log *slog.Logger
	met *metrics

	syncMu   sync.Mutex // one pass at a time
	dpMu     sync.Mutex // DataPlane calls (passes, the stats collector)
	cache    Table      // kernel view after the last successful pass (normalized)
	cacheOK  bool
	digest   string // Digest of cache, "" when unknown
	applied  Table  // effective desired table of the last successful pass
	appliedK bool
	// appliedShared: applied may share storage with desired (and with
	// the table a caller handed to SetDesired), so a Patch copies it
	// before changing it.
	appliedShared bool
	// lastDesired is the normalized desired table of the last successful
	// pass, and nextSlice the slice the next sliced Resync reads.
	lastDesired   Table
	lastDesiredOK bool // false after a Patch: the kernel need not match lastDesired
	nextSlice     int
	owned         OwnedSet
	draining      map[drainKey]time.Time
	refused       map[ServiceKey]string // last admit's refusals, to log changes only

	stMu    sync.Mutex
	status  Status
	desired *Table // latest SetDesired (normalized)
	// desiredShared: *desired's storage may be held elsewhere (by the
	// caller of SetDesired, lastDesired, applied, or a Desired reader), so
	// a Patch copies it before changing it.
	desiredShared bool
	kick          chan struct{}
}

// NewReconciler validates cfg and returns a reconciler. It does not touch
// the kernel.
func NewReconciler(cfg Config) (*Reconciler, error) {
	if cfg.DataPlane == nil {
		return nil, errors.New("lvs: reconciler: no data plane")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ResyncInterval <= 0 {
		cfg.ResyncInterval = 30 * time.Second
	}
	if cfg.ResyncSliceServices == 0 {
		cfg.ResyncSliceServices = DefaultResyncSliceServices
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = 250 * time.Millisecond
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 30 * time.Second
	}
	if cfg.BackoffMax < cfg.BackoffMin {
		cfg.BackoffMax = cfg.BackoffMin
	}
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = 30 * time.Second
	}
	if cfg.DrainPoll <= 0 {
		cfg.DrainPoll = time.Second
	}
	if cfg.MaxOpsPerBatch <= 0 {
		cfg.MaxOpsPerBatch = 4096
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Reconciler{
		cfg:      cfg,
		log:      cfg.Logger.With("backend", cfg.DataPlane.Name()),
		owned:    make(OwnedSet),
		draining: make(map[drainKey]time.Time),
		kick:     make(chan struct{}, 1),
	}
	r.status.Backend = cfg.DataPlane.Name()
	if cfg.StateFile != "" {
		keys, err := loadOwned(cfg.StateFile)
		if err != nil {
			r.log.Warn("lvs: cannot load ownership state; starting with none", "file", cfg.StateFile, "err", err)
		}
		r.owned.Add(keys...)
	}
	if cfg.Registerer != nil {
		m, err := newMetrics(cfg.Registerer, r)
		if err != nil {
			return nil, err
		}
		r.met = m
	}
	return r, nil
}

// Sync performs a full pass: one kernel dump, diff against desired,
// apply. It is what the periodic resync runs, and it repairs drift.
func (r *Reconciler) Sync(ctx context.Context, desired Table) (SyncResult, error) {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	return r.pass(ctx, desired, true, false)
}

// Update performs an incremental pass: it diffs desired against the kernel
// view kept from the last successful pass, without a dump, and applies the
// difference; when there is no such view, or the apply fails (the kernel
// may have changed behind our back), it falls back to a full Sync.
func (r *Reconciler) Update(ctx context.Context, desired Table) (SyncResult, error) {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	return r.update(ctx, desired, false)
}

// update is Update; with normalized, desired is Run's own table (the one
// SetDesired stored, in Normalize form) and is used without a copy.
func (r *Reconciler) update(ctx context.Context, desired Table, normalized bool) (SyncResult, error) {
	if r.cacheOK {
		res, err := r.pass(ctx, desired, false, normalized)
		if err == nil || ctx.Err() != nil {
			return res, err
		}
		r.log.Warn("lvs: incremental update failed; running a full resync", "err", err)
	}
	return r.pass(ctx, desired, true, normalized)
}

// pass runs one reconciliation; full reads the kernel first. normalized
// says desired is Run's table, already normalized: it is then read, never
// copied or changed (the public methods normalize a copy of theirs).
func (r *Reconciler) pass(ctx context.Context, desired Table, full, normalized bool) (SyncResult, error) {
	start := time.Now()
	res, err := r.doPass(ctx, desired, full, normalized)
	res.Duration = time.Since(start)
	r.record(res, err)
	return res, err
}

func (r *Reconciler) doPass(ctx context.Context, desired Table, full, normalized bool) (SyncResult, error) {
	var res SyncResult
	norm := desired
	if !normalized {
		norm = desired.Normalize()
	}
	des, invalid := r.admit(norm)
	r.refused = invalid
	var obs Table
	if full || !r.cacheOK {
		r.dpMu.Lock()
		t, err := r.cfg.DataPlane.Read(ctx)
		r.dpMu.Unlock()
		if err != nil {
			r.cacheOK = false
			return res, fmt.Errorf("lvs: read %s table: %w", r.cfg.DataPlane.Name(), err)
		}
		_, fresh := r.cfg.DataPlane.(freshReader)
		obs = t.normalize(!fresh) // a fresh dump is ours to rewrite
	} else {
		obs = r.cache
	}
	opts := Options{OwnWholeTable: r.cfg.OwnWholeTable, Owned: r.owned}
	if len(invalid) > 0 { // leave refused services untouched
		opts.OwnWholeTable = false
		opts.Owned = make(OwnedSet, len(r.owned))
		for k := range r.owned {
			if _, bad := invalid[k]; !bad {
				opts.Owned.Add(k)
			}
		}
	}
	if full && r.appliedK {
		if drift := diffNormalized(obs, r.applied, opts); !drift.Empty() {
			res.Drift = true
			r.log.Warn("lvs: kernel table drifted from the applied state; repairing", "ops", drift.Ops())
			if r.met != nil {
				r.met.drift.Add(float64(drift.Ops()))
			}
		}
	}
	eff, draining := r.effective(ctx, obs, des, nil)
	res.Plan = diffNormalized(obs, eff, opts)
	applyErr := r.applyPlan(ctx, res.Plan)

	// Ownership: everything desired, everything we tried to create, minus
	// what we deleted.
	for _, s := range eff.Services {
		r.owned.Add(s.Key)
	}
	if applyErr == nil {
		for _, k := range res.Plan.DeleteServices {
			delete(r.owned, k)
		}
	}
	r.saveOwned()
	r.setServiceStatus(eff, invalid, draining, applyErr)
	if applyErr != nil {
		r.cacheOK, r.appliedK, r.digest = false, false, ""
		return res, applyErr
	}
	prev, prevOK := r.cache, r.cacheOK && r.digest != ""
	if res.Plan.Empty() {
		r.cache = obs
	} else {
		r.cache = res.Plan.applyNormalized(obs)
	}
	r.cacheOK = true
	r.applied, r.appliedK = eff, true
	r.lastDesired, r.lastDesiredOK = norm, true
	r.appliedShared = normalized // eff is norm, or shares its services' storage
	if normalized {
		r.stMu.Lock()
		r.desiredShared = true // lastDesired and applied now hold it too
		r.stMu.Unlock()
	}
	if full {
		// Hashing the whole table costs more than comparing it: reuse the
		// digest when the kernel table is exactly the previous one.
		if !prevOK || !res.Plan.Empty() || !diffNormalized(prev, r.cache, Options{OwnWholeTable: true}).Empty() || !sameTimeouts(prev, r.cache) {
			r.digest = r.cache.Digest()
		}
		res.Digest = r.digest
	} else if !res.Plan.Empty() {
		r.digest = ""
	}
	return res, nil
}

// admit drops services that fail Validate or that the backend cannot
// program, returning them with the reason.
func (r *Reconciler) admit(des Table) (Table, map[ServiceKey]string) {
	var invalid map[ServiceKey]string
	out := des
	for i, s := range des.Services {
		err := s.Validate()
		if err == nil {
			err = r.cfg.DataPlane.Supports(s)
		}
		if err == nil {
			if invalid != nil {
				out.Services = append(out.Services, s)
			}
			continue
		}
		if invalid == nil {
			invalid = make(map[ServiceKey]string)
			out.Services = slices.Clone(des.Services[:i])
		}
		invalid[s.Key] = err.Error()
		if r.refused[s.Key] != err.Error() { // log once per reason, not every pass
			r.log.Error("lvs: service refused; left untouched", "service", s.Key.String(), "err", err)
		}
	}
	return out, invalid
}

// applyPlan applies p in batches of MaxOpsPerBatch operations, sleeping
// between batches to honour MaxOpsPerSecond.
func (r *Reconciler) applyPlan(ctx context.Context, p Plan) error {
	if p.Empty() {
		return nil
	}
	parts := p.Split(r.cfg.MaxOpsPerBatch)
	if r.cfg.MaxOpsPerSecond > 0 && r.cfg.MaxOpsPerSecond < r.cfg.MaxOpsPerBatch {
		parts = p.Split(r.cfg.MaxOpsPerSecond)
	}
	start := time.Now()
	done := 0
	var errs []error
	for i, part := range parts {
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, err)...)
		}
		if i > 0 && r.cfg.MaxOpsPerSecond > 0 {
			due := start.Add(time.Duration(float64(done) / float64(r.cfg.MaxOpsPerSecond) * float64(time.Second)))
			if err := sleepCtx(ctx, time.Until(due)); err != nil {
				return errors.Join(append(errs, err)...)
			}
		}
		r.dpMu.Lock()
		err := r.cfg.DataPlane.Apply(ctx, part)
		r.dpMu.Unlock()
		if err != nil {
			errs = append(errs, err)
		}
		done += part.Ops()
	}
	return errors.Join(errs...)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (r *Reconciler) setServiceStatus(eff Table, invalid map[ServiceKey]string, draining map[ServiceKey]int, err error) {
	r.updateServiceStatus(eff, invalid, draining, err, nil, false)
}

// mergeServiceStatus updates the status of the services of a Patch only.
func (r *Reconciler) mergeServiceStatus(eff Table, invalid map[ServiceKey]string, draining map[ServiceKey]int, err error, removed map[ServiceKey]bool) {
	r.updateServiceStatus(eff, invalid, draining, err, removed, true)
}

func (r *Reconciler) updateServiceStatus(eff Table, invalid map[ServiceKey]string, draining map[ServiceKey]int, err error, removed map[ServiceKey]bool, merge bool) {
	failed := make(map[ServiceKey]string)
	for _, oe := range OpErrors(err) {
		failed[oe.Service] = oe.Error()
	}
	generic := ""
	if err != nil && len(failed) == 0 {
		generic = err.Error() // e.g. the whole batch failed
	}
	st := make(map[ServiceKey]ServiceStatus, len(eff.Services)+len(invalid))
	for _, s := range eff.Services {
		ss := ServiceStatus{State: StateSynced, Draining: draining[s.Key]}
		if ss.Draining > 0 {
			ss.State = StateDraining
		}
		if e, ok := failed[s.Key]; ok {
			ss.State, ss.Error = StateError, e
		} else if generic != "" {
			ss.State, ss.Error = StateError, generic
		}
		st[s.Key] = ss
	}
	for k, e := range invalid {
		st[k] = ServiceStatus{State: StateInvalid, Error: e}
	}
	n := len(r.draining)
	r.stMu.Lock()
	if merge {
		for k := range removed {
			delete(r.status.Services, k)
		}
		if r.status.Services == nil {
			r.status.Services = make(map[ServiceKey]ServiceStatus)
		}
		for k, v := range st {
			r.status.Services[k] = v
		}
	} else {
		r.status.Services = st
	}
	r.status.Owned = len(r.owned)
	r.status.Draining = n
	r.stMu.Unlock()
}

func (r *Reconciler) record(res SyncResult, err error) {
	if r.cfg.OnPass != nil {
		r.cfg.OnPass(res, err)
	}
	now := r.cfg.Now()
	r.stMu.Lock()
	r.status.Last = res
	if err != nil {
		r.status.LastError = err.Error()
		r.status.Failures++
	} else {
		r.status.LastError = ""
		r.status.Failures = 0
		r.status.LastSuccess = now
	}
	r.stMu.Unlock()
	if r.met != nil {
		r.met.duration.Observe(res.Duration.Seconds())
		if err != nil {
			r.met.errors.Inc()
		} else {
			r.met.lastSuccess.Set(float64(now.UnixNano()) / 1e9)
		}
	}
	if err != nil {
		r.log.Error("lvs: reconcile failed", "err", err, "ops", res.Plan.Ops())
	} else if !res.Plan.Empty() {
		r.log.Info("lvs: reconciled", "ops", res.Plan.Ops(), "duration", res.Duration.String(), "drift", res.Drift)
	}
}

// Status returns a snapshot of the reconciler's state.
func (r *Reconciler) Status() Status {
	r.stMu.Lock()
	defer r.stMu.Unlock()
	s := r.status
	s.Services = make(map[ServiceKey]ServiceStatus, len(r.status.Services))
	for k, v := range r.status.Services {
		s.Services[k] = v
	}
	return s
}

// Owned returns the keys of the services the reconciler manages.
func (r *Reconciler) Owned() []ServiceKey {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	return r.owned.Keys()
}

// Desired returns the desired table Run works towards (SetDesired's,
// with the patches applied since), and false before the first SetDesired.
// It is shared, not copied: read it, never change it.
func (r *Reconciler) Desired() (Table, bool) {
	r.stMu.Lock()
	defer r.stMu.Unlock()
	if r.desired == nil {
		return Table{}, false
	}
	r.desiredShared = true
	return *r.desired, true
}

// KernelDigest reads the kernel table (one dump) and returns its Digest,
// so nodes can prove that their kernels hold identical tables.
func (r *Reconciler) KernelDigest(ctx context.Context) (string, error) {
	r.dpMu.Lock()
	t, err := r.cfg.DataPlane.Read(ctx)
	r.dpMu.Unlock()
	if err != nil {
		return "", err
	}
	return t.Digest(), nil
}

// SetDesired hands Run a new desired table; Run applies it incrementally.
// Only the latest table matters: intermediate ones may be skipped.
//
// A table already in Normalize form (fsm.State.DesiredTable returns one)
// is kept as it is, not copied: the caller may go on reading it but must
// not change it. The reconciler never writes to it either (a Patch copies
// before it changes the desired table), so one table can be shared by the
// reconciler and other readers. Any other table is normalized into a copy.
func (r *Reconciler) SetDesired(t Table) {
	if !t.isNormal() {
		t = t.Normalize()
	}
	r.stMu.Lock()
	r.desired = &t
	r.desiredShared = true
	r.stMu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run reconciles until ctx ends: an incremental Update whenever SetDesired
// is called (and every DrainPoll while destinations drain), a Resync every
// ResyncInterval/Slices() (every destination is read once per
// ResyncInterval), and after a failure a full Sync retried with
// exponential backoff and jitter. Nothing happens before the first
// SetDesired. It returns ctx.Err().
func (r *Reconciler) Run(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	failures := 0
	var nextFull time.Time // zero: no full resync scheduled yet
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.kick:
		case <-timer.C:
		}
		r.stMu.Lock()
		desired := r.desired
		r.stMu.Unlock()
		if desired == nil {
			continue
		}
		var err error
		full := failures > 0 || (!nextFull.IsZero() && !time.Now().Before(nextFull))
		// Run's table is normalized (SetDesired, Patch): the passes use it
		// without another copy.
		r.syncMu.Lock()
		switch {
		case failures > 0:
			_, err = r.pass(ctx, *desired, true, true)
		case full:
			_, err = r.resync(ctx, *desired, true)
		default:
			_, err = r.update(ctx, *desired, true)
		}
		r.syncMu.Unlock()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if full || nextFull.IsZero() {
			// A round of Slices() sliced resyncs reads every destination:
			// space them so that a round takes ResyncInterval.
			nextFull = time.Now().Add(r.cfg.ResyncInterval / time.Duration(r.Slices()))
		}
		next := time.Until(nextFull)
		if err != nil {
			failures++
			next = backoff(r.cfg.BackoffMin, r.cfg.BackoffMax, failures)
			r.log.Warn("lvs: retrying", "in", next.Round(time.Millisecond).String(), "failures", failures)
		} else {
			failures = 0
			r.syncMu.Lock()
			if len(r.draining) > 0 && r.cfg.DrainPoll < next {
				next = r.cfg.DrainPoll // an incremental pass re-checks the drains
			}
			r.syncMu.Unlock()
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

// backoff returns the delay before retry number n (1-based): min·2^(n-1)
// capped at max, with jitter drawn uniformly from [d/2, d].
func backoff(min, max time.Duration, n int) time.Duration {
	d := min
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func sortDests(ds []Destination) {
	slices.SortFunc(ds, func(a, b Destination) int { return a.Key().Compare(b.Key()) })
}

func loadOwned(path string) ([]ServiceKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var keys []ServiceKey
	if err := json.Unmarshal(b, &keys); err != nil {
		return nil, fmt.Errorf("lvs: %s: %w", path, err)
	}
	return keys, nil
}

// saveOwned writes the owned set when a state file is configured and the
// set changed (called with syncMu held).
func (r *Reconciler) saveOwned() {
	if r.cfg.StateFile == "" {
		return
	}
	b, err := json.Marshal(r.owned.Keys())
	if err != nil {
		r.log.Error("lvs: encoding ownership state", "err", err)
		return
	}
	if old, err := os.ReadFile(r.cfg.StateFile); err == nil && string(old) == string(b) {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(r.cfg.StateFile), ".lvs-owned-*")
	if err == nil {
		_, err = tmp.Write(b)
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), r.cfg.StateFile)
		}
		if err != nil {
			os.Remove(tmp.Name())
		}
	}
	if err != nil {
		r.log.Error("lvs: saving ownership state", "file", r.cfg.StateFile, "err", err)
	}
}

func sameTimeouts(a, b Table) bool {
	if a.Timeouts == nil || b.Timeouts == nil {
		return a.Timeouts == b.Timeouts
	}
	return *a.Timeouts == *b.Timeouts
}

// freshReader marks data planes whose Read returns storage nobody else
// holds, so the reconciler may normalize it in place.
type freshReader interface{ readsAreFresh() }
