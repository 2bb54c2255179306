package nftables

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"quadrature/internal/netnstest"
	"quadrature/lvs"
)

// BenchmarkScale programs large tables through the lvs reconciler in a
// fresh namespace each and prints one line per size: time to program from
// empty, the same ruleset loaded by `nft -f` (saved with `nft list table`
// after our run, loaded into another fresh namespace) and the ratio, the
// growth of both (time per destination relative to the first size: 1.00
// is linear), one weight change applied incrementally (Update), the CPU
// the process uses while Run idles with sliced resyncs (by default for
// one ResyncInterval, a whole round of slices), and the resident set
// size. It asserts that the kernel reads back exactly the desired table,
// never timings. QUAD_NFT_RESYNC sets the ResyncInterval of the idle
// measurement (default 30 s), QUAD_NFT_IDLE its window.
//
//	go test -run '^$' -bench Scale -benchtime 1x -timeout 60m ./lvs/nftables
//	QUAD_NFT_SCALE=8000x16 go test ... (sizes; default 500x16,2000x16,8000x16,1x50000)
func BenchmarkScale(b *testing.B) {
	sizes := os.Getenv("QUAD_NFT_SCALE")
	if sizes == "" {
		sizes = "500x16,2000x16,8000x16,1x50000"
	}
	var lines []scaleLine
	for _, sz := range strings.Split(sizes, ",") {
		svcs, dests, ok := parseSize(sz)
		if !ok {
			b.Fatalf("QUAD_NFT_SCALE: bad size %q (want SERVICESxDESTS)", sz)
		}
		b.Run(sz, func(b *testing.B) {
			lines = append(lines, scaleRun(b, svcs, dests))
		})
	}
	// growth: program time per destination relative to the first size
	// (1.00 everywhere is linear), and the same for nft -f.
	fmt.Printf("\nidle CPU: %v of Run, ResyncInterval %v\n%-10s %12s %12s %7s %7s %7s %12s %10s %8s\n", idleWindow(b), resyncInterval(b),
		"size", "program", "nft -f", "ratio", "growth", "nft gr.", "one change", "idle CPU", "RSS MiB")
	var base *scaleLine
	for i := range lines {
		l := &lines[i]
		if l.program == 0 {
			fmt.Printf("%-10s %12s\n", l.name, "FAILED")
			continue
		}
		if base == nil {
			base = l
		}
		per := func(d time.Duration, n int) float64 { return d.Seconds() / float64(n) }
		fmt.Printf("%-10s %12v %12v %7.2f %7.2f %7.2f %12v %9.1f%% %8.0f\n", l.name, l.program.Round(time.Millisecond), l.nftF.Round(time.Millisecond),
			l.program.Seconds()/l.nftF.Seconds(), per(l.program, l.dests)/per(base.program, base.dests), per(l.nftF, l.dests)/per(base.nftF, base.dests),
			l.one.Round(time.Microsecond), l.idle*100, l.rss)
	}
}

// scaleLine is one size's figures (program zero: programming failed).
type scaleLine struct {
	name          string
	dests         int
	program, nftF time.Duration
	one           time.Duration
	idle, rss     float64
}

// idleWindow is how long the idle CPU is measured: QUAD_NFT_IDLE (a
// duration), by default the ResyncInterval.
func idleWindow(b *testing.B) time.Duration {
	v := os.Getenv("QUAD_NFT_IDLE")
	if v == "" {
		return resyncInterval(b)
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		b.Fatalf("QUAD_NFT_IDLE: %v", err)
	}
	return d
}

// nftToFile runs nft with args in namespace ns (up to 20 minutes), its
// standard output into the file out ("": discarded). An error carries
// the first KiB of its standard error.
func nftToFile(ns, out string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, "nft"}, args...)...)
	if out != "" {
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		defer f.Close()
		cmd.Stdout = f
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		e := stderr.String()
		if len(e) > 1024 {
			e = e[:1024] + "..."
		}
		return fmt.Errorf("nft %s: %w: %s", strings.Join(args, " "), err, e)
	}
	return nil
}

// resyncInterval is the reconciler's ResyncInterval for the idle figure:
// QUAD_NFT_RESYNC (a duration), by default 30 s, the reconciler's default.
func resyncInterval(b *testing.B) time.Duration {
	v := os.Getenv("QUAD_NFT_RESYNC")
	if v == "" {
		return 30 * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		b.Fatalf("QUAD_NFT_RESYNC: %v", err)
	}
	return d
}

func parseSize(s string) (int, int, bool) {
	a, c, ok := strings.Cut(strings.TrimSpace(s), "x")
	n, err1 := strconv.Atoi(a)
	m, err2 := strconv.Atoi(c)
	return n, m, ok && err1 == nil && err2 == nil && n > 0 && m > 0
}

