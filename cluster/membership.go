package cluster

import (
	"context"
	"net/netip"
	"sort"
	"time"

	"github.com/hashicorp/memberlist"
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
	for _, node := range n.ml.Members() {
		if node.State != memberlist.StateAlive {
			continue
		}
		meta, err := decodeMeta(node.Meta)
		if err != nil || meta.RaftAddr == "" {
			continue
		}
		if meta.BootstrapExpect != 0 && meta.BootstrapExpect != expect {
			n.logger.Error("bootstrap_expect differs between nodes, not bootstrapping",
				"member", node.Name, "theirs", meta.BootstrapExpect, "ours", expect)
			return
		}
		cands = append(cands, cand{node.Name, meta.RaftAddr})
	}
	if len(cands) < expect {
		return
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].name < cands[j].name })
	servers := make([]raft.Server, 0, len(cands))
	for _, c := range cands {
		if c.name != n.cfg.NodeName {
			ctx, cancel := context.WithTimeout(n.ctx, n.cfg.Timing.TCPTimeout)
			resp, err := n.call(ctx, c.raftAddr, rpcRequest{Op: opStatus})
			cancel()
			if err != nil {
				n.logger.Info("bootstrap: peer not answering yet", "member", c.name, "err", err)
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
	for _, node := range n.ml.Members() {
		if node.State != memberlist.StateAlive || node.Name == n.cfg.NodeName {
			continue
		}
		meta, err := decodeMeta(node.Meta)
		if err != nil || meta.RaftAddr == "" {
			continue
		}
		s, ok := inConf[node.Name]
		if ok && (s.Suffrage != raft.Voter || string(s.Address) == meta.RaftAddr) {
			continue
		}
		if _, err := n.membershipLocal(ctx, opAddVoter, node.Name, meta.RaftAddr); err != nil {
			n.logger.Warn("adding member to raft failed", "member", node.Name, "err", err)
			return
		}
	}
	n.membersMu.Lock()
	var left []string
	for name, r := range n.members {
		if r.state == MemberLeft && name != n.cfg.NodeName {
			if _, ok := inConf[name]; ok {
				left = append(left, name)
			}
		}
	}
	n.membersMu.Unlock()
	sort.Strings(left)
	for _, name := range left {
		if _, err := n.membershipLocal(ctx, opRemoveServer, name, ""); err != nil {
			n.logger.Warn("removing departed member from raft failed", "member", name, "err", err)
			return
		}
	}
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
	alive := map[string]bool{}
	for _, node := range n.ml.Members() {
		if a, ok := netip.AddrFromSlice(node.Addr); ok {
			alive[netip.AddrPortFrom(a.Unmap(), node.Port).String()] = true
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
	n.membersMu.Lock()
	for _, r := range n.members {
		a := r.addr.String()
		if r.state == MemberDead && r.addr.IsValid() && !alive[a] && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	n.membersMu.Unlock()
	return out
}

func portOf(addr string) int {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return 0
	}
	return int(ap.Port())
}
