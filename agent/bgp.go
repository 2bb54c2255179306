package agent

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"

	"quadrature/bgp"
	"quadrature/config"
	"quadrature/fsm"
	"quadrature/lvs"
)

// BGP announcement (docs/bgp.md). Every director announces a VIP while
//
//   - its kernel table is the desired table of the committed state (the
//     digest it publishes equals the digest of the table it was handed),
//     past the startup hold;
//   - it is not in maintenance (drained), not in degraded mode and not cut
//     off from quorum (fenced);
//   - some virtual service of the VIP has a real server with weight > 0
//     (a real server down changes no announcement while others are up;
//     the last one down withdraws the VIP everywhere, since every node
//     derives the same table).
//
// Withdrawals are sent before the table or the VRRP priorities change
// (applyOnce calls bgpWithdraw first), announcements only after the table
// is programmed (bgpAnnounce, after the digest is read).
type bgpState struct {
	mu   sync.Mutex
	sp   *bgp.Speaker
	cfg  bgp.Config
	coll *bgp.Collector
	// cur is what the speaker announces; next what the latest state
	// allows once the table is programmed.
	cur, next []bgp.Route
	// key of the inputs next was derived from.
	st      *fsm.State
	healthy bool
	version uint64
}

// bgpConfig converts the bgp block.
func bgpConfig(g *config.BGP) bgp.Config {
	c := bgp.Config{LocalAS: g.LocalAS, RouterID: g.RouterID, ListenPort: g.ListenPort}
	for _, n := range g.Neighbors {
		c.Neighbors = append(c.Neighbors, bgp.Neighbor{
			Address: n.Address, RemoteAS: n.RemoteAS, Password: n.Password, HoldTime: n.HoldTime,
			Port: n.Port, LocalAddress: n.LocalAddress, Multihop: n.Multihop,
		})
	}
	return c
}

