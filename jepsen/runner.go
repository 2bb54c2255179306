package jepsen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"quadrature/internal/clustertest"
)

// Environment variables of a run.
const (
	// SeedEnv fixes the seed (default: random, printed).
	SeedEnv = "QUADRATURE_JEPSEN_SEED"
	// DurationEnv sets the fault schedule's length (Go duration, default
	// DefaultDuration), e.g. 10m for a long run.
	DurationEnv = "QUADRATURE_JEPSEN_DURATION"
	// NodesEnv sets the group size (3 or 5, default 3).
	NodesEnv = "QUADRATURE_JEPSEN_NODES"
	// ReportEnv names the report file (default report.txt in the test's
	// temporary directory); the full history goes next to it.
	ReportEnv = "QUADRATURE_JEPSEN_REPORT"
	// InjectEnv corrupts the recorded history before the checks, to show
	// that the run fails: lost-write, stale-read, dual-vip.
	InjectEnv = "QUADRATURE_JEPSEN_INJECT"
)

// DefaultDuration is the short run's fault schedule.
const DefaultDuration = 100 * time.Second

// Options configures a run.
type Options struct {
	Seed     uint64
	Nodes    int
	Schedule ScheduleOptions
	// ConvergeBound bounds the wait for convergence after the final heal.
	ConvergeBound time.Duration
	// CASClients is the number of concurrent config writers/readers.
	CASClients int
	// ReportPath is where the report is written ("" = t.TempDir()).
	ReportPath string
	// Inject corrupts the recorded history (see InjectEnv).
	Inject string
}

// OptionsFromEnv reads the run's options from the environment.
func OptionsFromEnv() (Options, error) {
	o := Options{Nodes: 3, ConvergeBound: 60 * time.Second, CASClients: 3}
	o.Seed = rand.Uint64() % 1_000_000_000
	if s := os.Getenv(SeedEnv); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return o, fmt.Errorf("%s=%q: %w", SeedEnv, s, err)
		}
		o.Seed = v
	}
	d := DefaultDuration
	if s := os.Getenv(DurationEnv); s != "" {
		v, err := time.ParseDuration(s)
		if err != nil || v < 10*time.Second {
			return o, fmt.Errorf("%s=%q: want a Go duration of at least 10s", DurationEnv, s)
		}
		d = v
	}
	o.Schedule = DefaultScheduleOptions(d)
	if s := os.Getenv(NodesEnv); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || (v != 3 && v != 5) {
			return o, fmt.Errorf("%s=%q: want 3 or 5", NodesEnv, s)
		}
		o.Nodes = v
	}
	o.ReportPath = os.Getenv(ReportEnv)
	o.Inject = os.Getenv(InjectEnv)
	switch o.Inject {
	case "", "lost-write", "stale-read", "dual-vip":
	default:
		return o, fmt.Errorf("%s=%q: want lost-write, stale-read or dual-vip", InjectEnv, o.Inject)
	}
	return o, nil
}

