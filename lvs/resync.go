package lvs

import (
	"context"
	"fmt"
	"time"
)

// SliceReader is implemented by data planes that can read every service's
// settings but the destinations of some services only (IPVS: one service
// dump, then one destination dump per selected service). The reconciler's
// sliced resync uses it; services that withDests does not select come back
// without destinations.
type SliceReader interface {
	ReadSlice(ctx context.Context, withDests func(ServiceKey) bool) (Table, error)
}

// DefaultResyncSliceServices is the default Config.ResyncSliceServices.
const DefaultResyncSliceServices = 64

// MaxResyncSlices bounds the slices of one round: a larger table gets
// larger slices. Every sliced Resync compares the whole desired table and
// every service's settings with the kept view, so with a fixed slice size
// the idle work of a round would grow with the square of the table.
const MaxResyncSlices = 16

// Resync is the periodic verification that Run performs: it checks the
// kernel against the view kept from the last pass and repairs any
// difference.
//
// A full pass dumps every destination of every service, and IPVS answers
// destination dumps one service at a time, so on a large table most of a
// full pass is spent in those dumps even when nothing changed. When the
// data plane is a SliceReader and the table has more services than
// Config.ResyncSliceServices, Resync instead reads every service's settings
// and the timeouts but the destinations of one slice of services only
// (ResyncSliceServices of them, more when the table would otherwise take
// more than MaxResyncSlices slices),
// rotating through the slices on successive calls, and compares that with
// the kept view. Anything that differs (a service added, deleted or
// changed, a destination of the slice added, deleted or changed, the
// timeouts) makes it run a full pass (Sync) at once, which repairs the
// drift and reports it. So a service-level change behind the reconciler's
// back is caught by the next Resync and a destination-level one within
// Slices() calls; Run spaces its calls ResyncInterval/Slices() apart, so
// every destination is still read once per ResyncInterval.
//
// Resync also runs a full pass when there is no kept view, when the
// desired table differs from the one of the last pass, when incremental
// passes changed the table since the last full pass (the kernel digest is
// then unknown), or while destinations drain (their connection counts
// decide what to do).
func (r *Reconciler) Resync(ctx context.Context, desired Table) (SyncResult, error) {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	return r.resync(ctx, desired, false)
}

// resync is Resync; normalized as for pass.
func (r *Reconciler) resync(ctx context.Context, desired Table, normalized bool) (SyncResult, error) {
	start := time.Now()
	res, verified, err := r.sliceCheck(ctx, desired)
	if verified {
		res.Duration = time.Since(start)
		r.record(res, nil)
		if r.met != nil {
			r.met.resyncs.WithLabelValues("slice").Inc()
		}
		return res, nil
	}
	if err != nil {
		r.log.Warn("lvs: sliced resync found a difference; running a full pass", "reason", err)
	}
	if r.met != nil {
		r.met.resyncs.WithLabelValues("full").Inc()
	}
	return r.pass(ctx, desired, true, normalized)
}

// Slices returns the number of slices a round of sliced resyncs covers for
// the current table: 1 when every Resync is a full pass.
func (r *Reconciler) Slices() int {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	return r.slices()
}

func (r *Reconciler) slices() int {
	size := r.sliceSize()
	if _, ok := r.cfg.DataPlane.(SliceReader); !ok || size <= 0 || !r.cacheOK {
		return 1
	}
	n := len(r.cache.Services)
	return max(1, (n+size-1)/size)
}

// sliceSize is the number of services of one slice: ResyncSliceServices,
// or more when the table would otherwise need more than MaxResyncSlices.
func (r *Reconciler) sliceSize() int {
	size := r.cfg.ResyncSliceServices
	if size <= 0 {
		return size
	}
	return max(size, (len(r.cache.Services)+MaxResyncSlices-1)/MaxResyncSlices)
}

