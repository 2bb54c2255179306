package nftables

import (
	"context"
	"slices"
	"testing"

	"quadrature/internal/netnstest"
	"quadrature/lvs"
)

// TestFiftyThousandDestinations programs one virtual service with 50,000
// real servers (more than one netlink message can carry: the element
// lists are split), reads it back, changes one weight incrementally and
// removes half of the servers. Skipped with -short.
func TestFiftyThousandDestinations(t *testing.T) {
	if testing.Short() {
		t.Skip("large table: run without -short")
	}
	lab := netnstest.NewLab(t)
	ns := lab.AddHost("dir")
	dp, err := New(Options{NetNSPath: "/run/netns/" + ns.Name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dp.Close() })
	ctx := context.Background()
	want := scaleTable(1, 50000)
	check := func(want lvs.Table) {
		t.Helper()
		got, err := dp.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got.Digest() != want.Digest() {
			t.Fatalf("read back %d services (%d destinations), want %d destinations", len(got.Services), func() int {
				if len(got.Services) == 0 {
					return 0
				}
				return len(got.Services[0].Destinations)
			}(), len(want.Services[0].Destinations))
		}
	}
	if _, err := dp.Sync(ctx, want); err != nil {
		t.Fatal(err)
	}
	check(want)
	next := lvs.Table{Services: slices.Clone(want.Services)}
	next.Services[0].Destinations = slices.Clone(next.Services[0].Destinations)
	next.Services[0].Destinations[25000].Weight = 9
	if err := dp.Apply(ctx, lvs.Diff(want, next, lvs.Options{OwnWholeTable: true})); err != nil {
		t.Fatal(err)
	}
	check(next)
	half := lvs.Table{Services: slices.Clone(next.Services)}
	half.Services[0].Destinations = next.Services[0].Destinations[:25000]
	if err := dp.Apply(ctx, lvs.Diff(next, half, lvs.Options{OwnWholeTable: true})); err != nil {
		t.Fatal(err)
	}
	check(half)
}
