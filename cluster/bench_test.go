package cluster

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestClusterBench measures, on loopback with real raft on disk:
//   - commit latency: Apply on the leader (and forwarded from a follower)
//     until the command is applied on all 3 nodes;
//   - gossip crash detection: a node is shut down without leaving until
//     every other node reports it failed;
//   - leader failover: the leader is shut down until the others agree on
//     a new leader;
//
// for the Tuned timing profile, with the Default profile as the baseline.
// It prints a table. Run: QUADRATURE_BENCH=1 go test ./cluster -run
// TestClusterBench -v (QUADRATURE_BENCH_TRIALS sets the trial count).
func TestClusterBench(t *testing.T) {
	if os.Getenv("QUADRATURE_BENCH") != "1" {
		t.Skip("benchmark: set QUADRATURE_BENCH=1")
	}
	trials := 15
	if v, err := strconv.Atoi(os.Getenv("QUADRATURE_BENCH_TRIALS")); err == nil && v > 0 {
		trials = v
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("cluster bench: GOMAXPROCS=%d loadavg=%s", runtime.GOMAXPROCS(0), load)

	commit := benchCommit(t, 500)
	fmt.Printf("%-34s %6s %9s %9s %9s\n", "measure (tuned profile)", "n", "median", "p99", "max")
	for _, r := range commit {
		r.print()
	}
	var rows []benchRow
	profiles := []struct {
		name   string
		timing Timing
		trials int
	}{
		{"tuned", TunedTiming(), trials},
		{"default", DefaultTiming(), max(trials/2, 10)},
	}
	if os.Getenv("QUADRATURE_BENCH_TUNED_ONLY") == "1" {
		profiles = profiles[:1]
	}
	for _, p := range profiles {
		rows = append(rows, benchDetection(t, p.name, p.timing, p.trials))
		rows = append(rows, benchFailover(t, p.name, p.timing, p.trials))
	}
	fmt.Printf("%-34s %6s %9s %9s %9s\n", "measure", "n", "median", "p99", "max")
	for _, r := range rows {
		r.print()
	}
	if len(rows) == 4 {
		fmt.Printf("ratio default/tuned median: detection %.1fx, failover %.1fx\n",
			float64(rows[2].median())/float64(rows[0].median()), float64(rows[3].median())/float64(rows[1].median()))
	}
}

type benchRow struct {
	name string
	d    []time.Duration
}

func (r benchRow) quantile(q float64) time.Duration {
	s := slices.Clone(r.d)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	i := int(q*float64(len(s)-1) + 0.5)
	return s[i]
}

func (r benchRow) median() time.Duration { return r.quantile(0.5) }

func (r benchRow) print() {
	fmt.Printf("%-34s %6d %9s %9s %9s\n", r.name, len(r.d),
		r.median().Round(10*time.Microsecond), r.quantile(0.99).Round(10*time.Microsecond), r.quantile(1).Round(10*time.Microsecond))
}

// benchCommit applies n commands and times them until applied everywhere.
func benchCommit(t *testing.T, n int) []benchRow {
	var mu sync.Mutex
	applied := map[string]map[string]time.Time{} // cmd -> node -> time
	var nodes []*tnode
	for i := 0; i < 3; i++ {
		name := fmt.Sprintf("b%d", i+1)
		var peers []string
		if i > 0 {
			peers = []string{nodes[0].GossipAddr()}
		}
		cfg := testConfig(t, name, 3, peers...)
		fsm := newKV()
		fsm.onApply = func(cmd string) {
			now := time.Now()
			mu.Lock()
			m := applied[cmd]
			if m == nil {
				m = map[string]time.Time{}
				applied[cmd] = m
			}
			m[name] = now
			mu.Unlock()
		}
		tn, err := tryStartNodeFSM(cfg, fsm)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tn.Shutdown() })
		nodes = append(nodes, tn)
	}
	leader := waitLeader(t, nodes, 10*time.Second)
	follower := followers(nodes, leader)[0]
	for i := 0; i < 20; i++ { // warm up connections
		apply(t, follower, fmt.Sprintf("warm=%d", i))
	}
	run := func(label string, via *tnode) (ack, all benchRow) {
		ack.name, all.name = label+" ack", label+" applied on all 3"
		for i := 0; i < n; i++ {
			cmd := fmt.Sprintf("%s%d=%d", label, i, i)
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, _, err := via.Apply(ctx, []byte(cmd))
			cancel()
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			ack.d = append(ack.d, time.Since(start))
			var last time.Time
			waitFor(t, 5*time.Second, "applied on all", func() bool {
				mu.Lock()
				defer mu.Unlock()
				m := applied[cmd]
				if len(m) < 3 {
					return false
				}
				for _, ts := range m {
					if ts.After(last) {
						last = ts
					}
				}
				return true
			})
			all.d = append(all.d, last.Sub(start))
		}
		return ack, all
	}
	la, ll := run("leader", leader)
	fa, fl := run("follower(fwd)", follower)
	// Idle cost of the tuned timers (3 nodes in this process).
	var before, after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	idle := 5 * time.Second
	time.Sleep(idle)
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) / 3
	fmt.Printf("idle CPU per node (tuned, 3 nodes in one process): %.1f%% of one core\n", 100*cpu.Seconds()/idle.Seconds())
	return []benchRow{la, ll, fa, fl}
}

