package fsm

import (
	"bytes"
	"fmt"
	"testing"
)

func TestDecideVerdictPolicies(t *testing.T) {
	checked := &rsModel{checked: true, weight: 1}
	reps := func(spec string) []report {
		var out []report
		for _, c := range spec {
			out = append(out, report{up: c == 'u', weight: 1})
		}
		return out
	}
	tests := []struct {
		policy  string
		prevUp  bool
		reports string // one letter per live reporter: u = up, d = down
		want    bool
	}{
		// majority: strictly more than half decides, a tie keeps.
		{PolicyMajority, true, "d", false},
		{PolicyMajority, false, "u", true},
		{PolicyMajority, true, "ud", true},
		{PolicyMajority, false, "ud", false},
		{PolicyMajority, true, "dd", false},
		{PolicyMajority, false, "uu", true},
		{PolicyMajority, true, "udd", false},
		{PolicyMajority, false, "uud", true},
		{PolicyMajority, true, "uud", true},
		{PolicyMajority, false, "udd", false},
		{PolicyMajority, true, "uuddd", false},
		{PolicyMajority, false, "uuudd", true},
		{PolicyMajority, true, "uuudd", true},
		{PolicyMajority, false, "uuddd", false},
		{PolicyMajority, true, "uudd", true},   // 4 reporters, tie keeps up
		{PolicyMajority, false, "uudd", false}, // tie keeps down
		// no reporters: keep the last value whatever the policy.
		{PolicyMajority, true, "", true},
		{PolicyMajority, false, "", false},
		{PolicyAny, true, "", true},
		{PolicyAny, false, "", false},
		{PolicyAll, true, "", true},
		{PolicyAll, false, "", false},
		// any: one up reporter is enough.
		{PolicyAny, false, "u", true},
		{PolicyAny, true, "d", false},
		{PolicyAny, false, "ud", true},
		{PolicyAny, true, "ddd", false},
		{PolicyAny, false, "uddd", true},
		{PolicyAny, false, "udddd", true},
		// all: every reporter must say up.
		{PolicyAll, false, "u", true},
		{PolicyAll, true, "ud", false},
		{PolicyAll, false, "uu", true},
		{PolicyAll, true, "uud", false},
		{PolicyAll, false, "uuu", true},
		{PolicyAll, true, "uuuud", false},
		{PolicyAll, false, "uuuuu", true},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/prev=%t/%s", tc.policy, tc.prevUp, tc.reports), func(t *testing.T) {
			prev := verdictState{Up: tc.prevUp, Weight: 1, Since: 7}
			got := decideVerdict(tc.policy, prev, reps(tc.reports), checked, 9)
			if got.Up != tc.want {
				t.Fatalf("Up = %t, want %t", got.Up, tc.want)
			}
			wantSince := uint64(7)
			if tc.want != tc.prevUp {
				wantSince = 9
			}
			if got.Since != wantSince {
				t.Errorf("Since = %d, want %d", got.Since, wantSince)
			}
			if got.Reporters != len(tc.reports) {
				t.Errorf("Reporters = %d, want %d", got.Reporters, len(tc.reports))
			}
		})
	}
}

func TestMedianWeights(t *testing.T) {
	tests := []struct {
		in   []int
		want int
	}{
		{[]int{10}, 10},
		{[]int{10, 20}, 10}, // even count: lower middle
		{[]int{20, 10, 20}, 20},
		{[]int{30, 10, 20, 40}, 20},
		{[]int{5, 1, 9, 3, 7}, 5},
	}
	for _, tc := range tests {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %d, want %d", tc.in, got, tc.want)
		}
	}
	// Only up reporters contribute; with none the weight keeps its value.
	r := &rsModel{checked: true, weight: 1}
	got := decideVerdict(PolicyMajority, verdictState{Up: true, Weight: 30},
		[]report{{true, 10}, {false, 99}, {true, 20}}, r, 1)
	if got.Weight != 10 {
		t.Errorf("weight from up reporters 10, 20 = %d, want 10", got.Weight)
	}
	got = decideVerdict(PolicyMajority, verdictState{Up: true, Weight: 30}, []report{{false, 99}}, r, 1)
	if got.Up || got.Weight != 30 {
		t.Errorf("all down: got %+v, want down keeping weight 30", got)
	}
}

func TestNoCheckersAlwaysUp(t *testing.T) {
	r := &rsModel{checked: false, weight: 3}
	got := decideVerdict(PolicyAll, verdictState{Up: false}, []report{{false, 0}}, r, 1)
	if !got.Up || got.Weight != 3 {
		t.Fatalf("real server without checkers: %+v, want up with weight 3", got)
	}
}

const iwashVS = "tcp/203.0.113.10:3128"

