package monitoring

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"quadrature/config"
	"quadrature/internal/clustertest"
	"quadrature/internal/netnstest"
)

const (
	dashboardFile = "quadrature-dashboard.json"
	rulesFile     = "quadrature-alerts.yml"
	rulesTestFile = "quadrature-alerts_test.yml"
)

// requireTool returns the path of a Prometheus tool (Debian's prometheus
// package, installed by deploy/deps.sh): skipped when missing, a failure
// under CI=true.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/" + name} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	netnstest.SkipOrFail(t, "needs %s (Debian package prometheus: bash deploy/deps.sh)", name)
	return ""
}

func runTool(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// ---- the alert rules -------------------------------------------------

// rule is one rule of a rules file, as far as the tests need it.
type rule struct {
	name string // alert or record name
	expr string
}

// readRules reads a rules file with ParseRules.
func readRules(t *testing.T, path string) []rule {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := ParseRules(path, b)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]rule, len(rs))
	for i, r := range rs {
		out[i] = rule{name: r.Name, expr: r.Expr}
	}
	return out
}

var rulesFound = regexp.MustCompile(`SUCCESS: (\d+) rules found`)

func TestPromtoolCheckRules(t *testing.T) {
	promtool := requireTool(t, "promtool")
	out, err := runTool(t, promtool, "check", "rules", rulesFile)
	t.Logf("promtool check rules %s:\n%s", rulesFile, out)
	if err != nil {
		t.Fatalf("promtool check rules: %v", err)
	}
	m := rulesFound.FindStringSubmatch(out)
	rules := readRules(t, rulesFile)
	if m == nil || m[1] != strconv.Itoa(len(rules)) {
		t.Fatalf("promtool found %v rules, the file has %d", m, len(rules))
	}
	for _, r := range rules {
		if r.expr == "" || !strings.HasPrefix(r.name, "Quadrature") {
			t.Errorf("rule %q: expr %q", r.name, r.expr)
		}
	}
	// Every alert has severity, summary, description and runbook.
	b, _ := os.ReadFile(rulesFile)
	for _, blk := range strings.Split(string(b), "- alert: ")[1:] {
		name := strings.Fields(blk)[0]
		for _, key := range []string{"severity:", "summary:", "description:", "runbook:"} {
			if !strings.Contains(blk, key) {
				t.Errorf("alert %s has no %s", name, strings.TrimSuffix(key, ":"))
			}
		}
		if !regexp.MustCompile(`severity: (critical|warning|info)\n`).MatchString(blk) {
			t.Errorf("alert %s: severity is not critical, warning or info", name)
		}
	}
}

func TestPromtoolTestRules(t *testing.T) {
	promtool := requireTool(t, "promtool")
	out, err := runTool(t, promtool, "test", "rules", rulesTestFile)
	t.Logf("promtool test rules %s:\n%s", rulesTestFile, out)
	if err != nil || !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules: %v", err)
	}
	// Every alert has a case where it fires and one where it must not.
	b, err := os.ReadFile(rulesTestFile)
	if err != nil {
		t.Fatal(err)
	}
	fires, silent := map[string]int{}, map[string]int{}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		name, ok := strings.CutPrefix(strings.TrimSpace(l), "alertname:")
		if !ok {
			continue
		}
		name = strings.TrimSpace(name)
		for _, n := range lines[i+1:] {
			n = strings.TrimSpace(n)
			if n == "exp_alerts: []" {
				silent[name]++
				break
			}
			if n == "exp_alerts:" {
				fires[name]++
				break
			}
		}
	}
	for _, r := range readRules(t, rulesFile) {
		t.Logf("%-34s fires in %d case(s), silent in %d", r.name, fires[r.name], silent[r.name])
		if fires[r.name] == 0 || silent[r.name] == 0 {
			t.Errorf("%s: %d firing and %d silent test cases, want at least one of each", r.name, fires[r.name], silent[r.name])
		}
	}
}

// ---- the dashboard -----------------------------------------------------

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type gridPos struct {
	H, W, X, Y *int
}

