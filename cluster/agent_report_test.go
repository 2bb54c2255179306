package cluster

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"quadrature/fsm"
)

// fakeReports drives a reporter without raft: the committed config
// version, the scheduler's current state, and scripted send outcomes.
type fakeReports struct {
	version uint64
	state   map[string]bool // real server address -> up
	fail    int             // the next fail sends fail
	sent    []string        // one line per send attempt
}

const testVS = "TCP 203.0.113.10:80"

func obsOf(addr string, up bool) fsm.Observation {
	return fsm.Observation{VS: testVS, RS: netip.MustParseAddrPort(addr), Up: up, Weight: 1}
}

func (f *fakeReports) reporter() *reporter {
	return newReporter(
		func() uint64 { return f.version },
		func() []fsm.Observation {
			var out []fsm.Observation
			for addr, up := range f.state {
				out = append(out, obsOf(addr, up))
			}
			sortObservations(out)
			return out
		},
		func(full bool, obs []fsm.Observation) bool {
			var b strings.Builder
			if full {
				b.WriteString("full")
			} else {
				b.WriteString("changes")
			}
			for _, o := range obs {
				fmt.Fprintf(&b, " %s=%v", o.RS, o.Up)
			}
			ok := f.fail == 0
			if !ok {
				f.fail--
				b.WriteString(" (failed)")
			}
			f.sent = append(f.sent, b.String())
			return ok
		},
	)
}

// TestReporterNeverDropsUnsentReports: a report is forgotten only once
// committed. In particular the full report that follows a new config
// (the FSM dropped the observations of redefined real servers) is retried
// when its send fails, instead of leaving this node without observations
// until the next full refresh.
func TestReporterNeverDropsUnsentReports(t *testing.T) {
	const a, b = "203.0.113.11:8080", "203.0.113.13:8080"
	type step struct {
		do      string // batch, refresh, observe (addr, up), state (addr, up), config, fail (n)
		addr    string
		up      bool
		n       int
		wantNew []string // send attempts made by this step
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"no config: nothing is sent", []step{
			{do: "observe", addr: a, up: false},
			{do: "batch"},
			{do: "refresh"},
		}},
		{"first config: one full report, then only changes", []step{
			{do: "config"},
			{do: "batch", wantNew: []string{"full 203.0.113.11:8080=true 203.0.113.13:8080=true"}},
			{do: "batch"},
			{do: "observe", addr: b, up: false},
			{do: "batch", wantNew: []string{"changes 203.0.113.13:8080=false"}},
			{do: "batch"},
		}},
		{"full report after a new config retried until committed", []step{
			{do: "config"},
			{do: "fail", n: 2},
			{do: "batch", wantNew: []string{"full 203.0.113.11:8080=true 203.0.113.13:8080=true (failed)"}},
			{do: "state", addr: b, up: false},
			{do: "observe", addr: b, up: false},
			{do: "batch", wantNew: []string{"full 203.0.113.11:8080=true 203.0.113.13:8080=false (failed)"}},
			{do: "batch", wantNew: []string{"full 203.0.113.11:8080=true 203.0.113.13:8080=false"}},
			{do: "batch"},
			{do: "config"},
			{do: "fail", n: 1},
			{do: "batch", wantNew: []string{"full 203.0.113.11:8080=true 203.0.113.13:8080=false (failed)"}},
			{do: "batch", wantNew: []string{"full 203.0.113.11:8080=true 203.0.113.13:8080=false"}},
		}},
		{"changes kept and merged while sends fail", []step{
			{do: "config"},
			{do: "batch", wantNew: []string{"full 203.0.113.11:8080=true 203.0.113.13:8080=true"}},
			{do: "observe", addr: b, up: false},
			{do: "fail", n: 1},
			{do: "batch", wantNew: []string{"changes 203.0.113.13:8080=false (failed)"}},
			{do: "observe", addr: a, up: false},
			{do: "observe", addr: b, up: true},
			{do: "batch", wantNew: []string{"changes 203.0.113.11:8080=false 203.0.113.13:8080=true"}},
			{do: "batch"},
		}},
		{"a full refresh replaces pending changes; a failed one keeps them", []step{
			{do: "config"},
			{do: "batch", wantNew: []string{"full 203.0.113.11:8080=true 203.0.113.13:8080=true"}},
			{do: "observe", addr: b, up: false},
			{do: "state", addr: b, up: false},
			{do: "fail", n: 1},
			{do: "refresh", wantNew: []string{"full 203.0.113.11:8080=true 203.0.113.13:8080=false (failed)"}},
			{do: "batch", wantNew: []string{"changes 203.0.113.13:8080=false"}},
			{do: "observe", addr: b, up: true},
			{do: "state", addr: b, up: true},
			{do: "refresh", wantNew: []string{"full 203.0.113.11:8080=true 203.0.113.13:8080=true"}},
			{do: "batch"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeReports{state: map[string]bool{a: true, b: true}}
			r := f.reporter()
			for i, s := range tc.steps {
				before := len(f.sent)
				switch s.do {
				case "batch":
					r.batch()
				case "refresh":
					r.refresh()
				case "observe":
					r.observe(obsOf(s.addr, s.up))
				case "state":
					f.state[s.addr] = s.up
				case "config":
					f.version++
				case "fail":
					f.fail = s.n
				default:
					t.Fatalf("step %d: unknown action %q", i, s.do)
				}
				if got := f.sent[before:]; !slices.Equal(got, s.wantNew) {
					t.Fatalf("step %d (%s): sent %q, want %q\nall sends: %q", i, s.do, got, s.wantNew, f.sent)
				}
			}
		})
	}
}
