package jepsen

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestScheduleDeterministic(t *testing.T) {
	o := DefaultScheduleOptions(DefaultDuration)
	a, err := Schedule(42, o)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Schedule(42, o)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed gave two schedules")
	}
	c, _ := Schedule(43, o)
	if reflect.DeepEqual(a, c) {
		t.Fatal("two seeds gave the same schedule")
	}
}

func TestScheduleBounds(t *testing.T) {
	for seed := uint64(0); seed < 200; seed++ {
		o := DefaultScheduleOptions(DefaultDuration)
		s, err := Schedule(seed, o)
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[FaultKind]bool{}
		var at time.Duration
		for i, f := range s {
			if f.At != at {
				t.Fatalf("seed %d fault %d at %v, want %v (faults follow each other)", seed, i, f.At, at)
			}
			if f.Hold < o.HoldMin || f.Hold > o.HoldMax || f.Quiet < o.QuietMin || f.Quiet > o.QuietMax {
				t.Fatalf("seed %d fault %d out of bounds: %s", seed, i, f)
			}
			at += f.Hold + f.Quiet
			kinds[f.Kind] = true
		}
		if at > o.Duration {
			t.Fatalf("seed %d: schedule ends at %v, after %v", seed, at, o.Duration)
		}
		// 100 s holds at least 9 faults of at most 11 s: two rounds of
		// the four kinds.
		if len(s) < 8 || len(kinds) != len(AllFaults) {
			t.Fatalf("seed %d: %d faults, kinds %v", seed, len(s), kinds)
		}
	}
}

func TestScheduleOptions(t *testing.T) {
	o := DefaultScheduleOptions(time.Minute)
	o.Kinds = []FaultKind{FaultPause}
	s, err := Schedule(1, o)
	if err != nil || len(s) == 0 {
		t.Fatal(err, len(s))
	}
	for _, f := range s {
		if f.Kind != FaultPause {
			t.Fatalf("kind %s with Kinds=[pause]", f.Kind)
		}
	}
	for _, bad := range []ScheduleOptions{
		{Duration: time.Minute},
		{Duration: time.Minute, HoldMin: 2 * time.Second, HoldMax: time.Second},
		{Duration: time.Minute, HoldMin: time.Second, HoldMax: time.Second, QuietMin: 2 * time.Second, QuietMax: time.Second},
		{Duration: time.Minute, HoldMin: time.Second, HoldMax: time.Second, Kinds: []FaultKind{"reboot"}},
	} {
		if _, err := Schedule(1, bad); err == nil {
			t.Errorf("options %+v accepted", bad)
		}
	}
	if s, err := Schedule(1, DefaultScheduleOptions(time.Second)); err != nil || len(s) != 0 {
		t.Errorf("a schedule shorter than one fault: %v %v", s, err)
	}
}

func TestOptionsFromEnv(t *testing.T) {
	t.Setenv(SeedEnv, "77")
	t.Setenv(DurationEnv, "10m")
	t.Setenv(NodesEnv, "5")
	t.Setenv(InjectEnv, "")
	o, err := OptionsFromEnv()
	if err != nil || o.Seed != 77 || o.Schedule.Duration != 10*time.Minute || o.Nodes != 5 {
		t.Fatalf("%+v %v", o, err)
	}
	for env, bad := range map[string]string{SeedEnv: "x", DurationEnv: "1s", NodesEnv: "4", InjectEnv: "bogus"} {
		t.Run(env, func(t *testing.T) {
			t.Setenv(env, bad)
			if _, err := OptionsFromEnv(); err == nil || !strings.Contains(err.Error(), env) {
				t.Errorf("%s=%s: %v", env, bad, err)
			}
		})
	}
}

func TestHistoryText(t *testing.T) {
	h := NewHistory()
	h.Add(Op{Process: 1, Kind: KindCAS, Target: "n2", Start: ms(20), End: ms(30), Type: OK, Expect: 3, Version: 4, Value: "x\n" + writeMarker + "p1-7\n"})
	h.Add(Op{Process: 0, Kind: KindHTTP, Target: "203.0.113.10", Start: ms(10), End: ms(15), Type: OK, Node: "n1"})
	h.Add(Op{Process: 2, Kind: KindRead, Target: "n1", Start: ms(40), End: ms(50), Type: Info, Err: "timeout"})
	h.AddEvent(Event{At: ms(25), Fault: 0, Kind: FaultKill, Phase: PhaseStart, Nodes: []string{"n3"}, Note: "raft leader n3"})
	ops := h.Ops()
	if ops[0].Kind != KindHTTP || ops[1].Kind != KindCAS {
		t.Fatalf("not ordered by invocation: %v", ops)
	}
	var b strings.Builder
	if err := WriteText(&b, ops, h.Events()); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{"served by n1", "if v3 [p1-7] -> v4", "nemesis start kill    [n3] (raft leader n3)", `info read    n1 err="timeout"`} {
		if !strings.Contains(got, want) {
			t.Errorf("history text lacks %q:\n%s", want, got)
		}
	}
	if lines := strings.Count(got, "\n"); lines != 4 {
		t.Errorf("%d lines:\n%s", lines, got)
	}
	ex := Excerpt(ops, h.Events(), ms(24), ms(26), ms(1), 10)
	if strings.Contains(ex, "served by") || !strings.Contains(ex, "nemesis") {
		t.Errorf("excerpt around 25 ms:\n%s", ex)
	}
}
