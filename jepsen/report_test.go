package jepsen

import (
	"strings"
	"testing"
	"time"
)

func TestReportWrite(t *testing.T) {
	events := []Event{
		{At: ms(1000), Fault: 0, Kind: FaultKill, Phase: PhaseStart, Nodes: []string{"n1"}, Note: "raft leader n1"},
		{At: ms(4000), Fault: 0, Kind: FaultKill, Phase: PhaseHeal, Nodes: []string{"n1"}},
	}
	ops := []Op{
		{Kind: KindHTTP, Target: "vip", Start: ms(500), End: ms(510), Type: OK, Node: "n1"},
		{Kind: KindHTTP, Target: "vip", Start: ms(4100), End: ms(4110), Type: Fail, Err: "connect: connection refused"},
		{Kind: KindHTTP, Target: "vip", Start: ms(4200), End: ms(4210), Type: OK, Node: "n2"},
		cas(0, 100, 200, OK, 1, "B", 2),
	}
	r := &Report{Seed: 42, Nodes: 3, Duration: time.Minute, Events: events, Ops: ops,
		Schedule: []Fault{{Kind: FaultKill, Target: TargetLeader, Hold: 3 * time.Second, Quiet: 3 * time.Second}},
		Results:  []Result{{Name: "good"}, {Name: "bad", Violations: []string{"lost v2"}}},
		Avail:    []Availability{MeasureAvailability("vip", ops, events)},
		Dual:     map[string]DualReport{AvailInstance: {ByKind: map[FaultKind]time.Duration{}}}}
	var b strings.Builder
	r.Write(&b)
	got := b.String()
	for _, want := range []string{
		"QUADRATURE_JEPSEN_SEED=42",
		"kill    leader",
		"nemesis start kill    [n1] (raft leader n1)",
		"cas      ok     1",
		"[PASS] good",
		"[FAIL (1 violations)] bad",
		"violation: lost v2",
		"vip: 3 requests, 2 ok (66.67%; failed: refused 1)",
		"0 kill    n1           | vip  100ms (refused 1)",
		"RESULT: FAIL, 1 violations",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	if r.Violations() != 1 {
		t.Errorf("%d violations", r.Violations())
	}
}