// Run runs the chaos suite on a real group and returns the report; it
// fails t on every violation (with a history excerpt; clustertest adds
// the agents' log tails). Call it from the test goroutine: the nemeses
// use clustertest, which fails the test on harness errors.
func Run(t *testing.T, o Options) *Report {
	t.Helper()
	wall := time.Now()
	schedule, err := Schedule(o.Seed, o.Schedule)
	if err != nil {
		t.Fatal(err)
	}
	rep := &Report{Seed: o.Seed, Nodes: o.Nodes, Duration: o.Schedule.Duration, Schedule: schedule, Injected: o.Inject}
	t.Logf("jepsen: seed %d (%s=%d reproduces the plan), %d nodes, %d faults over %v", o.Seed, SeedEnv, o.Seed, o.Nodes, len(schedule), o.Schedule.Duration)

	var params clustertest.ConfigParams
	g := clustertest.New(t, clustertest.Options{Nodes: o.Nodes, Config: func(p clustertest.ConfigParams) string {
		params = p
		return RenderConfig(p, nil, "")
	}})
	g.WaitReady()
	g.WaitFor("a holder of the fenced VIP", 30*time.Second, func() error {
		for _, n := range g.Nodes {
			if n.HasVIP(FencedVIP) {
				return nil
			}
		}
		return errors.New("no namespace holds " + FencedVIP.String())
	})
	names := clustertest.Names(g.Nodes)
	clients, err := apiClients(g)
	if err != nil {
		t.Fatal(err)
	}
	ctx0, cancel0 := clustertest.Ctx()
	doc, err := clients[names[0]].Config(ctx0)
	cancel0()
	if err != nil {
		t.Fatalf("jepsen: initial config read: %v", err)
	}
	init := ConfigState{Version: doc.Version, Content: doc.Files[doc.Main]}
	// The drain workload drains and undrains the last node's real server.
	drainNode := len(g.Nodes)
	drainRS := clustertest.RealServerID(drainNode)

	h := NewHistory()
	samplerCtx, stopSampler := context.WithCancel(context.Background())
	sampler := &vipSampler{}
	var sw sync.WaitGroup
	sw.Go(func() { sampler.run(samplerCtx, h, g, 25*time.Millisecond) })

	wctx, stopWorkloads := context.WithCancel(context.Background())
	var ww sync.WaitGroup
	// Also on a harness failure (t.Fatal in a nemesis): stop and wait for
	// every goroutine before clustertest tears the namespaces down.
	defer func() {
		stopWorkloads()
		ww.Wait()
		stopSampler()
		sw.Wait()
	}()
	ww.Go(func() { httpWorker(wctx, h, g, 100, AvailVIP) })
	ww.Go(func() { httpWorker(wctx, h, g, 101, FencedVIP) })
	cas := &casWorkload{h: h, clients: clients, nodes: names, params: params, init: init.Version}
	for p := range o.CASClients {
		ww.Go(func() { cas.run(wctx, p, o.Seed) })
	}
	ww.Go(func() { drainWorker(wctx, h, clients, names, 200, o.Seed, drainRS) })

	// Warm up, then the faults, one at a time.
	time.Sleep(3 * time.Second)
	for i, f := range schedule {
		runFault(t, g, h, i, f)
	}
	stopWorkloads()
	ww.Wait()

	// Convergence after the final heal (the last fault's quiet period
	// already passed).
	var conv Result
	start := time.Now()
	err = clustertest.Poll(o.ConvergeBound, 500*time.Millisecond, func() error {
		conv = CheckConvergence(observe(g))
		if !conv.OK() {
			return errors.New(strings.Join(conv.Violations, "; "))
		}
		return nil
	})
	if err == nil {
		rep.Converged = time.Since(start)
	} else {
		conv.Violations = append([]string{fmt.Sprintf("not converged within %v of the final heal", o.ConvergeBound)}, conv.Violations...)
	}
	final := map[string]ConfigState{}
	drained := map[string]bool{}
	for _, n := range g.Nodes {
		ctx, cancel := clustertest.Ctx()
		d, err := clients[n.Name].Config(ctx)
		cancel()
		if err != nil {
			t.Logf("jepsen: final config read on %s: %v", n.Name, err)
			continue
		}
		final[n.Name] = ConfigState{Version: d.Version, Content: d.Files[d.Main]}
		rs, err := n.RealServer(clustertest.NodeName(drainNode))
		if err != nil {
			t.Logf("jepsen: final drain state on %s: %v", n.Name, err)
			continue
		}
		drained[n.Name] = rs.Drained
	}
	stopSampler()
	sw.Wait()

	ops, events, samples := h.Ops(), h.Events(), sampler.all()
	ops, samples, final = inject(o.Inject, init, ops, events, samples, final)

	dir := t.TempDir()
	reportPath := o.ReportPath
	if reportPath == "" {
		reportPath = filepath.Join(dir, "report.txt")
	}
	casOps := Filter(ops, KindRead, KindCAS)
	lin := CheckLinearizable(init, casOps, 120*time.Second, reportPath+".cas.html")
	dualOpts := DualOptions{}
	rep.Results = []Result{
		lin,
		CheckNoLostWrites(init, casOps, final),
		CheckDrain(false, Filter(ops, KindDrain, KindUndrain), drained),
		conv,
		CheckFencedVIP(FencedInstance, samples, events, dualOpts),
	}
	rep.Events, rep.Ops, rep.Samples = events, ops, len(samples)
	rep.Avail = []Availability{
		MeasureAvailability(AvailVIP.String(), ops, events),
		MeasureAvailability(FencedVIP.String(), ops, events),
	}
	rep.Dual = map[string]DualReport{
		AvailInstance:  ReportDual(AvailInstance, samples, events, dualOpts),
		FencedInstance: ReportDual(FencedInstance, samples, events, dualOpts),
	}
	rep.Wall = time.Since(wall)

	var b strings.Builder
	rep.Write(&b)
	t.Log("\n" + b.String())
	if err := os.WriteFile(reportPath, []byte(b.String()), 0o644); err != nil {
		t.Errorf("jepsen: write report: %v", err)
	}
	var hb strings.Builder
	_ = WriteText(&hb, ops, events)
	histPath := reportPath + ".history.txt"
	if err := os.WriteFile(histPath, []byte(hb.String()), 0o644); err != nil {
		t.Errorf("jepsen: write history: %v", err)
	}
	var vb strings.Builder
	for _, inst := range []string{AvailInstance, FencedInstance} {
		fmt.Fprintf(&vb, "VIP holders of %s (%s), changes only:\n", inst, VIPs()[inst])
		vb.WriteString(SampleExcerpt(inst, samples, events, 0, 1<<62, 0))
	}
	if err := os.WriteFile(reportPath+".vip.txt", []byte(vb.String()), 0o644); err != nil {
		t.Errorf("jepsen: write VIP samples: %v", err)
	}
	if o.ReportPath != "" {
		// Next to a kept report, keep the agents' logs too (clustertest
		// keeps them only for a failed test).
		logs := reportPath + ".logs"
		if err := os.MkdirAll(logs, 0o755); err == nil {
			for _, n := range g.Nodes {
				if b, err := os.ReadFile(n.LogPath); err == nil {
					_ = os.WriteFile(filepath.Join(logs, n.Name+".log"), b, 0o644)
				}
			}
		}
	}
	t.Logf("jepsen: report %s, history %s, VIP holders %s.vip.txt", reportPath, histPath, reportPath)

	for _, res := range rep.Results {
		for _, v := range res.Violations {
			t.Errorf("jepsen: %s: %s", res.Name, v)
		}
	}
	if !lin.OK() {
		t.Logf("jepsen: the config history (reads and CAS writes):\n%s", Excerpt(casOps, events, 0, 1<<62, 0, 600))
	}
	for _, e := range DualEpisodes(FencedInstance, samples, events, dualOpts) {
		if !e.Excused {
			t.Logf("jepsen: VIP holders around the double hold %s (changes only):\n%s", e, SampleExcerpt(FencedInstance, samples, events, e.From, e.To, 2*time.Second))
		}
	}
	return rep
}

