package agent

import (
	"context"
	"errors"
	"maps"
	"net/netip"
	"quadrature/cluster"
	"slices"
	"time"

	"quadrature/lvs"

	"quadrature/config"
	"quadrature/fsm"
)

// applyLoop pushes every committed state to the leaves: the node's
// evaluation of the replicated config (VRRP instances, checkers), the
// desired table (reconciler) and the placement (VRRP priorities). It also
// watches degraded mode and quorum fencing, which change what is applied
// without a new commit.
func (a *Agent) applyLoop(ctx context.Context) {
	events, cancel := a.node.Subscribe(64)
	defer cancel()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		a.loopAt.Store(time.Now().UnixNano())
		a.applyOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-a.changed: // a commit, or a reconciler pass (onPass)
		case <-events:
		case <-tick.C:
		}
	}
}

// applyOnce applies the current state.
func (a *Agent) applyOnce(ctx context.Context) {
	st := a.fsm.State()
	degraded := a.node.Degraded()
	a.mu.Lock()
	prev := a.applied
	a.mu.Unlock()
	a.applyRevoked(st)
	if st.ConfigVersion() != prev.configVersion && st.ConfigVersion() != 0 {
		a.applyConfig(st)
		// vrrp.Update resets priorities to the configured ones: apply the
		// placement again in full.
		prev.priorities = nil
	}
	if a.role != cluster.RoleVoter {
		a.mu.Lock()
		a.applied.configVersion = st.ConfigVersion()
		a.mu.Unlock()
		return
	}
	if degraded != prev.degraded {
		a.log.Warn("agent: degraded mode changed", "degraded", degraded)
	}
	// Routes the new state no longer allows go before anything changes.
	a.bgpWithdraw(ctx, st, func() *fsm.State {
		if degraded {
			return a.localView(st)
		}
		return st
	}, degraded)
	a.applyTable(ctx, st, degraded, prev)
	prios := prev.priorities
	if st != prev.state || prios == nil {
		prios = map[string]int{}
		if st.ConfigVersion() != 0 {
			prios = st.PriorityMap(a.name)
		}
	}
	hold := a.holding()
	if !hold && !maps.Equal(prios, prev.priorities) {
		for inst, p := range prios {
			if prev.priorities[inst] == p {
				continue
			}
			if err := a.vrrp.SetPriority(inst, p); err != nil {
				a.log.Warn("agent: set priority", "instance", inst, "priority", p, "err", err)
			} else {
				a.log.Info("agent: placement priority", "instance", inst, "priority", p)
			}
		}
	}
	a.applyFence()
	a.applyKnownPeers()
	a.bgpAnnounce(ctx)
	if hold && a.maybeReleaseHold(st) {
		hold = false // it set the priorities
	}
	applied := prios
	if hold {
		applied = nil // apply the whole placement once the hold ends
	}
	a.mu.Lock()
	a.applied = appliedState{configVersion: st.ConfigVersion(), priorities: applied, degraded: degraded, state: st}
	a.mu.Unlock()
}

// applyTable hands the reconciler the table of st (in degraded mode of
// this node's local view). Nothing is derived while the state is the one
// last applied (the loop also goes round on a timer); a state with the
// same configuration is applied as a patch of the virtual servers whose
// verdicts, drains or quorum changed (fsm.State.TableChanges, then
// lvs.Reconciler.Patch: one netlink operation for one real server), and
// only a new configuration, degraded mode or a reconciler without a
// baseline derives and diffs the whole table.
func (a *Agent) applyTable(ctx context.Context, st *fsm.State, degraded bool, prev appliedState) {
	a.mu.Lock()
	last := a.desired
	a.mu.Unlock()
	if !degraded && !prev.degraded && st == prev.state && last != nil {
		return
	}
	view := st
	if degraded {
		view = a.localView(st)
	}
	if !degraded && !prev.degraded && last != nil && prev.configVersion == st.ConfigVersion() {
		if ups, ok := view.TableChanges(last); ok {
			if len(ups) == 0 {
				a.setDesiredState(view, false)
				return
			}
			a.setDesiredState(view, true)
			if _, err := a.rec.Patch(ctx, ups, nil); err == nil {
				if a.guard != nil {
					// The reconciler's table with the patch applied:
					// shared, not derived again.
					if t, ok := a.rec.Desired(); ok {
						a.guardTable(t)
					}
				}
				return
			} else if !errors.Is(err, lvs.ErrNoBaseline) {
				a.log.Warn("agent: patching the table failed; applying it whole", "services", len(ups), "err", err)
			}
			table := view.DesiredTable()
			a.rec.SetDesired(table)
			a.guardTable(table)
			return
		}
	}
	// One derivation gives the digest and the table; the table is in
	// Normalize form, so the reconciler and the loop guard share it as
	// it is (no copy, no second normalization).
	table, digest := view.DesiredTableDigest()
	changed := last == nil || digest != last.TableDigest() || prev.configVersion != st.ConfigVersion()
	a.setDesiredState(view, changed)
	if changed {
		a.rec.SetDesired(table)
		a.guardTable(table)
	}
}

