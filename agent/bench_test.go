package agent_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"quadrature/api"
	"quadrature/internal/clustertest"
)

// TestAgentBench measures a real three-node group in namespaces (tuned
// timing, VRRP advert_int 0.2, delay_loop 1) and prints a table:
//
//   - config commit → applied on all nodes: from the start of a PUT
//     /v1/config until every node's /v1/status shows the new version;
//   - real server down → verdict down on every node: raw (from the kill of
//     the application) and net of the checkers' own detection (from the
//     second "real server down" log line, the majority's moment);
//   - crash detection as the agent sees it: kill -9 of a follower until
//     the others' /v1/members no longer show it alive;
//   - leader failover: kill -9 of the raft leader until every survivor
//     reports a new leader.
//
// It runs only with QUADRATURE_BENCH=1 (about 90 s). Timing targets are
// reported, never asserted.
func TestAgentBench(t *testing.T) {
	if os.Getenv("QUADRATURE_BENCH") != "1" {
		t.Skip("set QUADRATURE_BENCH=1 to run the agent benchmark (about 90 s, root)")
	}
	rounds := 25
	g := clustertest.New(t, clustertest.Options{Nodes: 3})
	g.WaitReady()
	var rows []benchRow

	// 1. commit → applied on all nodes.
	var commit, put []time.Duration
	for i := 0; i < rounds; i++ {
		doc, err := apiCall(g.Node("n1").API.Config)
		if err != nil {
			t.Fatal(err)
		}
		text := doc.Files[doc.Main]
		from, to := "router_id clustertest", "router_id clustertest-b"
		if strings.Contains(text, to) {
			from, to = to, from
		}
		text = strings.Replace(text, from, to, 1)
		t0 := time.Now()
		ctx, cancel := clustertest.Ctx()
		res, err := g.Node(clustertest.NodeName(1+i%3)).API.PutConfig(ctx, api.ConfigRequest{Main: doc.Main, Files: map[string]string{doc.Main: text}}, doc.Version)
		cancel()
		if err != nil {
			t.Fatalf("PUT %d: %v", i, err)
		}
		put = append(put, time.Since(t0))
		commit = append(commit, untilAll(t, g, g.Nodes, 10*time.Second, t0, func(n *clustertest.Node) bool {
			st, err := n.Status()
			return err == nil && st.ConfigVersion >= res.Version
		}))
	}
	t.Logf("commit → applied per PUT (target n1, n2, n3 in turn): %v", roundAll(commit))
	rows = append(rows, stats("PUT /v1/config answered (leader commit)", put, ""),
		stats("commit → applied on all 3 nodes", commit, "target p99 < 20 ms"))

	// 2. real server down → verdict down everywhere.
	var raw, net []time.Duration
	for i := 0; i < 5; i++ {
		g.AssertConverged()
		rs := clustertest.RealServerID(3)
		t0 := time.Now()
		g.StopApp("n3")
		d := untilAll(t, g, g.Nodes, 15*time.Second, t0, func(n *clustertest.Node) bool {
			r, err := n.RealServer("n3")
			return err == nil && !r.Up && r.Weight == 0
		})
		raw = append(raw, d)
		if det, ok := nthDetection(g, rs, t0, 2); ok {
			net = append(net, t0.Add(d).Sub(det))
		} else {
			t.Logf("round %d: fewer than two \"real server down\" log lines for %s after %s", i, rs, t0.UTC().Format(time.RFC3339Nano))
		}
		g.StartApp("n3")
		// Every node's own checker must see it up again before the next
		// round; a verdict (majority) can be up while one node still
		// reports down, and that node would then count as an instant
		// detection.
		g.WaitFor("every node's checker to see n3 up", 15*time.Second, func() error {
			r, err := g.Node("n1").RealServer("n3")
			if err != nil {
				return err
			}
			if len(r.Observations) != 3 {
				return fmt.Errorf("%d observations", len(r.Observations))
			}
			for _, o := range r.Observations {
				if !o.Up {
					return fmt.Errorf("%s still reports n3 down", o.Node)
				}
			}
			return nil
		})
	}
	rows = append(rows, stats("real server down → down on all nodes (raw)", raw, "includes delay_loop 1 s"),
		stats("  net of the checkers' detection (2nd node)", net, "target < 1 s"))

	// 3. crash detection (memberlist, as /v1/members shows it) and
	// 4. leader failover.
	var crash, failover []time.Duration
	for i := 0; i < 3; i++ {
		st := g.AssertConverged()
		victim := ""
		for _, n := range g.Nodes {
			if n.Name != st.Leader {
				victim = n.Name
			}
		}
		others := othersThan(g, victim)
		t0 := time.Now()
		g.Kill(victim)
		crash = append(crash, untilAll(t, g, others, 15*time.Second, t0, func(n *clustertest.Node) bool {
			ms, err := apiCall(n.API.Members)
			if err != nil {
				return false
			}
			for _, m := range ms {
				if m.Name == victim {
					return m.State != "alive"
				}
			}
			return true
		}))
		g.Restart(victim)
		st = g.AssertConverged()
		old := st.Leader
		others = othersThan(g, old)
		t0 = time.Now()
		g.Kill(old)
		failover = append(failover, untilAll(t, g, others, 15*time.Second, t0, func(n *clustertest.Node) bool {
			s, err := n.Status()
			return err == nil && s.Leader != "" && s.Leader != old
		}))
		g.Restart(old)
	}
	g.AssertConverged()
	rows = append(rows, stats("crash (kill -9) → member not alive on all", crash, "target < 1 s"),
		stats("leader kill -9 → new leader on all", failover, "target < 1 s"))

	var b strings.Builder
	fmt.Fprintf(&b, "\nquadrature agent benchmark: 3 nodes in namespaces, -timing tuned, advert_int 0.2, delay_loop 1\n")
	fmt.Fprintf(&b, "%-46s %4s %9s %9s %9s %9s  %s\n", "measure", "n", "min", "median", "p99", "max", "note")
	for _, r := range rows {
		fmt.Fprintf(&b, "%-46s %4d %9s %9s %9s %9s  %s\n", r.name, r.n, ms(r.min), ms(r.median), ms(r.p99), ms(r.max), r.note)
	}
	fmt.Print(b.String())
	t.Log(b.String())
}

