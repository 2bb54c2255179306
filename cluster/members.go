package cluster

import (
	"fmt"
	"net/netip"
	"sort"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"
)

// MemberState is a member's gossip state.
type MemberState string

const (
	// MemberAlive: alive in gossip. memberlist v0.7.0 does not expose its
	// "suspect" state, so a suspected member stays alive until declared
	// dead.
	MemberAlive MemberState = "alive"
	MemberDead  MemberState = "dead"
	MemberLeft  MemberState = "left"
	// MemberUnknown: in the Raft configuration but never seen by gossip.
	MemberUnknown MemberState = "unknown"
)

// Suffrage is a member's place in the Raft configuration.
type Suffrage string

const (
	SuffrageVoter    Suffrage = "voter"
	SuffrageNonvoter Suffrage = "nonvoter"
	// SuffrageNone: known to gossip, not in the Raft configuration.
	SuffrageNone Suffrage = "none"
)

// Member is one node as this node sees it.
type Member struct {
	Name      string
	Addr      netip.AddrPort // gossip address (invalid when unknown)
	RaftAddr  string
	State     MemberState
	Since     time.Time // when this node last saw the state change
	Meta      Meta
	MetaError string // why the metadata could not be read, if so
	Suffrage  Suffrage
	Leader    bool
	Self      bool
}

// memberRecord is what the event delegate keeps per node.
type memberRecord struct {
	addr    netip.AddrPort
	meta    Meta
	metaErr error
	state   MemberState
	since   time.Time
}

func recordFrom(node *memberlist.Node, state MemberState) *memberRecord {
	r := &memberRecord{state: state, since: time.Now()}
	if a, ok := netip.AddrFromSlice(node.Addr); ok {
		r.addr = netip.AddrPortFrom(a.Unmap(), node.Port)
	}
	r.meta, r.metaErr = decodeMeta(node.Meta)
	return r
}

// Members lists every node known to gossip or to the Raft configuration,
// sorted by name.
func (n *Node) Members() []Member {
	if !n.running() {
		return nil
	}
	byName := map[string]*Member{}
	n.membersMu.Lock()
	for name, r := range n.members {
		m := &Member{Name: name, Addr: r.addr, State: r.state, Since: r.since, Meta: r.meta.clone(), Suffrage: SuffrageNone}
		m.RaftAddr = r.meta.RaftAddr
		if r.metaErr != nil {
			m.MetaError = r.metaErr.Error()
		}
		byName[name] = m
	}
	n.membersMu.Unlock()
	if self, ok := byName[n.cfg.NodeName]; ok {
		self.Meta = n.Metadata()
		self.RaftAddr = n.raftAddr
	}
	_, leader := n.raft.LeaderWithID()
	if f := n.raft.GetConfiguration(); f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			m, ok := byName[string(s.ID)]
			if !ok {
				m = &Member{Name: string(s.ID), State: MemberUnknown}
				byName[string(s.ID)] = m
			}
			m.RaftAddr = string(s.Address)
			switch s.Suffrage {
			case raft.Voter:
				m.Suffrage = SuffrageVoter
			default:
				m.Suffrage = SuffrageNonvoter
			}
		}
	}
	out := make([]Member, 0, len(byName))
	for _, name := range sortedKeys(byName) {
		m := byName[name]
		m.Leader = leader != "" && string(leader) == name
		m.Self = name == n.cfg.NodeName
		out = append(out, *m)
	}
	return out
}

