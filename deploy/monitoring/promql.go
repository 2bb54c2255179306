package monitoring

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// The module does not depend on the Prometheus server, so PromQL is
// validated by promtool; MetricNames only needs to find the metric names
// an expression selects, which a small lexer does: an identifier is a
// metric name unless it is a keyword, a function or aggregation (followed
// by "(" or by/without), or a label of a by/without/on/ignoring/group_*
// list. Label matchers, ranges, strings and numbers are skipped whole.

var (
	promKeywords = map[string]bool{
		"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true,
		"inf": true, "nan": true, "by": true, "without": true, "on": true, "ignoring": true,
		"group_left": true, "group_right": true,
	}
	promGrouping = map[string]bool{
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	}
	promAggregations = map[string]bool{
		"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
		"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	}
	metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
)

type promToken struct {
	kind byte // 'i' identifier, 's' string, 'n' number, '{' matchers, '[' range, 'p' punctuation
	text string
}

func lexPromQL(expr string) ([]promToken, error) {
	var toks []promToken
	skipString := func(i int) (int, error) {
		q := expr[i]
		for j := i + 1; j < len(expr); j++ {
			switch {
			case expr[j] == '\\' && q != '`':
				j++
			case expr[j] == q:
				return j + 1, nil
			}
		}
		return 0, fmt.Errorf("unterminated string at %d", i)
	}
	// skipTo skips a {...} or [...] group (strings inside included).
	skipTo := func(i int, end byte) (int, error) {
		for j := i + 1; j < len(expr); {
			switch c := expr[j]; {
			case c == '"' || c == '\'' || c == '`':
				k, err := skipString(j)
				if err != nil {
					return 0, err
				}
				j = k
			case c == end:
				return j + 1, nil
			default:
				j++
			}
		}
		return 0, fmt.Errorf("unclosed %q at %d", expr[i], i)
	}
	isIdent := func(c byte, first bool) bool {
		return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (!first && c >= '0' && c <= '9')
	}
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#':
			for i < len(expr) && expr[i] != '\n' {
				i++
			}
		case c == '"' || c == '\'' || c == '`':
			j, err := skipString(i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, promToken{'s', expr[i:j]})
			i = j
		case c == '{' || c == '[':
			end := byte('}')
			if c == '[' {
				end = ']'
			}
			j, err := skipTo(i, end)
			if err != nil {
				return nil, err
			}
			toks = append(toks, promToken{c, expr[i:j]})
			i = j
		case (c >= '0' && c <= '9') || (c == '.' && i+1 < len(expr) && expr[i+1] >= '0' && expr[i+1] <= '9'):
			j := i
			for j < len(expr) && (isIdent(expr[j], false) || expr[j] == '.' ||
				((expr[j] == '+' || expr[j] == '-') && (expr[j-1] == 'e' || expr[j-1] == 'E'))) {
				j++
			}
			toks = append(toks, promToken{'n', expr[i:j]})
			i = j
		case isIdent(c, true):
			j := i + 1
			for j < len(expr) && isIdent(expr[j], false) {
				j++
			}
			toks = append(toks, promToken{'i', expr[i:j]})
			i = j
		default:
			toks = append(toks, promToken{'p', string(c)})
			i++
		}
	}
	return toks, nil
}

// MetricNames returns the metric names expr selects, sorted and unique.
// A selector without a metric name ({__name__=...}) is an error: the
// dashboard and the rules name their metrics.
func MetricNames(expr string) ([]string, error) {
	toks, err := lexPromQL(expr)
	if err != nil {
		return nil, err
	}
	var out []string
	next := func(i int) promToken {
		if i+1 < len(toks) {
			return toks[i+1]
		}
		return promToken{}
	}
	for i := 0; i < len(toks); i++ {
		tk := toks[i]
		switch tk.kind {
		case '{':
			if i == 0 || toks[i-1].kind != 'i' || promKeywords[strings.ToLower(toks[i-1].text)] {
				return nil, fmt.Errorf("selector %s without a metric name", tk.text)
			}
			continue
		case 'i':
		default:
			continue
		}
		word := strings.ToLower(tk.text)
		nx := next(i)
		switch {
		case promGrouping[word]:
			// Skip the label list, if any.
			if nx.kind == 'p' && nx.text == "(" {
				depth := 0
				for i++; i < len(toks); i++ {
					if toks[i].kind == 'p' && toks[i].text == "(" {
						depth++
					}
					if toks[i].kind == 'p' && toks[i].text == ")" {
						depth--
						if depth == 0 {
							break
						}
					}
				}
			}
		case promKeywords[word]:
		case nx.kind == 'p' && nx.text == "(":
			// a function or an aggregation
		case promAggregations[word] && nx.kind == 'i' && (strings.EqualFold(nx.text, "by") || strings.EqualFold(nx.text, "without")):
		default:
			if !metricNameRE.MatchString(tk.text) {
				return nil, fmt.Errorf("bad metric name %q", tk.text)
			}
			out = append(out, tk.text)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
