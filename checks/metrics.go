package checks

import (
	"errors"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The checks' metrics name real servers with the labels vs and rs of
// quadrature's one ID scheme (docs/design.md, "Identifiers"): the agent's
// real-server IDs are "VS RS" (RealServerSpec.ID), split here at the last
// space. The group's verdict of the same real server is
// quadrature_realserver_up{vs,rs} (package api); this node's own is
// quadrature_realserver_local_up{vs,rs}, so the two join on vs and rs.
type metrics struct {
	results     *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	lastLatency *prometheus.GaugeVec
	checkerUp   *prometheus.GaugeVec
	rsUp        *prometheus.GaugeVec
	rsWeight    *prometheus.GaugeVec
	inflight    prometheus.Gauge
	checkers    prometheus.Gauge
}

var (
	rsLabelNames      = []string{"vs", "rs"}
	checkerLabelNames = []string{"vs", "rs", "checker", "kind"}
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "quadrature", Subsystem: "check", Name: "results_total",
			Help: "Checker runs by checker kind and outcome (ok, refused, timeout, bad_status, ...).",
		}, []string{"kind", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "quadrature", Subsystem: "check", Name: "duration_seconds",
			Help:    "Duration of one checker run.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"kind"}),
		lastLatency: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "quadrature", Subsystem: "check", Name: "last_duration_seconds",
			Help: "Duration of each checker's last run (the real server's check latency).",
		}, checkerLabelNames),
		checkerUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "quadrature", Subsystem: "check", Name: "up",
			Help: "Current state of each checker of a real server on this node (1 up, 0 down).",
		}, checkerLabelNames),
		rsUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "quadrature", Subsystem: "realserver", Name: "local_up",
			Help: "This node's own verdict of each real server (1 when all its checkers are up); the group's is quadrature_realserver_up.",
		}, rsLabelNames),
		rsWeight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "quadrature", Subsystem: "realserver", Name: "local_weight",
			Help: "This node's effective weight of each real server (dynamic MISC_CHECK/FILE_CHECK applied).",
		}, rsLabelNames),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "quadrature", Subsystem: "check", Name: "in_flight",
			Help: "Checks currently running.",
		}),
		checkers: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "quadrature", Subsystem: "check", Name: "checkers",
			Help: "Checkers currently scheduled.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.results, m.duration, m.lastLatency, m.checkerUp, m.rsUp, m.rsWeight, m.inflight, m.checkers} {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, errors.Join(errors.New("checks: register metrics"), err)
	}
	return m, nil
}

// splitRS returns the vs and rs labels of a real-server ID ("VS RS"); an
// ID without a space is the rs label alone.
func splitRS(id string) (vs, rs string) {
	if i := strings.LastIndexByte(id, ' '); i >= 0 {
		return id[:i], id[i+1:]
	}
	return "", id
}

func (m *metrics) observe(c *checkerState, outcome string, d time.Duration) {
	if outcome == "" {
		outcome = "error"
	}
	m.results.WithLabelValues(string(c.spec.Kind), outcome).Inc()
	m.duration.WithLabelValues(string(c.spec.Kind)).Observe(d.Seconds())
	if c.latency == nil {
		// Looked up once per checker, not per check: only the goroutine
		// completing the checker's run touches it (one run at a time).
		vs, rs := splitRS(c.rs.id)
		c.latency = m.lastLatency.WithLabelValues(vs, rs, c.key, string(c.spec.Kind))
	}
	c.latency.Set(d.Seconds())
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (m *metrics) setChecker(id string, c *checkerState) {
	vs, rs := splitRS(id)
	m.checkerUp.WithLabelValues(vs, rs, c.key, string(c.spec.Kind)).Set(b2f(c.up))
}

func (m *metrics) forgetChecker(id string, c *checkerState) {
	vs, rs := splitRS(id)
	m.checkerUp.DeleteLabelValues(vs, rs, c.key, string(c.spec.Kind))
	m.lastLatency.DeleteLabelValues(vs, rs, c.key, string(c.spec.Kind))
}

func (m *metrics) setRS(id string, up bool, w int) {
	vs, rs := splitRS(id)
	m.rsUp.WithLabelValues(vs, rs).Set(b2f(up))
	m.rsWeight.WithLabelValues(vs, rs).Set(float64(w))
}

func (m *metrics) forgetRS(id string) {
	vs, rs := splitRS(id)
	m.rsUp.DeleteLabelValues(vs, rs)
	m.rsWeight.DeleteLabelValues(vs, rs)
}