func (g *gridPos) UnmarshalJSON(b []byte) error {
	var m map[string]*int
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	g.H, g.W, g.X, g.Y = m["h"], m["w"], m["x"], m["y"]
	return nil
}

type dashTarget struct {
	RefID        string `json:"refId"`
	Expr         string `json:"expr"`
	LegendFormat string `json:"legendFormat"`
	Datasource   *dsRef `json:"datasource"`
}

type dashPanel struct {
	ID         *int         `json:"id"`
	Type       string       `json:"type"`
	Title      string       `json:"title"`
	Datasource *dsRef       `json:"datasource"`
	GridPos    *gridPos     `json:"gridPos"`
	Targets    []dashTarget `json:"targets"`
	Panels     []dashPanel  `json:"panels"`
}

type dashVar struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Datasource *dsRef          `json:"datasource"`
}

type dashboard struct {
	UID           string      `json:"uid"`
	Title         string      `json:"title"`
	SchemaVersion int         `json:"schemaVersion"`
	Panels        []dashPanel `json:"panels"`
	Templating    struct {
		List []dashVar `json:"list"`
	} `json:"templating"`
}

// query is one PromQL expression of the dashboard or the rules.
type query struct {
	where  string // "panel 3 \"Title\" A", "variable job", "alert QuadratureSplitBrain"
	expr   string // as written
	legend string // dashboard targets: the legend format
	// optional: may legitimately return nothing in a healthy group.
	optional bool
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: not valid JSON: %v", dashboardFile, err)
	}
	if dec.More() {
		t.Fatalf("%s: trailing data after the dashboard", dashboardFile)
	}
	return d
}

// allPanels flattens rows (collapsed rows keep their panels inside).
func allPanels(ps []dashPanel) []dashPanel {
	var out []dashPanel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

var labelValuesRE = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// variableQuery returns the selector and label of a Prometheus query
// variable (label_values(SELECTOR, LABEL)).
func variableQuery(t *testing.T, v dashVar) (sel, label string) {
	t.Helper()
	var q string
	if err := json.Unmarshal(v.Query, &q); err != nil {
		var obj struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &obj); err != nil {
			t.Fatalf("variable %s: query %s", v.Name, v.Query)
		}
		q = obj.Query
	}
	m := labelValuesRE.FindStringSubmatch(strings.TrimSpace(q))
	if m == nil {
		t.Fatalf("variable %s: query %q is not label_values(SELECTOR, LABEL)", v.Name, q)
	}
	return m[1], m[2]
}

// dashboardQueries lists every expression of the dashboard: panel
// targets and query variables.
func dashboardQueries(t *testing.T, d dashboard) []query {
	t.Helper()
	var out []query
	for _, v := range d.Templating.List {
		if v.Type == "query" {
			sel, _ := variableQuery(t, v)
			out = append(out, query{where: "variable " + v.Name, expr: sel})
		}
	}
	for _, p := range allPanels(d.Panels) {
		for _, tg := range p.Targets {
			// Dropped packets are shown only when there are any.
			opt := strings.Contains(tg.Expr, "packets_dropped_total")
			out = append(out, query{where: fmt.Sprintf("panel %d %q %s", *p.ID, p.Title, tg.RefID), expr: tg.Expr, legend: tg.LegendFormat, optional: opt})
		}
	}
	return out
}

var varRE = regexp.MustCompile(`\$(\{)?([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-z]+)?(\})?`)

// grafanaBuiltins are the interval variables Grafana fills in itself.
var grafanaBuiltins = map[string]bool{"__rate_interval": true, "__interval": true, "__range": true}

// expand replaces the dashboard variables of expr with vals (names
// without "$"); it reports unknown variables.
func expand(expr string, vals map[string]string) (string, error) {
	var bad []string
	s := varRE.ReplaceAllStringFunc(expr, func(m string) string {
		sm := varRE.FindStringSubmatch(m)
		if (sm[1] == "") != (sm[3] == "") {
			bad = append(bad, m)
			return m
		}
		v, ok := vals[sm[2]]
		if !ok {
			bad = append(bad, m)
			return m
		}
		return v
	})
	if len(bad) > 0 {
		return "", fmt.Errorf("unknown variables %v", bad)
	}
	return s, nil
}

