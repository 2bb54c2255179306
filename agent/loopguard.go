package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"quadrature/cluster"
	"sync"
	"time"

	"quadrature/lvs"
	"quadrature/lvs/loopguard"
)

// loopGuardPeriod is how often the agent re-derives the loop guard's rules
// (membership and address changes) and repairs drift.
const loopGuardPeriod = 2 * time.Second

// guardState is the agent's active-active loop guard (docs/design.md, decision 6):
// on the IPVS backend, packets that a peer director forwards to this node
// (DR) are served locally instead of being balanced again.
type guardState struct {
	g     *loopguard.Guard
	mu    sync.Mutex
	table lvs.Table // the latest desired table handed to the reconciler
	has   bool
	kick  chan struct{}
	last  string // the last Desired programmed, for logging changes only
	lastE string // the last derivation problem logged
}

// openLoopGuard opens the guard when the data plane is IPVS (DR exists
// only there). No nftables or no privilege: the agent runs without it and
// says so.
func (a *Agent) openLoopGuard() {
	if a.dp == nil || a.dp.Name() != "ipvs" {
		return
	}
	g, err := loopguard.New(loopguard.Options{Logger: a.log, Registerer: a.reg})
	if err != nil {
		a.log.Warn("agent: active-active loop guard unavailable; DR directors that are also real servers may balance forwarded packets twice", "err", err)
		return
	}
	a.guard = &guardState{g: g, kick: make(chan struct{}, 1)}
}

// guardTable hands the loop guard the table given to the reconciler.
func (a *Agent) guardTable(t lvs.Table) {
	gs := a.guard
	if gs == nil {
		return
	}
	gs.mu.Lock()
	gs.table, gs.has = t, true
	gs.mu.Unlock()
	select {
	case gs.kick <- struct{}{}:
	default:
	}
}

// loopGuardLoop programs the guard whenever the table changes and every
// loopGuardPeriod (membership, addresses, drift). On an ordinary stop the
// rules stay (Detach): the application keeps serving and peers keep
// forwarding to this node until their health checks see it go.
func (a *Agent) loopGuardLoop(ctx context.Context) {
	gs := a.guard
	if gs == nil {
		return
	}
	defer func() {
		if err := gs.g.Detach(); err != nil {
			a.log.Warn("agent: loop guard detach", "err", err)
		}
	}()
	t := time.NewTicker(loopGuardPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-gs.kick:
		case <-t.C:
		}
		a.syncLoopGuard(ctx)
	}
}

func (a *Agent) syncLoopGuard(ctx context.Context) {
	gs := a.guard
	gs.mu.Lock()
	table, has := gs.table, gs.has
	gs.mu.Unlock()
	if !has {
		return
	}
	d, skipped, err := a.loopGuardDesired(table)
	problem := ""
	if err != nil {
		problem = err.Error()
	}
	for _, s := range skipped {
		problem += fmt.Sprintf("; not guarded: %v", s)
	}
	if problem != gs.lastE {
		gs.lastE = problem
		if problem != "" {
			a.log.Warn("agent: loop guard", "problem", problem)
		}
	}
	if err := gs.g.Set(ctx, d); err != nil {
		if !errors.Is(err, context.Canceled) {
			a.log.Error("agent: loop guard", "err", err)
		}
		return
	}
	if s := d.String(); s != gs.last {
		gs.last = s
		a.log.Info("agent: loop guard programmed", "peers", len(d.Peers), "targets", len(d.Targets))
	}
}

// loopGuardDesired derives the guard's rules: the DR services that have
// one of this node's addresses as a real server, and the MACs the other
// directors publish in gossip. Dead members keep their MACs (a flapping
// peer does not churn the rules); members that left are dropped.
func (a *Agent) loopGuardDesired(table lvs.Table) (loopguard.Desired, []loopguard.Skipped, error) {
	self, err := loopguard.LocalAddrs()
	if err != nil {
		return loopguard.Desired{}, nil, err
	}
	published, own := guardPeers(a.node.Members())
	return loopguard.DesiredFor(table, self, published, a.name, own)
}

// guardPeers splits the members' published MACs into the other directors'
// (by name; members that left are dropped, dead ones kept) and this node's
// own.
func guardPeers(members []cluster.Member) (published map[string][]string, own []net.HardwareAddr) {
	published = map[string][]string{}
	for _, m := range members {
		switch {
		case m.Self:
			for _, s := range m.Meta.MACs {
				if mac, err := loopguard.ParseMAC(s); err == nil {
					own = append(own, mac)
				}
			}
		case m.State != cluster.MemberLeft:
			published[m.Name] = m.Meta.MACs
		}
	}
	return published, own
}
