package jepsen

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// OpType is the completion of an operation, as in Jepsen: ok (it
// happened, with the recorded result), fail (it certainly did not
// happen) or info (indeterminate: it may have happened, at any time after
// its invocation, even after the client gave up).
type OpType string

// Completion types.
const (
	OK   OpType = "ok"
	Fail OpType = "fail"
	Info OpType = "info"
)

// Op kinds recorded by the workloads.
const (
	// KindHTTP is one request through a VIP from the client namespace.
	KindHTTP = "http"
	// KindRead is GET /v1/config (a linearizable read of the register).
	KindRead = "read"
	// KindCAS is PUT /v1/config with If-Match (compare-and-swap).
	KindCAS = "cas"
	// KindDrain and KindUndrain are POST /v1/drain and /v1/undrain.
	KindDrain   = "drain"
	KindUndrain = "undrain"
)

// Op is one operation: its invocation (Start) and its completion (End,
// Type). Times are offsets from the start of the history (monotonic).
type Op struct {
	Index   int           // position in the history (assigned by Add)
	Process int           // the client that ran it
	Kind    string        // KindHTTP, KindRead, KindCAS, ...
	Target  string        // the VIP (http) or the node whose API was called
	Start   time.Duration // invocation
	End     time.Duration // completion
	Type    OpType
	// Node is the node that answered an http request ("served by nX").
	Node string
	// Expect is a CAS's If-Match version; Value the content it wrote (or
	// a read's content); Version the version a CAS produced or a read saw.
	Expect  uint64
	Value   string
	Version uint64
	// Current is the running version a refused CAS reported (0 unknown).
	Current uint64
	// Err is the error of a fail or info completion.
	Err string
}

// String is one history line: the invocation and completion in one.
func (o Op) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "#%d p%d %9.3fs..%9.3fs %-4s %-7s %s", o.Index, o.Process, o.Start.Seconds(), o.End.Seconds(), o.Type, o.Kind, o.Target)
	switch o.Kind {
	case KindHTTP:
		if o.Node != "" {
			fmt.Fprintf(&b, " served by %s", o.Node)
		}
	case KindRead:
		if o.Type == OK {
			fmt.Fprintf(&b, " -> v%d %s", o.Version, tag(o.Value))
		}
	case KindCAS:
		fmt.Fprintf(&b, " if v%d %s", o.Expect, tag(o.Value))
		switch {
		case o.Type == OK:
			fmt.Fprintf(&b, " -> v%d", o.Version)
		case o.Current != 0:
			fmt.Fprintf(&b, " (running v%d)", o.Current)
		}
	}
	if o.Err != "" {
		fmt.Fprintf(&b, " err=%q", short(o.Err, 120))
	}
	return b.String()
}

// tag is the identifying part of a config content in a history line: the
// jepsen write marker if there is one.
func tag(content string) string {
	if i := strings.LastIndex(content, writeMarker); i >= 0 {
		rest := content[i+len(writeMarker):]
		if j := strings.IndexByte(rest, '\n'); j >= 0 {
			rest = rest[:j]
		}
		return "[" + strings.TrimSpace(rest) + "]"
	}
	if content == "" {
		return "[]"
	}
	return "[initial]"
}

func short(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// History is a concurrent-safe recording of operations and nemesis
// events on one clock.
type History struct {
	t0     time.Time
	mu     sync.Mutex
	ops    []Op
	events []Event
}

// NewHistory starts a history now.
func NewHistory() *History { return &History{t0: time.Now()} }

// Now is the offset of the current instant on the history's clock.
func (h *History) Now() time.Duration { return time.Since(h.t0) }

// Add records a completed operation and returns it with its index.
func (h *History) Add(op Op) Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	op.Index = len(h.ops)
	h.ops = append(h.ops, op)
	return op
}

// AddEvent records a nemesis event.
func (h *History) AddEvent(e Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, e)
}

// Ops returns a copy of the operations, ordered by invocation.
func (h *History) Ops() []Op {
	h.mu.Lock()
	out := slices.Clone(h.ops)
	h.mu.Unlock()
	sortOps(out)
	return out
}

// Events returns a copy of the nemesis events, in time order.
func (h *History) Events() []Event {
	h.mu.Lock()
	out := slices.Clone(h.events)
	h.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool { return out[i].At < out[j].At })
	return out
}

func sortOps(ops []Op) {
	sort.SliceStable(ops, func(i, j int) bool {
		if ops[i].Start != ops[j].Start {
			return ops[i].Start < ops[j].Start
		}
		return ops[i].Index < ops[j].Index
	})
}

// Filter returns the operations of the given kinds (all when none).
func Filter(ops []Op, kinds ...string) []Op {
	var out []Op
	for _, o := range ops {
		if len(kinds) == 0 || slices.Contains(kinds, o.Kind) {
			out = append(out, o)
		}
	}
	return out
}

// WriteText writes the history (operations and events merged in time
// order) in the line format of Op.String and Event.String.
func WriteText(w io.Writer, ops []Op, events []Event) error {
	type line struct {
		at  time.Duration
		txt string
	}
	var lines []line
	for _, o := range ops {
		lines = append(lines, line{o.Start, o.String()})
	}
	for _, e := range events {
		lines = append(lines, line{e.At, e.String()})
	}
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].at < lines[j].at })
	for _, l := range lines {
		if _, err := fmt.Fprintln(w, l.txt); err != nil {
			return err
		}
	}
	return nil
}

// Excerpt returns the history lines around [from, to] (with margin), at
// most max lines, for a violation's message.
func Excerpt(ops []Op, events []Event, from, to, margin time.Duration, max int) string {
	var sel []Op
	for _, o := range ops {
		if o.End >= from-margin && o.Start <= to+margin {
			sel = append(sel, o)
		}
	}
	var evs []Event
	for _, e := range events {
		if e.At >= from-margin && e.At <= to+margin {
			evs = append(evs, e)
		}
	}
	var b strings.Builder
	_ = WriteText(&b, sel, evs)
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) > max {
		lines = append(lines[:max], fmt.Sprintf("… (%d more lines)", len(lines)-max))
	}
	return "    " + strings.Join(lines, "\n    ")
}
