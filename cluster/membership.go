package cluster

import (
	"context"
	"net/netip"
	"sort"
	"time"

	"github.com/hashicorp/raft"
)

// reconcileLoop bootstraps on first start and, on the leader, brings the
// Raft configuration in line with gossip membership.
func (n *Node) reconcileLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.Timing.ReconcileInterval)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		case <-n.reconcileCh:
		}
		if !n.bootstrapped.Load() && !n.skipBootstrap.Load() {
			n.tryBootstrap()
		}
		if !n.markerDone.Load() && n.raft.LastIndex() > 0 {
			// The node has state now (bootstrapped or added by the leader):
			// from here on it must never start without it.
			if err := n.writeMarker(); err != nil {
				n.warnThrottled("marker", "cannot write the data directory marker; will retry", "err", err)
			}
		}
		if n.raft.State() == raft.Leader {
			n.reconcileMembers()
		}
	}
}

// tryBootstrap is the bootstrap_expect procedure: once gossip shows
// BootstrapExpect voters (witnesses count) that agree on the expectation
// and none of them holds Raft state yet, every one of them bootstraps the
// same configuration: all of them, sorted by name.
func (n *Node) tryBootstrap() {
	if n.raft.LastIndex() > 0 {
		n.bootstrapped.Store(true)
		return
	}
	expect := n.cfg.BootstrapExpect
	if expect <= 1 {
		// expect 1 bootstrapped in Start; expect 0 with peers is join-only.
		return
	}
	type cand struct{ name, raftAddr string }
	var cands []cand
	for name, r := range n.memberRecords() {
		if r.state != MemberAlive || r.metaErr != nil || r.meta.RaftAddr == "" {
			continue
		}
		if name != n.cfg.NodeName && !n.configuredMember(name, memberIPs(r)...) {
			n.warnThrottled("unknown:"+name, "bootstrap: ignoring a gossip member that is not a configured node", "member", name)
			continue
		}
		if r.meta.BootstrapExpect != 0 && r.meta.BootstrapExpect != expect {
			n.warnThrottled("expect:"+name, "bootstrap_expect differs between nodes, not bootstrapping",
				"member", name, "theirs", r.meta.BootstrapExpect, "ours", expect)
			return
		}
		cands = append(cands, cand{name, r.meta.RaftAddr})
	}
	if len(cands) < expect {
		return
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].name < cands[j].name })
	servers := make([]raft.Server, 0, len(cands))
	for _, c := range cands {
		if c.name != n.cfg.NodeName {
			ctx, cancel := context.WithTimeout(n.ctx, n.cfg.Timing.TCPTimeout)
			resp, peerName, err := n.callPeer(ctx, c.raftAddr, rpcRequest{Op: opStatus})
			cancel()
			if err != nil {
				n.logger.Info("bootstrap: peer not answering yet", "member", c.name, "err", err)
				return
			}
			if n.cfg.TLS != nil && peerName != c.name {
				n.warnThrottled("impostor:"+c.name, "bootstrap: a member's raft port presents a certificate for another name; not bootstrapping",
					"member", c.name, "raft_addr", c.raftAddr, "certificate_name", peerName)
				return
			}
			if resp.HasState {
				n.logger.Info("bootstrap: peer already has raft state; waiting to be added by the leader", "member", c.name)
				n.skipBootstrap.Store(true)
				return
			}
		}
		servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(c.name), Address: raft.ServerAddress(c.raftAddr)})
	}
	if err := n.bootstrap(servers); err != nil {
		n.logger.Error("bootstrap failed", "err", err)
	}
}