// setDesiredState records the state whose table the reconciler has
// (its digest is what the kernel should show); changed marks a new table.
func (a *Agent) setDesiredState(view *fsm.State, changed bool) {
	a.mu.Lock()
	a.desired = view
	if changed {
		a.desiredAt = time.Now()
	}
	a.mu.Unlock()
}

// desiredDigest is the digest of the table last handed to the reconciler
// ("" before the first).
func (a *Agent) desiredDigest() string {
	a.mu.Lock()
	d := a.desired
	a.mu.Unlock()
	if d == nil {
		return ""
	}
	return d.TableDigest()
}

// applyConfig evaluates a newly committed config for this node and
// reconfigures VRRP and the checkers (a reload keeps the state of
// unchanged instances and checkers).
func (a *Agent) applyConfig(st *fsm.State) {
	c, err := st.Config(a.name)
	if err != nil {
		a.log.Error("agent: committed config does not evaluate for this node; keeping the running one", "version", st.ConfigVersion(), "err", err)
		return
	}
	a.log.Info("agent: applying committed config", "version", st.ConfigVersion(), "origin", st.ConfigOrigin())
	if src := st.Source(); src != nil && sameSource(*src, a.LocalSource()) {
		a.noteFileInSync(st.ConfigVersion())
	}
	if a.role != cluster.RoleVoter {
		return
	}
	if err := a.vrrp.Update(a.heldVRRPConfig(c)); err != nil {
		a.log.Error("agent: vrrp reconfigure", "err", err)
	}
	a.updateChecks(c)
}

// applyKnownPeers tells VRRP the addresses of the group's members (their
// gossip and Raft addresses), so that a master outside the group is
// flagged (a forged advert, or a foreign router in the VRID). Without a
// cluster block the node runs alone, like keepalived, and keeps detection
// off: its peers are whatever shares the VRID.
func (a *Agent) applyKnownPeers() {
	if a.vrrp == nil || a.LocalConfig().Cluster == nil {
		return
	}
	var addrs []netip.Addr
	for _, m := range a.node.Members() {
		if m.Addr.IsValid() {
			addrs = append(addrs, m.Addr.Addr())
		}
		if ap, err := netip.ParseAddrPort(m.RaftAddr); err == nil {
			addrs = append(addrs, ap.Addr())
		}
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	addrs = slices.Compact(addrs)
	a.mu.Lock()
	same := slices.Equal(addrs, a.knownPeers)
	a.knownPeers = addrs
	a.mu.Unlock()
	if !same {
		a.vrrp.SetKnownPeers(addrs)
	}
}

// applyRevoked hands the FSM's deny list to the node when it changed.
func (a *Agent) applyRevoked(st *fsm.State) {
	revoked := st.Revoked()
	a.mu.Lock()
	same := slices.Equal(revoked, a.revoked)
	a.revoked = revoked
	a.mu.Unlock()
	if !same {
		a.node.SetRevoked(revoked)
		a.log.Warn("agent: revoked nodes", "nodes", revoked)
	}
}

// localView is what this node programs alone, keepalived style: the
// committed state with only this node counting as a reporter and its own
// latest observations (docs/design.md, decision 4).
func (a *Agent) localView(st *fsm.State) *fsm.State {
	a.mu.Lock()
	obs := slices.Collect(maps.Values(a.localObs))
	a.mu.Unlock()
	sortObservations(obs)
	return st.LocalView(a.name, obs)
}

// ViewState is the state this node programs from: the committed state,
// or in degraded mode the local view with only its own verdicts.
func (a *Agent) ViewState() *fsm.State {
	st := a.fsm.State()
	if n := a.Node(); n != nil && n.Degraded() {
		return a.localView(st)
	}
	return st
}

// applyFence moves quorum-fenced instances to FAULT while this node has
// no quorum contact, and releases them when contact returns (docs/design.md, decision 5).
func (a *Agent) applyFence() {
	_, lost := a.node.QuorumLost()
	c := a.currentConfig()
	for _, in := range c.Instances {
		fence := in.QuorumFence || (c.Cluster != nil && c.Cluster.QuorumFence)
		want := fence && lost
		a.mu.Lock()
		was := a.fenced[in.Name]
		a.fenced[in.Name] = want
		a.mu.Unlock()
		if want == was {
			continue
		}
		if err := a.vrrp.SetFenced(in.Name, want); err != nil {
			a.log.Warn("agent: quorum fence", "instance", in.Name, "fenced", want, "err", err)
		} else {
			a.log.Warn("agent: quorum fence", "instance", in.Name, "fenced", want)
		}
	}
}

// Fenced reports whether any instance is fenced now.
func (a *Agent) Fenced() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, f := range a.fenced {
		if f {
			return true
		}
	}
	return false
}

