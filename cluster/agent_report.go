package cluster

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"quadrature/checks"
	"quadrature/fsm"
)

// reportLoop turns the checkers' observations into batched ReportVerdicts
// commands (changes every ReportInterval, everything every FullRefresh).
func (a *Agent) reportLoop(ctx context.Context) {
	batch := time.NewTicker(a.cfg.ReportInterval)
	defer batch.Stop()
	full := time.NewTicker(a.cfg.FullRefresh)
	defer full.Stop()
	pending := map[fsm.RSID]fsm.Observation{}
	lastVersion := uint64(0)
	for {
		select {
		case <-ctx.Done():
			return
		case o := <-a.sched.Observations():
			if ob, ok := a.observation(o); ok {
				pending[fsm.RSID{VS: ob.VS, RS: ob.RS}] = ob
			}
		case <-batch.C:
			v := a.fsm.State().ConfigVersion()
			if v != 0 && v != lastVersion {
				// A new config: report everything this node knows, so the
				// verdicts of the new real servers start from it.
				lastVersion = v
				a.send(ctx, true, a.allObservations())
				clear(pending)
				continue
			}
			if len(pending) > 0 && v != 0 {
				obs := slices.Collect(maps.Values(pending))
				sortObservations(obs)
				if a.send(ctx, false, obs) {
					clear(pending)
				}
			}
		case <-full.C:
			if a.fsm.State().ConfigVersion() != 0 && a.send(ctx, true, a.allObservations()) {
				clear(pending)
			}
		}
	}
}

// observation converts a checks observation and records it as this
// node's latest (used in degraded mode).
func (a *Agent) observation(o checks.Observation) (fsm.Observation, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	id, ok := a.rsIndex[o.RealServer]
	if !ok {
		return fsm.Observation{}, false
	}
	a.seq++
	ob := fsm.Observation{VS: id.VS, RS: id.RS, Up: o.Up, Weight: o.Weight, Reason: o.Reason, Seq: a.seq}
	a.localObs[id] = ob
	return ob, true
}

// allObservations is the current state of every real server as this
// node's scheduler sees it.
func (a *Agent) allObservations() []fsm.Observation {
	states := a.sched.State()
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []fsm.Observation
	for _, s := range states {
		id, ok := a.rsIndex[s.ID]
		if !ok {
			continue
		}
		a.seq++
		ob := fsm.Observation{VS: id.VS, RS: id.RS, Up: s.Up, Weight: s.Weight, Seq: a.seq}
		a.localObs[id] = ob
		out = append(out, ob)
	}
	sortObservations(out)
	return out
}

func (a *Agent) send(ctx context.Context, full bool, obs []fsm.Observation) bool {
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	cmd := fsm.ReportVerdicts{Node: a.name, Full: full, Observations: obs}
	if _, _, err := a.node.Apply(cctx, fsm.MustEncode(cmd)); err != nil {
		a.log.Debug("agent: report verdicts", "err", err, "count", len(obs))
		return false
	}
	return true
}

func sortObservations(obs []fsm.Observation) {
	slices.SortFunc(obs, func(x, y fsm.Observation) int {
		if c := strings.Compare(x.VS, y.VS); c != 0 {
			return c
		}
		if c := x.RS.Addr().Compare(y.RS.Addr()); c != 0 {
			return c
		}
		return int(x.RS.Port()) - int(y.RS.Port())
	})
}
