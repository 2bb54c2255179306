package agent

import (
	"net"
	"net/netip"
	"quadrature/cluster"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"quadrature/fsm"
	"quadrature/vrrp"
)

// opsMetrics are the agent's operations metrics: what the dashboard and the
// alert rules of deploy/monitoring need per node and that no leaf exports.
// Everything is read at scrape time.
//
//	quadrature_cluster_node_info{node,role,backend}       always 1
//	quadrature_cluster_config_version                     committed config version applied here (0 none)
//	quadrature_cluster_leader_info{leader}                1 with the leader this node follows; 0 with leader="" when it knows none
//	quadrature_cluster_table_digest_info{digest}          always 1: digest of the kernel table as last read (directors)
//	quadrature_cluster_table_in_sync                      1 when that digest is the table the node wants programmed (directors)
//	quadrature_virtualserver_quorum_up{vs}                1 while the virtual server's quorum is up (keepalived quorum/hysteresis)
//	quadrature_virtualserver_alive_weight{vs}             alive weight sum compared with the quorum
//	quadrature_virtualserver_quorum{vs}                   configured quorum
//	quadrature_vrrp_vip_held{instance,vrid,vip}           1 when the virtual address is on one of this host's interfaces
//
// vs is the API's virtual service ID (as in quadrature_realserver_up);
// instance is the VRRP instance, as in the other quadrature_vrrp_*
// metrics (a Prometheus server renames it exported_instance).
type opsMetrics struct {
	a *Agent
	// What the collector reads besides the agent's own fields (tests
	// replace them): the host's interface addresses; the Raft leader this
	// node knows (running false before the node runs); the VRRP status
	// (nil without VRRP).
	addrs      func() ([]netip.Addr, error)
	leaderOf   func() (leader string, running bool)
	vrrpStatus func() []vrrp.InstanceStatus

	nodeInfo, configVersion, leader, digest, inSync *prometheus.Desc
	quorumUp, aliveWeight, quorum, vipHeld          *prometheus.Desc
}

func newOpsMetrics(a *Agent) *opsMetrics {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &opsMetrics{
		a:     a,
		addrs: hostAddrs,
		leaderOf: func() (string, bool) {
			if n := a.Node(); n != nil {
				return n.LeaderName(), true
			}
			return "", false
		},
		vrrpStatus: func() []vrrp.InstanceStatus {
			if v := a.VRRP(); v != nil {
				return v.Status()
			}
			return nil
		},
		nodeInfo: d("quadrature_cluster_node_info",
			"Always 1: this node's name in the group, its role (voter, witness) and data plane (ipvs, nftables, memory; \"\" on a witness or before start).",
			"node", "role", "backend"),
		configVersion: d("quadrature_cluster_config_version",
			"Version of the committed configuration this node's state machine has applied (0: none yet)."),
		leader: d("quadrature_cluster_leader_info",
			"1 with the name of the Raft leader this node knows; 0 with leader=\"\" while it knows none.",
			"leader"),
		digest: d("quadrature_cluster_table_digest_info",
			"Always 1: digest of this director's kernel table as last read (the one gossiped to peers and shown in status).",
			"digest"),
		inSync: d("quadrature_cluster_table_in_sync",
			"1 when this director's kernel table digest is that of the table it wants programmed (the committed one, or its own view in degraded mode)."),
		quorumUp: d("quadrature_virtualserver_quorum_up",
			"1 while the virtual server's quorum is up (alive weight sum against quorum and hysteresis, as keepalived), in the state this node programs.",
			"vs"),
		aliveWeight: d("quadrature_virtualserver_alive_weight",
			"Sum of the weights of the virtual server's real servers whose verdict is up (drained ones count 0), compared with its quorum.",
			"vs"),
		quorum: d("quadrature_virtualserver_quorum",
			"Configured quorum of the virtual server (keepalived quorum, default 1).",
			"vs"),
		vipHeld: d("quadrature_vrrp_vip_held",
			"1 when the instance's virtual address is configured on one of this host's interfaces (0 otherwise), whatever the VRRP state says.",
			"instance", "vrid", "vip"),
	}
}