// sliceCheck reads one slice and compares it with the kept view. verified
// means the slice matched and no full pass is needed; otherwise err says
// why a full pass must run (nil when it is simply not applicable).
func (r *Reconciler) sliceCheck(ctx context.Context, desired Table) (res SyncResult, verified bool, err error) {
	sr, ok := r.cfg.DataPlane.(SliceReader)
	k := r.slices()
	// A full pass also when the kernel digest is unknown (incremental
	// passes changed the table since the last full one): it is what
	// proves the table to the group, and callers would otherwise dump the
	// whole table for it after every pass.
	if !ok || k <= 1 || !r.appliedK || !r.lastDesiredOK || r.digest == "" || len(r.draining) > 0 || !(sameStorage(desired, r.lastDesired) || EqualTables(desired, r.lastDesired)) {
		return res, false, nil
	}
	slice := r.nextSlice % k
	size := r.sliceSize()
	lo, hi := slice*size, min((slice+1)*size, len(r.cache.Services))
	sel := make(map[ServiceKey]bool, hi-lo)
	for _, s := range r.cache.Services[lo:hi] {
		sel[s.Key] = true
	}
	r.dpMu.Lock()
	t, rerr := sr.ReadSlice(ctx, func(k ServiceKey) bool { return sel[k] })
	r.dpMu.Unlock()
	if rerr != nil {
		return res, false, fmt.Errorf("read: %w", rerr)
	}
	_, fresh := r.cfg.DataPlane.(freshReader)
	t = t.normalize(!fresh)
	if err := sameSlice(t, r.cache, sel); err != nil {
		return res, false, err
	}
	r.nextSlice = slice + 1
	res.Digest = r.digest
	res.Slice, res.Slices = slice+1, k
	return res, true, nil
}

// sameSlice compares a sliced read (normalized) with the kept view: the
// same services with the same settings, the same destinations for the
// services in sel, and the same timeouts.
func sameSlice(got, kept Table, sel map[ServiceKey]bool) error {
	if !sameTimeouts(got, kept) {
		return fmt.Errorf("timeouts changed")
	}
	i, j := 0, 0
	for i < len(got.Services) || j < len(kept.Services) {
		switch {
		case j == len(kept.Services) || (i < len(got.Services) && got.Services[i].Key.Compare(kept.Services[j].Key) < 0):
			return fmt.Errorf("service %s appeared", got.Services[i].Key)
		case i == len(got.Services) || got.Services[i].Key.Compare(kept.Services[j].Key) > 0:
			return fmt.Errorf("service %s disappeared", kept.Services[j].Key)
		}
		g, k := &got.Services[i], &kept.Services[j]
		if !sameAttrs(g, k) {
			return fmt.Errorf("service %s changed", k.Key)
		}
		if sel[k.Key] {
			if len(g.Destinations) != len(k.Destinations) {
				return fmt.Errorf("service %s: %d destinations, %d expected", k.Key, len(g.Destinations), len(k.Destinations))
			}
			for n := range g.Destinations {
				if g.Destinations[n].Key() != k.Destinations[n].Key() || !sameDest(g.Destinations[n], k.Destinations[n]) {
					return fmt.Errorf("service %s: destination %s changed", k.Key, k.Destinations[n].Key())
				}
			}
		}
		i++
		j++
	}
	return nil
}

// sameStorage reports whether a and b are the same table (one slice of
// services): Run's desired table and the one its last pass applied usually
// are, and neither is written to while shared.
func sameStorage(a, b Table) bool {
	return len(a.Services) == len(b.Services) && len(a.Services) > 0 &&
		&a.Services[0] == &b.Services[0] && sameTimeouts(a, b)
}

// EqualTables reports whether two normalized tables are identical.
func EqualTables(a, b Table) bool {
	if len(a.Services) != len(b.Services) || !sameTimeouts(a, b) {
		return false
	}
	for i := range a.Services {
		x, y := &a.Services[i], &b.Services[i]
		if x.Key != y.Key || !sameAttrs(x, y) || len(x.Destinations) != len(y.Destinations) {
			return false
		}
		for n := range x.Destinations {
			if x.Destinations[n] != y.Destinations[n] {
				return false
			}
		}
	}
	return true
}