// iwashHarness applies the merged iWash config with all three nodes live.
func iwashHarness(t testing.TB) *harness {
	t.Helper()
	h := newHarness(t)
	h.must(SetLiveNodes{Nodes: iwashNodes})
	r := h.must(configCmd(t, readTestdata(t, "iwash.conf"), 0, iwashNodes...))
	if r.ConfigVersion != 1 {
		t.Fatalf("config version %d, want 1", r.ConfigVersion)
	}
	return h
}

// The iWash weights: each node's MISC_CHECK exits 2+weight; the three
// nodes see exits 12/22/22 for iwash2, i.e. weights 10/20/20: median 20.
func TestIWashMedianWeight(t *testing.T) {
	h := iwashHarness(t)
	exit := func(code int) int { return code - 2 }
	h.report("iwash1", up(iwashVS, "203.0.113.11:3128", exit(12)), up(iwashVS, "203.0.113.12:3128", exit(12)), up(iwashVS, "203.0.113.13:3128", exit(22)))
	h.report("iwash2", up(iwashVS, "203.0.113.11:3128", exit(12)), up(iwashVS, "203.0.113.12:3128", exit(22)), up(iwashVS, "203.0.113.13:3128", exit(22)))
	h.report("iwash3", up(iwashVS, "203.0.113.11:3128", exit(12)), up(iwashVS, "203.0.113.12:3128", exit(22)), up(iwashVS, "203.0.113.13:3128", exit(22)))
	got := destWeights(t, h.state(), iwashVS)
	want := map[string]int32{"203.0.113.11:3128": 10, "203.0.113.12:3128": 20, "203.0.113.13:3128": 20}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("weights %v, want %v", got, want)
	}
	// One node's view of iwash3 drops to weight 2: the median holds at 20.
	h.report("iwash1", up(iwashVS, "203.0.113.13:3128", 2))
	if w := destWeights(t, h.state(), iwashVS)["203.0.113.13:3128"]; w != 20 {
		t.Fatalf("iwash3 weight %d after one low report, want median 20", w)
	}
}

// A report that does not flip the verdict is still recorded: the stored
// observation and the agreeing count follow every report (the
// CheckerPartitionMajority investigation: the verdict must count a lone
// down reporter as disagreeing, and its recovery as agreeing again).
func TestNonFlippingReportsAreRecorded(t *testing.T) {
	h := iwashHarness(t)
	rs := "203.0.113.13:3128"
	check := func(what string, wantUps int, wantIwash2Up bool) {
		t.Helper()
		v, _ := h.state().VerdictOf(iwashVS, ap(rs))
		if !v.Up || v.Reporters != 3 || v.UpReports != wantUps {
			t.Fatalf("%s: %+v, want up with %d of 3 up reports", what, v, wantUps)
		}
		for _, o := range h.state().Observations() {
			if o.Node == "iwash2" && o.RS == ap(rs) && o.Up != wantIwash2Up {
				t.Fatalf("%s: iwash2's stored observation up=%v, want %v", what, o.Up, wantIwash2Up)
			}
		}
	}
	for _, n := range iwashNodes {
		h.report(n, up(iwashVS, rs, 1))
	}
	check("all up", 3, true)
	h.report("iwash2", down(iwashVS, rs))
	check("iwash2 down (majority keeps it up)", 2, false)
	h.report("iwash2", down(iwashVS, rs)) // the same again changes nothing
	check("iwash2 down again", 2, false)
	h.report("iwash2", up(iwashVS, rs, 1))
	check("iwash2 up again", 3, true)
}

func TestDeadReporterStopsCounting(t *testing.T) {
	h := iwashHarness(t)
	rs := "203.0.113.12:3128"
	h.report("iwash1", down(iwashVS, rs))
	h.report("iwash2", up(iwashVS, rs, 1))
	h.report("iwash3", up(iwashVS, rs, 1))
	v, _ := h.state().VerdictOf(iwashVS, ap(rs))
	if !v.Up || v.Reporters != 3 || v.UpReports != 2 {
		t.Fatalf("2 of 3 up: %+v, want up", v)
	}
	// iwash3 leaves memberlist: 1 up vs 1 down is a tie, the verdict stays.
	h.must(SetLiveNodes{Nodes: []string{"iwash1", "iwash2"}})
	v, _ = h.state().VerdictOf(iwashVS, ap(rs))
	if !v.Up || v.Reporters != 2 {
		t.Fatalf("tie after iwash3 died: %+v, want up kept with 2 reporters", v)
	}
	// iwash2 dies too: only iwash1 (down) counts.
	h.must(SetLiveNodes{Nodes: []string{"iwash1"}})
	v, _ = h.state().VerdictOf(iwashVS, ap(rs))
	if v.Up || v.Reporters != 1 {
		t.Fatalf("only iwash1 (down) live: %+v, want down", v)
	}
	if _, ok := destWeights(t, h.state(), iwashVS)[rs]; ok {
		t.Fatalf("down real server %s still in the table", rs)
	}
	// Nobody live: the verdict keeps its last value.
	h.must(SetLiveNodes{Nodes: nil})
	v, _ = h.state().VerdictOf(iwashVS, ap(rs))
	if v.Up || v.Reporters != 0 {
		t.Fatalf("zero reporters: %+v, want down kept", v)
	}
	// The stale observations of dead nodes are still stored: they count
	// again when the nodes come back.
	h.must(SetLiveNodes{Nodes: iwashNodes})
	v, _ = h.state().VerdictOf(iwashVS, ap(rs))
	if !v.Up {
		t.Fatalf("all back: %+v, want up", v)
	}
}

