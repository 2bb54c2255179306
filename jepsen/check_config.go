package jepsen

import (
	"fmt"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"

	"quadrature/api/apitest"
)

// errConflict is the Err of a CAS refused with 412 Precondition Failed.
const errConflict = "conflict"

// Result is one checker's verdict: Violations make the run fail; Notes
// are what it measured or could not decide (reported, never failing).
type Result struct {
	Name       string
	Violations []string
	Notes      []string
}

// OK reports whether the checker found no violation.
func (r Result) OK() bool { return len(r.Violations) == 0 }

func (r *Result) violate(format string, args ...any) {
	r.Violations = append(r.Violations, fmt.Sprintf(format, args...))
}

func (r *Result) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// ConfigState is the configuration register: a version and the content
// of the main file.
type ConfigState struct {
	Version uint64
	Content string
}

// CASOperations converts the read and CAS operations of a history into
// porcupine operations over apitest's register model:
//   - an ok read observed (version, content); a failed or indeterminate
//     read constrains nothing and is left out;
//   - an ok CAS wrote its content and produced its version;
//   - a CAS refused with 412 did not happen because the running version
//     was not its If-Match; one refused as invalid (422) did not happen
//     and says nothing about the version, so it is left out;
//   - an info CAS may or may not have happened, at any time after its
//     invocation, even after the client gave up: its return is moved to
//     the end of the history.
func CASOperations(ops []Op) []porcupine.Operation {
	var end time.Duration
	for _, o := range ops {
		end = max(end, o.End)
	}
	var out []porcupine.Operation
	for _, o := range ops {
		p := porcupine.Operation{ClientId: o.Process, Call: int64(o.Start), Return: int64(o.End)}
		switch {
		case o.Kind == KindRead && o.Type == OK:
			p.Input = apitest.CASInput{}
			p.Output = apitest.CASOutput{Version: o.Version, Content: o.Value}
		case o.Kind == KindCAS:
			p.Input = apitest.CASInput{Put: true, Expect: o.Expect, Content: o.Value}
			switch o.Type {
			case OK:
				p.Output = apitest.CASOutput{OK: true, Version: o.Version}
			case Fail:
				if o.Err != errConflict {
					// Refused as invalid: certainly not applied, and no
					// statement about the version either.
					continue
				}
				p.Output = apitest.CASOutput{Conflict: true}
			default:
				p.Output = apitest.CASOutput{Unknown: true}
				p.Return = int64(end) + 1
			}
		default:
			continue
		}
		out = append(out, p)
	}
	return out
}

// CheckLinearizable checks that the reads and compare-and-swap writes of
// the configuration form a linearizable history of one register that
// starts at init (porcupine, apitest's model: a failed CAS is one whose
// If-Match did not match the running version). A search that exceeds
// timeout is reported as a note, not a violation. When htmlPath is set
// and the history is not linearizable, porcupine's visualization is
// written there.
func CheckLinearizable(init ConfigState, ops []Op, timeout time.Duration, htmlPath string) Result {
	r := Result{Name: "config register linearizable (porcupine)"}
	hist := CASOperations(ops)
	model := apitest.CASModel(apitest.CASState{Version: init.Version, Content: init.Content, Known: true})
	start := time.Now()
	res, info := porcupine.CheckOperationsVerbose(model, hist, timeout)
	r.note("%d operations checked in %v: %s", len(hist), time.Since(start).Round(time.Millisecond), res)
	switch res {
	case porcupine.Illegal:
		r.violate("the history of reads and CAS writes is not linearizable (init v%d %s)", init.Version, tag(init.Content))
		if htmlPath != "" {
			if err := porcupine.VisualizePath(model, info, htmlPath); err == nil {
				r.note("visualization: %s", htmlPath)
			} else {
				r.note("visualization: %v", err)
			}
		}
	case porcupine.Unknown:
		r.note("porcupine gave up after %v: linearizability not decided", timeout)
	}
	return r
}

