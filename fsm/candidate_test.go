package fsm

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// A write is compiled once per node on the node that proposes it: the
// candidate's compilation is what that node's FSM applies, and only an FSM
// that never saw the candidate (another node's) compiles the command again.
func TestCandidateCompiledOnce(t *testing.T) {
	conf := readTestdata(t, "iwash.conf")
	proposer, other := newHarness(t), newHarness(t)
	cmd := configCmd(t, conf, 0, iwashNodes...)

	before := Parses()
	cand, err := proposer.f.Compile(cmd)
	if err != nil {
		t.Fatal(err)
	}
	// Everything a write asks of the candidate: support check (every
	// node's model), warnings, the empty check, the resulting table.
	for _, n := range cand.Nodes() {
		if _, err := cand.Config(n); err != nil {
			t.Fatal(err)
		}
	}
	_ = cand.Warnings()
	if cand.Empty() {
		t.Fatal("iwash.conf compiled as empty")
	}
	if len(cand.State().DesiredTable().Services) == 0 {
		t.Fatal("the candidate's table is empty")
	}
	if got := Parses() - before; got != uint64(len(iwashNodes)) {
		t.Fatalf("compiling and inspecting the candidate parsed %d times, want %d (once per node)", got, len(iwashNodes))
	}

	before = Parses()
	proposer.must(cand.Command())
	if got := Parses() - before; got != 0 {
		t.Fatalf("applying the candidate on the node that compiled it parsed %d more times, want 0", got)
	}
	if proposer.state().ConfigVersion() != 1 {
		t.Fatalf("version %d after the write", proposer.state().ConfigVersion())
	}
	before = Parses()
	other.must(cand.Command())
	if got := Parses() - before; got != uint64(len(iwashNodes)) {
		t.Fatalf("another FSM applying it parsed %d times, want %d", got, len(iwashNodes))
	}
	if a, b := proposer.state().DesiredTable(), other.state().DesiredTable(); !reflect.DeepEqual(a, b) {
		t.Fatal("the reused compilation derives another table than a fresh one")
	}
}

// The compile cache never hands out a result for another source or node
// list, and a candidate compiled against an old version conflicts.
func TestCandidateCacheKeys(t *testing.T) {
	conf := readTestdata(t, "iwash.conf")
	h := newHarness(t)
	cand, err := h.f.Compile(configCmd(t, conf, 0, iwashNodes...))
	if err != nil {
		t.Fatal(err)
	}
	// Same files, fewer nodes: compiled anew (two parses), not reused.
	before := Parses()
	if _, err := h.f.Compile(configCmd(t, conf, 0, "iwash1", "iwash2")); err != nil {
		t.Fatal(err)
	}
	if got := Parses() - before; got != 2 {
		t.Fatalf("a different node list parsed %d times, want 2", got)
	}
	// A changed file: compiled anew, and its own result.
	edited := conf + "\n# edited\n"
	before = Parses()
	if _, err := h.f.Compile(configCmd(t, edited, 0, iwashNodes...)); err != nil {
		t.Fatal(err)
	}
	if got := Parses() - before; got != uint64(len(iwashNodes)) {
		t.Fatalf("an edited file parsed %d times, want %d", got, len(iwashNodes))
	}
	h.must(cand.Command())
	if _, err := h.f.Compile(configCmd(t, edited, 0, iwashNodes...)); !errors.Is(err, ErrConflict) {
		t.Fatalf("a candidate against version 0 after version 1: %v, want a conflict", err)
	}
}

func TestCandidateWarningsAndEmpty(t *testing.T) {
	h := newHarness(t)
	empty, err := h.f.Compile(configCmd(t, "global_defs {\n router_id x\n}\n", 0, "n1", "n2"))
	if err != nil {
		t.Fatal(err)
	}
	if !empty.Empty() {
		t.Fatal("a file with only global_defs is not empty")
	}
	// Both nodes warn about the same line; the candidate lists it once.
	text := "global_defs {\n router_id x\n}\n" +
		"virtual_server 192.0.2.10 80 {\n real_server 198.51.100.1 80 {\n }\n}\n"
	c, err := h.f.Compile(configCmd(t, text, 0, "n1", "n2"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Empty() {
		t.Fatal("a file with a virtual server is empty")
	}
	w := c.Warnings()
	if len(w) != 1 || w[0].Pos.Line != 4 || !strings.Contains(w[0].Msg, "no protocol") {
		t.Fatalf("warnings %v, want the missing protocol at line 4 once", w)
	}
}
