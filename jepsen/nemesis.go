package jepsen

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// FaultKind is what a nemesis does to the group.
type FaultKind string

// The nemeses. Every fault is healed at the end of its hold: a killed
// agent is restarted with its data dir, a paused one continued, a
// partition removed.
const (
	// FaultKill is SIGKILL of a node's agent (its VIP and nftables table
	// stay in the namespace, as after a real crash of the process).
	FaultKill FaultKind = "kill"
	// FaultPause is SIGSTOP of a node's agent (SIGCONT at heal).
	FaultPause FaultKind = "pause"
	// FaultIsolate cuts one node off from every other node (the client
	// namespace still reaches it).
	FaultIsolate FaultKind = "isolate"
	// FaultSplit partitions the group into a random minority and the
	// majority.
	FaultSplit FaultKind = "split"
)

// AllFaults lists the fault kinds in report order.
var AllFaults = []FaultKind{FaultKill, FaultPause, FaultIsolate, FaultSplit}

// Target says which node a fault hits, resolved when it starts.
type Target string

// Targets.
const (
	TargetRandom Target = "random"
	// TargetLeader is the raft leader.
	TargetLeader Target = "leader"
	// TargetVIP is the holder of the availability VIP.
	TargetVIP Target = "vip-holder"
	// TargetFencedVIP is the holder of the quorum-fenced VIP.
	TargetFencedVIP Target = "fenced-vip-holder"
)

// Fault is one planned nemesis step: start At (offset from the start of
// the schedule), hold the fault for Hold, heal, then keep quiet for
// Quiet. Pick seeds the run-time choices (which random node, which
// minority).
type Fault struct {
	At     time.Duration
	Kind   FaultKind
	Target Target
	Hold   time.Duration
	Quiet  time.Duration
	Pick   uint64
}

func (f Fault) String() string {
	return fmt.Sprintf("t+%6.1fs %-7s %-17s hold %4.1fs quiet %4.1fs", f.At.Seconds(), f.Kind, f.Target, f.Hold.Seconds(), f.Quiet.Seconds())
}

// ScheduleOptions bounds a random schedule.
type ScheduleOptions struct {
	// Duration is the total length of the schedule (faults and quiet
	// periods); the last fault ends (healed and quiet) before it.
	Duration time.Duration
	// HoldMin/HoldMax bound each fault's hold; QuietMin/QuietMax the
	// quiet period after its heal.
	HoldMin, HoldMax   time.Duration
	QuietMin, QuietMax time.Duration
	// Kinds restricts the fault kinds (default AllFaults).
	Kinds []FaultKind
}

// DefaultScheduleOptions are faults of 3–6 s each, then 3–5 s quiet.
func DefaultScheduleOptions(total time.Duration) ScheduleOptions {
	return ScheduleOptions{Duration: total, HoldMin: 3 * time.Second, HoldMax: 6 * time.Second,
		QuietMin: 3 * time.Second, QuietMax: 5 * time.Second}
}

// menu is every (kind, target) combination a schedule draws from; the
// leader and the VIP holders are favoured because they are where the
// interesting failures are.
var menu = []struct {
	kind   FaultKind
	target Target
	weight int
}{
	{FaultKill, TargetRandom, 1}, {FaultKill, TargetLeader, 2}, {FaultKill, TargetVIP, 2}, {FaultKill, TargetFencedVIP, 1},
	{FaultPause, TargetRandom, 1}, {FaultPause, TargetLeader, 2}, {FaultPause, TargetVIP, 1}, {FaultPause, TargetFencedVIP, 1},
	{FaultIsolate, TargetRandom, 1}, {FaultIsolate, TargetLeader, 2}, {FaultIsolate, TargetVIP, 2}, {FaultIsolate, TargetFencedVIP, 2},
	{FaultSplit, TargetRandom, 2}, {FaultSplit, TargetLeader, 1},
}

