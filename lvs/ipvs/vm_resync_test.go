package ipvs

import (
	"fmt"
	"quadrature/lvs"
	"testing"
)

// TestVMSlicedResync: against the real kernel, a sliced Resync verifies
// one slice at a time, finds a destination edited with ipvsadm within one
// round of slices and a service-level edit at the next call, and repairs
// both with a full pass.
func TestVMSlicedResync(t *testing.T) {
	v := vmIPVS(t)
	r := newVMReconciler(t, v, func(c *lvs.Config) { c.ResyncSliceServices = 4 })
	var want lvs.Table
	for i := 1; i <= 18; i++ {
		want.Services = append(want.Services, lvs.Service{Key: tcpKey(fmt.Sprintf("192.0.2.%d", i), 80), Scheduler: "wlc",
			Destinations: []lvs.Destination{
				{Addr: a(fmt.Sprintf("198.51.100.%d", i)), Port: 80, Weight: 1},
				{Addr: a(fmt.Sprintf("198.51.100.%d", 100+i)), Port: 80, Weight: 2, UpperThreshold: 100},
			}})
	}
	want = want.Normalize()
	ctx := t.Context()
	if _, err := r.Sync(ctx, want); err != nil {
		t.Fatal(err)
	}
	if n := r.Slices(); n != 5 {
		t.Fatalf("Slices() = %d, want 5 (18 services by 4)", n)
	}
	// untilFull resyncs until a full pass runs and returns how many
	// sliced passes verified before it.
	untilFull := func(max int) (int, lvs.SyncResult) {
		t.Helper()
		for n := 0; ; n++ {
			res, err := r.Resync(ctx, want)
			if err != nil {
				t.Fatal(err)
			}
			if res.Slice == 0 {
				return n, res
			}
			if n >= max {
				t.Fatalf("no full pass after %d sliced resyncs", n)
			}
		}
	}
	// A clean round verifies every slice without a full pass.
	for i := 1; i <= 5; i++ {
		res, err := r.Resync(ctx, want)
		if err != nil || res.Slice != i || !res.Plan.Empty() {
			t.Fatalf("clean pass %d: slice %d err %v ops %d", i, res.Slice, err, res.Plan.Ops())
		}
	}
	// A destination edit (a threshold) in the last slice (192.0.2.17
	// and .18) is found within one round.
	run(t, "ipvsadm", "-e", "-t", "192.0.2.18:80", "-r", "198.51.100.118:80", "-m", "-w", "2", "-x", "7")
	n, res := untilFull(5)
	if !res.Drift || res.Plan.Ops() != 1 {
		t.Fatalf("threshold edit: full pass after %d sliced passes: drift %v ops %d", n, res.Drift, res.Plan.Ops())
	}
	t.Logf("threshold edit found after %d sliced passes", n)
	checkKernel(t, v, want)
	// A service-level edit is found by the very next resync.
	run(t, "ipvsadm", "-E", "-t", "192.0.2.3:80", "-s", "rr")
	if n, res := untilFull(0); n != 0 || !res.Drift {
		t.Fatalf("scheduler edit: %d sliced passes before the full pass, drift %v", n, res.Drift)
	}
	checkKernel(t, v, want)
	run(t, "ipvsadm", "-D", "-t", "192.0.2.17:80")
	if n, res := untilFull(0); n != 0 || !res.Drift {
		t.Fatalf("service delete: %d sliced passes before the full pass, drift %v", n, res.Drift)
	}
	checkKernel(t, v, want)
}
