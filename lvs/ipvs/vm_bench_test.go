//go:build linux

package ipvs

import (
	"fmt"
	"os"
	"os/exec"
	"quadrature/lvs"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestVMBenchKeepalivedScale programs a keepalived-sized table from empty
// through the reconciler, then a one-destination change and a no-change
// resync, and compares with "ipvsadm -R" of the same table. It prints one
// BENCH line; it asserts correctness, not timings.
func TestVMBenchKeepalivedScale(t *testing.T) {
	requireVM(t)
	if os.Getenv("QUADRATURE_VM_BENCH") != "1" {
		t.Skip("benchmark: set QUADRATURE_VM_BENCH=1 (lvs/vmtest/run.sh -bench)")
	}
	v := vmIPVS(t)
	want := lvs.ScaleTable().Normalize()
	ctx := t.Context()

	// Every figure is the minimum of a few repetitions: the VM is
	// emulated on a shared host, and interference only ever adds time.
	const reps = 3

	// Full apply from empty (twice, clearing in between).
	full := time.Duration(1 << 62)
	for i := range 2 {
		if i > 0 {
			run(t, "ipvsadm", "-C")
		}
		r := newVMReconciler(t, v, nil)
		res, err := r.Sync(ctx, want)
		if err != nil {
			t.Fatalf("full apply: %v", err)
		}
		full = min(full, res.Duration)
	}
	got, err := v.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest() != want.Digest() {
		t.Fatalf("after the full apply the kernel digest differs:\n%s", lineDiff(got.CanonicalText(), want.CanonicalText()))
	}
	r := newVMReconciler(t, v, nil)
	if res, err := r.Sync(ctx, want); err != nil || !res.Plan.Empty() {
		t.Fatalf("adopting the table: %v %d ops", err, res.Plan.Ops())
	}

	// One destination changes: Patch (the service named), Update (whole
	// desired table, no dump), the bare netlink operation, and a full Sync
	// (dump + diff + apply).
	mid := lvs.ScaleServices / 2
	change := func(w int32) lvs.Table {
		c := want
		c.Services = append([]lvs.Service(nil), want.Services...)
		s := c.Services[mid]
		s.Destinations = append([]lvs.Destination(nil), s.Destinations...)
		s.Destinations[3].Weight = w
		c.Services[mid] = s
		return c
	}
	w := int32(50)
	next := func() lvs.Table { w++; return change(w) }
	best := func(f func() time.Duration) time.Duration {
		d := time.Duration(1 << 62)
		for range reps {
			d = min(d, f())
		}
		return d
	}
	onePatch := best(func() time.Duration {
		res, err := r.Patch(ctx, []lvs.Service{next().Services[mid]}, nil)
		if err != nil || res.Plan.Ops() != 1 {
			t.Fatalf("patch: err=%v ops=%d", err, res.Plan.Ops())
		}
		return res.Duration
	})
	oneUpdate := best(func() time.Duration {
		res, err := r.Update(ctx, next())
		if err != nil || res.Plan.Ops() != 1 {
			t.Fatalf("one change: err=%v ops=%d", err, res.Plan.Ops())
		}
		return res.Duration
	})
	oneApply := best(func() time.Duration {
		start := time.Now()
		if err := v.Apply(ctx, lvs.Plan{UpdateDests: []lvs.DestChange{{Service: want.Services[mid].Key, Dest: next().Services[mid].Destinations[3]}}}); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	})
	oneChangeFull := best(func() time.Duration {
		res, err := r.Sync(ctx, next())
		if err != nil || res.Plan.Ops() != 1 {
			t.Fatalf("one change with dump: err=%v ops=%d", err, res.Plan.Ops())
		}
		return res.Duration
	})

	// No change: a full pass (one dump of everything + diff), then the
	// periodic Resync, which reads every service and one slice of
	// destinations per call: one whole round of slices (every destination
	// read once), reporting the slowest pass and the round's total.
	last := change(w)
	noopFull := best(func() time.Duration {
		res, err := r.Sync(ctx, last)
		if err != nil || !res.Plan.Empty() || res.Drift {
			t.Fatalf("no-change full pass: err=%v ops=%d drift=%v", err, res.Plan.Ops(), res.Drift)
		}
		return res.Duration
	})
	// Two rounds: the figures are the median, 90th percentile and maximum
	// pass, and the mean round.
	nSlices := r.Slices()
	var total time.Duration
	var passes []time.Duration
	const rounds = 2
	for range rounds {
		for i := 1; i <= nSlices; i++ {
			res, err := r.Resync(ctx, last)
			if err != nil || res.Slice != i || !res.Plan.Empty() {
				t.Fatalf("no-change resync %d: err=%v slice=%d/%d ops=%d", i, err, res.Slice, res.Slices, res.Plan.Ops())
			}
			total += res.Duration
			passes = append(passes, res.Duration)
		}
	}
	round := total / rounds
	sorted := slices.Clone(passes)
	slices.Sort(sorted)
	noop := sorted[len(sorted)/2]
	noopP90, noopMax := sorted[len(sorted)*9/10], sorted[len(sorted)-1]

	dump := best(func() time.Duration {
		start := time.Now()
		if _, err := v.Read(ctx); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	})

	// Where a dump's time goes: the service dump, the destination dumps
	// without decoding, and with decoding.
	svcOnly := best(func() time.Duration {
		start := time.Now()
		if err := v.request(v.family, ipvsCmdGetService, ipvsGenlVers, nil, nlmFRequest|nlmFDump, func([]byte) error { return nil }); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	})
	rawDests := best(func() time.Duration {
		var e attrEncoder
		start := time.Now()
		for i := range want.Services {
			e.b = e.b[:0]
			e.service(&want.Services[i], false)
			if err := v.request(v.family, ipvsCmdGetDest, ipvsGenlVers, e.b, nlmFRequest|nlmFDump, func([]byte) error { return nil }); err != nil {
				t.Fatal(err)
			}
		}
		return time.Since(start)
	})
	// /proc/net/ip_vs lists every service and destination in one read
	// (without flags, thresholds and tunnel settings): what a cheaper
	// drift check could cost.
	procBytes := 0
	procRead := best(func() time.Duration {
		start := time.Now()
		b, err := os.ReadFile("/proc/net/ip_vs")
		if err != nil {
			t.Fatal(err)
		}
		procBytes = len(b)
		return time.Since(start)
	})
	fmt.Printf("BENCH dump_parts service_dump=%.1fms dest_dumps_raw_1socket=%.1fms proc_net_ip_vs=%.1fms(%dKiB)\n", ms(svcOnly), ms(rawDests), ms(procRead), procBytes>>10)

	// How the dump scales with parallel sockets.
	var scaling []string
	defaultWorkers := dumpWorkers
	for _, n := range []int{1, 2, 4, 8, 16} {
		dumpWorkers = n
		d := best(func() time.Duration {
			start := time.Now()
			if _, err := v.Read(ctx); err != nil {
				t.Fatal(err)
			}
			return time.Since(start)
		})
		scaling = append(scaling, fmt.Sprintf("%d:%.0fms", n, ms(d)))
	}
	dumpWorkers = defaultWorkers
	// The same dump by ipvsadm (C, libnl), for comparison.
	admList := best(func() time.Duration {
		start := time.Now()
		run(t, "ipvsadm", "-Ln")
		return time.Since(start)
	})
	fmt.Println("BENCH dump_scaling workers:time " + strings.Join(scaling, " "))

	// Baseline: ipvsadm -R of the same table after ipvsadm -C.
	run(t, "ipvsadm", "-C")
	save := ipvsadmSave(want)
	f, err := os.CreateTemp("", "ipvsadm-save")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(save); err != nil {
		t.Fatal(err)
	}
	f.Close()
	in, err := os.Open(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ipvsadm", "-R")
	cmd.Stdin = in
	start := time.Now()
	out, err := cmd.CombinedOutput()
	restore := time.Since(start)
	in.Close()
	if err != nil {
		t.Fatalf("ipvsadm -R: %v %s", err, out)
	}
	got, err = v.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest() != want.Digest() {
		t.Fatalf("ipvsadm -R programmed a different table:\n%s", lineDiff(got.CanonicalText(), want.CanonicalText())[:2000])
	}
	// Where a sliced pass's time goes.
	sel := make(map[lvs.ServiceKey]bool)
	for _, s := range last.Services[:lvs.DefaultResyncSliceServices] {
		sel[s.Key] = true
	}
	var sliced lvs.Table
	readSlice := best(func() time.Duration {
		start := time.Now()
		var err error
		if sliced, err = v.ReadSlice(ctx, func(k lvs.ServiceKey) bool { return sel[k] }); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	})
	lastNorm := last.Normalize()
	equal := best(func() time.Duration {
		start := time.Now()
		if !lvs.EqualTables(last, lastNorm) {
			t.Fatal("equalTables")
		}
		return time.Since(start)
	})
	norm := best(func() time.Duration {
		start := time.Now()
		sliced.Normalize()
		return time.Since(start)
	})
	cfgRead := best(func() time.Duration {
		start := time.Now()
		if _, err := v.lib.Config(); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	})
	fmt.Printf("BENCH resync_parts read_slice=%.1fms equal_desired=%.1fms normalize=%.1fms get_timeouts=%.1fms\n", ms(readSlice), ms(equal), ms(norm), ms(cfgRead))
	var ps []string
	for _, p := range passes {
		ps = append(ps, fmt.Sprintf("%.0f", ms(p)))
	}
	fmt.Printf("BENCH resync_passes_ms slices=%d [%s]\n", nSlices, strings.Join(ps, " "))
	line := fmt.Sprintf("BENCH services=%d dests=%d full_apply=%.3fs ipvsadm_R=%.3fs ratio=%.2f one_change=%.2fms one_change_update=%.1fms one_change_netlink=%.2fms one_change_full_pass=%.1fms noop_resync=%.1fms(median of %d passes, %d slices) noop_resync_p90=%.1fms noop_resync_max=%.1fms noop_resync_round=%.1fms noop_full_pass=%.1fms dump=%.1fms ipvsadm_Ln=%.1fms noop/full=%.1f%% p90/full=%.1f%% max/full=%.1f%% round/full=%.1f%% full_pass/full=%.1f%%",
		lvs.ScaleServices, lvs.ScaleDests, full.Seconds(), restore.Seconds(), full.Seconds()/restore.Seconds(),
		ms(onePatch), ms(oneUpdate), ms(oneApply), ms(oneChangeFull), ms(noop), len(passes), nSlices, ms(noopP90), ms(noopMax), ms(round), ms(noopFull), ms(dump), ms(admList),
		100*noop.Seconds()/full.Seconds(), 100*noopP90.Seconds()/full.Seconds(), 100*noopMax.Seconds()/full.Seconds(), 100*round.Seconds()/full.Seconds(), 100*noopFull.Seconds()/full.Seconds())
	fmt.Println(line)
	t.Log(strings.TrimPrefix(line, "BENCH "))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
