package jepsen

import (
	"testing"

	"quadrature/internal/netnstest"
)

// TestChaos is the chaos run: a real group in network namespaces under
// random faults (seed printed; QUADRATURE_JEPSEN_SEED reproduces the
// plan), concurrent workloads, and every invariant checker over the
// recorded history. The short run (DefaultDuration of faults) is part of
// `go test ./...`; QUADRATURE_JEPSEN_DURATION=10m makes a long one. It
// needs root and nft (skips otherwise, fails under CI=true).
func TestChaos(t *testing.T) {
	netnstest.RequireRoot(t)
	netnstest.RequireBinary(t, "nft")
	o, err := OptionsFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	rep := Run(t, o)
	if o.Inject == "" {
		// A run whose workloads did nothing checks nothing.
		c := Counts(rep.Ops)
		if c[KindHTTP][OK] == 0 || c[KindCAS][OK] == 0 || c[KindRead][OK] == 0 {
			t.Errorf("jepsen: the workloads did not exercise the group: %v", c)
		}
		if len(rep.Events) == 0 {
			t.Error("jepsen: no nemesis ran")
		}
	}
}