// bgpRoutes is the pure derivation of the routes a healthy, programmed
// node announces for table: for each announce entry, a host route for
// every virtual address inside it that has a live real server, or the
// prefix as written when it covers no address service at all.
func bgpRoutes(g *config.BGP, table lvs.Table) []bgp.Route {
	if g == nil {
		return nil
	}
	live := map[netip.Addr]bool{}
	exists := map[netip.Addr]bool{}
	for _, s := range table.Services {
		if s.Key.IsFWMark() || !s.Key.Addr.IsValid() {
			continue
		}
		exists[s.Key.Addr] = true
		for _, d := range s.Destinations {
			if d.Weight > 0 {
				live[s.Key.Addr] = true
				break
			}
		}
	}
	addrs := make([]netip.Addr, 0, len(exists))
	for a := range exists {
		addrs = append(addrs, a)
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	seen := map[netip.Prefix]bool{}
	var out []bgp.Route
	for _, e := range g.Announce {
		var comms []uint32
		for _, c := range e.Communities {
			if v, ok := config.CommunityValue(c); ok {
				comms = append(comms, v)
			}
		}
		add := func(p netip.Prefix) {
			if !seen[p] {
				seen[p] = true
				out = append(out, bgp.Route{Prefix: p, Communities: comms, MED: e.MED})
			}
		}
		covered := false
		for _, a := range addrs {
			if !e.Prefix.Contains(a) {
				continue
			}
			covered = true
			if live[a] {
				add(netip.PrefixFrom(a, a.BitLen()))
			}
		}
		if !covered {
			add(e.Prefix)
		}
	}
	return out
}

// bgpHealthy is the node-level condition (not the table's).
func (a *Agent) bgpHealthy(st *fsm.State, degraded bool) bool {
	if st.ConfigVersion() == 0 || degraded || a.holding() || st.InMaintenance(a.name) {
		return false
	}
	if _, lost := a.node.QuorumLost(); lost {
		return false
	}
	return true
}

// bgpWithdraw runs before the table and priorities of st are applied: it
// (re)starts the speaker for the committed bgp block and withdraws every
// route the new state no longer allows.
func (a *Agent) bgpWithdraw(ctx context.Context, st *fsm.State, view func() *fsm.State, degraded bool) {
	c := a.currentConfig()
	b := a.bgp
	b.mu.Lock()
	defer b.mu.Unlock()
	if c.BGP == nil {
		if b.sp != nil {
			a.log.Info("agent: bgp block removed: stopping the speaker")
			b.sp.Stop()
			b.sp, b.cur, b.next = nil, nil, nil
			b.coll.Set(nil)
		}
		return
	}
	want := bgpConfig(c.BGP)
	if b.sp != nil && st.ConfigVersion() != b.version {
		if err := b.sp.Reconfigure(ctx, want); errors.Is(err, bgp.ErrRestart) {
			b.sp.Stop()
			b.sp, b.cur = nil, nil
			b.coll.Set(nil)
		} else if err != nil {
			a.log.Warn("agent: bgp reconfigure", "err", err)
		}
	}
	if b.sp == nil {
		sp, err := bgp.Start(ctx, want, a.log)
		if err != nil {
			a.log.Error("agent: bgp speaker", "err", err)
			return
		}
		a.log.Info("agent: bgp speaker started", "as", want.LocalAS, "router_id", want.RouterID, "neighbors", len(want.Neighbors))
		b.sp, b.cfg = sp, want
		b.coll.Set(sp)
	}
	healthy := a.bgpHealthy(st, degraded)
	if st != b.st || healthy != b.healthy || st.ConfigVersion() != b.version {
		b.next = nil
		if healthy {
			b.next = bgpRoutes(c.BGP, view().DesiredTable())
		}
		b.st, b.healthy, b.version = st, healthy, st.ConfigVersion()
	}
	keep := slices.DeleteFunc(slices.Clone(b.cur), func(r bgp.Route) bool {
		return !slices.ContainsFunc(b.next, func(n bgp.Route) bool { return n.Prefix == r.Prefix })
	})
	if len(keep) == len(b.cur) {
		return
	}
	if err := b.sp.SetRoutes(ctx, keep); err != nil {
		a.log.Warn("agent: bgp withdraw", "err", err)
	}
	a.log.Info("agent: bgp routes withdrawn", "withdrawn", len(b.cur)-len(keep), "healthy", healthy)
	b.cur = keep
}

// bgpAnnounce announces what the state allows once the kernel table is
// the desired one.
func (a *Agent) bgpAnnounce(ctx context.Context) {
	b := a.bgp
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sp == nil || slices.EqualFunc(b.cur, b.next, func(x, y bgp.Route) bool { return x.Prefix == y.Prefix }) {
		return
	}
	if d := a.desiredDigest(); d == "" || d != a.TableDigest() {
		return // not programmed yet
	}
	if err := b.sp.SetRoutes(ctx, b.next); err != nil {
		a.log.Warn("agent: bgp announce", "err", err)
		return
	}
	a.log.Info("agent: bgp routes announced", "routes", len(b.next))
	b.cur = slices.Clone(b.next)
}

// stopBGP closes the sessions (routers drop the paths at once).
func (a *Agent) stopBGP() {
	b := a.bgp
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sp != nil {
		b.sp.Stop()
		b.sp, b.cur = nil, nil
		b.coll.Set(nil)
	}
}

// BGPAnnounced returns the prefixes this node announces (nil without a
// speaker).
func (a *Agent) BGPAnnounced() []netip.Prefix {
	b := a.bgp
	b.mu.Lock()
	sp := b.sp
	b.mu.Unlock()
	if sp == nil {
		return nil
	}
	return sp.Announced()
}

func (a *Agent) registerBGP() {
	a.bgp = &bgpState{coll: &bgp.Collector{}}
	if err := a.reg.Register(a.bgp.coll); err != nil {
		a.log.Error("agent: bgp metrics not registered", "err", err)
	}
}