func TestAlpha(t *testing.T) {
	conf := `virtual_server 192.0.2.1 80 {
 protocol TCP
 lb_algo rr
 lb_kind NAT
 real_server 198.51.100.1 80 {
  alpha
  TCP_CHECK { connect_timeout 1 }
 }
 real_server 198.51.100.2 80 {
  TCP_CHECK { connect_timeout 1 }
 }
 real_server 198.51.100.3 80 {
 }
}
`
	h := newHarness(t)
	h.must(SetLiveNodes{Nodes: []string{"a", "b", "c"}})
	h.must(configCmd(t, conf, 0, "a"))
	vs := "tcp/192.0.2.1:80"
	got := destWeights(t, h.state(), vs)
	want := map[string]int32{"198.51.100.2:80": 1, "198.51.100.3:80": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("before any observation: %v, want %v (alpha starts down, others up)", got, want)
	}
	h.report("a", up(vs, "198.51.100.1:80", 1))
	if _, ok := destWeights(t, h.state(), vs)["198.51.100.1:80"]; !ok {
		t.Fatalf("alpha real server not added after 1 of 1 reporters said up")
	}
	// The unchecked real server ignores reports.
	h.report("a", down(vs, "198.51.100.3:80"))
	if w := destWeights(t, h.state(), vs)["198.51.100.3:80"]; w != 1 {
		t.Fatalf("unchecked real server weight %d, want 1", w)
	}
}

func TestReportRules(t *testing.T) {
	h := iwashHarness(t)
	rs := "203.0.113.11:3128"
	// Unknown real servers are ignored and counted.
	r := h.must(ReportVerdicts{Node: "iwash1", Observations: []Observation{
		up(iwashVS, rs, 5), up(iwashVS, "192.0.2.99:3128", 1), up("tcp/192.0.2.1:1", rs, 1)}})
	if r.Ignored != 2 {
		t.Fatalf("Ignored = %d, want 2", r.Ignored)
	}
	// A stale sequence number is ignored.
	o := up(iwashVS, rs, 7)
	o.Seq = 10
	h.report("iwash1", o)
	o.Seq, o.Weight = 9, 8
	if r := h.must(ReportVerdicts{Node: "iwash1", Observations: []Observation{o}}); r.Ignored != 1 {
		t.Fatalf("stale seq: Ignored = %d, want 1", r.Ignored)
	}
	obs := h.state().Observations()
	if len(obs) != 1 || obs[0].Weight != 7 || obs[0].Seq != 10 || obs[0].At != h.idx-1 {
		t.Fatalf("observations %+v, want the seq 10 one applied at %d", obs, h.idx-1)
	}
	// A full refresh replaces all of the node's observations.
	h.report("iwash1", up(iwashVS, "203.0.113.12:3128", 3))
	h.must(ReportVerdicts{Node: "iwash1", Full: true, Observations: []Observation{up(iwashVS, "203.0.113.13:3128", 4)}})
	obs = h.state().Observations()
	if len(obs) != 1 || obs[0].RS != ap("203.0.113.13:3128") {
		t.Fatalf("after full refresh: %+v, want only 203.0.113.13", obs)
	}
	// Empty node name is invalid.
	if r := h.apply(ReportVerdicts{Observations: []Observation{up(iwashVS, rs, 1)}}); r.Err == nil {
		t.Fatal("report without node accepted")
	}
}

func TestLocalView(t *testing.T) {
	h := iwashHarness(t)
	for _, n := range iwashNodes {
		h.report(n, up(iwashVS, "203.0.113.11:3128", 10), up(iwashVS, "203.0.113.12:3128", 20))
	}
	s := h.state()
	before := snapBytes(t, s)
	// Cut off, iwash3 sees iwash1 down and iwash2 at weight 5.
	local := s.LocalView("iwash3", []Observation{down(iwashVS, "203.0.113.11:3128"), up(iwashVS, "203.0.113.12:3128", 5),
		up("tcp/192.0.2.1:1", "192.0.2.1:1", 1)})
	got := destWeights(t, local, iwashVS)
	want := map[string]int32{"203.0.113.12:3128": 5, "203.0.113.13:3128": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("local view %v, want %v", got, want)
	}
	if !bytes.Equal(snapBytes(t, s), before) {
		t.Fatal("LocalView modified the replicated state")
	}
	if len(destWeights(t, s, iwashVS)) != 3 {
		t.Fatal("replicated table changed")
	}
}
