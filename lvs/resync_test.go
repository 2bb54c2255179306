package lvs

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"quadrature/internal/promtest"
)

// tenServices has services 192.0.2.1..10 port 80 with three destinations
// each.
func tenServices() Table {
	var t Table
	for i := 1; i <= 10; i++ {
		t.Services = append(t.Services, svc(fmt.Sprintf("192.0.2.%d", i), 80, "wrr",
			dst(fmt.Sprintf("198.51.100.%d", i), 80, 1),
			dst(fmt.Sprintf("198.51.100.%d", 100+i), 80, 2),
			dst(fmt.Sprintf("198.51.100.%d", 200+i), 80, 3)))
	}
	return t.Normalize()
}

// slicedReconciler syncs tenServices with slices of three services (four
// slices: 3+3+3+1).
func slicedReconciler(t *testing.T) (*MemDataPlane, *Reconciler, Table) {
	t.Helper()
	dp := NewMemDataPlane()
	r := newMemReconciler(t, dp, func(c *Config) { c.ResyncSliceServices = 3 })
	want := tenServices()
	if _, err := r.Sync(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	if got := r.Slices(); got != 4 {
		t.Fatalf("Slices() = %d, want 4", got)
	}
	return dp, r, want
}

func resync(t *testing.T, r *Reconciler, want Table) SyncResult {
	t.Helper()
	res, err := r.Resync(t.Context(), want)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestResyncRotatesSlices(t *testing.T) {
	dp, r, want := slicedReconciler(t)
	reads0, applies0, _ := dp.Counts()
	for round := range 2 {
		for i := 1; i <= 4; i++ {
			res := resync(t, r, want)
			if res.Slice != i || res.Slices != 4 || !res.Plan.Empty() || res.Drift {
				t.Fatalf("round %d pass %d: slice %d/%d plan %d ops drift %v", round, i, res.Slice, res.Slices, res.Plan.Ops(), res.Drift)
			}
			if res.Digest != want.Digest() {
				t.Fatalf("pass %d: digest %q, want the table's", i, res.Digest)
			}
		}
	}
	reads, applies, _ := dp.Counts()
	if reads-reads0 != 8 || dp.SliceReads() != 8 || applies != applies0 {
		t.Fatalf("8 sliced resyncs: %d reads (%d sliced), %d applies", reads-reads0, dp.SliceReads(), applies-applies0)
	}
}

// TestResyncFindsDrift: every kind of change behind the reconciler's back
// is found, service-level changes by the next Resync and destination
// changes within one round of slices, and repaired by a full pass.
func TestResyncFindsDrift(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Table)
		// within is the number of Resync calls that may pass before the
		// repair (a destination of service index i is read by slice i/3).
		within int
		// notOurs: the change is not drift (a foreign service, timeouts
		// the desired table leaves alone): a full pass runs and keeps it.
		notOurs bool
	}{
		{"weight in the last slice", func(t *Table) { t.Services[9].Destinations[1].Weight = 99 }, 4, false},
		{"destination deleted in slice 2", func(t *Table) {
			t.Services[4].Destinations = t.Services[4].Destinations[1:]
		}, 2, false},
		{"destination added in slice 3", func(t *Table) {
			t.Services[7].Destinations = append(t.Services[7].Destinations, dst("203.0.113.7", 80, 1))
		}, 3, false},
		{"method changed in slice 1", func(t *Table) { t.Services[0].Destinations[0].Method = DR }, 1, false},
		{"scheduler", func(t *Table) { t.Services[8].Scheduler = "rr" }, 1, false},
		{"persistence", func(t *Table) { t.Services[5].Persistence = time.Minute }, 1, false},
		{"service deleted", func(t *Table) { t.Services = t.Services[:9] }, 1, false},
		{"service flushed and re-created empty", func(t *Table) { t.Services[7].Destinations = nil }, 3, false},
		{"foreign service added", func(t *Table) {
			t.Services = append(t.Services, svc("203.0.113.1", 80, "rr", dst("198.51.100.250", 80, 1)))
		}, 1, true},
		{"timeouts", func(t *Table) { t.Timeouts = &Timeouts{TCP: time.Hour} }, 1, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dp, r, want := slicedReconciler(t)
			k := dp.Table()
			k.Services = append([]Service(nil), k.Services...)
			for i := range k.Services {
				k.Services[i].Destinations = append([]Destination(nil), k.Services[i].Destinations...)
			}
			c.edit(&k)
			dp.Set(k)
			for n := 1; ; n++ {
				res := resync(t, r, want)
				if res.Slice == 0 { // a full pass ran
					if c.notOurs && (res.Drift || !res.Plan.Empty()) {
						t.Fatalf("pass %d: a change that is not ours was repaired: drift %v, %d ops", n, res.Drift, res.Plan.Ops())
					}
					if !c.notOurs && (!res.Drift || res.Plan.Empty()) {
						t.Fatalf("pass %d: full pass without drift repair: drift %v, %d ops", n, res.Drift, res.Plan.Ops())
					}
					break
				}
				if n >= c.within {
					t.Fatalf("drift not found within %d sliced resyncs", c.within)
				}
			}
			want2 := want
			if c.notOurs {
				want2 = k
			}
			if got := dp.Table(); got.Digest() != want2.Normalize().Digest() {
				t.Fatalf("kernel not repaired:\ngot:\n%s\nwant:\n%s", got.CanonicalText(), want2.Normalize().CanonicalText())
			}
			if res := resync(t, r, want); res.Slice == 0 {
				t.Fatalf("after the repair the next resync was a full pass again")
			}
		})
	}
}