// reconcileMembers (leader only) adds alive gossip members missing from the
// Raft configuration as voters, updates changed addresses, and removes
// members that left gracefully. Dead members are left alone.
func (n *Node) reconcileMembers() {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return
	}
	inConf := map[string]raft.Server{}
	for _, s := range f.Configuration().Servers {
		inConf[string(s.ID)] = s
	}
	ctx, cancel := context.WithTimeout(n.ctx, 5*n.cfg.Timing.ElectionTimeout+time.Second)
	defer cancel()
	// A revoked node never counts toward a quorum: the leader takes it out
	// of the configuration (whoever revoked it may not have managed to, e.g.
	// when it was the leader), and a revoked leader hands leadership over.
	if n.isRevoked(n.cfg.NodeName) {
		n.warnThrottled("self-revoked", "this node is revoked: handing leadership over")
		if err := n.raft.LeadershipTransfer().Error(); err != nil {
			n.warnThrottled("self-revoked-transfer", "leadership transfer failed", "err", err)
		}
		return
	}
	for _, name := range sortedKeys(inConf) {
		if name == n.cfg.NodeName || !n.isRevoked(name) {
			continue
		}
		n.logger.Warn("removing a revoked node from the raft configuration", "server", name)
		if _, err := n.membershipLocal(ctx, opRemoveServer, name, ""); err != nil {
			n.logger.Warn("removing revoked node from raft failed", "server", name, "err", err)
			return
		}
		delete(inConf, name)
	}
	records := n.memberRecords()
	for _, name := range sortedKeys(records) {
		r := records[name]
		if r.state != MemberAlive || name == n.cfg.NodeName || r.metaErr != nil || r.meta.RaftAddr == "" {
			continue
		}
		meta := r.meta
		s, ok := inConf[name]
		if ok && (s.Suffrage != raft.Voter || string(s.Address) == meta.RaftAddr) {
			continue
		}
		// Voters are the configured nodes (or those an operator added
		// through the API), never whoever gossips. A server already in the
		// configuration that gossips a new address is re-addressed only
		// after its certificate proves its name (TLS) or when the new
		// address is a configured one (insecure).
		if !(ok && n.cfg.TLS != nil) && !n.configuredMember(name, memberIPs(r)...) {
			if n.isRevoked(name) {
				n.warnThrottled("unknown:"+name, "not adding a revoked node as a voter", "member", name, "raft_addr", meta.RaftAddr)
			} else {
				n.warnThrottled("unknown:"+name, "not adding unknown gossip member as a voter: not a configured node",
					"member", name, "raft_addr", meta.RaftAddr, "gossip_addr", r.addr.String())
			}
			continue
		}
		if n.isRevoked(name) {
			continue
		}
		// Only add a server we can reach over the Raft port: an unreachable
		// voter (wrong certificate, firewall) would only shrink the margin.
		pctx, pcancel := context.WithTimeout(ctx, n.cfg.Timing.TCPTimeout)
		_, peerName, err := n.callPeer(pctx, meta.RaftAddr, rpcRequest{Op: opStatus})
		pcancel()
		if err != nil {
			n.warnThrottled("unreachable:"+name, "member alive in gossip but its raft port is unreachable; not adding it",
				"member", name, "raft_addr", meta.RaftAddr, "err", err)
			continue
		}
		if n.cfg.TLS != nil && peerName != name {
			n.warnThrottled("impostor:"+name, "not adding gossip member as a voter: its raft port presents a certificate for another name",
				"member", name, "raft_addr", meta.RaftAddr, "certificate_name", peerName)
			continue
		}
		if _, err := n.membershipLocal(ctx, opAddVoter, name, meta.RaftAddr); err != nil {
			n.logger.Warn("adding member to raft failed", "member", name, "err", err)
			return
		}
	}
	var left []string
	for _, name := range sortedKeys(records) {
		if records[name].state == MemberLeft && name != n.cfg.NodeName {
			if _, ok := inConf[name]; ok {
				left = append(left, name)
			}
		}
	}
	for _, name := range left {
		if _, err := n.membershipLocal(ctx, opRemoveServer, name, ""); err != nil {
			n.logger.Warn("removing departed member from raft failed", "member", name, "err", err)
			return
		}
	}
}

// memberIPs are a gossip member's addresses: its gossip address and the
// Raft address its metadata advertises.
func memberIPs(r memberRecord) []netip.Addr {
	var out []netip.Addr
	if r.addr.IsValid() {
		out = append(out, r.addr.Addr())
	}
	if ap, err := netip.ParseAddrPort(r.meta.RaftAddr); err == nil {
		out = append(out, ap.Addr())
	}
	return out
}

// joinLoop joins the configured peers, retrying with backoff until one
// answers, then keeps re-joining peers and Raft servers that gossip has
// lost (so a healed partition merges even after gossip gave up on it).
func (n *Node) joinLoop() {
	defer n.wg.Done()
	peers := n.peerTargets()
	backoff := 100 * time.Millisecond
	joined := false
	wait := time.Duration(0)
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-time.After(wait):
		}
		if !joined {
			if len(peers) == 0 {
				return
			}
			cnt, err := n.ml.Join(peers)
			if cnt > 0 {
				joined = true
				n.logger.Info("joined the cluster", "contacted", cnt)
				wait = 4 * n.cfg.Timing.ReconcileInterval
				continue
			}
			n.logger.Warn("join failed, will retry", "peers", peers, "err", err, "retry_in", backoff)
			wait = backoff
			backoff = min(backoff*2, n.cfg.Timing.JoinRetryMax)
			continue
		}
		if missing := n.missingPeers(peers); len(missing) > 0 {
			if cnt, _ := n.ml.Join(missing); cnt > 0 {
				n.logger.Info("re-joined lost peers", "contacted", cnt)
			}
		}
		wait = 4 * n.cfg.Timing.ReconcileInterval
	}
}

// peerTargets resolves Config.Peers to host:port, without this node.
func (n *Node) peerTargets() []string {
	var out []string
	for _, p := range n.cfg.Peers {
		a, err := peerAddress(p, portOf(n.gossipAddr))
		if err != nil || a == n.gossipAddr {
			continue
		}
		out = append(out, a)
	}
	return out
}

// missingPeers lists configured peers not alive in gossip, plus gossip
// addresses of Raft servers that gossip declared dead.
func (n *Node) missingPeers(peers []string) []string {
	records := n.memberRecords()
	alive := map[string]bool{}
	for _, r := range records {
		if r.state == MemberAlive && r.addr.IsValid() {
			alive[r.addr.String()] = true
		}
	}
	seen := map[string]bool{}
	var out []string
	for _, p := range peers {
		if !alive[p] && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, name := range sortedKeys(records) {
		r := records[name]
		a := r.addr.String()
		if r.state == MemberDead && r.addr.IsValid() && !alive[a] && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

func portOf(addr string) int {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return 0
	}
	return int(ap.Port())
}

// warnThrottled logs a warning at most once a minute per key.
func (n *Node) warnThrottled(key, msg string, args ...any) {
	n.warnMu.Lock()
	last, ok := n.warned[key]
	now := time.Now()
	if ok && now.Sub(last) < time.Minute {
		n.warnMu.Unlock()
		return
	}
	if n.warned == nil {
		n.warned = map[string]time.Time{}
	}
	n.warned[key] = now
	n.warnMu.Unlock()
	n.logger.Warn(msg, args...)
}
