package lvs

import (
	"context"
	"time"
)

// ServiceStatsReader is implemented by data planes that can read the
// statistics of some services without dumping the whole table; the
// reconciler uses it to poll draining destinations.
type ServiceStatsReader interface {
	StatsOf(ctx context.Context, keys []ServiceKey) (map[ServiceKey]ServiceStats, error)
}

// drainKey names a destination that is being drained.
type drainKey struct {
	Service ServiceKey
	Dest    DestKey
}

// effective returns the table to program this pass: des plus, for every
// desired service, the observed destinations that left the desired table
// and are still draining (kept with weight 0). A destination leaves for
// good when the data plane reports no active connections for it, or when
// it has drained for DrainTimeout. With DrainTimeout < 0 nothing drains.
// It updates r.draining (called with syncMu held) and returns the number
// of destinations still draining per service.
//
// scope, when non-nil, limits the bookkeeping to those services (a Patch);
// draining entries of other services are left as they are.
func (r *Reconciler) effective(ctx context.Context, obs, des Table, scope map[ServiceKey]bool) (Table, map[ServiceKey]int) {
	forget := func(keep map[drainKey]bool) {
		for k := range r.draining {
			if !keep[k] && (scope == nil || scope[k.Service]) {
				delete(r.draining, k)
			}
		}
	}
	if r.cfg.DrainTimeout < 0 {
		forget(nil)
		return des, nil
	}
	now := r.cfg.Now()
	type cand struct {
		si int // index in des.Services
		d  Destination
	}
	var cands []cand
	i := 0
	for si := range des.Services {
		d := &des.Services[si]
		for i < len(obs.Services) && obs.Services[i].Key.Compare(d.Key) < 0 {
			i++
		}
		if i == len(obs.Services) || obs.Services[i].Key != d.Key {
			continue
		}
		o := &obs.Services[i]
		// Destinations in o missing from d (both sorted).
		j := 0
		for _, od := range o.Destinations {
			for j < len(d.Destinations) && d.Destinations[j].Key().Compare(od.Key()) < 0 {
				j++
			}
			if j < len(d.Destinations) && d.Destinations[j].Key() == od.Key() {
				continue
			}
			cands = append(cands, cand{si, od})
		}
	}
	if len(cands) == 0 {
		forget(nil)
		return des, nil
	}
	var stats map[ServiceKey]ServiceStats
	r.dpMu.Lock()
	var st map[ServiceKey]ServiceStats
	var err error
	if sr, ok := r.cfg.DataPlane.(ServiceStatsReader); ok {
		keys := make([]ServiceKey, 0, len(cands))
		for _, c := range cands {
			if k := des.Services[c.si].Key; len(keys) == 0 || keys[len(keys)-1] != k {
				keys = append(keys, k)
			}
		}
		st, err = sr.StatsOf(ctx, keys)
	} else {
		st, err = r.cfg.DataPlane.Stats(ctx)
	}
	r.dpMu.Unlock()
	if err != nil {
		r.log.Warn("lvs: reading statistics for draining destinations failed; draining until timeout", "err", err)
	} else {
		stats = st
	}
	keep := make(map[drainKey]bool, len(cands))
	counts := make(map[ServiceKey]int)
	// Copy the services that gain draining destinations.
	out := des
	out.Services = append([]Service(nil), des.Services...)
	copied := make(map[int]bool)
	for _, c := range cands {
		k := drainKey{des.Services[c.si].Key, c.d.Key()}
		start, ok := r.draining[k]
		if !ok {
			start = now
		}
		active := uint32(1) // unknown: assume busy
		if stats != nil {
			if ss, ok := stats[k.Service]; ok {
				if ds, ok := ss.Destinations[k.Dest]; ok {
					active = ds.ActiveConns
				}
			}
		}
		if active == 0 || now.Sub(start) >= r.cfg.DrainTimeout {
			if ok {
				r.log.Info("lvs: destination drained", "service", k.Service.String(), "rs", k.Dest.String(),
					"active", active, "drained_for", now.Sub(start).Round(time.Millisecond).String())
			}
			continue // Diff deletes it
		}
		if !ok {
			r.log.Info("lvs: draining destination", "service", k.Service.String(), "rs", k.Dest.String(), "active", active)
		}
		keep[k] = true
		r.draining[k] = start
		counts[k.Service]++
		if !copied[c.si] {
			s := out.Services[c.si]
			s.Destinations = append([]Destination(nil), s.Destinations...)
			out.Services[c.si] = s
			copied[c.si] = true
		}
		d := c.d
		d.Weight = 0
		out.Services[c.si].Destinations = append(out.Services[c.si].Destinations, d)
	}
	forget(keep)
	for si := range copied {
		sortDests(out.Services[si].Destinations)
	}
	return out, counts
}
