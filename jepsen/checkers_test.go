package jepsen

import (
	"strings"
	"testing"
	"time"

	"quadrature/api"
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// cfgOps builds config operations: times in ms.
func read(p, start, end int, v uint64, content string) Op {
	return Op{Process: p, Kind: KindRead, Start: ms(start), End: ms(end), Type: OK, Version: v, Value: content}
}

func cas(p, start, end int, typ OpType, expect uint64, content string, v uint64) Op {
	o := Op{Process: p, Kind: KindCAS, Start: ms(start), End: ms(end), Type: typ, Expect: expect, Value: content, Version: v}
	if typ == Fail {
		o.Err = errConflict
	}
	return o
}

var init1 = ConfigState{Version: 1, Content: "A"}

func TestCheckLinearizable(t *testing.T) {
	for _, tc := range []struct {
		name string
		ops  []Op
		ok   bool
	}{
		{"sequential", []Op{
			cas(0, 0, 10, OK, 1, "B", 2), read(1, 20, 30, 2, "B"), cas(1, 40, 50, Fail, 1, "C", 0), read(0, 60, 70, 2, "B"),
		}, true},
		{"concurrent writes, one wins", []Op{
			cas(0, 0, 100, OK, 1, "B", 2), cas(1, 10, 90, Fail, 1, "C", 0), read(2, 200, 210, 2, "B"),
		}, true},
		{"stale read after an acknowledged write", []Op{
			cas(0, 0, 10, OK, 1, "B", 2), read(1, 20, 30, 1, "A"),
		}, false},
		{"read of a refused write", []Op{
			cas(0, 0, 10, Fail, 2, "B", 0), read(1, 20, 30, 2, "B"),
		}, false},
		{"conflict although the version matched", []Op{
			read(0, 0, 10, 1, "A"), cas(0, 20, 30, Fail, 1, "B", 0), read(0, 40, 50, 1, "A"),
		}, false},
		{"indeterminate write seen later", []Op{
			cas(0, 0, 10, Info, 1, "B", 0), read(1, 20, 30, 2, "B"),
		}, true},
		{"indeterminate write never applied", []Op{
			cas(0, 0, 10, Info, 1, "B", 0), read(1, 20, 30, 1, "A"),
		}, true},
		// The client gave up at 10 ms, the leader committed at 25 ms: a
		// read at 20 ms saw the old value, one at 40 ms the new one. Only
		// an info whose return extends to the end of the history allows
		// this; an info treated as over at its return would not.
		{"indeterminate write applied after the client gave up", []Op{
			cas(0, 0, 10, Info, 1, "B", 0), read(1, 15, 20, 1, "A"), read(1, 40, 50, 2, "B"),
		}, true},
		{"refused as invalid says nothing about the version", []Op{
			{Kind: KindCAS, Start: ms(0), End: ms(10), Type: Fail, Expect: 1, Value: "bad", Err: "api: 422"}, read(1, 20, 30, 1, "A"),
		}, true},
		{"two acknowledged writes of one version", []Op{
			cas(0, 0, 10, OK, 1, "B", 2), cas(1, 20, 30, OK, 1, "C", 2),
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := CheckLinearizable(init1, tc.ops, 10*time.Second, "")
			if r.OK() != tc.ok {
				t.Fatalf("OK()=%v, want %v: %v %v", r.OK(), tc.ok, r.Violations, r.Notes)
			}
		})
	}
}

func TestCheckNoLostWrites(t *testing.T) {
	good := []Op{cas(0, 0, 10, OK, 1, "B", 2), cas(1, 5, 15, Fail, 1, "X", 0), cas(1, 20, 30, OK, 2, "C", 3), read(0, 40, 50, 3, "C")}
	all := func(s ConfigState) map[string]ConfigState {
		return map[string]ConfigState{"n1": s, "n2": s, "n3": s}
	}
	for _, tc := range []struct {
		name  string
		ops   []Op
		final map[string]ConfigState
		want  string // substring of a violation; "" = none
	}{
		{"good", good, all(ConfigState{3, "C"}), ""},
		{"nothing written", nil, all(init1), ""},
		{"indeterminate write landed last", append(good[:len(good):len(good)], cas(2, 35, 60, Info, 3, "D", 0)), all(ConfigState{4, "D"}), ""},
		{"final older than an ack", good, all(ConfigState{2, "B"}), "older than the acknowledged v3"},
		{"final content is not the last ack", good, all(ConfigState{3, "B"}), "but v3 was acknowledged"},
		{"one node lost the writes", good, map[string]ConfigState{"n1": {3, "C"}, "n2": {3, "C"}, "n3": init1}, "differs between nodes"},
		{"duplicate version", []Op{cas(0, 0, 10, OK, 1, "B", 2), cas(1, 20, 30, OK, 1, "C", 2)}, all(ConfigState{2, "C"}), "two acknowledged writes produced v2"},
		{"versions against real time", []Op{cas(0, 0, 10, OK, 1, "B", 3), cas(1, 20, 30, OK, 1, "C", 2)}, all(ConfigState{3, "B"}), "invoked after a write acknowledged with v3"},
		{"read of content nobody wrote", append(good[:len(good):len(good)], read(2, 60, 70, 3, "Z")), all(ConfigState{3, "C"}), "no client wrote"},
		{"read of a refused write", append(good[:len(good):len(good)], read(2, 60, 70, 3, "X")), all(ConfigState{3, "C"}), "refused write"},
		{"read of an ack under another version", append(good[:len(good):len(good)], read(2, 60, 70, 4, "C")), all(ConfigState{3, "C"}), "acknowledged as v3 under v4"},
		{"more versions than writes", good, all(ConfigState{5, "C"}), "something else wrote"},
		{"acks without versions", append(good[:len(good):len(good)], cas(2, 60, 70, OK, 3, "E", 3)), all(ConfigState{3, "C"}), "two acknowledged writes produced v3"},
		{"no final read", good, nil, "no final configuration"},
		{"final above acks from no indeterminate write", good, all(ConfigState{4, "Q"}), "no indeterminate write wrote"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := CheckNoLostWrites(init1, tc.ops, tc.final)
			if tc.want == "" {
				if !r.OK() {
					t.Fatalf("violations on a good history: %v", r.Violations)
				}
				return
			}
			if r.OK() {
				t.Fatalf("no violation, want %q (notes %v)", tc.want, r.Notes)
			}
			if !strings.Contains(strings.Join(r.Violations, "\n"), tc.want) {
				t.Fatalf("violations %q, want one containing %q", r.Violations, tc.want)
			}
		})
	}
}

