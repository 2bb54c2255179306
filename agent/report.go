package agent

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"quadrature/checks"
	"quadrature/fsm"
)

// reportLoop turns the checkers' observations into batched ReportVerdicts
// commands (changes every ReportInterval, everything every FullRefresh).
func (a *Agent) reportLoop(ctx context.Context) {
	r := newReporter(
		func() uint64 { return a.fsm.State().ConfigVersion() },
		a.allObservations,
		func(full bool, obs []fsm.Observation) bool { return a.send(ctx, full, obs) },
	)
	runReports(ctx, a.sched.Observations(), a.observation, a.localChanged, r, a.cfg.ReportInterval, a.cfg.FullRefresh)
}

// runReports receives the checkers' observations, records each one with
// record (the agent's own latest observations, which degraded mode
// programs from) and queues it on r; r sends every batchEvery (changes)
// and fullEvery (everything). Sending runs in its own goroutine: a send
// can wait seconds for a leader that is unreachable, which is exactly
// when degraded mode needs the newest local observations, so receiving
// never waits for it. changed is called after every recorded
// observation.
func runReports(ctx context.Context, in <-chan checks.Observation, record func(checks.Observation) (fsm.Observation, bool),
	changed func(), r *reporter, batchEvery, fullEvery time.Duration) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		batch := time.NewTicker(batchEvery)
		defer batch.Stop()
		full := time.NewTicker(fullEvery)
		defer full.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-batch.C:
				r.batch()
			case <-full.C:
				r.refresh()
			}
		}
	}()
	defer func() { <-done }()
	for {
		select {
		case <-ctx.Done():
			return
		case o, ok := <-in:
			if !ok {
				<-ctx.Done()
				return
			}
			if ob, ok := record(o); ok {
				r.observe(ob)
				changed()
			}
		}
	}
}

// reporter is the batching policy of runReports, apart from its timers
// and the raft round trip, so it can be tested on its own. observe may be
// called concurrently with batch and refresh (which are called from one
// goroutine). Nothing is forgotten before a send succeeded: a failed send
// (no leader, a timeout) is retried at the next batch. Observations carry
// the agent's sequence numbers (increasing, also across full snapshots),
// which tell what a send covered.
type reporter struct {
	version func() uint64                               // committed config version, 0 = none
	all     func() []fsm.Observation                    // every real server's current state
	send    func(full bool, obs []fsm.Observation) bool // commit one ReportVerdicts

	mu      sync.Mutex
	pending map[fsm.RSID]fsm.Observation // changes not yet committed

	// reported is the config version this node's full report was
	// committed for (sending goroutine only).
	reported uint64
}

func newReporter(version func() uint64, all func() []fsm.Observation, send func(bool, []fsm.Observation) bool) *reporter {
	return &reporter{version: version, all: all, send: send, pending: map[fsm.RSID]fsm.Observation{}}
}

// observe queues a change; a later one of the same real server replaces it.
func (r *reporter) observe(ob fsm.Observation) {
	r.mu.Lock()
	defer r.mu.Unlock()
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
		r.sendFull(v)
		return
	}
	r.mu.Lock()
	obs := slices.Collect(maps.Values(r.pending))
	r.mu.Unlock()
	if len(obs) == 0 {
		return
	}
	sortObservations(obs)
	if r.send(false, obs) {
		r.mu.Lock()
		for _, o := range obs {
			id := fsm.RSID{VS: o.VS, RS: o.RS}
			if p, ok := r.pending[id]; ok && p.Seq == o.Seq { // not replaced meanwhile
				delete(r.pending, id)
			}
		}
		r.mu.Unlock()
	}
}

// refresh runs at every FullRefresh: everything this node knows.
func (r *reporter) refresh() {
	if v := r.version(); v != 0 {
		r.sendFull(v)
	}
}

// sendFull sends everything; once committed, the pending changes it
// covers (received before the snapshot, so with a lower sequence number)
// are forgotten.
func (r *reporter) sendFull(v uint64) {
	obs := r.all()
	if !r.send(true, obs) {
		return
	}
	r.reported = v
	var upTo uint64
	for _, o := range obs {
		upTo = max(upTo, o.Seq)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, p := range r.pending {
		if p.Seq <= upTo {
			delete(r.pending, id)
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

// localChanged wakes the apply loop when this node programs its own
// observations (degraded mode), so a local verdict change reaches the
// kernel at once, as in keepalived.
func (a *Agent) localChanged() {
	if a.node == nil || !a.node.Degraded() {
		return
	}
	select {
	case a.changed <- struct{}{}:
	default:
	}
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
	if _, _, err := a.node.Apply(cctx, fsm.MustEncodeFrom(cmd, a.origin("checks"))); err != nil {
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