// checkExprs has promtool parse every expression (as recording rules of
// a temporary rules file); on failure it names the expressions that fail.
func checkExprs(t *testing.T, promtool string, qs []query, vals map[string]string) {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, qs []query) string {
		var b strings.Builder
		b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
		for i, q := range qs {
			e, err := expand(q.expr, vals)
			if err != nil {
				t.Errorf("%s: %v", q.where, err)
				continue
			}
			js, _ := json.Marshal(e) // a JSON string is a YAML double-quoted scalar
			fmt.Fprintf(&b, "      - record: dashboard_query_%d\n        expr: %s\n", i, js)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	out, err := runTool(t, promtool, "check", "rules", write("all.yml", qs))
	if err == nil {
		if m := rulesFound.FindStringSubmatch(out); m == nil || m[1] != strconv.Itoa(len(qs)) {
			t.Errorf("promtool: %s, want %d rules", strings.TrimSpace(out), len(qs))
		}
		t.Logf("promtool check rules (the dashboard's %d expressions): %s", len(qs), strings.TrimSpace(out[strings.LastIndex(out, "\n  ")+1:]))
		return
	}
	for i, q := range qs {
		if out, err := runTool(t, promtool, "check", "rules", write(fmt.Sprintf("q%d.yml", i), []query{q})); err != nil {
			t.Errorf("%s: not valid PromQL: %s\n%s", q.where, q.expr, out)
		}
	}
}

func TestDashboardLint(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("uid %q, title %q: both needed", d.UID, d.Title)
	}
	if d.SchemaVersion < 36 || d.SchemaVersion > 41 {
		t.Errorf("schemaVersion %d, want about 39", d.SchemaVersion)
	}
	// Variables: a datasource variable of type prometheus, a node variable.
	vars := map[string]dashVar{}
	for _, v := range d.Templating.List {
		if _, dup := vars[v.Name]; dup {
			t.Errorf("variable %s defined twice", v.Name)
		}
		vars[v.Name] = v
	}
	if v, ok := vars["datasource"]; !ok || v.Type != "datasource" || string(v.Query) != `"prometheus"` {
		t.Errorf("no datasource variable of type prometheus: %+v", v)
	}
	if v, ok := vars["instance"]; !ok || v.Type != "query" {
		t.Errorf("no instance (node) query variable: %+v", v)
	}
	usesVar := func(r *dsRef) bool {
		return r != nil && r.Type == "prometheus" && (r.UID == "${datasource}" || r.UID == "$datasource")
	}
	for _, v := range d.Templating.List {
		if v.Type == "query" && !usesVar(v.Datasource) {
			t.Errorf("variable %s: datasource %+v, want the datasource variable", v.Name, v.Datasource)
		}
	}

	// Panels: unique ids, the datasource variable everywhere, queries with
	// an expression, positions inside the 24-column grid that do not
	// overlap.
	type rect struct {
		x, y, w, h int
		name       string
	}
	var rects []rect
	ids := map[int]string{}
	nTargets := 0
	for _, p := range allPanels(d.Panels) {
		name := fmt.Sprintf("panel %q", p.Title)
		if p.ID == nil {
			t.Errorf("%s: no id", name)
			continue
		}
		name = fmt.Sprintf("panel %d %q", *p.ID, p.Title)
		if other, dup := ids[*p.ID]; dup {
			t.Errorf("%s: id already used by %s", name, other)
		}
		ids[*p.ID] = name
		if p.Type == "" || p.Title == "" {
			t.Errorf("%s: type %q, title %q: both needed", name, p.Type, p.Title)
		}
		if !usesVar(p.Datasource) {
			t.Errorf("%s: datasource %+v, want {prometheus ${datasource}}", name, p.Datasource)
		}
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("%s: no queries", name)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			nTargets++
			if tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("%s: refId %q empty or used twice", name, tg.RefID)
			}
			refs[tg.RefID] = true
			if !usesVar(tg.Datasource) {
				t.Errorf("%s %s: datasource %+v, want {prometheus ${datasource}}", name, tg.RefID, tg.Datasource)
			}
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("%s %s: empty expr", name, tg.RefID)
			}
		}
		g := p.GridPos
		if g == nil || g.H == nil || g.W == nil || g.X == nil || g.Y == nil {
			t.Errorf("%s: gridPos missing or incomplete", name)
			continue
		}
		r := rect{*g.X, *g.Y, *g.W, *g.H, name}
		if r.w <= 0 || r.h <= 0 || r.x < 0 || r.y < 0 || r.x+r.w > 24 {
			t.Errorf("%s: gridPos %+v outside the 24-column grid", name, r)
		}
		for _, o := range rects {
			if r.x < o.x+o.w && o.x < r.x+r.w && r.y < o.y+o.h && o.y < r.y+r.h {
				t.Errorf("%s overlaps %s", name, o.name)
			}
		}
		rects = append(rects, r)
	}
	t.Logf("%d panels, %d queries, %d variables", len(ids), nTargets, len(vars))

	// Every expression is valid PromQL and names quadrature metrics.
	qs := dashboardQueries(t, d)
	vals := map[string]string{"__rate_interval": "1m", "__interval": "15s", "__range": "1h"}
	for name := range vars {
		vals[name] = ".*"
	}
	for _, q := range qs {
		names, err := MetricNames(q.expr)
		if err != nil {
			t.Errorf("%s: %v", q.where, err)
		}
		if len(names) == 0 {
			t.Errorf("%s: selects no metric: %s", q.where, q.expr)
		}
		for _, n := range names {
			if !strings.HasPrefix(n, "quadrature_") {
				t.Errorf("%s: %s is not a quadrature metric", q.where, n)
			}
		}
		for _, m := range varRE.FindAllStringSubmatch(q.expr, -1) {
			if _, ok := vars[m[2]]; !ok && !grafanaBuiltins[m[2]] {
				t.Errorf("%s: variable $%s is not defined", q.where, m[2])
			}
		}
	}
	checkExprs(t, requireTool(t, "promtool"), qs, vals)
}