func drainOp(kind string, start, end int, typ OpType) Op {
	return Op{Kind: kind, Start: ms(start), End: ms(end), Type: typ}
}

func TestCheckDrain(t *testing.T) {
	all := func(v bool) map[string]bool { return map[string]bool{"n1": v, "n2": v, "n3": v} }
	for _, tc := range []struct {
		name  string
		ops   []Op
		final map[string]bool
		ok    bool
	}{
		{"no writes", nil, all(false), true},
		{"no writes, drained", nil, all(true), false},
		{"last ack drain", []Op{drainOp(KindUndrain, 0, 10, OK), drainOp(KindDrain, 20, 30, OK)}, all(true), true},
		{"last ack lost", []Op{drainOp(KindUndrain, 0, 10, OK), drainOp(KindDrain, 20, 30, OK)}, all(false), false},
		{"concurrent acks, either", []Op{drainOp(KindUndrain, 0, 30, OK), drainOp(KindDrain, 10, 20, OK)}, all(false), true},
		{"later indeterminate undrain", []Op{drainOp(KindDrain, 0, 10, OK), drainOp(KindUndrain, 20, 30, Info)}, all(false), true},
		{"failed undrain does not count", []Op{drainOp(KindDrain, 0, 10, OK), drainOp(KindUndrain, 20, 30, Fail)}, all(false), false},
		{"nodes disagree", []Op{drainOp(KindDrain, 0, 10, OK)}, map[string]bool{"n1": true, "n2": false}, false},
		{"nothing read", nil, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := CheckDrain(false, tc.ops, tc.final); r.OK() != tc.ok {
				t.Fatalf("OK()=%v, want %v: %v", r.OK(), tc.ok, r.Violations)
			}
		})
	}
}

func goodFinal() Final {
	st := func(n string) NodeView {
		return NodeView{Name: n, Ready: true, Status: api.Status{Node: n, Leader: "n2", ConfigVersion: 7, TableDigest: "abc"}}
	}
	return Final{
		Nodes:   []NodeView{st("n1"), st("n2"), st("n3")},
		Holders: map[string][]string{AvailInstance: {"n1"}, FencedInstance: {"n3"}},
		HTTP:    map[string]string{"203.0.113.10": "served by n2", "203.0.113.9": "served by n1"},
		HTTPOK:  map[string]bool{"203.0.113.10": true, "203.0.113.9": true},
	}
}