// runFault applies one fault, holds it, heals it and keeps quiet,
// recording the events.
func runFault(t *testing.T, g *clustertest.Group, h *History, i int, f Fault) {
	t.Helper()
	names := clustertest.Names(g.Nodes)
	// An agent that exited on its own (no nemesis killed it) is a product
	// failure: record it, restart it, go on.
	for _, n := range g.Nodes {
		if !n.AgentRunning() {
			t.Errorf("jepsen: agent %s is not running before fault %d though no nemesis stopped it (see its log)", n.Name, i)
			g.StartAgent(n.Name)
		}
	}
	rng := rand.New(rand.NewPCG(f.Pick, uint64(i)))
	target, note := "", ""
	switch f.Target {
	case TargetLeader:
		if target = g.Leader(); target != "" {
			note = "raft leader " + target
		}
	case TargetVIP, TargetFencedVIP:
		vip := AvailVIP
		if f.Target == TargetFencedVIP {
			vip = FencedVIP
		}
		for _, n := range g.Nodes {
			if n.HasVIP(vip) {
				target, note = n.Name, "holder of "+vip.String()+" "+n.Name
				break
			}
		}
	}
	if target == "" {
		target = names[rng.IntN(len(names))]
		note = strings.TrimSpace(note + " random " + target)
		if f.Target != TargetRandom {
			note = fmt.Sprintf("no %s found; random %s", f.Target, target)
		}
	}
	ev := Event{Fault: i, Kind: f.Kind, Phase: PhaseStart, Nodes: []string{target}, Note: note}
	switch f.Kind {
	case FaultIsolate:
		ev.Others = without(names, target)
	case FaultSplit:
		others := without(names, target)
		rng.Shuffle(len(others), func(a, b int) { others[a], others[b] = others[b], others[a] })
		minority := (len(names) - 1) / 2
		ev.Nodes = append([]string{target}, others[:minority-1]...)
		ev.Others = others[minority-1:]
		slices.Sort(ev.Nodes)
		slices.Sort(ev.Others)
	}
	ev.At = h.Now()
	h.AddEvent(ev)
	t.Logf("jepsen: fault %d at %.1fs: %s %v | %v (%s), hold %v", i, ev.At.Seconds(), f.Kind, ev.Nodes, ev.Others, note, f.Hold)
	switch f.Kind {
	case FaultKill:
		g.Kill(target)
	case FaultPause:
		g.Pause(target)
		// The nemesis must really have happened: the agent is stopped.
		pid := g.Node(target).AgentPID()
		if err := clustertest.Poll(2*time.Second, 20*time.Millisecond, func() error { return wantState(pid, true) }); err != nil {
			t.Errorf("jepsen: pause of %s: %v", target, err)
		}
	case FaultIsolate, FaultSplit:
		g.Partition(ev.Nodes, ev.Others)
		// The partition must really cut: the minority cannot open a
		// connection to the majority's API.
		a, b := g.Node(ev.Nodes[0]), g.Node(ev.Others[0])
		dial := clustertest.NSDialer(a.NS, 300*time.Millisecond)
		if c, err := dial(context.Background(), "tcp", net.JoinHostPort(b.Addr.String(), fmt.Sprint(clustertest.APIPort))); err == nil {
			c.Close()
			t.Errorf("jepsen: partition %v | %v: %s still reaches %s", ev.Nodes, ev.Others, a.Name, b.Name)
		}
	}
	time.Sleep(f.Hold)
	switch f.Kind {
	case FaultKill:
		g.StartAgent(target)
	case FaultPause:
		g.Resume(target)
		pid := g.Node(target).AgentPID()
		if err := clustertest.Poll(2*time.Second, 20*time.Millisecond, func() error { return wantState(pid, false) }); err != nil {
			t.Errorf("jepsen: resume of %s: %v", target, err)
		}
	case FaultIsolate, FaultSplit:
		g.Heal()
	}
	heal := ev
	heal.Phase, heal.At = PhaseHeal, h.Now()
	h.AddEvent(heal)
	time.Sleep(f.Quiet)
}