// scaleTable is services × dests: wrr TCP services on 198.51.100.0/24 and
// ports 1.., destinations 10.x.y.z-like addresses drawn from 192.0.2.0/24
// and 203.0.113.0/24 with distinct ports, weights 1..3.
func scaleTable(services, dests int) lvs.Table {
	var t lvs.Table
	for i := 0; i < services; i++ {
		s := lvs.Service{Key: lvs.ServiceKey{Family: lvs.IPv4, Protocol: lvs.TCP,
			Addr: netip.AddrFrom4([4]byte{198, 51, 100, byte(1 + i%250)}), Port: uint16(1 + i/250)}, Scheduler: "wrr"}
		for j := 0; j < dests; j++ {
			net := byte(2)
			if j%2 == 1 {
				net = 113
			}
			a := netip.AddrFrom4([4]byte{192, 0, net, byte(1 + (j/2)%250)})
			if net == 113 {
				a = netip.AddrFrom4([4]byte{203, 0, 113, byte(1 + (j/2)%250)})
			}
			s.Destinations = append(s.Destinations, lvs.Destination{Addr: a, Port: uint16(1024 + j/500), Weight: int32(1 + (i+j)%3)})
		}
		t.Services = append(t.Services, s)
	}
	return t.Normalize()
}

func cpuTicks(b *testing.B) time.Duration {
	raw, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		b.Fatal(err)
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ 100
}

func rssMiB(b *testing.B) float64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return float64(kb) / 1024
		}
	}
	return 0
}

func scaleRun(b *testing.B, services, dests int) scaleLine {
	lab := netnstest.NewLab(b)
	netnstest.RequireBinary(b, "nft")
	ns := lab.AddHost("dir")
	dp, err := New(Options{NetNSPath: "/run/netns/" + ns.Name})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { dp.Close() })
	want := scaleTable(services, dests)
	name := fmt.Sprintf("%dx%d", services, dests)
	ctx := context.Background()
	r, err := lvs.NewReconciler(lvs.Config{DataPlane: dp, DrainTimeout: -1, OwnWholeTable: true, ResyncInterval: resyncInterval(b)})
	if err != nil {
		b.Fatal(err)
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	start := time.Now()
	_, err = r.Sync(pctx, want)
	program := time.Since(start)
	if err != nil {
		b.Logf("%s: program failed after %v: %v", name, program.Round(time.Millisecond), err)
		return scaleLine{name: name}
	}
	got, err := dp.Read(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if got.Digest() != want.Digest() {
		b.Fatalf("%s: read-back differs from the desired table", name)
	}
	b.Logf("%s: programmed in %v", name, program.Round(time.Millisecond))

	// nft -f of the same ruleset, in a fresh namespace. nft takes
	// minutes for the largest tables: no 30 s limit, and the ruleset goes
	// to a file, not into an error message.
	f := filepath.Join(b.TempDir(), "ruleset.nft")
	if err := nftToFile(ns.Name, f, "list", "table", "inet", DefaultTableName); err != nil {
		b.Fatalf("nft list: %v", err)
	}
	ns2 := lab.AddHost("nft")
	start = time.Now()
	if err := nftToFile(ns2.Name, "", "-f", f); err != nil {
		b.Fatalf("nft -f: %v", err)
	}
	nftF := time.Since(start)
	nftToFile(ns2.Name, "", "flush", "ruleset") // frees the kernel memory now; the namespace goes at cleanup

	// One weight change, applied incrementally.
	next := lvs.Table{Services: slices.Clone(want.Services)}
	k := len(next.Services) / 2
	next.Services[k].Destinations = slices.Clone(next.Services[k].Destinations)
	next.Services[k].Destinations[len(next.Services[k].Destinations)/2].Weight = 7
	start = time.Now()
	if _, err := r.Update(ctx, next); err != nil {
		b.Fatal(err)
	}
	one := time.Since(start)
	if got, err := dp.Read(ctx); err != nil || got.Digest() != next.Digest() {
		b.Fatalf("%s: read-back after one change differs (%v)", name, err)
	}
	if _, err := r.Sync(ctx, next); err != nil { // a full pass: the digest is known again
		b.Fatal(err)
	}

	// Idle: Run with sliced resyncs for one idle window (by default one
	// ResyncInterval: a whole round of slices).
	r.SetDesired(next)
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	time.Sleep(500 * time.Millisecond) // the first Update
	c0, t0 := cpuTicks(b), time.Now()
	time.Sleep(idleWindow(b))
	idle := float64(cpuTicks(b)-c0) / float64(time.Since(t0))
	stop()
	<-done
	st := r.Status()
	b.Logf("%s: slices %d, status %+v", name, r.Slices(), st.LastError)
	rss := rssMiB(b)
	b.ReportMetric(program.Seconds(), "program_s")
	b.ReportMetric(nftF.Seconds(), "nft_f_s")
	b.ReportMetric(one.Seconds()*1000, "one_change_ms")
	b.ReportMetric(idle*100, "idle_cpu_%")
	b.ReportMetric(rss, "rss_MiB")
	return scaleLine{name: name, dests: services * dests, program: program, nftF: nftF, one: one, idle: idle, rss: rss}
}
