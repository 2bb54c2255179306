package monitoring

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// The dashboard and the rules, as shipped.
var (
	//go:embed quadrature-dashboard.json
	dashboardJSON []byte
	//go:embed quadrature-alerts.yml
	rulesYAML []byte
)

// Query is one PromQL expression of the dashboard or the alert rules.
type Query struct {
	Where string // "panel 3 \"Title\" A", "variable job", "alert QuadratureSplitBrain"
	Expr  string
}

// Rule is one rule of a rules file, as far as the checks need it.
type Rule struct {
	Name string // alert or record name
	Expr string
}

// ParseRules extracts the rules of a Prometheus rules file written in this
// directory's style (one "- alert:" or "- record:" per rule, expr a plain
// or quoted scalar or a block scalar). It is no YAML parser: promtool
// validates the file, and the tests check that the counts agree.
func ParseRules(name string, b []byte) ([]Rule, error) {
	lines := strings.Split(string(b), "\n")
	indent := func(s string) int { return len(s) - len(strings.TrimLeft(s, " ")) }
	var out []Rule
	for i := 0; i < len(lines); i++ {
		tl := strings.TrimSpace(lines[i])
		for _, k := range []string{"- alert:", "- record:"} {
			if strings.HasPrefix(tl, k) {
				out = append(out, Rule{Name: strings.TrimSpace(strings.TrimPrefix(tl, k))})
			}
		}
		if !strings.HasPrefix(tl, "expr:") {
			continue
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("%s:%d: expr outside a rule", name, i+1)
		}
		v := strings.TrimSpace(strings.TrimPrefix(tl, "expr:"))
		switch {
		case v == ">-" || v == ">" || v == "|" || v == "|-" || v == ">+" || v == "|+":
			var block []string
			in := indent(lines[i])
			for i+1 < len(lines) && (strings.TrimSpace(lines[i+1]) == "" || indent(lines[i+1]) > in) {
				i++
				block = append(block, strings.TrimSpace(lines[i]))
			}
			v = strings.TrimSpace(strings.Join(block, "\n"))
		case strings.HasPrefix(v, `"`):
			u, err := strconv.Unquote(v)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %v", name, i+1, err)
			}
			v = u
		case strings.HasPrefix(v, `'`):
			v = strings.ReplaceAll(strings.TrimSuffix(strings.TrimPrefix(v, `'`), `'`), `''`, `'`)
		}
		if out[len(out)-1].Expr != "" {
			return nil, fmt.Errorf("%s:%d: two exprs in rule %s", name, i+1, out[len(out)-1].Name)
		}
		out[len(out)-1].Expr = v
	}
	return out, nil
}

var labelValuesExpr = regexp.MustCompile(`^label_values\((.+),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$`)

// Queries returns every expression of the shipped dashboard (query
// variables' selectors and panel targets) and alert rules.
func Queries() ([]Query, error) {
	type panel struct {
		ID      int    `json:"id"`
		Title   string `json:"title"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var d struct {
		Panels     []json.RawMessage `json:"panels"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(dashboardJSON, &d); err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	var out []Query
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q string
		if json.Unmarshal(v.Query, &q) != nil {
			var obj struct {
				Query string `json:"query"`
			}
			if err := json.Unmarshal(v.Query, &obj); err != nil {
				return nil, fmt.Errorf("dashboard: variable %s: query %s", v.Name, v.Query)
			}
			q = obj.Query
		}
		m := labelValuesExpr.FindStringSubmatch(strings.TrimSpace(q))
		if m == nil {
			return nil, fmt.Errorf("dashboard: variable %s: %q is not label_values(SELECTOR, LABEL)", v.Name, q)
		}
		out = append(out, Query{Where: "variable " + v.Name, Expr: m[1]})
	}
	var walk func([]json.RawMessage) error
	walk = func(ps []json.RawMessage) error {
		for _, raw := range ps {
			var p panel
			if err := json.Unmarshal(raw, &p); err != nil {
				return fmt.Errorf("dashboard: panel: %w", err)
			}
			for _, tg := range p.Targets {
				out = append(out, Query{Where: fmt.Sprintf("panel %d %q %s", p.ID, p.Title, tg.RefID), Expr: tg.Expr})
			}
			if err := walk(p.Panels); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(d.Panels); err != nil {
		return nil, err
	}
	rules, err := ParseRules("quadrature-alerts.yml", rulesYAML)
	if err != nil {
		return nil, err
	}
	for _, r := range rules {
		out = append(out, Query{Where: "alert " + r.Name, Expr: r.Expr})
	}
	return out, nil
}

// QueriedMetrics returns every metric name the dashboard and the alert
// rules select, each with where it is used.
func QueriedMetrics() (map[string][]string, error) {
	qs, err := Queries()
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, q := range qs {
		names, err := MetricNames(q.Expr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", q.Where, err)
		}
		for _, n := range names {
			out[n] = append(out[n], q.Where)
		}
	}
	for _, w := range out {
		sort.Strings(w)
	}
	return out, nil
}
