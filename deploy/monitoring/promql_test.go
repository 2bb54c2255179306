package monitoring

import (
	"slices"
	"testing"
)

func TestMetricNames(t *testing.T) {
	for _, c := range []struct {
		expr string
		want []string
	}{
		{`up`, []string{"up"}},
		{`quadrature_vrrp_state{job=~"$job", instance=~".*"} == 2`, []string{"quadrature_vrrp_state"}},
		{`count by (job, exported_instance, vrid) (quadrature_vrrp_state == 2) > 1`, []string{"quadrature_vrrp_state"}},
		{`sum without (instance) (rate(a_total{x="b{c}"}[5m] offset 1h)) / on (job) group_left (node) b_info`, []string{"a_total", "b_info"}},
		{`histogram_quantile(0.99, sum by (le) (rate(h_seconds_bucket[$__rate_interval])))`, []string{"h_seconds_bucket"}},
		{`max by (job) (c) - on (job) group_right () d`, []string{"c", "d"}},
		{`count_values by (job) ("version", v) or on () vector(0)`, []string{"v"}},
		{`topk(3, x) and bool_gauge unless y offset 5m`, []string{"bool_gauge", "x", "y"}},
		{`sum(x) by (job)`, []string{"x"}},
		{`label_replace(m, "dst", "$1", "src", "(.*)") * 1e3 + 0x1f - 1.5e-3 # comment z`, []string{"m"}},
		{`a:recorded:rate5m{l='it\'s'} > Inf`, []string{"a:recorded:rate5m"}},
		{"min by (job, vs) (w)\nand on (job, vs)\n(min by (job, vs) (u) == 0)", []string{"u", "w"}},
	} {
		got, err := MetricNames(c.expr)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%s: %v (%v), want %v", c.expr, got, err, c.want)
		}
	}
	for _, bad := range []string{`{__name__="x"}`, `sum(x{a="b}`, `rate(x[5m)`, `"open`} {
		if got, err := MetricNames(bad); err == nil {
			t.Errorf("%s: %v, want an error", bad, got)
		}
	}
}

// The exported list agrees with what the tests read from the files.
func TestQueriedMetrics(t *testing.T) {
	m, err := QueriedMetrics()
	if err != nil {
		t.Fatal(err)
	}
	d := loadDashboard(t)
	qs := append(dashboardQueries(t, d), alertQueries(t)...)
	want := map[string]bool{}
	for _, q := range qs {
		names, err := MetricNames(q.expr)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			want[n] = true
		}
	}
	if len(m) != len(want) || len(m) == 0 {
		t.Fatalf("QueriedMetrics: %d metrics, the files name %d", len(m), len(want))
	}
	for n := range want {
		if len(m[n]) == 0 {
			t.Errorf("%s missing from QueriedMetrics", n)
		}
	}
	t.Logf("%d metrics queried", len(m))
}