// wantState checks whether process pid is stopped (state T in
// /proc/PID/stat) or not.
func wantState(pid int, stopped bool) error {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return err
	}
	// pid (comm) state ...: comm may hold spaces, so look after the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 >= len(b) {
		return fmt.Errorf("pid %d: unreadable stat %q", pid, b)
	}
	if st := b[i+2]; (st == 'T') != stopped {
		return fmt.Errorf("pid %d in state %c, want stopped=%v", pid, st, stopped)
	}
	return nil
}

func without(names []string, x string) []string {
	var out []string
	for _, n := range names {
		if n != x {
			out = append(out, n)
		}
	}
	return out
}

// observe takes one look at the whole group for CheckConvergence.
func observe(g *clustertest.Group) Final {
	f := Final{Holders: map[string][]string{}, HTTP: map[string]string{}, HTTPOK: map[string]bool{}}
	views := make([]NodeView, len(g.Nodes))
	var wg sync.WaitGroup
	for i, n := range g.Nodes {
		wg.Go(func() {
			v := NodeView{Name: n.Name}
			st, err := n.Status()
			if err != nil {
				v.Err = err.Error()
			} else {
				v.Status = st
				ctx, cancel := clustertest.Ctx()
				rb, err := n.API.Ready(ctx)
				cancel()
				switch {
				case err != nil:
					v.Reason = err.Error()
				default:
					v.Ready, v.Reason = rb.Ready, rb.Reason
				}
			}
			views[i] = v
		})
	}
	wg.Wait()
	f.Nodes = views
	for inst, vip := range VIPs() {
		holders := []string{}
		for _, n := range g.Nodes {
			if n.HasVIP(vip) {
				holders = append(holders, n.Name)
			}
		}
		f.Holders[inst] = holders
		hc := g.ClientHTTP(2 * time.Second)
		body, err := httpGet(context.Background(), hc, "http://"+vip.String()+"/")
		hc.CloseIdleConnections()
		if err != nil {
			f.HTTP[vip.String()] = err.Error()
		} else {
			f.HTTP[vip.String()], f.HTTPOK[vip.String()] = body, strings.HasPrefix(body, "served by ")
		}
	}
	return f
}