// LiveReporters names the members whose observations count for verdicts:
// alive in gossip, role voter (witnesses run no checks), this node
// included. Sorted.
func (n *Node) LiveReporters() []string {
	if !n.running() {
		return nil
	}
	var out []string
	for name, r := range n.memberRecords() {
		if r.state == MemberAlive && r.metaErr == nil && r.meta.Role == RoleVoter {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// memberRecords copies what the event delegate recorded. (memberlist's
// own Members() hands out nodes it keeps mutating, so reading their fields
// would race.)
func (n *Node) memberRecords() map[string]memberRecord {
	n.membersMu.Lock()
	defer n.membersMu.Unlock()
	out := make(map[string]memberRecord, len(n.members))
	for name, r := range n.members {
		out[name] = *r
	}
	return out
}

// LeaderName is the current leader's node name, "" when none is known.
func (n *Node) LeaderName() string {
	if !n.running() {
		return ""
	}
	_, id := n.raft.LeaderWithID()
	return string(id)
}

// IsLeader reports whether this node is the Raft leader.
func (n *Node) IsLeader() bool {
	return n.running() && n.raft.State() == raft.Leader
}

// RaftState is this node's Raft role: Follower, Candidate, Leader, Shutdown.
func (n *Node) RaftState() raft.RaftState {
	if !n.running() {
		return raft.Shutdown
	}
	return n.raft.State()
}

// Stats is a snapshot of this node's Raft and health figures.
type Stats struct {
	State           string
	Term            uint64
	LastLogIndex    uint64
	CommitIndex     uint64
	AppliedIndex    uint64
	LastContact     time.Time // last contact with the leader (followers)
	Leader          string
	Degraded        bool
	DegradedSince   time.Time
	QuorumLost      bool
	QuorumLostSince time.Time
	LeaderChanges   uint64
}

// Stats returns current figures.
func (n *Node) Stats() Stats {
	if !n.running() {
		return Stats{State: raft.Shutdown.String()}
	}
	h := n.health.snapshot()
	_, leader := n.raft.LeaderWithID()
	return Stats{
		State:           n.raft.State().String(),
		Term:            n.raft.CurrentTerm(),
		LastLogIndex:    n.raft.LastIndex(),
		CommitIndex:     n.raft.CommitIndex(),
		AppliedIndex:    n.raft.AppliedIndex(),
		LastContact:     n.raft.LastContact(),
		Leader:          string(leader),
		Degraded:        h.degraded,
		DegradedSince:   h.degradedSince,
		QuorumLost:      h.quorumLost,
		QuorumLostSince: h.quorumLostSince,
		LeaderChanges:   n.leaderChanges.Load(),
	}
}

// Metadata returns this node's current gossip metadata.
func (n *Node) Metadata() Meta {
	n.metaMu.Lock()
	defer n.metaMu.Unlock()
	return n.meta.clone()
}

// UpdateMetadata replaces the caller-owned metadata fields (APIAddr, MACs,
// TableDigest, Extra) and gossips them. Role, RaftAddr, BootstrapExpect and
// Leaving in m are ignored.
func (n *Node) UpdateMetadata(m Meta) error {
	if !n.running() {
		return ErrShutdown
	}
	n.metaMu.Lock()
	old := n.meta
	next := m.clone()
	next.Role, next.RaftAddr, next.BootstrapExpect, next.Leaving = old.Role, old.RaftAddr, old.BootstrapExpect, old.Leaving
	if _, err := next.encode(); err != nil {
		n.metaMu.Unlock()
		return err
	}
	n.meta = next
	n.metaMu.Unlock()
	if err := n.ml.UpdateNode(n.cfg.Timing.TCPTimeout); err != nil {
		return fmt.Errorf("cluster: gossip metadata update: %w", err)
	}
	return nil
}

// gossipDelegate hands memberlist our metadata; no user messages.
type gossipDelegate struct{ n *Node }

func (d *gossipDelegate) NodeMeta(limit int) []byte {
	d.n.metaMu.Lock()
	defer d.n.metaMu.Unlock()
	b, err := d.n.meta.encode()
	if err != nil || len(b) > limit {
		d.n.logger.Error("node metadata cannot be gossiped", "err", err, "limit", limit)
		return nil
	}
	return b
}

func (d *gossipDelegate) NotifyMsg([]byte)                           {}
func (d *gossipDelegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *gossipDelegate) LocalState(join bool) []byte                { return nil }
func (d *gossipDelegate) MergeRemoteState(buf []byte, join bool)     {}

// eventDelegate records membership changes. memberlist calls it with its
// own locks held: it must not call back into memberlist or block.
type eventDelegate struct{ n *Node }

func (d *eventDelegate) NotifyJoin(node *memberlist.Node) {
	d.record(node, MemberAlive, EventMemberJoin)
}

func (d *eventDelegate) NotifyLeave(node *memberlist.Node) {
	// memberlist v0.7.0 passes the embedded Node whose State field is not
	// updated, so a graceful leave is recognised by the Leaving flag the
	// node gossips in its metadata before it goes.
	meta, err := decodeMeta(node.Meta)
	if node.State == memberlist.StateLeft || (err == nil && meta.Leaving) {
		d.record(node, MemberLeft, EventMemberLeave)
		return
	}
	d.record(node, MemberDead, EventMemberFailed)
}

func (d *eventDelegate) NotifyUpdate(node *memberlist.Node) {
	d.record(node, MemberAlive, EventMemberUpdate)
}

func (d *eventDelegate) record(node *memberlist.Node, state MemberState, kind EventKind) {
	n := d.n
	r := recordFrom(node, state)
	n.membersMu.Lock()
	if old, ok := n.members[node.Name]; ok && old.state == state {
		r.since = old.since
	}
	n.members[node.Name] = r
	n.membersMu.Unlock()
	if r.metaErr != nil && node.Name != n.cfg.NodeName {
		n.logger.Warn("member metadata unreadable", "member", node.Name, "err", r.metaErr)
	}
	n.logger.Info("member "+string(state), "member", node.Name, "addr", r.addr.String(), "event", kind.String())
	n.subs.publish(Event{Kind: kind, Time: time.Now(), Member: node.Name, MemberState: state})
	n.triggerReconcile()
	if kind == EventMemberJoin && node.Name != n.cfg.NodeName {
		select {
		case n.announceCh <- struct{}{}:
		default:
		}
	}
}

// announceLoop gossips this node's metadata again after another member
// joined. A newcomer learns the members' state from the one peer it
// pushes and pulls with at its join; a metadata update (a new table
// digest) that peer had not received yet, and whose broadcasts were spent
// before the newcomer was a member, would otherwise reach it only at the
// next periodic push/pull (15 s with tuned timing; found by
// TestAgentJoinFive: n5 kept n4's empty-table digest). Joins are rare, the
// broadcast is one small message per member.
func (n *Node) announceLoop() {
	defer n.wg.Done()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.announceCh:
		}
		// Let a burst of joins (a group starting) settle into one update.
		select {
		case <-n.ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
		select {
		case <-n.announceCh:
		default:
		}
		if n.ml == nil {
			continue
		}
		if err := n.ml.UpdateNode(n.cfg.Timing.TCPTimeout); err != nil {
			n.logger.Debug("gossip: re-announce after a join not confirmed", "err", err)
		}
	}
}