// ---- the real group ------------------------------------------------------

// scrape is one node's /metrics: sample names (histogram series with their
// suffix) → samples (label set text → value), and the declared families.
type scrape struct {
	samples  map[string]map[string]float64
	families map[string]string // name → type
}

func (s scrape) has(name string) bool {
	if _, ok := s.samples[name]; ok {
		return true
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suf); ok {
			if typ := s.families[base]; typ == "histogram" || typ == "summary" {
				return true
			}
		}
	}
	return false
}

// value returns the sample name{labels} (labels in exposition order,
// as `a="x",b="y"`); ok false when absent.
func (s scrape) value(name, labels string) (float64, bool) {
	v, ok := s.samples[name][labels]
	return v, ok
}

func parseExposition(b []byte) (scrape, error) {
	s := scrape{samples: map[string]map[string]float64{}, families: map[string]string{}}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			if f := strings.Fields(rest); len(f) == 2 {
				s.families[f[0]] = f[1]
			}
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		name, labels, rest := line, "", ""
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name = line[:i]
			rest = line[i:]
		}
		if strings.HasPrefix(rest, "{") {
			// Find the closing brace outside quoted label values.
			inQ, end := false, -1
			for j := 1; j < len(rest) && end < 0; j++ {
				switch {
				case inQ && rest[j] == '\\':
					j++
				case rest[j] == '"':
					inQ = !inQ
				case !inQ && rest[j] == '}':
					end = j
				}
			}
			if end < 0 {
				return s, fmt.Errorf("bad sample line %q", line)
			}
			labels, rest = rest[1:end], rest[end+1:]
		}
		f := strings.Fields(rest)
		if len(f) < 1 {
			return s, fmt.Errorf("bad sample line %q", line)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return s, fmt.Errorf("bad value in %q: %v", line, err)
		}
		if s.samples[name] == nil {
			s.samples[name] = map[string]float64{}
		}
		s.samples[name][labels] = v
	}
	return s, nil
}

