package lvs

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the reconciler's own metrics; statsCollector exports the
// data plane's counters at scrape time.
//
//	quadrature_lvs_reconcile_duration_seconds        histogram of passes
//	quadrature_lvs_reconcile_errors_total            failed passes
//	quadrature_lvs_drift_repairs_total               kernel operations that repaired drift
//	quadrature_lvs_resyncs_total{kind}               periodic verifications: slice (one slice read, matched) or full
//	quadrature_lvs_last_success_timestamp_seconds    end of the last successful pass
//	quadrature_lvs_owned_services                    services the reconciler manages
//	quadrature_lvs_draining_destinations             destinations at weight 0 being drained
//	quadrature_lvs_service_connections_total{service}
//	quadrature_lvs_service_packets_total{service,direction}
//	quadrature_lvs_service_bytes_total{service,direction}
//	quadrature_lvs_destination_connections_total{service,destination}
//	quadrature_lvs_destination_packets_total{service,destination,direction}
//	quadrature_lvs_destination_bytes_total{service,destination,direction}
//	quadrature_lvs_destination_active_connections{service,destination}
//	quadrature_lvs_destination_inactive_connections{service,destination}
//
// Every metric carries the constant label backend (ipvs, nftables, mem).
type metrics struct {
	duration    prometheus.Histogram
	errors      prometheus.Counter
	drift       prometheus.Counter
	resyncs     *prometheus.CounterVec
	lastSuccess prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, r *Reconciler) (*metrics, error) {
	cl := prometheus.Labels{"backend": r.cfg.DataPlane.Name()}
	m := &metrics{
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "quadrature", Subsystem: "lvs", Name: "reconcile_duration_seconds",
			Help:        "Duration of reconciliation passes (dump or cached view, diff, apply).",
			ConstLabels: cl,
			Buckets:     prometheus.ExponentialBuckets(0.0005, 4, 10),
		}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "quadrature", Subsystem: "lvs", Name: "reconcile_errors_total",
			Help: "Reconciliation passes that failed.", ConstLabels: cl,
		}),
		drift: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "quadrature", Subsystem: "lvs", Name: "drift_repairs_total",
			Help: "Kernel operations needed to repair changes made behind the reconciler's back.", ConstLabels: cl,
		}),
		resyncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "quadrature", Subsystem: "lvs", Name: "resyncs_total",
			Help: "Periodic verifications of the kernel table, by kind: slice (settings of every service and destinations of one slice read and found as expected) or full (a whole dump and diff).", ConstLabels: cl,
		}, []string{"kind"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "quadrature", Subsystem: "lvs", Name: "last_success_timestamp_seconds",
			Help: "Unix time of the end of the last successful pass.", ConstLabels: cl,
		}),
	}
	for _, c := range []prometheus.Collector{m.duration, m.errors, m.drift, m.resyncs, m.lastSuccess, newStatsCollector(r, cl)} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// statsCollector reads DataPlane.Stats at scrape time.
type statsCollector struct {
	r                                   *Reconciler
	owned, draining                     *prometheus.Desc
	svcConns, svcPkts, svcBytes         *prometheus.Desc
	dstConns, dstPkts, dstBytes         *prometheus.Desc
	dstActive, dstInactive, scrapeError *prometheus.Desc
}

func newStatsCollector(r *Reconciler, cl prometheus.Labels) *statsCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("quadrature_lvs_"+name, help, labels, cl)
	}
	return &statsCollector{
		r:           r,
		owned:       d("owned_services", "Services the reconciler manages."),
		draining:    d("draining_destinations", "Destinations set to weight 0 and waiting for their connections to end."),
		svcConns:    d("service_connections_total", "Connections scheduled by the virtual service.", "vs"),
		svcPkts:     d("service_packets_total", "Packets through the virtual service.", "vs", "direction"),
		svcBytes:    d("service_bytes_total", "Bytes through the virtual service.", "vs", "direction"),
		dstConns:    d("destination_connections_total", "Connections scheduled to the real server.", "vs", "rs"),
		dstPkts:     d("destination_packets_total", "Packets to and from the real server.", "vs", "rs", "direction"),
		dstBytes:    d("destination_bytes_total", "Bytes to and from the real server.", "vs", "rs", "direction"),
		dstActive:   d("destination_active_connections", "Active connections of the real server.", "vs", "rs"),
		dstInactive: d("destination_inactive_connections", "Inactive connections of the real server.", "vs", "rs"),
		scrapeError: d("stats_scrape_error", "1 when reading the data plane statistics failed at this scrape."),
	}
}

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.owned, c.draining, c.svcConns, c.svcPkts, c.svcBytes, c.dstConns,
		c.dstPkts, c.dstBytes, c.dstActive, c.dstInactive, c.scrapeError} {
		ch <- d
	}
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.r.Status()
	ch <- prometheus.MustNewConstMetric(c.owned, prometheus.GaugeValue, float64(st.Owned))
	ch <- prometheus.MustNewConstMetric(c.draining, prometheus.GaugeValue, float64(st.Draining))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.r.dpMu.Lock()
	stats, err := c.r.cfg.DataPlane.Stats(ctx)
	c.r.dpMu.Unlock()
	failed := 0.0
	if err != nil {
		failed = 1
		c.r.log.Warn("lvs: reading statistics for metrics failed", "err", err)
	}
	ch <- prometheus.MustNewConstMetric(c.scrapeError, prometheus.GaugeValue, failed)
	for k, ss := range stats {
		svc := k.String()
		ch <- prometheus.MustNewConstMetric(c.svcConns, prometheus.CounterValue, float64(ss.Connections), svc)
		ch <- prometheus.MustNewConstMetric(c.svcPkts, prometheus.CounterValue, float64(ss.PacketsIn), svc, "in")
		ch <- prometheus.MustNewConstMetric(c.svcPkts, prometheus.CounterValue, float64(ss.PacketsOut), svc, "out")
		ch <- prometheus.MustNewConstMetric(c.svcBytes, prometheus.CounterValue, float64(ss.BytesIn), svc, "in")
		ch <- prometheus.MustNewConstMetric(c.svcBytes, prometheus.CounterValue, float64(ss.BytesOut), svc, "out")
		for dk, ds := range ss.Destinations {
			dst := dk.String()
			ch <- prometheus.MustNewConstMetric(c.dstConns, prometheus.CounterValue, float64(ds.Connections), svc, dst)
			ch <- prometheus.MustNewConstMetric(c.dstPkts, prometheus.CounterValue, float64(ds.PacketsIn), svc, dst, "in")
			ch <- prometheus.MustNewConstMetric(c.dstPkts, prometheus.CounterValue, float64(ds.PacketsOut), svc, dst, "out")
			ch <- prometheus.MustNewConstMetric(c.dstBytes, prometheus.CounterValue, float64(ds.BytesIn), svc, dst, "in")
			ch <- prometheus.MustNewConstMetric(c.dstBytes, prometheus.CounterValue, float64(ds.BytesOut), svc, dst, "out")
			ch <- prometheus.MustNewConstMetric(c.dstActive, prometheus.GaugeValue, float64(ds.ActiveConns), svc, dst)
			ch <- prometheus.MustNewConstMetric(c.dstInactive, prometheus.GaugeValue, float64(ds.InactiveConns), svc, dst)
		}
	}
}