// benchDetection kills one node per trial and times until both others
// report it failed; the node is restarted between trials.
func benchDetection(t *testing.T, profile string, tm Timing, trials int) benchRow {
	row := benchRow{name: "gossip crash detection (" + profile + ")"}
	nodes := startCluster(t, 3, func(i int, c *Config) { c.Timing = tm })
	waitLeader(t, nodes, 20*time.Second)
	for trial := 0; trial < trials; trial++ {
		victim := nodes[2]
		var subs []<-chan Event
		var cancels []func()
		for _, n := range nodes[:2] {
			ch, cancel := n.Subscribe(256)
			subs, cancels = append(subs, ch), append(cancels, cancel)
		}
		start := time.Now()
		_ = victim.Shutdown()
		var last time.Time
		for _, ch := range subs {
			deadline := time.After(30 * time.Second)
		wait:
			for {
				select {
				case e := <-ch:
					if e.Kind == EventMemberFailed && e.Member == victim.Name() {
						if e.Time.After(last) {
							last = e.Time
						}
						break wait
					}
				case <-deadline:
					t.Fatalf("%s: no failure detected", profile)
				}
			}
		}
		row.d = append(row.d, last.Sub(start))
		for _, c := range cancels {
			c()
		}
		nodes[2] = victim.restart(t)
		waitFor(t, 30*time.Second, "victim alive again", func() bool {
			for _, n := range nodes[:2] {
				ok := false
				for _, m := range n.Members() {
					ok = ok || (m.Name == victim.Name() && m.State == MemberAlive)
				}
				if !ok {
					return false
				}
			}
			return true
		})
	}
	return row
}

// benchFailover kills the leader per trial and times until the survivors
// agree on a new one; the old leader is restarted between trials.
func benchFailover(t *testing.T, profile string, tm Timing, trials int) benchRow {
	row := benchRow{name: "leader failover (" + profile + ")"}
	nodes := startCluster(t, 3, func(i int, c *Config) { c.Timing = tm })
	for trial := 0; trial < trials; trial++ {
		leader := waitLeader(t, nodes, 20*time.Second)
		// let the cluster settle so the previous trial's restart does not
		// interfere (the restarted node is caught up).
		time.Sleep(2 * tm.HeartbeatTimeout)
		rest := followers(nodes, leader)
		start := time.Now()
		_ = leader.Shutdown()
		var elected time.Time
		waitForFine(t, 30*time.Second, func() bool {
			name := ""
			for _, n := range rest {
				l := n.LeaderName()
				if l == "" || l == leader.Name() || (name != "" && l != name) {
					return false
				}
				name = l
			}
			elected = time.Now()
			return true
		})
		row.d = append(row.d, elected.Sub(start))
		if testing.Verbose() {
			t.Logf("%s failover trial %d: %s", profile, trial, elected.Sub(start))
		}
		for i, n := range nodes {
			if n == leader {
				nodes[i] = leader.restart(t)
			}
		}
	}
	return row
}

// waitForFine polls every 2 ms (waitFor's 10 ms would blur failover times).
func waitForFine(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(2 * time.Millisecond)
	}
}
