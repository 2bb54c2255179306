package checks

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	results   *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	checkerUp *prometheus.GaugeVec
	rsUp      *prometheus.GaugeVec
	rsWeight  *prometheus.GaugeVec
	inflight  prometheus.Gauge
	checkers  prometheus.Gauge
}

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
		checkerUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "quadrature", Subsystem: "check", Name: "checker_up",
			Help: "Current state of each checker (1 up, 0 down).",
		}, []string{"real_server", "checker", "kind"}),
		rsUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "quadrature", Subsystem: "check", Name: "real_server_up",
			Help: "Current verdict of each real server (1 when all its checkers are up).",
		}, []string{"real_server"}),
		rsWeight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "quadrature", Subsystem: "check", Name: "real_server_weight",
			Help: "Current effective weight of each real server (dynamic MISC_CHECK/FILE_CHECK applied).",
		}, []string{"real_server"}),
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
	for _, c := range []prometheus.Collector{m.results, m.duration, m.checkerUp, m.rsUp, m.rsWeight, m.inflight, m.checkers} {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, errors.Join(errors.New("checks: register metrics"), err)
	}
	return m, nil
}

func (m *metrics) observe(kind Kind, outcome string, d time.Duration) {
	if outcome == "" {
		outcome = "error"
	}
	m.results.WithLabelValues(string(kind), outcome).Inc()
	m.duration.WithLabelValues(string(kind)).Observe(d.Seconds())
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (m *metrics) setChecker(rs string, c *checkerState) {
	m.checkerUp.WithLabelValues(rs, c.key, string(c.spec.Kind)).Set(b2f(c.up))
}

func (m *metrics) forgetChecker(rs string, c *checkerState) {
	m.checkerUp.DeleteLabelValues(rs, c.key, string(c.spec.Kind))
}

func (m *metrics) setRS(rs string, up bool, w int) {
	m.rsUp.WithLabelValues(rs).Set(b2f(up))
	m.rsWeight.WithLabelValues(rs).Set(float64(w))
}

func (m *metrics) forgetRS(rs string) {
	m.rsUp.DeleteLabelValues(rs)
	m.rsWeight.DeleteLabelValues(rs)
}