func TestResyncRunsFullPass(t *testing.T) {
	t.Run("desired changed", func(t *testing.T) {
		_, r, _ := slicedReconciler(t)
		next := tenServices()
		next.Services[2].Destinations[0].Weight = 7
		res := resync(t, r, next)
		if res.Slice != 0 || res.Plan.Ops() != 1 || res.Drift {
			t.Fatalf("slice %d ops %d drift %v; want a full pass with one update and no drift", res.Slice, res.Plan.Ops(), res.Drift)
		}
		if res := resync(t, r, next); res.Slice == 0 {
			t.Fatal("the pass after did not verify a slice")
		}
	})
	t.Run("after a patch", func(t *testing.T) {
		dp, r, want := slicedReconciler(t)
		p := want.Services[3]
		p.Destinations = append([]Destination(nil), p.Destinations...)
		p.Destinations[0].Weight = 42
		if _, err := r.Patch(t.Context(), []Service{p}, nil); err != nil {
			t.Fatal(err)
		}
		// The whole desired table still says weight 1: the kernel holds
		// the patch and a sliced check would find no drift, so the
		// reconciler must run a full pass and restore the table.
		res := resync(t, r, want)
		if res.Slice != 0 || res.Plan.Ops() != 1 {
			t.Fatalf("slice %d ops %d; want a full pass restoring the weight", res.Slice, res.Plan.Ops())
		}
		if dp.Table().Digest() != want.Digest() {
			t.Fatal("kernel differs from the desired table")
		}
	})
	t.Run("read error", func(t *testing.T) {
		dp, r, want := slicedReconciler(t)
		dp.FailRead(errors.New("boom"))
		res := resync(t, r, want) // the sliced read fails; the full pass works
		if res.Slice != 0 {
			t.Fatalf("slice %d; want a full pass", res.Slice)
		}
		dp.FailRead(errors.New("boom"), errors.New("boom again"))
		if _, err := r.Resync(t.Context(), want); err == nil {
			t.Fatal("both reads failed but Resync succeeded")
		}
	})
	t.Run("small table", func(t *testing.T) {
		dp := NewMemDataPlane()
		r := newMemReconciler(t, dp, nil)
		if _, err := r.Sync(t.Context(), twoServices()); err != nil {
			t.Fatal(err)
		}
		if res := resync(t, r, twoServices()); res.Slice != 0 || r.Slices() != 1 || dp.SliceReads() != 0 {
			t.Fatalf("a table within one slice: slice %d slices %d sliced reads %d", res.Slice, r.Slices(), dp.SliceReads())
		}
	})
	t.Run("slicing disabled", func(t *testing.T) {
		dp := NewMemDataPlane()
		r := newMemReconciler(t, dp, func(c *Config) { c.ResyncSliceServices = -1 })
		if _, err := r.Sync(t.Context(), tenServices()); err != nil {
			t.Fatal(err)
		}
		if res := resync(t, r, tenServices()); res.Slice != 0 || dp.SliceReads() != 0 {
			t.Fatalf("slicing disabled: slice %d sliced reads %d", res.Slice, dp.SliceReads())
		}
	})
	t.Run("data plane without sliced reads", func(t *testing.T) {
		r, err := NewReconciler(Config{DataPlane: struct{ DataPlane }{NewMemDataPlane()}, Logger: quiet, ResyncSliceServices: 3})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Sync(t.Context(), tenServices()); err != nil {
			t.Fatal(err)
		}
		if res := resync(t, r, tenServices()); res.Slice != 0 || r.Slices() != 1 {
			t.Fatalf("slice %d slices %d", res.Slice, r.Slices())
		}
	})
}

