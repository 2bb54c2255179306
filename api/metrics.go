package api

import (
	"context"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// apiMetrics are the metrics the API owns. They live on the Server's own
// registry, served on /metrics together with Options.Gatherer.
type apiMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newAPIMetrics(reg prometheus.Registerer, version string, b Backend, timeout time.Duration) (*apiMetrics, error) {
	if version == "" {
		version = "unknown"
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "quadrature",
		Name:      "build_info",
		Help:      "Build information of this quadrature binary; the value is always 1.",
	}, []string{"version", "goversion"})
	build.WithLabelValues(version, runtime.Version()).Set(1)
	m := &apiMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "quadrature",
			Subsystem: "api",
			Name:      "requests_total",
			Help:      "HTTP API requests by route pattern, method and status code.",
		}, []string{"code", "method", "route"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "quadrature",
			Subsystem: "api",
			Name:      "request_duration_seconds",
			Help:      "Time to answer HTTP API requests by route pattern and method.",
			Buckets:   []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, []string{"method", "route"}),
	}
	for _, c := range []prometheus.Collector{build, m.requests, m.duration, &verdictCollector{backend: b, timeout: timeout}} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

type routeKey struct{}

// routeLabel carries the matched route pattern from the route wrapper back
// to the instrumentation, through the request context.
type routeLabel struct{ route string }

func setRoute(r *http.Request, route string) {
	if l, ok := r.Context().Value(routeKey{}).(*routeLabel); ok {
		l.route = route
	}
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

// instrument counts and times every request. Unknown paths are labelled
// "unmatched" so the label set stays bounded; methods outside the standard
// set are labelled "other".
func (m *apiMetrics) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		label := &routeLabel{route: "unmatched"}
		r = r.WithContext(context.WithValue(r.Context(), routeKey{}, label))
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.code == 0 {
			rec.code = http.StatusOK
		}
		method := methodLabel(r.Method)
		m.requests.WithLabelValues(strconv.Itoa(rec.code), method, label.route).Inc()
		m.duration.WithLabelValues(method, label.route).Observe(time.Since(start).Seconds())
	})
}

func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete,
		http.MethodPatch, http.MethodOptions:
		return m
	}
	return "other"
}

// verdictCollector turns Backend.Services into per real server gauges at
// scrape time, so the values are never stale.
type verdictCollector struct {
	backend Backend
	timeout time.Duration
}

var (
	rsLabels    = []string{"vs", "rs"}
	descRSUp    = prometheus.NewDesc("quadrature_realserver_up", "Aggregated verdict of the group for a real server (1 up, 0 down or unknown).", rsLabels, nil)
	descRSWt    = prometheus.NewDesc("quadrature_realserver_weight", "Effective weight programmed in IPVS for a real server.", rsLabels, nil)
	descRSAgree = prometheus.NewDesc("quadrature_realserver_reporters_agreeing", "Live reporters whose observation agrees with the aggregated verdict.", rsLabels, nil)
	descRSRep   = prometheus.NewDesc("quadrature_realserver_reporters", "Live reporters with an observation of the real server.", rsLabels, nil)
	descRSDrain = prometheus.NewDesc("quadrature_realserver_drained", "1 when an operator drained the real server.", rsLabels, nil)
	descScrape  = prometheus.NewDesc("quadrature_api_services_scrape_success", "1 when the last read of the virtual services for the verdict metrics succeeded.", nil, nil)
)

func (c *verdictCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRSUp, descRSWt, descRSAgree, descRSRep, descRSDrain, descScrape} {
		ch <- d
	}
}

func (c *verdictCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	svcs, err := c.backend.Services(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(descScrape, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(descScrape, prometheus.GaugeValue, 1)
	seen := map[[2]string]bool{}
	for _, vs := range svcs {
		for _, rs := range vs.RealServers {
			key := [2]string{vs.ID, rs.ID}
			if seen[key] { // a duplicate would make the whole scrape fail
				continue
			}
			seen[key] = true
			ch <- prometheus.MustNewConstMetric(descRSUp, prometheus.GaugeValue, b2f(rs.Up), vs.ID, rs.ID)
			ch <- prometheus.MustNewConstMetric(descRSWt, prometheus.GaugeValue, float64(rs.Weight), vs.ID, rs.ID)
			ch <- prometheus.MustNewConstMetric(descRSAgree, prometheus.GaugeValue, float64(rs.Agreeing), vs.ID, rs.ID)
			ch <- prometheus.MustNewConstMetric(descRSRep, prometheus.GaugeValue, float64(rs.Reporters), vs.ID, rs.ID)
			ch <- prometheus.MustNewConstMetric(descRSDrain, prometheus.GaugeValue, b2f(rs.Drained), vs.ID, rs.ID)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	gs := prometheus.Gatherers{s.registry}
	if s.opts.Gatherer != nil {
		gs = append(gs, s.opts.Gatherer)
	}
	promhttp.HandlerFor(gs, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      slogPrinter{s},
	}).ServeHTTP(w, r)
}

type slogPrinter struct{ s *Server }

func (p slogPrinter) Println(v ...any) {
	p.s.log.Warn("metrics gather", "err", v)
}
