package agent

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"quadrature/checks"
	"quadrature/fsm"
)

// fakeReports drives a reporter without raft: the committed config
// version, the scheduler's current state, and scripted send outcomes.
// Sequence numbers come from one counter, as the agent's do.
type fakeReports struct {
	version uint64
	state   map[string]bool // real server address -> up
	seq     uint64
	fail    int      // the next fail sends fail
	during  func()   // run inside the next send (an observation arriving meanwhile)
	sent    []string // one line per send attempt
}

const testVS = "tcp/203.0.113.10:80"

func (f *fakeReports) obs(addr string, up bool) fsm.Observation {
	f.seq++
	return fsm.Observation{VS: testVS, RS: netip.MustParseAddrPort(addr), Up: up, Weight: 1, Seq: f.seq}
}

func (f *fakeReports) reporter() *reporter {
	return newReporter(
		func() uint64 { return f.version },
		func() []fsm.Observation {
			var out []fsm.Observation
			for addr, up := range f.state {
				out = append(out, f.obs(addr, up))
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
			if f.during != nil {
				f.during()
				f.during = nil
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
		do      string // batch, refresh, observe (addr, up), state (addr, up), config, fail (n), during (addr, up: observe inside the next send)
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
		{"a change received during a send is kept, also after a full report", []step{
			{do: "config"},
			{do: "batch", wantNew: []string{"full 203.0.113.11:8080=true 203.0.113.13:8080=true"}},
			{do: "observe", addr: b, up: false},
			{do: "during", addr: b, up: true},
			{do: "batch", wantNew: []string{"changes 203.0.113.13:8080=false"}},
			{do: "batch", wantNew: []string{"changes 203.0.113.13:8080=true"}},
			{do: "batch"},
			{do: "during", addr: a, up: false},
			{do: "refresh", wantNew: []string{"full 203.0.113.11:8080=true 203.0.113.13:8080=true"}},
			{do: "batch", wantNew: []string{"changes 203.0.113.11:8080=false"}},
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
					r.observe(f.obs(s.addr, s.up))
				case "during":
					addr, up := s.addr, s.up
					f.during = func() { r.observe(f.obs(addr, up)) }
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

// TestReportsRecordedWhileSendBlocks: an observation is recorded (the
// degraded mode's local view reads those) as soon as the checkers emit
// it, also while a report is stuck in a send to an unreachable leader,
// which is exactly when the node is about to program its own verdicts.
func TestReportsRecordedWhileSendBlocks(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in := make(chan checks.Observation, 4)
	sending := make(chan struct{}, 1)
	release := make(chan struct{})
	r := newReporter(
		func() uint64 { return 1 },
		func() []fsm.Observation { return nil },
		func(bool, []fsm.Observation) bool {
			select {
			case sending <- struct{}{}:
			default:
			}
			select { // no leader: the send waits out its timeout
			case <-release:
			case <-ctx.Done():
			}
			return false
		},
	)
	recorded := make(chan string, 4)
	var seq uint64
	record := func(o checks.Observation) (fsm.Observation, bool) {
		recorded <- o.RealServer
		seq++
		return fsm.Observation{VS: testVS, RS: netip.MustParseAddrPort(o.RealServer), Up: o.Up, Seq: seq}, true
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runReports(ctx, in, record, func() {}, r, time.Millisecond, time.Hour)
	}()
	defer func() { cancel(); <-done }()
	select {
	case <-sending:
	case <-time.After(10 * time.Second):
		t.Fatal("no send started")
	}
	in <- checks.Observation{RealServer: "203.0.113.13:8080", Up: false}
	select {
	case got := <-recorded:
		if got != "203.0.113.13:8080" {
			t.Fatalf("recorded %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("an observation was not recorded while a send was blocked")
	}
	close(release)
}
