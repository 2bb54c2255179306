package lvs

import "context"

// Stats reads the data plane's per-service and per-destination counters,
// serialized with the reconciler's own kernel calls.
func (r *Reconciler) Stats(ctx context.Context) (map[ServiceKey]ServiceStats, error) {
	r.dpMu.Lock()
	defer r.dpMu.Unlock()
	return r.cfg.DataPlane.Stats(ctx)
}