func TestCheckConvergence(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Final)
		want   string
	}{
		{"good", func(*Final) {}, ""},
		{"node down", func(f *Final) { f.Nodes[1].Err = "connection refused" }, "does not answer"},
		{"two leaders", func(f *Final) { f.Nodes[2].Status.Leader = "n3" }, "sees leader n3"},
		{"no leader", func(f *Final) { f.Nodes[0].Status.Leader = "" }, "knows no leader"},
		{"version lag", func(f *Final) { f.Nodes[2].Status.ConfigVersion = 6 }, "config_version 6"},
		{"digest", func(f *Final) { f.Nodes[1].Status.TableDigest = "abd" }, "table digest"},
		{"not ready", func(f *Final) { f.Nodes[0].Ready, f.Nodes[0].Reason = false, "table differs" }, "not ready"},
		{"degraded", func(f *Final) { f.Nodes[0].Status.Degraded = true }, "degraded"},
		{"fenced", func(f *Final) { f.Nodes[0].Status.Fenced = true }, "fenced"},
		{"two VIP holders", func(f *Final) { f.Holders[AvailInstance] = []string{"n1", "n2"} }, "2 VIP holders"},
		{"no VIP holder", func(f *Final) { f.Holders[FencedInstance] = nil }, "0 VIP holders"},
		{"http fails", func(f *Final) { f.HTTPOK["203.0.113.9"], f.HTTP["203.0.113.9"] = false, "timeout" }, "request through 203.0.113.9"},
		{"nothing observed", func(f *Final) { *f = Final{} }, "no node observed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := goodFinal()
			tc.mutate(&f)
			r := CheckConvergence(f)
			if tc.want == "" {
				if !r.OK() {
					t.Fatalf("violations: %v", r.Violations)
				}
				return
			}
			if !strings.Contains(strings.Join(r.Violations, "\n"), tc.want) {
				t.Fatalf("violations %q, want one containing %q", r.Violations, tc.want)
			}
		})
	}
}

// samplesOf makes one sample every 25 ms from 0 to end (ms) with the
// fenced instance's holders given by f.
func samplesOf(end int, f func(at time.Duration) []string) []VIPSample {
	var out []VIPSample
	for at := 0; at <= end; at += 25 {
		out = append(out, VIPSample{At: ms(at), Holders: map[string][]string{FencedInstance: f(ms(at))}})
	}
	return out
}

func TestCheckFencedVIP(t *testing.T) {
	partition := []Event{
		{At: ms(1000), Fault: 0, Kind: FaultIsolate, Phase: PhaseStart, Nodes: []string{"n3"}},
		{At: ms(5000), Fault: 0, Kind: FaultIsolate, Phase: PhaseHeal, Nodes: []string{"n3"}},
	}
	kill := []Event{
		{At: ms(1000), Fault: 0, Kind: FaultKill, Phase: PhaseStart, Nodes: []string{"n3"}},
		{At: ms(5000), Fault: 0, Kind: FaultKill, Phase: PhaseHeal, Nodes: []string{"n3"}},
	}
	pause := []Event{
		{At: ms(1000), Fault: 0, Kind: FaultPause, Phase: PhaseStart, Nodes: []string{"n3"}},
		{At: ms(5000), Fault: 0, Kind: FaultPause, Phase: PhaseHeal, Nodes: []string{"n3"}},
	}
	between := func(from, to int, both []string, one []string) func(time.Duration) []string {
		return func(at time.Duration) []string {
			if at >= ms(from) && at <= ms(to) {
				return both
			}
			return one
		}
	}
	for _, tc := range []struct {
		name    string
		events  []Event
		holders func(time.Duration) []string
		ok      bool
	}{
		{"one holder throughout", partition, func(time.Duration) []string { return []string{"n3"} }, true},
		{"fence delay after the partition", partition, between(1700, 1900, []string{"n1", "n3"}, []string{"n3"}), true},
		{"handover glimpse later", partition, between(3000, 3025, []string{"n1", "n3"}, []string{"n1"}), true},
		{"preemption right after the heal", partition, between(5200, 5600, []string{"n1", "n3"}, []string{"n3"}), true},
		{"split brain for the whole partition", partition, between(1700, 5000, []string{"n1", "n3"}, []string{"n3"}), false},
		{"split brain later in a partition", partition, between(3000, 3500, []string{"n1", "n3"}, []string{"n1"}), false},
		{"split brain with no nemesis", nil, between(3000, 3500, []string{"n1", "n3"}, []string{"n1"}), false},
		{"killed holder keeps its address", kill, between(1000, 7000, []string{"n1", "n3"}, []string{"n1"}), true},
		{"restarted agent never drops the stale VIP", kill, between(1000, 12000, []string{"n1", "n3"}, []string{"n1"}), false},
		{"paused holder", pause, between(1800, 5000, []string{"n1", "n3"}, []string{"n1"}), true},
		{"resumed holder keeps it", pause, between(1800, 8000, []string{"n1", "n3"}, []string{"n1"}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := samplesOf(13000, tc.holders)
			r := CheckFencedVIP(FencedInstance, s, tc.events, DualOptions{})
			if r.OK() != tc.ok {
				t.Fatalf("OK()=%v, want %v: %v %v", r.OK(), tc.ok, r.Violations, r.Notes)
			}
		})
	}
	if r := CheckFencedVIP(FencedInstance, nil, nil, DualOptions{}); r.OK() {
		t.Error("no samples passed")
	}
}

