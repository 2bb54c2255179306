package cluster

import (
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
	}
}

func (m *metrics) register(r prometheus.Registerer) error {
	if err := r.Register(m.leaderChanges); err != nil {
		return err
	}
	if err := r.Register(m.peerRefused); err != nil {
		r.Unregister(m.leaderChanges)
		return err
	}
	if err := r.Register(m); err != nil {
		r.Unregister(m.leaderChanges)
		r.Unregister(m.peerRefused)
		return err
	}
	return nil
}

func (m *metrics) unregister(r prometheus.Registerer) {
	r.Unregister(m.leaderChanges)
	r.Unregister(m.peerRefused)
	r.Unregister(m)
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.raftState, m.commitIndex, m.appliedIndex, m.members, m.degraded, m.fenced, m.sinceQuorum, m.insecure} {
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
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
