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
	r := newReporter(
		func() uint64 { return a.fsm.State().ConfigVersion() },
		a.allObservations,
		func(full bool, obs []fsm.Observation) bool { return a.send(ctx, full, obs) },
	)
	for {
		select {
		case <-ctx.Done():
			return
		case o := <-a.sched.Observations():
			if ob, ok := a.observation(o); ok {
				r.observe(ob)
			}
		case <-batch.C:
			r.batch()
		case <-full.C:
			r.refresh()
		}
	}
}

// reporter is the batching policy of reportLoop, apart from its timers
// and the raft round trip, so it can be tested on its own. Nothing is
// forgotten before a send succeeded: a failed send (no leader, a timeout)
// is retried at the next batch.
type reporter struct {
	version func() uint64                               // committed config version, 0 = none
	all     func() []fsm.Observation                    // every real server's current state
	send    func(full bool, obs []fsm.Observation) bool // commit one ReportVerdicts
	pending map[fsm.RSID]fsm.Observation                // changes not yet committed
	// reported is the config version this node's full report was
	// committed for.
	reported uint64
}

func newReporter(version func() uint64, all func() []fsm.Observation, send func(bool, []fsm.Observation) bool) *reporter {
	return &reporter{version: version, all: all, send: send, pending: map[fsm.RSID]fsm.Observation{}}
}

// observe queues a change; a later one of the same real server replaces it.
func (r *reporter) observe(ob fsm.Observation) {
	r.pending[fsm.RSID{VS: ob.VS, RS: ob.RS}] = ob
}

// batch runs at every ReportInterval: after a new config, a full report
// (the verdicts of new or redefined real servers start from it; the FSM
// dropped the observations of redefined ones), otherwise the pending
// changes.
func (r *reporter) batch() {
	v := r.version()
	if v == 0 {
		return
	}
	if v != r.reported {
		if r.send(true, r.all()) {
			r.reported = v
			clear(r.pending)
		}
		return
	}
	if len(r.pending) == 0 {
		return
	}
	obs := slices.Collect(maps.Values(r.pending))
	sortObservations(obs)
	if r.send(false, obs) {
		clear(r.pending)
	}
}

// refresh runs at every FullRefresh: everything this node knows.
func (r *reporter) refresh() {
	v := r.version()
	if v != 0 && r.send(true, r.all()) {
		r.reported = v
		clear(r.pending)
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