func TestReportDual(t *testing.T) {
	events := []Event{
		{At: ms(1000), Fault: 0, Kind: FaultIsolate, Phase: PhaseStart, Nodes: []string{"n1"}},
		{At: ms(4000), Fault: 0, Kind: FaultIsolate, Phase: PhaseHeal, Nodes: []string{"n1"}},
	}
	s := samplesOf(6000, func(at time.Duration) []string {
		if at >= ms(1800) && at <= ms(4100) {
			return []string{"n1", "n2"}
		}
		return []string{"n1"}
	})
	d := ReportDual(FencedInstance, s, events, DualOptions{})
	if len(d.Episodes) != 1 || d.Max != ms(2300) || d.ByKind[FaultIsolate] != ms(2300) {
		t.Fatalf("dual report %+v", d)
	}
}

func TestMeasureAvailability(t *testing.T) {
	req := func(start, end int, typ OpType, node string) Op {
		return Op{Kind: KindHTTP, Target: "vip", Start: ms(start), End: ms(end), Type: typ, Node: node}
	}
	ops := []Op{
		req(0, 10, OK, "n1"), req(100, 110, OK, "n1"),
		req(200, 1200, Info, ""), req(1250, 1260, Fail, ""), // outage 200..1300
		req(1300, 1310, OK, "n2"), req(1400, 1410, OK, "n2"),
		req(3000, 3010, Fail, ""), // outage 3000..3100
		req(3100, 3110, OK, "n2"),
		req(5000, 5010, Fail, ""), // until the end: 5000..5010
		{Kind: KindHTTP, Target: "other", Start: ms(50), End: ms(60), Type: Fail},
	}
	ops[3].Err = "dial tcp 203.0.113.10:80: connect: connection refused"
	events := []Event{
		{At: ms(150), Fault: 0, Kind: FaultKill, Phase: PhaseStart},
		{At: ms(2000), Fault: 0, Kind: FaultKill, Phase: PhaseHeal},
		{At: ms(2900), Fault: 1, Kind: FaultIsolate, Phase: PhaseStart},
		{At: ms(3500), Fault: 1, Kind: FaultIsolate, Phase: PhaseHeal},
		{At: ms(4000), Fault: 2, Kind: FaultKill, Phase: PhaseStart},
		{At: ms(4500), Fault: 2, Kind: FaultKill, Phase: PhaseHeal},
	}
	a := MeasureAvailability("vip", ops, events)
	if a.Requests != 9 || a.OK != 5 || len(a.Outages) != 3 {
		t.Fatalf("%d requests, %d ok, %d outages: %+v", a.Requests, a.OK, len(a.Outages), a.Outages)
	}
	if a.Longest.Duration() != ms(1100) || a.Longest.Requests != 2 {
		t.Errorf("longest %+v", a.Longest)
	}
	if a.Errors["timeout"] != 1 || a.Errors["refused"] != 1 || a.Errors["other"] != 2 {
		t.Errorf("errors %v", a.Errors)
	}
	if a.ByNode["n1"] != 2 || a.ByNode["n2"] != 3 {
		t.Errorf("by node %v", a.ByNode)
	}
	if got := a.PerFault[FaultKill]; len(got) != 2 || got[0] != ms(1100) || got[1] != ms(10) {
		t.Errorf("after kill %v, want [1.1s 10ms]", got)
	}
	if got := a.PerFault[FaultIsolate]; len(got) != 1 || got[0] != ms(100) {
		t.Errorf("after isolate %v", got)
	}
	if len(a.Faults) != 3 || a.Faults[0].Worst != ms(1100) || ErrorSummary(a.Faults[0].Errors) != "timeout 1, refused 1" ||
		a.Faults[1].Kind != FaultIsolate || ErrorSummary(a.Faults[1].Errors) != "other 1" || ErrorSummary(a.Faults[2].Errors) != "other 1" {
		t.Errorf("per fault %+v", a.Faults)
	}
	if ErrorSummary(nil) != "none" {
		t.Error("empty error summary")
	}
	if m := Median([]time.Duration{ms(3), ms(1), ms(2), ms(10)}); m != 2500*time.Microsecond {
		t.Errorf("median %v", m)
	}
	if Median(nil) != 0 || Median([]time.Duration{ms(4), ms(1), ms(9)}) != ms(4) {
		t.Error("median")
	}
}

