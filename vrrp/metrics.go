package vrrp

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// metricsCollector exposes Node.Status as quadrature_vrrp_* metrics at
// scrape time, so counters never drift from the state machines.
type metricsCollector struct {
	n *Node

	state, prio, base, lastTransition                  *prometheus.Desc
	transitions, sent, received, dropped, masterChange *prometheus.Desc
	prioZeroSent, prioZeroRecv, addrMismatch           *prometheus.Desc
	ownerAdverts, foreignMaster                        *prometheus.Desc
}

// RegisterMetrics registers the node's metrics on reg:
//
//	quadrature_vrrp_state{instance,vrid}                  0 INIT 1 BACKUP 2 MASTER 3 FAULT 4 STOP
//	quadrature_vrrp_priority{instance,vrid}               effective priority
//	quadrature_vrrp_base_priority{instance,vrid}
//	quadrature_vrrp_last_transition_timestamp_seconds{instance,vrid}
//	quadrature_vrrp_transitions_total{instance,vrid}
//	quadrature_vrrp_adverts_sent_total{instance,vrid}
//	quadrature_vrrp_adverts_received_total{instance,vrid}
//	quadrature_vrrp_priority_zero_sent_total{instance,vrid}
//	quadrature_vrrp_priority_zero_received_total{instance,vrid}
//	quadrature_vrrp_packets_dropped_total{instance,vrid,reason}
//	quadrature_vrrp_master_changes_total{instance,vrid}
//	quadrature_vrrp_address_list_mismatch_total{instance,vrid}
//	quadrature_vrrp_owner_adverts_total{instance,vrid}    priority 255 adverts from another node
//	quadrature_vrrp_foreign_master{instance,vrid}         1 while the master is outside the group
//
// Adverts with a wrong v2 password (or authentication type) are counted
// in quadrature_vrrp_packets_dropped_total{reason="auth"}.
func (n *Node) RegisterMetrics(reg prometheus.Registerer) error {
	l := []string{"instance", "vrid"}
	d := func(name, help string, extra ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName("quadrature", "vrrp", name), help, append(append([]string(nil), l...), extra...), nil)
	}
	c := &metricsCollector{
		n:              n,
		state:          d("state", "VRRP state: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT, 4 STOP."),
		prio:           d("priority", "Effective VRRP priority."),
		base:           d("base_priority", "Base VRRP priority (configured or set at run time)."),
		lastTransition: d("last_transition_timestamp_seconds", "Unix time of the last state transition."),
		transitions:    d("transitions_total", "State transitions."),
		sent:           d("adverts_sent_total", "Advertisements sent."),
		received:       d("adverts_received_total", "Valid advertisements received."),
		prioZeroSent:   d("priority_zero_sent_total", "Priority 0 (release) advertisements sent."),
		prioZeroRecv:   d("priority_zero_received_total", "Priority 0 (release) advertisements received."),
		dropped:        d("packets_dropped_total", "Received packets dropped, by reason.", "reason"),
		masterChange:   d("master_changes_total", "Changes of the observed master address."),
		addrMismatch:   d("address_list_mismatch_total", "Accepted adverts whose address list differs from ours."),
		ownerAdverts:   d("owner_adverts_total", "Valid adverts of priority 255 (address owner) from another node; they take the virtual addresses."),
		foreignMaster:  d("foreign_master", "1 while the instance follows a master that is not a member of the group (SetKnownPeers), else 0."),
	}
	return reg.Register(c)
}

func (c *metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.state, c.prio, c.base, c.lastTransition, c.transitions, c.sent, c.received, c.prioZeroSent, c.prioZeroRecv, c.dropped, c.masterChange, c.addrMismatch, c.ownerAdverts, c.foreignMaster} {
		ch <- d
	}
}

func (c *metricsCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.n.Status() {
		lv := []string{s.Name, strconv.Itoa(s.VRID)}
		g := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
		}
		cnt := func(d *prometheus.Desc, v uint64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), lv...)
		}
		g(c.state, float64(s.State))
		g(c.prio, float64(s.Priority))
		g(c.base, float64(s.BasePriority))
		if !s.LastTransition.IsZero() {
			g(c.lastTransition, float64(s.LastTransition.UnixNano())/1e9)
		}
		k := s.Counters
		cnt(c.transitions, k.Transitions)
		cnt(c.sent, k.AdvertsSent)
		cnt(c.received, k.AdvertsReceived)
		cnt(c.prioZeroSent, k.PriorityZeroSent)
		cnt(c.prioZeroRecv, k.PriorityZeroReceived)
		cnt(c.masterChange, k.MasterChanges)
		cnt(c.addrMismatch, k.AddrListMismatch)
		cnt(c.ownerAdverts, k.OwnerAdverts)
		foreign := 0.0
		if s.ForeignMaster.IsValid() {
			foreign = 1
		}
		g(c.foreignMaster, foreign)
		for _, r := range AllDropReasons {
			ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(k.Drops[r]), append(lv, string(r))...)
		}
	}
}