func scrapeNode(n *clustertest.Node) (scrape, error) {
	resp, err := n.APIHTTPClient(5 * time.Second).Get(n.APIURL("/metrics"))
	if err != nil {
		return scrape{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return scrape{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return scrape{}, fmt.Errorf("%s: /metrics: %s", n.Name, resp.Status)
	}
	return parseExposition(b)
}

func scrapeAll(t *testing.T, g *clustertest.Group) map[string]scrape {
	t.Helper()
	out := map[string]scrape{}
	for _, n := range g.Nodes {
		s, err := scrapeNode(n)
		if err != nil {
			t.Fatalf("scrape %s: %v", n.Name, err)
		}
		out[n.Name] = s
	}
	return out
}

// refuseOnRaftPort opens a connection to n's Raft port from the client
// namespace and speaks plain text to it: the TLS handshake fails and n
// counts a refusal (quadrature_cluster_peer_refused_total{reason="bad_certificate"}).
func refuseOnRaftPort(t *testing.T, g *clustertest.Group, n *clustertest.Node) {
	t.Helper()
	dial := clustertest.NSDialer(g.Client, 2*time.Second)
	ctx, cancel := clustertest.Ctx()
	defer cancel()
	c, err := dial(ctx, "tcp", netip.AddrPortFrom(n.Addr, config.DefaultRaftPort).String())
	if err != nil {
		t.Fatalf("dial %s's raft port: %v", n.Name, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	_, _ = c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	_, _ = io.Copy(io.Discard, c) // until the node closes it
}

// alertQueries lists the alert rules' expressions.
func alertQueries(t *testing.T) []query {
	var out []query
	for _, r := range readRules(t, rulesFile) {
		out = append(out, query{where: "alert " + r.name, expr: r.expr})
	}
	return out
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func TestGroupExportsEveryQueriedMetric(t *testing.T) {
	d := loadDashboard(t)
	qs := append(dashboardQueries(t, d), alertQueries(t)...)
	start := time.Now()
	g := clustertest.New(t, clustertest.Options{Nodes: 3})
	st := g.WaitReady()
	t.Logf("group ready in %v: leader %s, config version %d", time.Since(start).Round(time.Millisecond), st.Leader, st.ConfigVersion)
	g.AssertConverged()

	// Some series exist only once something happened: a refusal on the
	// Raft port (n1), traffic through the VIP (data-plane counters).
	refuseOnRaftPort(t, g, g.Nodes[0])
	// n1 (highest priority) takes the VIP once its startup hold is over;
	// a request may meet that failover.
	g.WaitFor("the VIP on n1", 30*time.Second, func() error {
		if h := g.VIPHolders(); !slices.Equal(h, []string{"n1"}) {
			return fmt.Errorf("VIP holders %v", h)
		}
		return nil
	})
	hc := g.ClientHTTP(2 * time.Second)
	served := 0
	g.WaitFor("5 requests served through the VIP", 20*time.Second, func() error {
		if _, err := g.Get(hc); err != nil {
			return err
		}
		if served++; served < 5 {
			return fmt.Errorf("%d served", served)
		}
		return nil
	})
	var scrapes map[string]scrape
	g.WaitFor("the refusal counted on n1", 10*time.Second, func() error {
		scrapes = scrapeAll(t, g)
		if v, ok := scrapes["n1"].value("quadrature_cluster_peer_refused_total", `reason="bad_certificate"`); !ok || v < 1 {
			return fmt.Errorf("quadrature_cluster_peer_refused_total{reason=\"bad_certificate\"} = %v (present %v)", v, ok)
		}
		return nil
	})

	// Every metric of every query is exported by at least one node.
	t.Logf("%-58s | %-70s | %s", "where", "metrics found (nodes exporting them)", "expr")
	missing := 0
	for _, q := range qs {
		names, err := MetricNames(q.expr)
		if err != nil {
			t.Errorf("%s: %v", q.where, err)
			continue
		}
		var found []string
		for _, name := range names {
			var on []string
			for _, n := range g.Nodes {
				if scrapes[n.Name].has(name) {
					on = append(on, n.Name)
				}
			}
			if len(on) == 0 {
				missing++
				t.Errorf("%s: %s is exported by no node (expr %s)", q.where, name, oneLine(q.expr))
				found = append(found, name+" (MISSING)")
				continue
			}
			found = append(found, name+" ("+strings.Join(on, ",")+")")
		}
		t.Logf("%-58.58s | %-70s | %s", q.where, strings.Join(found, " "), oneLine(q.expr))
	}
	t.Logf("%d queries, %d missing metrics", len(qs), missing)

	t.Run("OpsMetricsAgreeWithStatus", func(t *testing.T) { checkOpsMetrics(t, g) })
	t.Run("Prometheus", func(t *testing.T) { checkWithPrometheus(t, g, d) })
}

// checkOpsMetrics compares the metrics of agent/opsmetrics.go with
// the status API and the kernel.
func checkOpsMetrics(t *testing.T, g *clustertest.Group) {
	vs := clustertest.ServiceID()
	vip := clustertest.VIP.String()
	g.WaitFor("operations metrics matching every node's status", 15*time.Second, func() error {
		holders := g.VIPHolders()
		for _, n := range g.Nodes {
			s, err := scrapeNode(n)
			if err != nil {
				return err
			}
			st, err := n.Status()
			if err != nil {
				return err
			}
			want := map[[2]string]float64{
				{"quadrature_cluster_node_info", fmt.Sprintf(`backend="nftables",node="%s",role="voter"`, n.Name)}:       1,
				{"quadrature_cluster_config_version", ""}:                                                                float64(st.ConfigVersion),
				{"quadrature_cluster_table_digest_info", fmt.Sprintf(`digest="%s"`, st.TableDigest)}:                     1,
				{"quadrature_cluster_table_in_sync", ""}:                                                                 1,
				{"quadrature_cluster_leader_info", fmt.Sprintf(`leader="%s"`, st.Leader)}:                                1,
				{"quadrature_virtualserver_quorum_up", fmt.Sprintf(`vs="%s"`, vs)}:                                       1,
				{"quadrature_virtualserver_alive_weight", fmt.Sprintf(`vs="%s"`, vs)}:                                    3,
				{"quadrature_virtualserver_quorum", fmt.Sprintf(`vs="%s"`, vs)}:                                          1,
				{"quadrature_vrrp_vip_held", fmt.Sprintf(`instance="%s",vip="%s",vrid="51"`, clustertest.Instance, vip)}: b2f(slices.Contains(holders, n.Name)),
			}
			for k, w := range want {
				if v, ok := s.value(k[0], k[1]); !ok || v != w {
					return fmt.Errorf("%s: %s{%s} = %v (present %v), want %v", n.Name, k[0], k[1], v, ok, w)
				}
			}
			for _, name := range []string{"quadrature_cluster_node_info", "quadrature_cluster_table_digest_info", "quadrature_cluster_leader_info"} {
				if len(s.samples[name]) != 1 {
					return fmt.Errorf("%s: %d series of %s, want 1: %v", n.Name, len(s.samples[name]), name, s.samples[name])
				}
			}
			// The virtual services are named as in the verdict metrics.
			var vsRS, vsQ []string
			for l := range s.samples["quadrature_realserver_up"] {
				vsRS = append(vsRS, regexp.MustCompile(`vs="[^"]*"`).FindString(l))
			}
			for l := range s.samples["quadrature_virtualserver_quorum_up"] {
				vsQ = append(vsQ, l)
			}
			slices.Sort(vsRS)
			slices.Sort(vsQ)
			if !slices.Equal(slices.Compact(vsRS), vsQ) {
				return fmt.Errorf("%s: virtual services %v in the verdict metrics, %v in the quorum metrics", n.Name, vsRS, vsQ)
			}
		}
		return nil
	})
	// One real server down: the alive weight follows the verdict on
	// every node.
	g.StopApp("n3")
	g.WaitFor("alive weight 2 on every node", 20*time.Second, func() error {
		for _, n := range g.Nodes {
			s, err := scrapeNode(n)
			if err != nil {
				return err
			}
			if v, _ := s.value("quadrature_virtualserver_alive_weight", fmt.Sprintf(`vs="%s"`, vs)); v != 2 {
				return fmt.Errorf("%s: alive weight %v", n.Name, v)
			}
		}
		return nil
	})
	g.StartApp("n3")
	g.WaitFor("alive weight 3 again", 20*time.Second, func() error {
		for _, n := range g.Nodes {
			s, err := scrapeNode(n)
			if err != nil {
				return err
			}
			if v, _ := s.value("quadrature_virtualserver_alive_weight", fmt.Sprintf(`vs="%s"`, vs)); v != 3 {
				return fmt.Errorf("%s: alive weight %v", n.Name, v)
			}
		}
		return nil
	})
}

// ---- a real Prometheus server ---------------------------------------------

type promClient struct {
	hc   *http.Client
	base string
}

type promSeries struct {
	Metric map[string]string `json:"metric"`
	Value  []any             `json:"value"`
}

func (p promClient) get(path string, params url.Values, out any) error {
	resp, err := p.hc.Get(p.base + path + "?" + params.Encode())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return fmt.Errorf("%s: %s: %v", path, resp.Status, err)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s: %s", path, env.Error)
	}
	return json.Unmarshal(env.Data, out)
}

func (p promClient) query(expr string) ([]promSeries, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.get("/api/v1/query", url.Values{"query": {expr}}, &data); err != nil {
		return nil, err
	}
	if data.ResultType != "vector" {
		return nil, fmt.Errorf("result type %s, want vector", data.ResultType)
	}
	var out []promSeries
	return out, json.Unmarshal(data.Result, &out)
}

var legendRE = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)

// checkWithPrometheus runs Debian's Prometheus server in the client
// namespace, scraping the three nodes over HTTPS with the group's CA every
// second and evaluating the alert rules, and checks that every dashboard
// query answers with the labels its legend names, every rule evaluates
// without error and that, in this healthy group, the only alert is the
// refusal the test provokes.
func checkWithPrometheus(t *testing.T, g *clustertest.Group, d dashboard) {
	prom := requireTool(t, "prometheus")
	dir := t.TempDir()
	rules, err := filepath.Abs(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, n := range g.Nodes {
		targets = append(targets, fmt.Sprintf("'%s'", netip.AddrPortFrom(n.Addr, clustertest.APIPort)))
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %s
scrape_configs:
  - job_name: quadrature
    scheme: https
    tls_config:
      ca_file: %s
    static_configs:
      - targets: [%s]
`, rules, g.CAFile, strings.Join(targets, ", "))
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	const listen = "127.0.0.1:9090" // inside the client namespace
	cmd := g.Client.Command(prom, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+listen, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := g.Client.Start(cmd); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	// Stop our server (by its pid) before the group goes; the namespace's
	// cleanup kills it too if this does not.
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("prometheus log:\n%s", b)
		}
	})
	p := promClient{
		hc:   &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: clustertest.NSDialer(g.Client, 2*time.Second)}},
		base: "http://" + listen,
	}
	began := time.Now()
	g.WaitFor("Prometheus scraping the three nodes for 10 s", 60*time.Second, func() error {
		r, err := p.query(`count_over_time(up{job="quadrature"}[12s]) >= 10 and up == 1`)
		if err != nil {
			return err
		}
		if len(r) != 3 {
			return fmt.Errorf("%d targets up with 10 samples", len(r))
		}
		return nil
	})
	t.Logf("Prometheus scraped the group for 10 s after %v", time.Since(began).Round(time.Millisecond))

	// The VRRP instance label is renamed: instance is the node.
	r, err := p.query(`quadrature_vrrp_state{job="quadrature"}`)
	if err != nil || len(r) != 3 {
		t.Fatalf("quadrature_vrrp_state: %v %v", r, err)
	}
	for _, s := range r {
		if s.Metric["exported_instance"] != clustertest.Instance || !strings.HasSuffix(s.Metric["instance"], fmt.Sprintf(":%d", clustertest.APIPort)) {
			t.Errorf("quadrature_vrrp_state labels %v: want exported_instance=%s and the node in instance", s.Metric, clustertest.Instance)
		}
	}

	// Every dashboard query answers, with the labels of its legend.
	vals := map[string]string{"job": "quadrature", "instance": ".*", "datasource": "prometheus",
		"__rate_interval": "10s", "__interval": "1s", "__range": "1h"}
	for _, q := range dashboardQueries(t, d) {
		e, err := expand(q.expr, vals)
		if err != nil {
			t.Errorf("%s: %v", q.where, err)
			continue
		}
		if strings.HasPrefix(q.where, "variable ") {
			_, label := variableQuery(t, varByName(d, strings.TrimPrefix(q.where, "variable ")))
			var values []string
			if err := p.get("/api/v1/label/"+label+"/values", url.Values{"match[]": {e}}, &values); err != nil || len(values) == 0 {
				t.Errorf("%s: label_values(%s, %s) = %v (%v)", q.where, e, label, values, err)
			} else {
				t.Logf("%-50.50s -> %v", q.where, values)
			}
			continue
		}
		res, err := p.query(e)
		if err != nil {
			t.Errorf("%s: %s: %v", q.where, oneLine(e), err)
			continue
		}
		if len(res) == 0 && !q.optional {
			t.Errorf("%s: no data: %s", q.where, oneLine(e))
			continue
		}
		for _, s := range res {
			for _, m := range legendRE.FindAllStringSubmatch(q.legend, -1) {
				if _, ok := s.Metric[m[1]]; !ok {
					t.Errorf("%s: legend %q names %s, not in the result %v", q.where, q.legend, m[1], s.Metric)
				}
			}
		}
		t.Logf("%-50.50s -> %d series", q.where, len(res))
	}

	// A second refusal on n1, whose counter Prometheus has seen before:
	// QuadraturePeerRefusals fires; nothing else does in a healthy group.
	refuseOnRaftPort(t, g, g.Nodes[0])
	err = clustertest.Poll(30*time.Second, time.Second, func() error {
		var data struct {
			Groups []struct {
				Rules []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
					State     string `json:"state"`
				} `json:"rules"`
			} `json:"groups"`
		}
		if err := p.get("/api/v1/rules", url.Values{}, &data); err != nil {
			return err
		}
		var problems []string
		n := 0
		for _, gr := range data.Groups {
			for _, r := range gr.Rules {
				n++
				switch {
				case r.Health != "ok":
					problems = append(problems, fmt.Sprintf("%s: health %s %s", r.Name, r.Health, r.LastError))
				case r.Name == "QuadraturePeerRefusals" && r.State != "firing":
					problems = append(problems, r.Name+" not firing")
				case r.Name != "QuadraturePeerRefusals" && r.State != "inactive":
					problems = append(problems, r.Name+" "+r.State)
				}
			}
		}
		if want := len(readRules(t, rulesFile)); n != want {
			problems = append(problems, fmt.Sprintf("%d rules loaded, want %d", n, want))
		}
		if len(problems) > 0 {
			return fmt.Errorf("%s", strings.Join(problems, "; "))
		}
		return nil
	})
	if err != nil {
		t.Errorf("alert rules on the healthy group: %v", err)
	}
	res, err := p.query(`ALERTS{alertstate="firing"}`)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range res {
		t.Logf("firing: %v", s.Metric)
		if s.Metric["alertname"] != "QuadraturePeerRefusals" || s.Metric["instance"] != netip.AddrPortFrom(g.Nodes[0].Addr, clustertest.APIPort).String() || s.Metric["reason"] != "bad_certificate" {
			t.Errorf("unexpected alert %v", s.Metric)
		}
	}
	if len(res) == 0 {
		t.Error("QuadraturePeerRefusals did not fire after the refusal")
	}
	for _, q := range alertQueries(t) {
		res, err := p.query(q.expr)
		if err != nil {
			t.Errorf("%s: %v", q.where, err)
			continue
		}
		t.Logf("%-50s -> %d series now", q.where, len(res))
	}
}

func varByName(d dashboard, name string) dashVar {
	for _, v := range d.Templating.List {
		if v.Name == name {
			return v
		}
	}
	return dashVar{}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