func TestDowntime(t *testing.T) {
	ev := []Event{
		{At: ms(100), Fault: 0, Kind: FaultKill, Phase: PhaseStart, Nodes: []string{"n1"}},
		{At: ms(200), Fault: 0, Kind: FaultKill, Phase: PhaseHeal, Nodes: []string{"n1"}},
		{At: ms(300), Fault: 1, Kind: FaultIsolate, Phase: PhaseStart, Nodes: []string{"n2"}},
		{At: ms(400), Fault: 1, Kind: FaultIsolate, Phase: PhaseHeal, Nodes: []string{"n2"}},
		{At: ms(500), Fault: 2, Kind: FaultPause, Phase: PhaseStart, Nodes: []string{"n3"}},
	}
	d := Downtime(ev, ms(10))
	if len(d["n1"]) != 1 || d["n1"][0] != (Interval{ms(100), ms(210)}) {
		t.Errorf("n1 %v", d["n1"])
	}
	if len(d["n2"]) != 0 {
		t.Errorf("a partition is not downtime: %v", d["n2"])
	}
	if len(d["n3"]) != 1 || !d["n3"][0].Contains(time.Hour) {
		t.Errorf("an unhealed pause lasts to the end: %v", d["n3"])
	}
}

// TestInject: every injected corruption makes its checker fail on an
// otherwise good history (the mechanism behind QUADRATURE_JEPSEN_INJECT).
func TestInject(t *testing.T) {
	ops := []Op{cas(0, 0, 10, OK, 1, "B", 2), read(1, 20, 30, 2, "B")}
	final := map[string]ConfigState{"n1": {2, "B"}, "n2": {2, "B"}}
	events := []Event{
		{At: ms(1000), Fault: 0, Kind: FaultIsolate, Phase: PhaseStart, Nodes: []string{"n1"}},
		{At: ms(6000), Fault: 0, Kind: FaultIsolate, Phase: PhaseHeal, Nodes: []string{"n1"}},
	}
	samples := samplesOf(8000, func(time.Duration) []string { return []string{"n2"} })
	if r := CheckNoLostWrites(init1, ops, final); !r.OK() {
		t.Fatalf("good history: %v", r.Violations)
	}
	if r := CheckLinearizable(init1, ops, time.Second, ""); !r.OK() {
		t.Fatalf("good history: %v", r.Violations)
	}
	if r := CheckFencedVIP(FencedInstance, samples, events, DualOptions{}); !r.OK() {
		t.Fatalf("good samples: %v", r.Violations)
	}
	copyFinal := func() map[string]ConfigState {
		m := map[string]ConfigState{}
		for k, v := range final {
			m[k] = v
		}
		return m
	}
	_, _, f := inject("lost-write", init1, append([]Op(nil), ops...), events, samples, copyFinal())
	if r := CheckNoLostWrites(init1, ops, f); r.OK() {
		t.Error("lost-write injection passed")
	}
	o, _, _ := inject("stale-read", init1, append([]Op(nil), ops...), events, samples, copyFinal())
	if r := CheckLinearizable(init1, o, time.Second, ""); r.OK() {
		t.Error("stale-read injection passed")
	}
	_, s, _ := inject("dual-vip", init1, ops, events, append([]VIPSample(nil), samples...), copyFinal())
	if r := CheckFencedVIP(FencedInstance, s, events, DualOptions{}); r.OK() {
		t.Error("dual-vip injection passed")
	}
}

func TestSampleExcerpt(t *testing.T) {
	s := samplesOf(1000, func(at time.Duration) []string {
		if at >= ms(400) && at < ms(600) {
			return []string{"n1", "n2"}
		}
		return []string{"n1"}
	})
	ev := []Event{{At: ms(390), Kind: FaultIsolate, Phase: PhaseStart, Nodes: []string{"n2"}}}
	got := SampleExcerpt(FencedInstance, s, ev, ms(400), ms(575), ms(100))
	want := "    0.300s vf1 holders [n1]\n    0.390s nemesis start isolate [n2]\n    0.400s vf1 holders [n1,n2]\n    0.600s vf1 holders [n1]\n"
	if strings.Join(strings.Fields(got), " ") != strings.Join(strings.Fields(want), " ") {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
