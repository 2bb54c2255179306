package cluster

import (
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics exposes the node's state; gauges are read at scrape time.
type metrics struct {
	n             *Node
	leaderChanges prometheus.Counter
	peerRefused   *prometheus.CounterVec
	insecure      *prometheus.Desc

	raftState    *prometheus.Desc
	commitIndex  *prometheus.Desc
	appliedIndex *prometheus.Desc
	members      *prometheus.Desc
	degraded     *prometheus.Desc
	fenced       *prometheus.Desc
	sinceQuorum  *prometheus.Desc

	// Raft's own figures (raftmetrics.go, fsm.go).
	commitDuration  prometheus.Histogram
	applyDuration   prometheus.Histogram
	snapStats       snapshotStats
	peerLastContact *prometheus.Desc
	peerLag         *prometheus.Desc
	snapIndex       *prometheus.Desc
	snapSize        *prometheus.Desc
	snapDuration    *prometheus.Desc
	snapTaken       *prometheus.Desc
	snapRestored    *prometheus.Desc
}

func newMetrics(n *Node) *metrics {
	return &metrics{
		n: n,
		leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "quadrature", Subsystem: "cluster", Name: "leader_changes_total",
			Help: "Times this node saw a new Raft leader elected.",
		}),
		peerRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "quadrature", Subsystem: "cluster", Name: "peer_refused_total",
			Help: "Connections and RPCs refused on the Raft port, by reason (revoked, not_a_node, not_a_peer_address, no_identity, rpc_<op>).",
		}, []string{"reason"}),
		insecure: prometheus.NewDesc("quadrature_cluster_insecure",
			"1 when this node runs a group without mutual TLS and a gossip key (insecure yes).", nil, nil),
		raftState: prometheus.NewDesc("quadrature_cluster_raft_state",
			"Raft role of this node: 0 follower, 1 candidate, 2 leader, 3 shutdown.", nil, nil),
		commitIndex: prometheus.NewDesc("quadrature_cluster_commit_index",
			"Raft commit index known to this node.", nil, nil),
		appliedIndex: prometheus.NewDesc("quadrature_cluster_applied_index",
			"Raft index last applied to this node's state machine.", nil, nil),
		members: prometheus.NewDesc("quadrature_cluster_members",
			"Members by gossip state (alive, dead, left, unknown).", []string{"state"}, nil),
		degraded: prometheus.NewDesc("quadrature_cluster_degraded",
			"1 while this node is in degraded mode (cut off from the leader).", nil, nil),
		fenced: prometheus.NewDesc("quadrature_cluster_fenced",
			"1 while this node has lost quorum contact for longer than the leader lease (quorum_fence instances go to FAULT).", nil, nil),
		sinceQuorum: prometheus.NewDesc("quadrature_cluster_quorum_contact_age_seconds",
			"Seconds since this node last had quorum contact (was leader or heard from one).", nil, nil),

		commitDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "quadrature", Subsystem: "raft", Name: "commit_duration_seconds",
			Help:    "On the leader: time from appending a command to the Raft log until its state machine starts applying it (replication to a majority, the commit, the wait for the FSM).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14), // 0.5 ms .. 4 s
		}),
		applyDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "quadrature", Subsystem: "raft", Name: "fsm_apply_duration_seconds",
			Help:    "Time the state machine took to apply one committed command on this node.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16), // 0.1 ms .. 3.3 s
		}),
		peerLastContact: prometheus.NewDesc("quadrature_raft_peer_last_contact_seconds",
			"On the leader: seconds since the peer last answered an AppendEntries (heartbeat or replication) of this node; since this node started if it never did.", []string{"peer"}, nil),
		peerLag: prometheus.NewDesc("quadrature_raft_peer_replication_lag_entries",
			"On the leader: this node's last Raft log index minus the last index the peer reported in its last answer.", []string{"peer"}, nil),
		snapIndex: prometheus.NewDesc("quadrature_raft_snapshot_last_index",
			"Raft index of the newest snapshot in this node's snapshot store (0: none).", nil, nil),
		snapSize: prometheus.NewDesc("quadrature_raft_snapshot_last_size_bytes",
			"Size of the newest snapshot in this node's snapshot store.", nil, nil),
		snapDuration: prometheus.NewDesc("quadrature_raft_snapshot_last_duration_seconds",
			"Time the last snapshot this node took needed, from capturing the state to writing it to disk.", nil, nil),
		snapTaken: prometheus.NewDesc("quadrature_raft_snapshots_total",
			"Snapshots this node took (automatic and asked for) since it started.", nil, nil),
		snapRestored: prometheus.NewDesc("quadrature_raft_snapshot_restores_total",
			"Snapshots restored into this node's state machine since it started (at start, installed from the leader, a user restore).", nil, nil),
	}
}