// currentConfig is the committed config for this node, or the local file
// before anything was committed.
func (a *Agent) currentConfig() *config.Config {
	st := a.fsm.State()
	if st.ConfigVersion() != 0 {
		if c, err := st.Config(a.name); err == nil {
			return c
		}
	}
	return a.LocalConfig()
}

// onPass is the reconciler's OnPass hook: it publishes the digest of
// the kernel table as each successful pass ends (so /v1/status and gossip
// show it without a polling delay) and wakes the apply loop, which may
// then end the startup hold. A full pass knows the digest; after an
// incremental pass that changed the kernel, the kernel is read once; a
// pass that changed nothing keeps the digest published.
func (a *Agent) onPass(ctx context.Context) func(lvs.SyncResult, error) {
	return func(res lvs.SyncResult, err error) {
		defer a.kick()
		if err != nil {
			return
		}
		d := res.Digest
		a.mu.Lock()
		known := a.digest
		a.passOK = time.Now().Add(-res.Duration)
		a.mu.Unlock()
		if d == "" && res.Plan.Empty() && known != "" {
			return
		}
		if d == "" {
			if d, err = a.rec.KernelDigest(ctx); err != nil {
				a.log.Debug("agent: kernel digest", "err", err)
				return
			}
		}
		a.mu.Lock()
		a.digest = d
		a.mu.Unlock()
		// Hand the digest to gossipLoop, replacing one not yet taken.
		select {
		case <-a.digestCh:
		default:
		}
		a.digestCh <- d
	}
}

// kick wakes the apply loop.
func (a *Agent) kick() {
	select {
	case a.changed <- struct{}{}:
	default:
	}
}

// tableProgrammed reports whether the kernel holds the table of the
// desired state: its published digest is the desired table's. Services
// the data plane refuses are never programmed; with some refused, the
// table is as programmed as it gets once a pass that started after the
// latest desired table succeeded.
func (a *Agent) tableProgrammed() bool {
	a.mu.Lock()
	d, kd, at, ok := a.desired, a.digest, a.desiredAt, a.passOK
	a.mu.Unlock()
	if d == nil {
		return false
	}
	if kd != "" && kd == d.TableDigest() {
		return true
	}
	st := a.rec.Status()
	for _, s := range st.Services {
		if s.State == lvs.StateInvalid {
			return ok.After(at)
		}
	}
	return false
}

// gossipLoop publishes the table digest in the node's gossip metadata,
// off the apply loop (a metadata update waits for its broadcast to leave,
// up to the gossip TCP timeout), and retries until an update is confirmed:
// memberlist v0.7.0 can drop an update silently when it races with a
// refutation (UpdateNode takes its incarnation outside the node lock, and
// a refute in between makes the update older than the node's own state),
// and peers would then keep the previous digest until the next push/pull.
func (a *Agent) gossipLoop(ctx context.Context) {
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	var want, done string
	for {
		select {
		case <-ctx.Done():
			return
		case want = <-a.digestCh:
		case <-retry.C:
		}
		if want == "" || want == done {
			continue
		}
		m := a.node.Metadata()
		m.TableDigest = want
		if err := a.node.UpdateMetadata(m); err != nil {
			a.log.Debug("agent: metadata update not confirmed; retrying", "err", err)
			retry.Reset(250 * time.Millisecond)
			continue
		}
		done = want
	}
}

// TableDigest is the digest of this node's kernel table as last read.
func (a *Agent) TableDigest() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.digest
}
