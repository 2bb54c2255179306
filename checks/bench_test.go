package checks

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

const listenerEnv = "QUADRATURE_CHECKS_BENCH_LISTENERS"

// TestMain doubles as the benchmark's listener process: the checker's CPU
// and memory are measured alone, the accept side runs in a child process.
func TestMain(m *testing.M) {
	if n := os.Getenv(listenerEnv); n != "" {
		runListeners(n)
		return
	}
	os.Exit(m.Run())
}

// runListeners listens on n loopback endpoints spread over 127.0.0.1-8,
// prints them, and accepts and closes connections until stdin closes.
func runListeners(spec string) {
	n, _ := strconv.Atoi(spec)
	w := bufio.NewWriter(os.Stdout)
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:0", 1+i%8))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Fprintln(w, ln.Addr())
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close() // FIN; the checker's RST (SO_LINGER 0) leaves no TIME_WAIT on either side
			}
		}()
	}
	fmt.Fprintln(w, "READY")
	w.Flush()
	buf := make([]byte, 1)
	os.Stdin.Read(buf) // parent closes stdin (or dies): exit
}

func startListeners(b *testing.B, n int) []netip.AddrPort {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), listenerEnv+"="+strconv.Itoa(n))
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	var addrs []netip.AddrPort
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if sc.Text() == "READY" {
			return addrs
		}
		addrs = append(addrs, netip.MustParseAddrPort(sc.Text()))
	}
	b.Fatal("listener process failed")
	return nil
}

func cpuSplit() (user, sys time.Duration) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

// BenchmarkTCPCheckers runs N TCP_CHECKs at delay_loop 1 s against 64
// loopback listeners in a child process and reports sustained checks/s,
// CPU seconds per 1000 checks, heap bytes per checker and latency
// percentiles. Run with -benchtime 1x -cpu 1. N and the measuring window
// come from QUADRATURE_BENCH_CHECKERS (20000) and QUADRATURE_BENCH_SECONDS (5).
func BenchmarkTCPCheckers(b *testing.B) {
	n := envInt("QUADRATURE_BENCH_CHECKERS", 20000)
	window := time.Duration(envInt("QUADRATURE_BENCH_SECONDS", 5)) * time.Second
	for i := 0; i < b.N; i++ {
		benchTCP(b, n, window)
	}
}

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil && v > 0 {
		return v
	}
	return def
}

func benchTCP(b *testing.B, n int, window time.Duration) {
	tStart := time.Now()
	addrs := startListeners(b, 64)
	heap0 := heapInUse()
	s, err := NewScheduler(Options{Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	var (
		mu        sync.Mutex
		recording bool
		lats      = make([]time.Duration, 0, int(window.Seconds()+1)*n*11/10)
		lags      = make([]time.Duration, 0, cap(lats))
		fails     int
	)
	s.resultHook = func(lat, lag time.Duration) {
		mu.Lock()
		if recording {
			lats = append(lats, lat)
			lags = append(lags, lag)
		}
		mu.Unlock()
	}
	func() {
		specs := make([]RealServerSpec, n)
		for i := range specs {
			specs[i] = RealServerSpec{ID: "rs" + strconv.Itoa(i), Weight: 1, Checkers: []Spec{{
				ID: "tcp", Kind: KindTCP, Target: addrs[i%len(addrs)], DelayLoop: time.Second, ConnectTimeout: 2 * time.Second,
			}}}
		}
		if err := s.Update(specs); err != nil {
			b.Fatal(err)
		}
	}()
	tSetup := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	go func() {
		for o := range s.Observations() {
			if !o.Up {
				mu.Lock()
				if fails == 0 {
					b.Logf("first failure: %s", o.Reason)
				}
				fails++
				mu.Unlock()
			}
		}
	}()
	time.Sleep(2 * time.Second) // warmup spreads the first checks over one delay_loop
	tGC := time.Now()
	heap1 := heapInUse()
	gcTime := time.Since(tGC)
	mu.Lock()
	recording = true
	mu.Unlock()
	u0, s0 := cpuSplit()
	cpu0, t0 := u0+s0, time.Now()
	time.Sleep(window)
	u1, s1 := cpuSplit()
	cpu1, t1 := u1+s1, time.Now()
	mu.Lock()
	recording = false
	count := len(lats)
	down := fails
	mu.Unlock()
	cancel()
	<-done
	b.Logf("phases: setup %v (listeners, %d checkers), run %v (of which 2 forced GCs %v), stop %v", tSetup.Sub(tStart).Round(time.Millisecond), n,
		t1.Sub(tSetup).Round(time.Millisecond), gcTime.Round(time.Millisecond), time.Since(t1).Round(time.Millisecond))

	slices.Sort(lats)
	slices.Sort(lags)
	el := t1.Sub(t0).Seconds()
	rate := float64(count) / el
	cpuPer1000 := (cpu1 - cpu0).Seconds() / (float64(count) / 1000)
	perChecker := float64(int64(heap1)-int64(heap0)) / float64(n)
	b.ReportMetric(rate, "checks/s")
	b.ReportMetric(cpuPer1000, "cpu-s/1000checks")
	b.ReportMetric(perChecker, "bytes/checker")
	b.ReportMetric(1000/cpuPer1000, "checks/cpu-s") // what one fully available core sustains
	b.ReportMetric(float64(pct(lats, 0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(pct(lats, 0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(pct(lags, 0.99).Microseconds())/1000, "lag-p99-ms")
	b.Logf("N=%d GOMAXPROCS=%d window=%v: %.0f checks/s (ideal %d), cpu %.3f s/1000 checks (%.0f%% of one core), heap %.0f B/checker, "+
		"latency p50 %v p99 %v max %v, dispatch lag p50 %v p99 %v, real servers seen down %d, user/sys cpu %v/%v",
		n, runtime.GOMAXPROCS(0), window, rate, n, cpuPer1000, 100*(cpu1-cpu0).Seconds()/el, perChecker,
		pct(lats, .5), pct(lats, .99), pct(lats, 1), pct(lags, .5), pct(lags, .99), down, (u1 - u0).Round(time.Millisecond), (s1 - s0).Round(time.Millisecond))
	if down > 0 {
		b.Errorf("%d real servers went down against healthy listeners", down)
	}
}
