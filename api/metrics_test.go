package api_test

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"quadrature/api"
	"quadrature/api/apitest"
)

// needProgram skips when a program is missing, but fails under CI=true.
func needProgram(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed (CI=true): %v", name, err)
		}
		t.Skipf("%s not installed: %v", name, err)
	}
	return p
}

func scrape(t *testing.T, mod func(*api.Options)) string {
	t.Helper()
	f := apitest.NewFake("iwash1")
	ts, _ := apitest.NewServer(t, f, mod)
	// Some traffic for the request metrics, including an unmatched path.
	do(t, ts, "GET", "/v1/status", apitest.ReadToken, "")
	do(t, ts, "GET", "/v1/status", "not-the-token", "") // 401: a token sent is checked, even over loopback
	do(t, ts, "GET", "/nope", "", "")
	resp, body := do(t, ts, "GET", "/metrics", "", "")
	if resp.StatusCode != 200 {
		t.Fatalf("metrics: %d", resp.StatusCode)
	}
	return string(body)
}

func TestMetricsContent(t *testing.T) {
	other := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "quadrature_test_other_gauge", Help: "From another package."})
	other.MustRegister(g)
	g.Set(5)
	text := scrape(t, func(o *api.Options) { o.Gatherer = other })
	for _, want := range []string{
		`quadrature_build_info{goversion="go`,
		`version="test"} 1`,
		`quadrature_realserver_up{rs="198.51.100.11:3128",vs="tcp/192.0.2.100:3128"} 1`,
		`quadrature_realserver_up{rs="198.51.100.13:3128",vs="tcp/192.0.2.100:3128"} 0`,
		`quadrature_realserver_weight{rs="198.51.100.11:3128",vs="tcp/192.0.2.100:3128"} 100`,
		`quadrature_realserver_weight{rs="198.51.100.13:3128",vs="tcp/192.0.2.100:3128"} 0`,
		`quadrature_realserver_reporters_agreeing{rs="198.51.100.13:3128",vs="tcp/192.0.2.100:3128"} 2`,
		`quadrature_realserver_reporters{rs="198.51.100.13:3128",vs="tcp/192.0.2.100:3128"} 3`,
		`quadrature_api_services_scrape_success 1`,
		`quadrature_api_requests_total{code="200",method="GET",route="/v1/status"} 1`,
		`quadrature_api_requests_total{code="401",method="GET",route="/v1/status"} 1`,
		`quadrature_api_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`quadrature_api_request_duration_seconds_bucket{method="GET",route="/v1/status",le="+Inf"} 2`,
		`quadrature_test_other_gauge 5`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestPromtool runs `promtool check metrics` (Debian package prometheus)
// on the /metrics output: names, units, help and types follow the
// Prometheus conventions.
func TestPromtool(t *testing.T) {
	promtool := needProgram(t, "promtool")
	text := scrape(t, nil)
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out.String())
	}
	if s := strings.TrimSpace(out.String()); s != "" {
		t.Fatalf("promtool lint findings:\n%s", s)
	}
}