// registerOpsMetrics registers the operations metrics on the agent's
// registry; a failure is logged, the agent runs without them.
func (a *Agent) registerOpsMetrics() {
	if err := a.reg.Register(newOpsMetrics(a)); err != nil {
		a.log.Error("agent: operations metrics not registered", "err", err)
	}
}

// Describe implements prometheus.Collector.
func (m *opsMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.nodeInfo, m.configVersion, m.leader, m.digest, m.inSync,
		m.quorumUp, m.aliveWeight, m.quorum, m.vipHeld} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *opsMetrics) Collect(ch chan<- prometheus.Metric) {
	a := m.a
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(m.nodeInfo, 1, a.name, string(a.role), a.BackendName())
	st := a.fsm.State()
	gauge(m.configVersion, float64(st.ConfigVersion()))
	if l, running := m.leaderOf(); running {
		gauge(m.leader, b2f(l != ""), l)
	}
	if a.role == cluster.RoleVoter {
		want := a.desiredDigest()
		a.mu.Lock()
		digest := a.digest
		a.mu.Unlock()
		if digest != "" {
			gauge(m.digest, 1, digest)
		}
		if want != "" {
			gauge(m.inSync, b2f(digest == want))
		}
	}
	m.collectQuorums(gauge)
	if sts := m.vrrpStatus(); len(sts) > 0 {
		m.collectVIPs(sts, gauge)
	}
}

// collectQuorums exports the quorum of every virtual server of the state
// this node programs (ViewState: its own view in degraded mode).
func (m *opsMetrics) collectQuorums(gauge func(*prometheus.Desc, float64, ...string)) {
	a := m.a
	if a.role != cluster.RoleVoter || a.fsm.State().ConfigVersion() == 0 {
		return
	}
	st := a.ViewState()
	c, err := st.Config(a.name)
	if err != nil {
		return
	}
	qs := map[string]fsm.QuorumState{}
	for _, q := range st.Quorums() {
		qs[q.VS] = q
	}
	seen := map[string]bool{}
	for i := range c.VirtualServers {
		vs := &c.VirtualServers[i]
		id := vs.ID()
		q, ok := qs[id]
		if !ok || seen[id] {
			continue
		}
		seen[id] = true
		gauge(m.quorumUp, b2f(q.Up), id)
		gauge(m.aliveWeight, float64(q.WeightSum), id)
		gauge(m.quorum, float64(q.Quorum), id)
	}
}

// collectVIPs says, for every virtual address of every instance, whether
// this host has it on an interface.
func (m *opsMetrics) collectVIPs(sts []vrrp.InstanceStatus, gauge func(*prometheus.Desc, float64, ...string)) {
	have, err := m.addrs()
	if err != nil {
		m.a.log.Warn("agent: reading interface addresses for metrics failed", "err", err)
		return
	}
	held := map[netip.Addr]bool{}
	for _, a := range have {
		held[a.Unmap()] = true
	}
	seen := map[[3]string]bool{}
	for _, s := range sts {
		vrid := strconv.Itoa(s.VRID)
		for _, p := range s.VIPs {
			k := [3]string{s.Name, vrid, p.Addr().Unmap().String()}
			if seen[k] {
				continue
			}
			seen[k] = true
			gauge(m.vipHeld, b2f(held[p.Addr().Unmap()]), k[:]...)
		}
	}
}

// hostAddrs lists the addresses of every interface of the host (of the
// network namespace the agent runs in).
func hostAddrs() ([]netip.Addr, error) {
	as, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	out := make([]netip.Addr, 0, len(as))
	for _, a := range as {
		var ip net.IP
		switch v := a.(type) {
		case *net.IPNet:
			ip = v.IP
		case *net.IPAddr:
			ip = v.IP
		}
		if addr, ok := netip.AddrFromSlice(ip); ok {
			out = append(out, addr.Unmap())
		}
	}
	return out, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
