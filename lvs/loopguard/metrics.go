package loopguard

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the guard's Prometheus metrics; a nil *metrics (no
// Registerer) records nothing.
type metrics struct {
	writes  *prometheus.CounterVec
	peers   prometheus.Gauge
	targets prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "quadrature", Subsystem: "loopguard", Name: "writes_total",
			Help: "Batches written to the active-active loop guard table, by reason (change, drift, remove).",
		}, []string{"reason"}),
		peers: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "quadrature", Subsystem: "loopguard", Name: "peer_macs",
			Help: "Peer director MAC addresses in the loop guard set.",
		}),
		targets: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "quadrature", Subsystem: "loopguard", Name: "targets",
			Help: "DR virtual services this node serves locally when a peer forwards them.",
		}),
	}
	for _, c := range []prometheus.Collector{m.writes, m.peers, m.targets} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("loopguard: metrics already registered (one Guard per registry): %w", err)
			}
			return nil, fmt.Errorf("loopguard: register metrics: %w", err)
		}
	}
	for _, r := range []string{"change", "drift", "remove"} {
		m.writes.WithLabelValues(r)
	}
	return m, nil
}

func (m *metrics) write(reason string) {
	if m != nil {
		m.writes.WithLabelValues(reason).Inc()
	}
}

func (m *metrics) set(d Desired) {
	if m == nil {
		return
	}
	if d.Empty() {
		m.peers.Set(0)
		m.targets.Set(0)
		return
	}
	m.peers.Set(float64(len(d.Peers)))
	m.targets.Set(float64(len(d.Targets)))
}