// CheckNoLostWrites checks what linearizability implies for acknowledged
// writes, with messages that name the write: every acknowledged CAS
// produced its own version (no two acks share one), versions follow the
// real-time order of acknowledged writes, no read shows content nobody
// wrote or a write that was refused, every version between init and the
// final one comes from one of our writes (an ack or an indeterminate
// write: nothing else writes the config), and the final configuration
// (read from every node after the last heal) is the last acknowledged
// write or a later indeterminate one, identical on every node.
func CheckNoLostWrites(init ConfigState, ops []Op, final map[string]ConfigState) Result {
	r := Result{Name: "no lost acknowledged config write"}
	var acked, infos []Op
	writers := map[string]Op{} // content -> the write of it
	failed := map[string]Op{}
	for _, o := range ops {
		if o.Kind != KindCAS {
			continue
		}
		switch o.Type {
		case OK:
			acked = append(acked, o)
			writers[o.Value] = o
		case Info:
			infos = append(infos, o)
			writers[o.Value] = o
		case Fail:
			failed[o.Value] = o
		}
	}
	byVersion := map[uint64]Op{}
	var maxAck Op
	for _, a := range acked {
		if b, dup := byVersion[a.Version]; dup {
			r.violate("two acknowledged writes produced v%d: one was lost:\n    %s\n    %s", a.Version, b, a)
		}
		byVersion[a.Version] = a
		if a.Version <= init.Version {
			r.violate("acknowledged write produced v%d, not above the initial v%d: %s", a.Version, init.Version, a)
		}
		if a.Version > maxAck.Version {
			maxAck = a
		}
	}
	// Real-time order: a write acknowledged before another was invoked
	// has the smaller version.
	sorted := append([]Op(nil), acked...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].End < sorted[j].End })
	// best[i] is the ack with the highest version among sorted[:i+1].
	best := make([]Op, len(sorted))
	for i, a := range sorted {
		best[i] = a
		if i > 0 && best[i-1].Version > a.Version {
			best[i] = best[i-1]
		}
	}
	for _, a := range acked {
		i := sort.Search(len(sorted), func(i int) bool { return sorted[i].End >= a.Start })
		if i == 0 {
			continue
		}
		if b := best[i-1]; b.Version >= a.Version {
			r.violate("write acknowledged with v%d was invoked after a write acknowledged with v%d had returned:\n    %s\n    %s", a.Version, b.Version, b, a)
		}
	}
	for _, o := range ops {
		if o.Kind != KindRead || o.Type != OK {
			continue
		}
		if o.Value == init.Content {
			if o.Version != init.Version {
				r.violate("read shows the initial content under v%d (initial v%d): %s", o.Version, init.Version, o)
			}
			continue
		}
		if f, bad := failed[o.Value]; bad {
			r.violate("read shows the content of a refused write:\n    %s\n    %s", f, o)
			continue
		}
		w, ok := writers[o.Value]
		if !ok {
			r.violate("read shows content that no client wrote: %s", o)
			continue
		}
		if w.Type == OK && w.Version != o.Version {
			r.violate("read shows the content of the write acknowledged as v%d under v%d:\n    %s\n    %s", w.Version, o.Version, w, o)
		}
	}
	if len(final) == 0 {
		r.violate("no final configuration was read")
		return r
	}
	nodes := make([]string, 0, len(final))
	for n := range final {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	f := final[nodes[0]]
	for _, n := range nodes[1:] {
		if final[n] != f {
			r.violate("final configuration differs between nodes: %s v%d %s, %s v%d %s", nodes[0], f.Version, tag(f.Content), n, final[n].Version, tag(final[n].Content))
		}
	}
	written := f.Version - min(f.Version, init.Version)
	r.note("final v%d %s; %d acknowledged writes, %d indeterminate, %d versions committed since v%d",
		f.Version, tag(f.Content), len(acked), len(infos), written, init.Version)
	if f.Version < maxAck.Version {
		r.violate("final configuration v%d is older than the acknowledged v%d: %s", f.Version, maxAck.Version, maxAck)
	}
	if uint64(len(acked)) > written {
		r.violate("%d writes acknowledged but only %d versions committed since v%d", len(acked), written, init.Version)
	}
	if written > uint64(len(acked)+len(infos)) {
		r.violate("%d versions committed since v%d but only %d acknowledged and %d indeterminate writes: something else wrote the config", written, init.Version, len(acked), len(infos))
	}
	switch {
	case f.Version == init.Version && len(acked) == 0:
		if f.Content != init.Content {
			r.violate("final content %s differs from the initial one at the same version v%d", tag(f.Content), f.Version)
		}
	case f.Version == maxAck.Version:
		if f.Content != maxAck.Value {
			r.violate("final v%d holds %s, but v%d was acknowledged for %s: %s", f.Version, tag(f.Content), maxAck.Version, tag(maxAck.Value), maxAck)
		}
	case f.Version > maxAck.Version:
		w, ok := writers[f.Content]
		if !ok || w.Type != Info {
			r.violate("final v%d (above the last acknowledged v%d) holds %s, which no indeterminate write wrote", f.Version, maxAck.Version, tag(f.Content))
		}
	}
	return r
}
