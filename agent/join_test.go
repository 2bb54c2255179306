package agent_test

import (
	"fmt"
	"testing"
	"time"

	"quadrature/api"
	"quadrature/internal/clustertest"
)

// TestAgentJoinFive: three nodes bootstrap; n4 and n5 start later, each
// knowing a single different peer, and join through it. All five then see
// one leader, five voters, one config version and identical digests, and
// the VIP stays on the highest-priority node.
func TestAgentJoinFive(t *testing.T) {
	g := clustertest.New(t, clustertest.Options{
		Nodes: 5, Initial: 3,
		JoinVia: map[string][]string{"n4": {"n2"}, "n5": {"n3"}},
	})
	first := g.WaitReady()
	waitVIPOn(t, g, "n1", 10*time.Second)
	for _, late := range []string{"n4", "n5"} {
		t0 := time.Now()
		g.StartAgent(late)
		g.AssertConverged()
		t.Logf("%s joined and converged in %v", late, time.Since(t0).Round(time.Millisecond))
	}
	st := g.AssertConvergedWith("all five running", func(st api.Status) error {
		if st.ConfigVersion != first.ConfigVersion {
			return fmt.Errorf("config_version %d, bootstrap committed %d", st.ConfigVersion, first.ConfigVersion)
		}
		return nil
	})
	if len(g.Running()) != 5 {
		t.Fatalf("%d agents running", len(g.Running()))
	}
	g.WaitFor("five voters in the raft configuration", 15*time.Second, func() error {
		for _, n := range g.Nodes {
			servers, err := apiCall(n.API.RaftServers)
			if err != nil {
				return err
			}
			voters := 0
			for _, s := range servers {
				if s.Suffrage == "voter" {
					voters++
				}
			}
			if voters != 5 {
				return fmt.Errorf("%s lists %d voters: %+v", n.Name, voters, servers)
			}
		}
		return nil
	})
	// Gossip metadata (the digest each member publishes) spreads in well
	// under a second; a lost update would only be repaired by the next
	// push/pull (15 s with -timing tuned), beyond this wait.
	lag := g.WaitFor("every node to see five alive members with the common digest", 10*time.Second, func() error {
		for _, n := range g.Nodes {
			ms, err := apiCall(n.API.Members)
			if err != nil {
				return err
			}
			alive := 0
			var seen []string
			for _, m := range ms {
				if m.State == "alive" && m.TableDigest == st.TableDigest {
					alive++
				}
				seen = append(seen, fmt.Sprintf("%s %s %.8s", m.Name, m.State, m.TableDigest))
			}
			if alive != 5 {
				return fmt.Errorf("%s sees %d alive members with the common digest %.8s: %v", n.Name, alive, st.TableDigest, seen)
			}
		}
		return nil
	})
	if lag > 3*time.Second {
		t.Logf("NOTE: gossip metadata took %v to reach every member", lag.Round(time.Millisecond))
	}
	waitVIPOn(t, g, "n1", 5*time.Second)
	// A late joiner is a full director: its checks count (n5 sees n4's
	// application) and it serves through the VIP.
	g.StopApp("n4")
	waitVerdictAll(t, g, "n4", false, 15*time.Second)
	g.StartApp("n4")
	waitVerdictAll(t, g, "n4", true, 15*time.Second)
	g.AssertConvergedWith("the five-node digest", digestIs(st.TableDigest))
	seen := map[string]bool{}
	hc := g.ClientHTTP(2 * time.Second)
	for i := 0; i < 15; i++ {
		body, err := g.Get(hc)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		seen[body] = true
	}
	if len(seen) != 5 {
		t.Fatalf("15 requests through the VIP reached %v, want all five", seen)
	}
}
