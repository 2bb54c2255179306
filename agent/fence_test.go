package agent_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"quadrature/internal/clustertest"
)

// fenceDelay bounds how long an isolated node may keep a fenced VIP: the
// leader lease of the tuned timing (200 ms) up to three times on a former
// raft leader (raft steps down one to two leases late), plus the apply
// loop and the VIP removal. Samples after it must never see two holders.
const fenceDelay = time.Second

// vipSample is one look at who holds the VIP.
type vipSample struct {
	at      time.Duration // since the partition
	holders []string
}

// sampleVIP records the VIP holders every 20 ms until stop is closed.
func sampleVIP(g *clustertest.Group, t0 time.Time, stop <-chan struct{}) func() []vipSample {
	var mu sync.Mutex
	var out []vipSample
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			h := g.VIPHolders()
			mu.Lock()
			out = append(out, vipSample{at: time.Since(t0), holders: h})
			mu.Unlock()
		}
	}()
	return func() []vipSample { <-done; return out }
}

// doubleHolds summarises the samples with two or more VIP holders.
func doubleHolds(samples []vipSample) (n int, first, last time.Duration, desc string) {
	var b strings.Builder
	for _, s := range samples {
		if len(s.holders) > 1 {
			if n == 0 {
				first = s.at
			}
			n++
			last = s.at
			if n <= 5 {
				fmt.Fprintf(&b, " %v:%v", s.at.Round(time.Millisecond), s.holders)
			}
		}
	}
	return n, first, last, b.String()
}

// isolateMaster isolates the VIP master n1 for hold, sampling the VIP
// holders every 20 ms from the partition on, then heals and waits for
// convergence; it returns the samples.
func isolateMaster(t *testing.T, g *clustertest.Group, hold time.Duration) []vipSample {
	t.Helper()
	g.WaitReady()
	waitVIPOn(t, g, "n1", 10*time.Second)
	stop := make(chan struct{})
	t0 := time.Now()
	g.Isolate("n1")
	samples := sampleVIP(g, t0, stop)
	time.Sleep(hold)
	close(stop)
	out := samples()
	return out
}

// TestAgentQuorumFence: with quorum_fence, the isolated VRRP master moves
// its instance to FAULT and drops the VIP, the majority elects a master,
// and after the fence delay no 20 ms sample ever sees two holders.
// Without quorum_fence (availability default) the isolated master keeps
// the VIP while the majority elects its own: two holders, the contrast.
func TestAgentQuorumFence(t *testing.T) {
	t.Run("Fenced", func(t *testing.T) {
		g := clustertest.New(t, clustertest.Options{Nodes: 3, QuorumFence: true})
		samples := isolateMaster(t, g, 4*time.Second)
		n, first, last, desc := doubleHolds(samples)
		t.Logf("quorum_fence: %d samples over %v; %d with two holders (first %v, last %v):%s", len(samples), samples[len(samples)-1].at.Round(time.Millisecond), n, first, last, desc)
		for _, s := range samples {
			if s.at > fenceDelay && len(s.holders) > 1 {
				t.Errorf("at %v after the partition (fence delay %v) two namespaces hold the VIP: %v", s.at.Round(time.Millisecond), fenceDelay, s.holders)
				break
			}
		}
		end := samples[len(samples)-1].holders
		if len(end) != 1 || end[0] == "n1" {
			t.Errorf("VIP holders at the end of the partition %v, want one of n2, n3", end)
		}
		st, err := g.Node("n1").Status()
		if err != nil {
			t.Fatal(err)
		}
		vr, err := apiCall(g.Node("n1").API.VRRP)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Fenced || len(vr.Instances) != 1 || vr.Instances[0].State != "FAULT" {
			t.Errorf("isolated n1: fenced=%v, instances %+v; want fenced and FAULT", st.Fenced, vr.Instances)
		}
		// The status says why, in the operator's terms (the status page
		// shows it in its FENCED banner).
		if !strings.Contains(st.FencedReason, "no contact with a Raft quorum for ") ||
			!strings.Contains(st.FencedReason, "quorum_fence instance "+clustertest.Instance+" in FAULT, holding no VIP") {
			t.Errorf("isolated n1: fenced_reason %q", st.FencedReason)
		}
		if st.Degraded && !strings.Contains(st.DegradedReason, "no contact with a Raft leader for ") {
			t.Errorf("isolated n1: degraded, degraded_reason %q", st.DegradedReason)
		}
		// The majority's leader reports n1 dead, and why (gossip, and its
		// own Raft contact).
		g.WaitFor("the majority's leader to report n1 dead with a reason", 20*time.Second, func() error {
			for _, name := range []string{"n2", "n3"} {
				ms, err := apiCall(g.Node(name).API.Members)
				if err != nil {
					continue
				}
				st, err := g.Node(name).Status()
				if err != nil || st.Leader != name {
					continue
				}
				for _, m := range ms {
					if m.Name == "n1" && m.State == "dead" && strings.Contains(m.Reason, "gossip: stopped answering probes") &&
						// A leader elected after the partition never heard from n1.
						(strings.Contains(m.Reason, "last answered the Raft leader ") ||
							strings.Contains(m.Reason, "it has never answered this node as Raft leader")) {
						return nil
					} else if m.Name == "n1" {
						return fmt.Errorf("n1 as %s sees it: %s (%q)", name, m.State, m.Reason)
					}
				}
			}
			return fmt.Errorf("no leader among n2, n3")
		})
		g.Heal()
		g.WaitFor("n1 unfenced", 15*time.Second, func() error {
			st, err := g.Node("n1").Status()
			if err != nil {
				return err
			}
			if st.Fenced {
				return fmt.Errorf("n1 still fenced")
			}
			return nil
		})
		g.AssertConverged()
		waitVIPOn(t, g, "n1", 10*time.Second)
	})
	t.Run("Availability", func(t *testing.T) {
		g := clustertest.New(t, clustertest.Options{Nodes: 3})
		samples := isolateMaster(t, g, 3*time.Second)
		n, first, last, desc := doubleHolds(samples)
		t.Logf("no fence: %d samples; %d with two holders (first %v, last %v):%s", len(samples), n, first, last, desc)
		end := samples[len(samples)-1].holders
		if len(end) != 2 || end[0] != "n1" {
			t.Errorf("without quorum_fence the isolated master should keep the VIP beside the majority's master; holders %v", end)
		}
		if st, err := g.Node("n1").Status(); err != nil || st.Fenced {
			t.Errorf("n1 status fenced=%v err=%v without quorum_fence", st.Fenced, err)
		}
		g.Heal()
		g.AssertConverged()
		waitVIPOn(t, g, "n1", 10*time.Second)
	})
}
