package fsm

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := "testdata/" + name
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from the golden file (go test -update rewrites it after review):\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

// TestIWashScenarioGolden runs a scripted iWash day and pins the derived
// table, placement and the snapshot bytes: a change to the snapshot
// encoding or to a derivation rule shows up here and must be deliberate.
func TestIWashScenarioGolden(t *testing.T) {
	h := iwashHarness(t)
	var out strings.Builder
	step := func(what string) {
		s := h.state()
		fmt.Fprintf(&out, "## %s (index %d, config v%d)\n%s", what, s.Index(), s.ConfigVersion(), s.DesiredTable().CanonicalText())
		for _, ip := range s.Placement() {
			fmt.Fprintf(&out, "vrrp %s:", ip.Instance)
			for _, n := range ip.Nodes {
				fmt.Fprintf(&out, " %s=%d(%s)", n.Node, n.Priority, n.Reason)
			}
			out.WriteString("\n")
		}
	}
	step("config applied, no reports")
	for _, n := range iwashNodes {
		h.report(n, up(iwashVS, "203.0.113.11:3128", 10), up(iwashVS, "203.0.113.12:3128", 20), up(iwashVS, "203.0.113.13:3128", 20))
	}
	step("all nodes report the weights of the deck")
	h.report("iwash1", down(iwashVS, "203.0.113.12:3128"))
	step("iwash1 sees iwash2's squid down (1 of 3: stays)")
	h.report("iwash3", down(iwashVS, "203.0.113.12:3128"))
	step("iwash3 agrees (2 of 3: removed)")
	h.must(SetMaintenance{Node: "iwash1", On: true})
	h.must(SetDrain{VS: iwashVS, RS: ap("203.0.113.11:3128"), Drained: true})
	step("iwash1 in maintenance and drained")
	h.must(SetLiveNodes{Nodes: []string{"iwash2", "iwash3"}})
	step("iwash1 stopped")
	golden(t, "iwash_scenario.golden", []byte(out.String()))

	var pretty bytes.Buffer
	if err := json.Indent(&pretty, snapBytes(t, h.state()), "", " "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteString("\n")
	golden(t, "iwash_snapshot.golden.json", pretty.Bytes())
}