// TestRunSlicedResyncRepairsDrift: Run spaces sliced resyncs so that a
// destination edited behind its back is repaired within about one
// ResyncInterval, and counts them in quadrature_lvs_resyncs_total.
func TestRunSlicedResyncRepairsDrift(t *testing.T) {
	dp := NewMemDataPlane()
	reg := prometheus.NewRegistry()
	r := newMemReconciler(t, dp, func(c *Config) {
		c.ResyncSliceServices = 3
		c.ResyncInterval = 200 * time.Millisecond
		c.Registerer = reg
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	want := tenServices()
	r.SetDesired(want)
	waitUntil(t, func() bool { return dp.Table().Digest() == want.Digest() })
	waitUntil(t, func() bool { return dp.SliceReads() >= 4 })
	k := dp.Table()
	k.Services[9].Destinations = append([]Destination(nil), k.Services[9].Destinations...)
	k.Services[9].Destinations[2].Weight = 0
	dp.Set(k)
	waitUntil(t, func() bool { return dp.Table().Digest() == want.Digest() })
	if v := promtest.Value(t, reg, "quadrature_lvs_resyncs_total", map[string]string{"kind": "slice"}); v < 4 {
		t.Fatalf("resyncs_total{kind=slice} = %v, want >= 4", v)
	}
	if v := promtest.Value(t, reg, "quadrature_lvs_resyncs_total", map[string]string{"kind": "full"}); v < 1 {
		t.Fatalf("resyncs_total{kind=full} = %v, want >= 1 (the repair)", v)
	}
}

// After an incremental change the digest of the kernel table is unknown:
// the next Resync is a full pass (which reads it), the ones after are
// sliced again and report it.
func TestResyncAfterIncrementalUpdate(t *testing.T) {
	_, r, _ := slicedReconciler(t)
	next := tenServices()
	next.Services[6].Destinations[2].Weight = 9
	res, err := r.Update(t.Context(), next)
	if err != nil || res.Plan.Ops() != 1 || res.Digest != "" {
		t.Fatalf("update: err %v ops %d digest %q", err, res.Plan.Ops(), res.Digest)
	}
	if res := resync(t, r, next); res.Slice != 0 || res.Digest != next.Digest() {
		t.Fatalf("first resync after the update: slice %d digest %q", res.Slice, res.Digest)
	}
	if res := resync(t, r, next); res.Slice == 0 || res.Digest != next.Digest() {
		t.Fatalf("second resync: slice %d digest %q", res.Slice, res.Digest)
	}
}
