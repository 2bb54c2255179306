package jepsen

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Outage is a maximal run of consecutive failed requests (by invocation
// time) through one VIP: from the invocation of the first failed request
// to the invocation of the next successful one (or the last completion
// if none followed).
type Outage struct {
	From, To time.Duration
	Requests int // failed requests in the run
}

// Duration is the length of the outage.
func (o Outage) Duration() time.Duration { return o.To - o.From }

// Availability is what the client saw through one VIP (reported, never
// asserted: timings depend on the machine).
type Availability struct {
	Target   string
	Requests int
	OK       int
	Outages  []Outage
	Longest  Outage
	ByNode   map[string]int // successful requests per answering node
	// Errors counts the failed requests by class: timeout (nobody
	// answered: no holder, or a holder that cannot reach the real
	// server), refused (a holder without a rule for the service: its
	// kernel table not programmed), reset, other.
	Errors map[string]int
	// PerFault is, for each fault kind, the longest outage that began
	// while a fault of that kind was in force or in the quiet period after
	// its heal, one value per fault of that kind (0 when it caused none).
	PerFault map[FaultKind][]time.Duration
	// Faults has one entry per fault, in schedule order: the longest
	// outage that began in its window and the failures in it by class.
	Faults []FaultOutage
}

// FaultOutage is what one fault cost the clients of one VIP.
type FaultOutage struct {
	Fault  int
	Kind   FaultKind
	Worst  time.Duration
	Errors map[string]int
}

// Fraction is the share of requests that succeeded.
func (a Availability) Fraction() float64 {
	if a.Requests == 0 {
		return 0
	}
	return float64(a.OK) / float64(a.Requests)
}

// MeasureAvailability computes the availability of the http operations
// on target (all targets when empty) against the nemesis events.
func MeasureAvailability(target string, ops []Op, events []Event) Availability {
	a := Availability{Target: target, ByNode: map[string]int{}, Errors: map[string]int{}, PerFault: map[FaultKind][]time.Duration{}}
	var reqs []Op
	for _, o := range ops {
		if o.Kind == KindHTTP && (target == "" || o.Target == target) {
			reqs = append(reqs, o)
		}
	}
	sortOps(reqs)
	var cur *Outage
	var lastEnd time.Duration
	for _, o := range reqs {
		a.Requests++
		lastEnd = max(lastEnd, o.End)
		if o.Type == OK {
			a.OK++
			a.ByNode[o.Node]++
			if cur != nil {
				cur.To = o.Start
				a.Outages = append(a.Outages, *cur)
				cur = nil
			}
			continue
		}
		a.Errors[errorClass(o)]++
		if cur == nil {
			cur = &Outage{From: o.Start}
		}
		cur.Requests++
	}
	if cur != nil {
		cur.To = lastEnd
		a.Outages = append(a.Outages, *cur)
	}
	for _, o := range a.Outages {
		if o.Duration() > a.Longest.Duration() {
			a.Longest = o
		}
	}
	// Attribute outages to faults: fault i's window runs from its start
	// to the next fault's start (its hold, heal and quiet period).
	type win struct {
		kind     FaultKind
		from, to time.Duration
	}
	var wins []win
	starts := map[int]Event{}
	for _, e := range events {
		if e.Phase == PhaseStart {
			starts[e.Fault] = e
		}
	}
	idx := make([]int, 0, len(starts))
	for i := range starts {
		idx = append(idx, i)
	}
	sort.Slice(idx, func(i, j int) bool { return starts[idx[i]].At < starts[idx[j]].At })
	for k, i := range idx {
		w := win{kind: starts[i].Kind, from: starts[i].At, to: 1<<63 - 1}
		if k+1 < len(idx) {
			w.to = starts[idx[k+1]].At
		}
		wins = append(wins, w)
	}
	for k, w := range wins {
		var worst time.Duration
		for _, o := range a.Outages {
			if o.From >= w.from && o.From < w.to {
				worst = max(worst, o.Duration())
			}
		}
		a.PerFault[w.kind] = append(a.PerFault[w.kind], worst)
		fo := FaultOutage{Fault: idx[k], Kind: w.kind, Worst: worst, Errors: map[string]int{}}
		for _, o := range reqs {
			if o.Type != OK && o.Start >= w.from && o.Start < w.to {
				fo.Errors[errorClass(o)]++
			}
		}
		a.Faults = append(a.Faults, fo)
	}
	return a
}

// errorClass sorts a failed request by its error.
func errorClass(o Op) string {
	switch {
	case o.Type == Info:
		return "timeout"
	case strings.Contains(o.Err, "connection refused"):
		return "refused"
	case strings.Contains(o.Err, "connection reset"):
		return "reset"
	}
	return "other"
}

// Median returns the median of ds (0 for none).
func Median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// ErrorSummary is "timeout 3, refused 80" (classes in a fixed order).
func ErrorSummary(errs map[string]int) string {
	var out []string
	for _, c := range []string{"timeout", "refused", "reset", "other"} {
		if errs[c] > 0 {
			out = append(out, fmt.Sprintf("%s %d", c, errs[c]))
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// Summary is one report line.
func (a Availability) Summary() string {
	return fmt.Sprintf("%s: %d requests, %d ok (%.2f%%; failed: %s), %d outages, longest %v at %.1fs (%d requests failed in it)",
		a.Target, a.Requests, a.OK, 100*a.Fraction(), ErrorSummary(a.Errors), len(a.Outages), a.Longest.Duration().Round(time.Millisecond), a.Longest.From.Seconds(), a.Longest.Requests)
}
