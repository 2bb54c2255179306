package lvs

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"
)

// ErrNoBaseline is returned by Patch before a successful Sync or Update:
// a patch needs a whole desired table and a kernel view to apply to.
var ErrNoBaseline = errors.New("lvs: patch needs a successful Sync or Update first")

// Patch changes part of the desired table: upsert creates or replaces
// whole services, remove deletes services by key. Unlike Update it costs
// in proportion to the services named, not to the table, so a health
// verdict that flips one real server is one netlink operation and a few
// microseconds of bookkeeping even with tens of thousands of entries. It
// applies against the kernel view kept from the last successful pass (no
// dump) and updates the desired table that Run resyncs to, so a later
// periodic resync keeps the patch. Graceful drain applies as in Update.
// When the apply fails, the kernel view is dropped and the next pass is a
// full Sync.
func (r *Reconciler) Patch(ctx context.Context, upsert []Service, remove []ServiceKey) (SyncResult, error) {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	if !r.cacheOK || !r.appliedK {
		return SyncResult{}, ErrNoBaseline
	}
	start := time.Now()
	res, err := r.doPatch(ctx, upsert, remove)
	res.Duration = time.Since(start)
	r.record(res, err)
	return res, err
}

func (r *Reconciler) doPatch(ctx context.Context, upsert []Service, remove []ServiceKey) (SyncResult, error) {
	var res SyncResult
	norm := Table{Services: upsert}.Normalize()
	ups, invalid := r.admit(norm)
	scope := make(map[ServiceKey]bool, len(ups.Services)+len(remove))
	for _, s := range ups.Services {
		scope[s.Key] = true
	}
	removed := make(map[ServiceKey]bool, len(remove))
	for _, k := range remove {
		k = Table{Services: []Service{{Key: k}}}.Normalize().Services[0].Key
		if !scope[k] {
			removed[k] = true
			scope[k] = true
		}
	}
	refused := maps.Clone(r.refused)
	if refused == nil {
		refused = make(map[ServiceKey]string)
	}
	for _, s := range norm.Services {
		delete(refused, s.Key)
	}
	for k := range removed {
		delete(refused, k)
	}
	maps.Copy(refused, invalid)
	r.refused = refused
	// The kernel's state of the services in scope.
	var obs Table
	for k := range scope {
		if s, ok := lookupSorted(r.cache, k); ok {
			obs.Services = append(obs.Services, s)
		}
	}
	slices.SortFunc(obs.Services, compareService)
	opts := Options{OwnWholeTable: r.cfg.OwnWholeTable, Owned: r.owned}
	eff, draining := r.effective(ctx, obs, ups, scope)
	res.Plan = diffNormalized(obs, eff, opts)
	applyErr := r.applyPlan(ctx, res.Plan)
	for _, s := range eff.Services {
		r.owned.Add(s.Key)
	}
	if applyErr == nil {
		for _, k := range res.Plan.DeleteServices {
			delete(r.owned, k)
		}
	}
	r.saveOwned()
	r.mergeServiceStatus(eff, invalid, draining, applyErr, removed)
	// The desired table Run resyncs to.
	// Shared storage (see desiredShared, appliedShared) is copied, never
	// written to.
	r.stMu.Lock()
	if r.desired != nil {
		d := patchTable(*r.desired, ups.Services, removed, !r.desiredShared)
		r.desired, r.desiredShared = &d, false
	}
	r.stMu.Unlock()
	if applyErr != nil {
		r.cacheOK, r.appliedK, r.digest = false, false, ""
		return res, applyErr
	}
	r.cache = res.Plan.apply(r.cache, true)
	if !res.Plan.Empty() {
		r.digest = ""
	}
	r.applied = patchTable(r.applied, eff.Services, removed, !r.appliedShared)
	r.appliedShared = false
	r.lastDesiredOK = false // the next Resync compares against a whole desired table
	return res, nil
}

// lookupSorted finds k in a normalized table.
func lookupSorted(t Table, k ServiceKey) (Service, bool) {
	i, ok := slices.BinarySearchFunc(t.Services, k, func(s Service, k ServiceKey) int { return s.Key.Compare(k) })
	if !ok {
		return Service{}, false
	}
	return t.Services[i], true
}

// patchTable returns normalized t with services ups replaced or inserted
// and the removed keys deleted. With inPlace (the reconciler owns t and
// nobody else holds its service slice) replacements reuse t's storage;
// otherwise t is not modified.
func patchTable(t Table, ups []Service, removed map[ServiceKey]bool, inPlace bool) Table {
	n := Table{Services: t.Services, Timeouts: t.Timeouts}
	if !inPlace || len(removed) > 0 {
		n.Services = slices.Clone(t.Services)
	}
	inserted := false
	for _, s := range ups {
		i, ok := slices.BinarySearchFunc(n.Services, s.Key, func(x Service, k ServiceKey) int { return x.Key.Compare(k) })
		if ok {
			n.Services[i] = s
			continue
		}
		n.Services = append(n.Services, s)
		inserted = true
	}
	if inserted {
		slices.SortFunc(n.Services, compareService)
	}
	if len(removed) > 0 {
		n.Services = slices.DeleteFunc(n.Services, func(s Service) bool { return removed[s.Key] })
	}
	return n
}
