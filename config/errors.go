package config

import (
	"cmp"
	"slices"
	"strings"
)

// Diagnostic is one error or warning about a configuration, tied to the line
// it is about.
type Diagnostic struct {
	Pos Pos
	Msg string
	// Warning marks a diagnostic that does not make the file invalid.
	Warning bool
}

// Error follows the compiler convention: "file:line: message" for an
// error, "file:line: warning: message" for a warning.
func (d Diagnostic) Error() string {
	return FormatDiagnostic(d.Pos.String(), d.Msg, d.Warning)
}

// FormatDiagnostic formats a diagnostic whose position is already a
// string ("file:line", "file", or "" for none), for the printers of
// diagnostics that come from elsewhere (the API's ConfigError).
func FormatDiagnostic(pos, msg string, warning bool) string {
	if warning {
		msg = "warning: " + msg
	}
	if pos == "" {
		return msg
	}
	return pos + ": " + msg
}

// String is the same as Error.
func (d Diagnostic) String() string { return d.Error() }

// ErrorList is every error found in a configuration. Load returns it (as an
// error) sorted by file and line, so an operator sees all problems at once.
type ErrorList []Diagnostic

// Error returns one "file:line: message" per line.
func (l ErrorList) Error() string {
	var b strings.Builder
	for i, d := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(d.Error())
	}
	return b.String()
}

// Sort orders the list by file, then line, keeping the order of discovery
// for diagnostics on the same line, and drops exact duplicates.
func (l *ErrorList) Sort() {
	slices.SortStableFunc(*l, compareDiag)
	*l = slices.Compact(*l)
}

func compareDiag(a, b Diagnostic) int {
	if c := cmp.Compare(a.Pos.File, b.Pos.File); c != 0 {
		return c
	}
	return cmp.Compare(a.Pos.Line, b.Pos.Line)
}

// closest returns the candidate nearest to word by edit distance, or "" when
// nothing is near enough to be a plausible typo or truncation.
func closest(word string, candidates []string) string {
	best, bestD := "", -1
	for _, c := range candidates {
		d := editDistance(word, c)
		// A truncated keyword ("virtual_router" for "virtual_router_id") is
		// a likely mistake even when the distance is large.
		if strings.HasPrefix(c, word) && len(word) >= 4 {
			d = min(d, 1)
		}
		if bestD < 0 || d < bestD || d == bestD && c < best {
			best, bestD = c, d
		}
	}
	limit := max(2, len(word)/3)
	if bestD < 0 || bestD > limit {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	if len(a) > 256 || len(b) > 256 {
		return max(len(a), len(b))
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
