package jepsen

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Report is everything a run prints: the plan, what happened, each
// checker's verdict and the measured numbers.
type Report struct {
	Seed     uint64
	Nodes    int
	Duration time.Duration // planned fault schedule
	Wall     time.Duration // whole run, group start to checks done
	Schedule []Fault
	Events   []Event
	Ops      []Op
	Samples  int
	// Converged is how long the group took to converge after the final
	// heal (0 if it never did within the bound).
	Converged time.Duration
	Results   []Result
	Avail     []Availability
	Dual      map[string]DualReport // per instance
	// Injected names the fault injected into the recorded history
	// (QUADRATURE_JEPSEN_INJECT), "" for an honest run.
	Injected string
}

// Violations is the number of violations over all checkers.
func (r *Report) Violations() int {
	n := 0
	for _, res := range r.Results {
		n += len(res.Violations)
	}
	return n
}

// Counts returns the number of operations per kind and completion type.
func Counts(ops []Op) map[string]map[OpType]int {
	out := map[string]map[OpType]int{}
	for _, o := range ops {
		if out[o.Kind] == nil {
			out[o.Kind] = map[OpType]int{}
		}
		out[o.Kind][o.Type]++
	}
	return out
}

// Write renders the report as text.
func (r *Report) Write(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("quadrature jepsen report")
	p("========================")
	p("seed %d (reproduce the nemesis plan: QUADRATURE_JEPSEN_SEED=%d), %d nodes, schedule %v, wall time %v",
		r.Seed, r.Seed, r.Nodes, r.Duration, r.Wall.Round(time.Second))
	if r.Injected != "" {
		p("INJECTED FAULT in the recorded history: %s (this run must fail)", r.Injected)
	}
	p("")
	p("nemesis schedule (%d faults):", len(r.Schedule))
	for i, f := range r.Schedule {
		p("  %2d %s", i, f)
	}
	p("")
	p("nemesis events:")
	for _, e := range r.Events {
		p("  %s", strings.TrimSpace(e.String()))
	}
	p("")
	p("operations (%d):", len(r.Ops))
	counts := Counts(r.Ops)
	kinds := make([]string, 0, len(counts))
	for k := range counts {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		c := counts[k]
		p("  %-8s ok %5d  fail %5d  info %5d", k, c[OK], c[Fail], c[Info])
	}
	p("VIP samples: %d", r.Samples)
	p("")
	p("checkers:")
	for _, res := range r.Results {
		verdict := "PASS"
		if !res.OK() {
			verdict = fmt.Sprintf("FAIL (%d violations)", len(res.Violations))
		}
		p("  [%s] %s", verdict, res.Name)
		for _, v := range res.Violations {
			p("      violation: %s", indent(v, "      "))
		}
		for _, n := range res.Notes {
			p("      %s", indent(n, "      "))
		}
	}
	p("")
	p("availability through the VIPs (client namespace, one request at a time, new connection each):")
	for _, a := range r.Avail {
		p("  %s", a.Summary())
		var nodes []string
		for n, c := range a.ByNode {
			nodes = append(nodes, fmt.Sprintf("%s:%d", n, c))
		}
		sort.Strings(nodes)
		p("    served by %s", strings.Join(nodes, " "))
		for _, k := range AllFaults {
			ds := a.PerFault[k]
			if len(ds) == 0 {
				continue
			}
			var mx time.Duration
			for _, d := range ds {
				mx = max(mx, d)
			}
			p("    after %-7s (%2d faults): outage median %6v max %6v", k, len(ds), Median(ds).Round(time.Millisecond), mx.Round(time.Millisecond))
		}
	}
	if len(r.Avail) > 0 {
		p("  per fault (longest outage that began between its start and the next fault; failed requests by class):")
		starts := map[int]Event{}
		for _, e := range r.Events {
			if e.Phase == PhaseStart {
				starts[e.Fault] = e
			}
		}
		for i, fo := range r.Avail[0].Faults {
			e := starts[fo.Fault]
			line := fmt.Sprintf("    %2d %-7s %-12s", fo.Fault, fo.Kind, strings.Join(e.Nodes, ","))
			for _, a := range r.Avail {
				if i < len(a.Faults) {
					f := a.Faults[i]
					line += fmt.Sprintf(" | %s %6v (%s)", a.Target, f.Worst.Round(time.Millisecond), ErrorSummary(f.Errors))
				}
			}
			p("%s", line)
		}
	}
	p("")
	p("dual VIP ownership (sampled; live agents only):")
	insts := make([]string, 0, len(r.Dual))
	for in := range r.Dual {
		insts = append(insts, in)
	}
	sort.Strings(insts)
	for _, in := range insts {
		d := r.Dual[in]
		var byKind []string
		for _, k := range AllFaults {
			if v, ok := d.ByKind[k]; ok {
				byKind = append(byKind, fmt.Sprintf("%s %v", k, v.Round(time.Millisecond)))
			}
		}
		p("  %s: %d episodes, total %v, longest %v; by fault: %s", in, len(d.Episodes), d.Total.Round(time.Millisecond), d.Max.Round(time.Millisecond), strings.Join(byKind, ", "))
	}
	if r.Converged > 0 {
		p("convergence after the final heal: %v", r.Converged.Round(time.Millisecond))
	}
	p("")
	if v := r.Violations(); v > 0 {
		p("RESULT: FAIL, %d violations", v)
	} else {
		p("RESULT: PASS")
	}
}

func indent(s, pre string) string { return strings.ReplaceAll(s, "\n", "\n"+pre) }