func (m *metrics) register(r prometheus.Registerer) error {
	if err := r.Register(m.leaderChanges); err != nil {
		return err
	}
	done := []prometheus.Collector{m.leaderChanges}
	for _, c := range []prometheus.Collector{m.peerRefused, m.commitDuration, m.applyDuration, m} {
		if err := r.Register(c); err != nil {
			for _, d := range done {
				r.Unregister(d)
			}
			return err
		}
		done = append(done, c)
	}
	return nil
}

func (m *metrics) unregister(r prometheus.Registerer) {
	for _, c := range []prometheus.Collector{m.leaderChanges, m.peerRefused, m.commitDuration, m.applyDuration, m} {
		r.Unregister(c)
	}
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.raftState, m.commitIndex, m.appliedIndex, m.members, m.degraded, m.fenced, m.sinceQuorum, m.insecure,
		m.peerLastContact, m.peerLag, m.snapIndex, m.snapSize, m.snapDuration, m.snapTaken, m.snapRestored} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	n := m.n
	if !n.running() {
		ch <- prometheus.MustNewConstMetric(m.raftState, prometheus.GaugeValue, float64(raft.Shutdown))
		return
	}
	st := n.Stats()
	ch <- prometheus.MustNewConstMetric(m.insecure, prometheus.GaugeValue, b2f(n.Insecure()))
	ch <- prometheus.MustNewConstMetric(m.raftState, prometheus.GaugeValue, float64(n.raft.State()))
	ch <- prometheus.MustNewConstMetric(m.commitIndex, prometheus.GaugeValue, float64(st.CommitIndex))
	ch <- prometheus.MustNewConstMetric(m.appliedIndex, prometheus.GaugeValue, float64(st.AppliedIndex))
	counts := map[MemberState]int{}
	for _, mb := range n.Members() {
		counts[mb.State]++
	}
	for _, s := range []MemberState{MemberAlive, MemberDead, MemberLeft, MemberUnknown} {
		ch <- prometheus.MustNewConstMetric(m.members, prometheus.GaugeValue, float64(counts[s]), string(s))
	}
	ch <- prometheus.MustNewConstMetric(m.degraded, prometheus.GaugeValue, b2f(st.Degraded))
	ch <- prometheus.MustNewConstMetric(m.fenced, prometheus.GaugeValue, b2f(st.QuorumLost))
	h := n.health.snapshot()
	ch <- prometheus.MustNewConstMetric(m.sinceQuorum, prometheus.GaugeValue, timeSince(h.lastQuorum).Seconds())

	now := time.Now()
	for _, p := range n.PeerReplication() {
		since := n.startedAt
		if !p.LastContact.IsZero() {
			since = p.LastContact
		}
		ch <- prometheus.MustNewConstMetric(m.peerLastContact, prometheus.GaugeValue, max(now.Sub(since), 0).Seconds(), p.ID)
		ch <- prometheus.MustNewConstMetric(m.peerLag, prometheus.GaugeValue, float64(p.LagEntries), p.ID)
	}
	var idx uint64
	var size int64
	if metas, err := n.tracker.snaps.List(); err == nil && len(metas) > 0 {
		idx, size = metas[0].Index, metas[0].Size
	}
	ch <- prometheus.MustNewConstMetric(m.snapIndex, prometheus.GaugeValue, float64(idx))
	ch <- prometheus.MustNewConstMetric(m.snapSize, prometheus.GaugeValue, float64(size))
	ch <- prometheus.MustNewConstMetric(m.snapDuration, prometheus.GaugeValue, time.Duration(m.snapStats.lastDuration.Load()).Seconds())
	ch <- prometheus.MustNewConstMetric(m.snapTaken, prometheus.CounterValue, float64(m.snapStats.taken.Load()))
	ch <- prometheus.MustNewConstMetric(m.snapRestored, prometheus.CounterValue, float64(m.snapStats.restored.Load()))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