func othersThan(g *clustertest.Group, name string) []*clustertest.Node {
	var out []*clustertest.Node
	for _, n := range g.Nodes {
		if n.Name != name {
			out = append(out, n)
		}
	}
	return out
}

// untilAll polls cond on every node concurrently (no sleep: the figure is
// limited by one API round trip, about a millisecond) and returns the time
// from t0 until the last node satisfied it.
func untilAll(t *testing.T, g *clustertest.Group, nodes []*clustertest.Node, timeout time.Duration, t0 time.Time, cond func(*clustertest.Node) bool) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var mu sync.Mutex
	var worst time.Duration
	var wg sync.WaitGroup
	failed := ""
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if cond(n) {
					d := time.Since(t0)
					mu.Lock()
					worst = max(worst, d)
					mu.Unlock()
					return
				}
				time.Sleep(time.Millisecond)
			}
			mu.Lock()
			failed += " " + n.Name
			mu.Unlock()
		}()
	}
	wg.Wait()
	if failed != "" {
		g.DumpLogs(40)
		t.Fatalf("timed out after %v on%s", timeout, failed)
	}
	return worst
}

// nthDetection finds, in the agents' logs, the n-th earliest "real server
// down" line for rs after t0 (the checkers' own detection moments).
func nthDetection(g *clustertest.Group, rs string, t0 time.Time, n int) (time.Time, bool) {
	var at []time.Time
	for _, node := range g.Nodes {
		f, err := os.Open(node.LogPath)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if !strings.Contains(line, `msg="real server down"`) || !strings.Contains(line, rs) || !strings.HasPrefix(line, "time=") {
				continue
			}
			ts, err := time.Parse(time.RFC3339Nano, strings.Fields(line)[0][len("time="):])
			// slog's text handler logs milliseconds: allow for the truncation.
			if err == nil && ts.After(t0.Add(-time.Millisecond)) {
				at = append(at, ts)
				break
			}
		}
		f.Close()
	}
	if len(at) < n {
		return time.Time{}, false
	}
	slices.SortFunc(at, time.Time.Compare)
	return at[n-1], true
}

type benchRow struct {
	name                  string
	n                     int
	min, median, p99, max time.Duration
	note                  string
}

func stats(name string, d []time.Duration, note string) benchRow {
	r := benchRow{name: name, n: len(d), note: note}
	if len(d) == 0 {
		return r
	}
	s := slices.Clone(d)
	slices.Sort(s)
	r.min, r.max = s[0], s[len(s)-1]
	r.median = s[len(s)/2]
	r.p99 = s[min(len(s)-1, (len(s)*99+99)/100-1)]
	return r
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }

func roundAll(d []time.Duration) []time.Duration {
	out := make([]time.Duration, len(d))
	for i, v := range d {
		out[i] = v.Round(100 * time.Microsecond)
	}
	return out
}