// Schedule draws a fault schedule from seed: a pure function (the same
// seed and options give the same schedule), so QUADRATURE_JEPSEN_SEED
// reproduces a run's nemesis plan. Kinds rotate so that every kind of
// the menu appears in any schedule long enough for one round of them.
func Schedule(seed uint64, o ScheduleOptions) ([]Fault, error) {
	if o.HoldMin <= 0 || o.HoldMax < o.HoldMin || o.QuietMin < 0 || o.QuietMax < o.QuietMin {
		return nil, fmt.Errorf("jepsen: schedule: bad hold %v..%v or quiet %v..%v", o.HoldMin, o.HoldMax, o.QuietMin, o.QuietMax)
	}
	kinds := o.Kinds
	if len(kinds) == 0 {
		kinds = AllFaults
	}
	for _, k := range kinds {
		if !slices.Contains(AllFaults, k) {
			return nil, fmt.Errorf("jepsen: schedule: unknown fault kind %q", k)
		}
	}
	rng := rand.New(rand.NewPCG(seed, 0x6a657073656e)) // "jepsen"
	dur := func(lo, hi time.Duration) time.Duration {
		if hi == lo {
			return lo
		}
		// Whole 100 ms steps keep the printed schedule readable.
		steps := int64((hi - lo) / (100 * time.Millisecond))
		return lo + time.Duration(rng.Int64N(steps+1))*100*time.Millisecond
	}
	var out []Fault
	var at time.Duration
	var order []FaultKind
	for {
		if len(order) == 0 {
			// A shuffled round of every kind: coverage without losing
			// randomness of the order.
			order = slices.Clone(kinds)
			rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		}
		kind := order[0]
		order = order[1:]
		var choices []Target
		for _, m := range menu {
			if m.kind == kind {
				for range m.weight {
					choices = append(choices, m.target)
				}
			}
		}
		f := Fault{At: at, Kind: kind, Target: choices[rng.IntN(len(choices))],
			Hold: dur(o.HoldMin, o.HoldMax), Quiet: dur(o.QuietMin, o.QuietMax), Pick: rng.Uint64()}
		if at+f.Hold+f.Quiet > o.Duration {
			break
		}
		out = append(out, f)
		at += f.Hold + f.Quiet
	}
	return out, nil
}

// Phase is the half of a fault an Event records.
type Phase string

// Phases.
const (
	PhaseStart Phase = "start"
	PhaseHeal  Phase = "heal"
)

// Event is a nemesis step as it happened: a start is stamped before the
// fault is applied, a heal after the fault is removed (a killed agent
// restarted, a paused one continued, the partition gone).
type Event struct {
	At    time.Duration
	Fault int // index in the schedule
	Kind  FaultKind
	Phase Phase
	// Nodes are the nodes killed or paused, or the minority side of a
	// partition; Others the majority side.
	Nodes  []string
	Others []string
	// Note says how the target was resolved (e.g. "leader n2").
	Note string
}

func (e Event) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "         %9.3fs nemesis %-5s %-7s %v", e.At.Seconds(), e.Phase, e.Kind, e.Nodes)
	if len(e.Others) > 0 {
		fmt.Fprintf(&b, " | %v", e.Others)
	}
	if e.Note != "" {
		fmt.Fprintf(&b, " (%s)", e.Note)
	}
	return b.String()
}

// Interval is a span of the history's clock.
type Interval struct{ From, To time.Duration }

// Contains reports whether at is inside the interval (bounds included).
func (iv Interval) Contains(at time.Duration) bool { return at >= iv.From && at <= iv.To }

// Downtime returns, for every node, the intervals during which its agent
// was killed or paused according to events (from the start event to the
// matching heal plus grace; a fault never healed lasts to the end).
func Downtime(events []Event, grace time.Duration) map[string][]Interval {
	out := map[string][]Interval{}
	open := map[int]Event{}
	for _, e := range events {
		if e.Kind != FaultKill && e.Kind != FaultPause {
			continue
		}
		switch e.Phase {
		case PhaseStart:
			open[e.Fault] = e
		case PhaseHeal:
			s, ok := open[e.Fault]
			if !ok {
				continue
			}
			delete(open, e.Fault)
			for _, n := range s.Nodes {
				out[n] = append(out[n], Interval{s.At, e.At + grace})
			}
		}
	}
	for _, s := range open {
		for _, n := range s.Nodes {
			out[n] = append(out[n], Interval{s.At, 1<<63 - 1})
		}
	}
	return out
}

// FaultWindows pairs each fault's start and heal events: the interval
// during which it was in force, by fault index.
func FaultWindows(events []Event) map[int]Interval {
	out := map[int]Interval{}
	for _, e := range events {
		iv := out[e.Fault]
		switch e.Phase {
		case PhaseStart:
			iv.From = e.At
			if iv.To == 0 {
				iv.To = 1<<63 - 1
			}
		case PhaseHeal:
			iv.To = e.At
		}
		out[e.Fault] = iv
	}
	return out
}
