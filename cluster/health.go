package cluster

import (
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// healthState tracks quorum contact: the last moment this node was leader
// (a leader steps down once it has not heard from a quorum for the leader
// lease) or heard from a leader. From it follow degraded mode (docs/design.md, decision 4,
// after DegradedAfter) and the fencing signal (decision 5, after the
// leader lease).
type healthState struct {
	mu              sync.Mutex
	lastQuorum      time.Time
	degraded        bool
	degradedSince   time.Time
	quorumLost      bool
	quorumLostSince time.Time
}

type healthSnapshot struct {
	lastQuorum      time.Time
	degraded        bool
	degradedSince   time.Time
	quorumLost      bool
	quorumLostSince time.Time
}

func (h *healthState) init(now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastQuorum = now
}

// observe folds one sample in and reports which flags changed.
func (h *healthState) observe(now time.Time, leader bool, lastContact time.Time, degradedAfter, lease time.Duration) (degradedChanged, quorumChanged bool, s healthSnapshot) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if leader {
		h.lastQuorum = now
	} else if lastContact.After(h.lastQuorum) {
		h.lastQuorum = lastContact
	}
	gap := now.Sub(h.lastQuorum)
	deg := gap > degradedAfter
	lost := gap > lease
	if deg != h.degraded {
		h.degraded, degradedChanged = deg, true
	}
	if lost != h.quorumLost {
		h.quorumLost, quorumChanged = lost, true
	}
	h.degradedSince, h.quorumLostSince = time.Time{}, time.Time{}
	if h.degraded {
		h.degradedSince = h.lastQuorum
	}
	if h.quorumLost {
		h.quorumLostSince = h.lastQuorum
	}
	return degradedChanged, quorumChanged, h.snapshotLocked()
}

func (h *healthState) snapshot() healthSnapshot {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.snapshotLocked()
}

func (h *healthState) snapshotLocked() healthSnapshot {
	return healthSnapshot{
		lastQuorum: h.lastQuorum, degraded: h.degraded, degradedSince: h.degradedSince,
		quorumLost: h.quorumLost, quorumLostSince: h.quorumLostSince,
	}
}

// Degraded reports degraded mode: no contact with a leader (and not leader
// with a quorum) for longer than DegradedAfter. The node should then act on
// its own verdicts, as keepalived would.
func (n *Node) Degraded() bool { return n.health.snapshot().degraded }

// QuorumLost is the fencing signal: lost is true when this node has had no
// quorum contact for longer than the leader lease, and since is the last
// moment it had such contact. Expect up to about three leases of delay on a
// former leader (raft steps a leader down one to two leases after it loses
// its quorum).
func (n *Node) QuorumLost() (since time.Time, lost bool) {
	s := n.health.snapshot()
	return s.quorumLostSince, s.quorumLost
}

// monitorLoop samples Raft for the health flags.
func (n *Node) monitorLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.Timing.MonitorInterval)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case now := <-t.C:
			n.sampleHealth(now)
		}
	}
}

func (n *Node) sampleHealth(now time.Time) {
	leader := n.raft.State() == raft.Leader
	dc, qc, s := n.health.observe(now, leader, n.raft.LastContact(), n.cfg.DegradedAfter, n.cfg.Timing.LeaderLeaseTimeout)
	if dc {
		n.logger.Warn("degraded mode changed", "degraded", s.degraded, "last_quorum_contact", s.lastQuorum)
		n.subs.publish(Event{Kind: EventDegraded, Time: now, Degraded: s.degraded})
	}
	if qc {
		n.logger.Warn("quorum contact changed", "quorum_lost", s.quorumLost, "last_quorum_contact", s.lastQuorum)
		n.subs.publish(Event{Kind: EventQuorum, Time: now, QuorumLost: s.quorumLost})
	}
}

// observeLoop turns Raft observations into leader-change events.
func (n *Node) observeLoop() {
	defer n.wg.Done()
	last := ""
	for {
		select {
		case <-n.ctx.Done():
			return
		case o := <-n.obsCh:
			lo, ok := o.Data.(raft.LeaderObservation)
			if !ok {
				continue
			}
			leader := string(lo.LeaderID)
			if leader == last {
				continue
			}
			last = leader
			isLeader := leader == n.cfg.NodeName
			if leader != "" {
				n.leaderChanges.Add(1)
				n.metrics.leaderChanges.Inc()
			}
			n.logger.Info("leader changed", "leader", leader, "self", isLeader)
			n.subs.publish(Event{Kind: EventLeaderChange, Time: time.Now(), Leader: leader, IsLeader: isLeader})
			if isLeader {
				n.triggerReconcile()
			}
		}
	}
}

func timeSince(t time.Time) time.Duration {
	if t.IsZero() {
		return 0
	}
	return time.Since(t)
}
