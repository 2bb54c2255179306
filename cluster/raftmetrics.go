package cluster

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// peerTransport is the Raft transport with the leader's view of its
// followers: every AppendEntries that gets an answer (the heartbeats, sent
// every tenth of the heartbeat timeout, and the replication RPCs outside
// the pipeline) records when the peer last answered and the last log index
// it reported. The pipeline's answers are not seen; the heartbeats alone
// keep both figures within a heartbeat interval of the truth. Everything
// else is the embedded NetworkTransport's (Close and RequestPreVote too,
// which raft looks for by type assertion).
type peerTransport struct {
	*raft.NetworkTransport
	peers *peerContacts
}

func (t *peerTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	err := t.NetworkTransport.AppendEntries(id, target, args, resp)
	if err == nil {
		t.peers.contact(string(id), resp.LastLog, time.Now())
	}
	return err
}

// peerContacts holds, per server ID, the last answer to an AppendEntries.
type peerContacts struct {
	mu sync.Mutex
	m  map[string]peerContact
}

type peerContact struct {
	at      time.Time
	lastLog uint64
}

func (p *peerContacts) contact(id string, lastLog uint64, at time.Time) {
	p.mu.Lock()
	if p.m == nil {
		p.m = map[string]peerContact{}
	}
	p.m[id] = peerContact{at: at, lastLog: lastLog}
	p.mu.Unlock()
}

func (p *peerContacts) get(id string) (peerContact, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.m[id]
	return c, ok
}

// PeerReplication is the leader's view of one other server of the Raft
// configuration.
type PeerReplication struct {
	ID       string
	Suffrage string // voter, nonvoter
	// LastContact is when the peer last answered an AppendEntries of this
	// node (zero: never, since this node started).
	LastContact time.Time
	// LagEntries is this node's last log index minus the last index the
	// peer reported (this node's last index when it never answered).
	LagEntries uint64
}

// PeerReplication returns, on the leader, every other server of the Raft
// configuration with its last contact and replication lag; nil on a node
// that is not the leader (followers replicate to nobody).
func (n *Node) PeerReplication() []PeerReplication {
	if !n.running() || n.raft.State() != raft.Leader {
		return nil
	}
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	last := n.raft.LastIndex()
	var out []PeerReplication
	for _, s := range f.Configuration().Servers {
		if string(s.ID) == n.cfg.NodeName {
			continue
		}
		pr := PeerReplication{ID: string(s.ID), Suffrage: suffrageName(s.Suffrage), LagEntries: last}
		if c, ok := n.peers.get(string(s.ID)); ok {
			pr.LastContact = c.at
			if c.lastLog < last {
				pr.LagEntries = last - c.lastLog
			} else {
				pr.LagEntries = 0
			}
		}
		out = append(out, pr)
	}
	return out
}

func suffrageName(s raft.ServerSuffrage) string {
	switch s {
	case raft.Voter:
		return "voter"
	case raft.Nonvoter:
		return "nonvoter"
	}
	return "staging"
}

// snapshotStats counts the snapshots this node took and restored.
type snapshotStats struct {
	taken        atomic.Uint64
	restored     atomic.Uint64
	lastDuration atomic.Int64 // nanoseconds: capture and persist of the last one taken
}

// timedSnapshot measures a snapshot from its capture (FSM.Snapshot) to the
// end of Persist, and the bytes written to the store.
type timedSnapshot struct {
	inner raft.FSMSnapshot
	start time.Time
	m     *metrics
}

func (s *timedSnapshot) Persist(sink raft.SnapshotSink) error {
	err := s.inner.Persist(sink)
	if err == nil {
		st := &s.m.snapStats
		st.taken.Add(1)
		st.lastDuration.Store(int64(time.Since(s.start)))
	}
	return err
}

func (s *timedSnapshot) Release() { s.inner.Release() }

// DegradedAfter is how long this node may be cut off from a leader before
// it runs degraded (Config.DegradedAfter with its default).
func (n *Node) DegradedAfter() time.Duration { return n.cfg.DegradedAfter }

// LeaderLease is the Raft leader lease: a node without quorum contact for
// longer is fenced.
func (n *Node) LeaderLease() time.Duration { return n.cfg.Timing.LeaderLeaseTimeout }
