package jepsen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"quadrature/api"
	"quadrature/api/client"
	"quadrature/internal/clustertest"
	"quadrature/internal/netnstest"
)

// casAttempt is one compare-and-swap write of the durability test.
type casAttempt struct {
	marker  string // unique line the write adds
	expect  uint64 // If-Match
	version uint64 // acknowledged version (0: not acknowledged)
	failed  bool   // certainly not applied (412, 422)
}

// TestKillLeaderDuringCASWrites writes 50 configurations one after the
// other with compare-and-swap, through the API of random live nodes, and
// kills the Raft leader with SIGKILL after the 15th. No acknowledged write
// may be lost: once the group has healed (the killed node restarted from
// its data dir), every node holds the last acknowledged write or one that
// was attempted after it, at a version at least the acknowledged one.
func TestKillLeaderDuringCASWrites(t *testing.T) {
	netnstest.RequireRoot(t)
	g := clustertest.New(t, clustertest.Options{Nodes: 3})
	g.WaitReady()
	clients, err := apiClients(g)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	text, version, err := g.Nodes[0].API.ConfigText(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Each write sets its own router_id: a change the canonical text
	// (GET /v1/config?format=text) keeps, unlike a comment.
	if !strings.Contains(text, "router_id clustertest\n") {
		t.Fatalf("the config has no router_id clustertest line:\n%s", text)
	}
	killed := ""
	var attempts []*casAttempt
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for i := 0; i < 50; i++ {
		if i == 15 {
			killed = g.Leader()
			if killed == "" {
				t.Fatal("no leader to kill")
			}
			g.Kill(killed)
			t.Logf("write %d: killed the leader %s (SIGKILL)", i, killed)
		}
		a := &casAttempt{marker: fmt.Sprintf("router_id durability-%d", i), expect: version}
		attempts = append(attempts, a)
		body := strings.Replace(text, "router_id clustertest\n", a.marker+"\n", 1)
		// Retry on another node until the write is acknowledged or
		// certainly refused; an unknown outcome ends the attempt (the
		// next one reads the version again).
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			n := g.Nodes[rng.IntN(len(g.Nodes))]
			if n.Name == killed {
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			res, err := clients[n.Name].PutConfig(cctx, api.ConfigRequest{Files: map[string]string{"keepalived.conf": body}}, a.expect)
			cancel()
			if err == nil {
				a.version = res.Version
				break
			}
			var ae *client.Error
			if errors.As(err, &ae) && (ae.StatusCode == 412 || ae.StatusCode == 422) {
				a.failed = true
				break
			}
			if errors.As(err, &ae) && ae.StatusCode == 503 || strings.Contains(err.Error(), "connect") {
				time.Sleep(100 * time.Millisecond) // not sent, or no leader yet
				continue
			}
			break // outcome unknown
		}
		// The next write's If-Match: the group's current version.
		for time.Now().Before(deadline) {
			n := g.Nodes[rng.IntN(len(g.Nodes))]
			if n.Name == killed {
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, v, err := clients[n.Name].ConfigText(cctx)
			cancel()
			if err == nil && v >= version {
				version = v
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	g.StartAgent(killed)
	st := g.AssertConverged()

	last := -1
	acked := 0
	for i, a := range attempts {
		if a.version != 0 {
			last, acked = i, acked+1
			if i > 0 && attempts[i-1].version != 0 && a.version <= attempts[i-1].version {
				t.Errorf("write %d acknowledged at v%d after write %d at v%d", i, a.version, i-1, attempts[i-1].version)
			}
		}
	}
	if last < 0 {
		t.Fatal("no write was acknowledged")
	}
	if acked < 40 {
		t.Errorf("only %d of 50 writes acknowledged", acked)
	}
	for _, n := range g.Nodes {
		text, v, err := n.API.ConfigText(ctx)
		if err != nil {
			t.Fatalf("%s: %v", n.Name, err)
		}
		if v < attempts[last].version {
			t.Errorf("%s: version %d, below the last acknowledged v%d: a write was lost", n.Name, v, attempts[last].version)
		}
		found := -1
		for i := len(attempts) - 1; i >= 0; i-- {
			if strings.Contains(text, attempts[i].marker+"\n") {
				found = i
				break
			}
		}
		if found < last || (found > last && attempts[found].failed) {
			t.Errorf("%s holds write %d, the last acknowledged is %d (v%d): an acknowledged write was lost", n.Name, found, last, attempts[last].version)
		}
	}
	t.Logf("%d of 50 writes acknowledged, last at v%d; killed leader %s restarted; final version %d on every node",
		acked, attempts[last].version, killed, st.ConfigVersion)
}
