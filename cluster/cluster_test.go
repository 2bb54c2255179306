package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"

	"quadrature/internal/promtest"
)

func TestSingleNodeRunsAloneAndRestarts(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := testConfig(t, "solo", 0) // no peers, no expect: alone at once
	cfg.Registerer = reg
	n := startNode(t, cfg)
	waitFor(t, 5*time.Second, "solo leader", n.IsLeader)
	if got := string(apply(t, n, "a=1")); got != "" {
		t.Fatalf("first apply returned previous value %q, want empty", got)
	}
	if got := string(apply(t, n, "a=2")); got != "1" {
		t.Fatalf("second apply returned %q, want 1", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.ConsistentRead(ctx); err != nil {
		t.Fatalf("consistent read: %v", err)
	}
	if err := n.Barrier(ctx); err != nil {
		t.Fatalf("barrier: %v", err)
	}
	if err := n.VerifyLeader(ctx); err != nil {
		t.Fatalf("verify leader: %v", err)
	}
	if err := n.Snapshot(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	apply(t, n, "b=3")
	time.Sleep(3 * cfg.Timing.MonitorInterval)
	if n.Degraded() {
		t.Fatal("a lone leader must not be degraded")
	}
	if _, lost := n.QuorumLost(); lost {
		t.Fatal("a lone leader must not report quorum lost")
	}
	checkGauge(t, reg, "quadrature_cluster_raft_state", nil, 2)
	checkGauge(t, reg, "quadrature_cluster_members", map[string]string{"state": "alive"}, 1)
	checkGauge(t, reg, "quadrature_cluster_fenced", nil, 0)

	// Restart from disk: snapshot + log replay restore the state, the
	// node leads again with no bootstrap and no operator action.
	n2 := n.restart(t)
	waitFor(t, 5*time.Second, "solo leader after restart", n2.IsLeader)
	waitFor(t, 5*time.Second, "restored state", func() bool {
		a, _ := n2.fsm.get("a")
		b, _ := n2.fsm.get("b")
		return a == "2" && b == "3"
	})
	if got := n2.fsm.entries(); !slices.Equal(got, []string{"a=1", "a=2", "b=3"}) {
		t.Fatalf("entries after restart = %v", got)
	}
}

func TestThreeNodeBootstrapAndForwarding(t *testing.T) {
	nodes := startCluster(t, 3, nil)
	leader := waitLeader(t, nodes, 10*time.Second)
	for _, n := range nodes {
		// A node that skipped bootstrap learns the configuration from
		// the leader's log.
		waitFor(t, 5*time.Second, n.Name()+" has the 3-server configuration", func() bool {
			return len(raftServers(t, n)) == 3
		})
	}
	f := followers(nodes, leader)[0]
	if got := string(apply(t, f, "k=v1")); got != "" {
		t.Fatalf("forwarded apply result %q, want empty", got)
	}
	if got := string(apply(t, f, "k=v2")); got != "v1" {
		t.Fatalf("forwarded apply result %q, want v1", got)
	}
	waitValue(t, nodes, "k", "v2")

	// A consistent read on a follower sees everything committed before it.
	for i := 0; i < 5; i++ {
		apply(t, leader, fmt.Sprintf("r=%d", i))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := f.ConsistentRead(ctx); err != nil {
			cancel()
			t.Fatalf("consistent read on follower: %v", err)
		}
		cancel()
		if v, _ := f.fsm.get("r"); v != fmt.Sprint(i) {
			t.Fatalf("after ConsistentRead follower has r=%q, want %d", v, i)
		}
	}

	// FSM errors travel back with their code, from leader and follower.
	for _, n := range []*tnode{leader, f} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, idx, err := n.Apply(ctx, []byte("locked=x"))
		cancel()
		var ae *ApplyError
		if !errors.As(err, &ae) || !errors.Is(err, errConflict) || idx == 0 {
			t.Fatalf("apply on %s: err %v (%T) idx %d, want *ApplyError with code conflict", n.Name(), err, err, idx)
		}
		if !strings.Contains(ae.Error(), "locked") {
			t.Fatalf("apply error message %q", ae.Error())
		}
	}

	// Followers refuse leader-only operations.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := f.Barrier(ctx); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("barrier on follower: %v, want ErrNotLeader", err)
	}
	if err := f.VerifyLeader(ctx); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("verify leader on follower: %v, want ErrNotLeader", err)
	}

	// Membership view.
	waitFor(t, 5*time.Second, "3 live reporters", func() bool { return len(f.LiveReporters()) == 3 })
	ms := f.Members()
	if len(ms) != 3 {
		t.Fatalf("members: %+v", ms)
	}
	for _, m := range ms {
		if m.State != MemberAlive || m.Suffrage != SuffrageVoter || m.Meta.Role != RoleVoter || m.RaftAddr == "" {
			t.Fatalf("member %+v", m)
		}
		if m.Leader != (m.Name == leader.Name()) || m.Self != (m.Name == f.Name()) {
			t.Fatalf("member flags wrong: %+v (leader %s, self %s)", m, leader.Name(), f.Name())
		}
	}
	st := f.Stats()
	if st.Leader != leader.Name() || st.AppliedIndex == 0 || st.CommitIndex < st.AppliedIndex || st.State != "Follower" {
		t.Fatalf("follower stats %+v", st)
	}
}

func TestFiveNodesThenLateJoiners(t *testing.T) {
	nodes := startCluster(t, 5, nil)
	leader := waitLeader(t, nodes, 15*time.Second)
	apply(t, nodes[4], "x=1")
	waitValue(t, nodes, "x", "1")

	// A late node that says bootstrap_expect 5 must not bootstrap a
	// second cluster: peers already hold state, so it waits to be added.
	late := startNode(t, testConfig(t, "n6", 5, nodes[2].GossipAddr()))
	// And a pure joiner (expect 0 with peers).
	joiner := startNode(t, testConfig(t, "n7", 0, nodes[1].GossipAddr()))
	all := append(append([]*tnode{}, nodes...), late, joiner)
	waitFor(t, 15*time.Second, "late nodes added to raft", func() bool {
		s := raftServers(t, leader)
		return s["n6"] == raft.Voter && s["n7"] == raft.Voter && len(s) == 7
	})
	waitValue(t, []*tnode{late, joiner}, "x", "1")
	apply(t, late, "y=2")
	waitValue(t, all, "y", "2")
	if l := waitLeader(t, all, 10*time.Second); l.Name() != leader.Name() {
		t.Logf("leader moved from %s to %s", leader.Name(), l.Name())
	}
}

func TestLeaderKillNoLostEntriesAndRestartCatchesUp(t *testing.T) {
	nodes := startCluster(t, 3, nil)
	leader := waitLeader(t, nodes, 10*time.Second)
	var want []string
	for i := 0; i < 20; i++ {
		cmd := fmt.Sprintf("k%d=%d", i, i)
		apply(t, nodes[i%3], cmd)
		want = append(want, cmd)
	}
	// Kill the leader without leaving.
	rest := followers(nodes, leader)
	events, cancelSub := rest[0].Subscribe(128)
	defer cancelSub()
	_ = leader.Shutdown()
	newLeader := waitLeader(t, rest, 10*time.Second)
	if newLeader.Name() == leader.Name() {
		t.Fatal("dead leader still leads")
	}
	sawFailed, sawLeader := false, false
	timeout := time.After(5 * time.Second)
	for !sawFailed || !sawLeader {
		select {
		case e := <-events:
			switch {
			case e.Kind == EventMemberFailed && e.Member == leader.Name() && e.MemberState == MemberDead:
				sawFailed = true
			case e.Kind == EventLeaderChange && e.Leader == newLeader.Name():
				sawLeader = e.IsLeader == (rest[0] == newLeader)
			}
		case <-timeout:
			t.Fatalf("events: member failed %v, leader change %v", sawFailed, sawLeader)
		}
	}
	if rest[0].Stats().LeaderChanges < 2 {
		t.Fatalf("leader changes %d, want at least 2", rest[0].Stats().LeaderChanges)
	}
	for i := 20; i < 30; i++ {
		cmd := fmt.Sprintf("k%d=%d", i, i)
		apply(t, rest[i%2], cmd)
		want = append(want, cmd)
	}
	// Restart the old leader from its data directory, same ports.
	back := leader.restart(t)
	all := append(append([]*tnode{}, rest...), back)
	waitFor(t, 15*time.Second, "restarted node catches up", func() bool {
		return hasAll(back.fsm.entries(), want) && len(back.fsm.entries()) == len(rest[0].fsm.entries())
	})
	checkLogs(t, all, want)
	waitLeader(t, all, 10*time.Second)
	if s := raftServers(t, newLeader); len(s) != 3 {
		t.Fatalf("configuration after restart: %v", s)
	}
	apply(t, back, "after=1")
	waitValue(t, all, "after", "1")
}

func TestGracefulLeave(t *testing.T) {
	nodes := startCluster(t, 4, nil)
	leader := waitLeader(t, nodes, 10*time.Second)
	// A follower leaves.
	f := followers(nodes, leader)[0]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.Leave(ctx); err != nil {
		t.Fatalf("leave %s: %v", f.Name(), err)
	}
	rest := followers(nodes, f)
	waitFor(t, 5*time.Second, "follower gone from raft", func() bool {
		_, ok := raftServers(t, leader)[f.Name()]
		return !ok
	})
	waitFor(t, 5*time.Second, "follower seen as left", func() bool {
		for _, m := range leader.Members() {
			if m.Name == f.Name() {
				return m.State == MemberLeft && m.Suffrage == SuffrageNone
			}
		}
		return false
	})
	// The leader leaves: leadership moves, it is removed too.
	if err := leader.Leave(ctx); err != nil {
		t.Fatalf("leave leader %s: %v", leader.Name(), err)
	}
	rest = followers(rest, leader)
	nl := waitLeader(t, rest, 10*time.Second)
	waitFor(t, 5*time.Second, "old leader gone from raft", func() bool {
		s := raftServers(t, nl)
		return len(s) == 2
	})
	apply(t, rest[1], "z=1")
	waitValue(t, rest, "z", "1")
}

func TestWitnessGivesTwoDirectorsAQuorum(t *testing.T) {
	nodes := startCluster(t, 3, func(i int, c *Config) {
		if i == 2 {
			c.Role = RoleWitness
		}
	})
	waitLeader(t, nodes, 10*time.Second)
	w := nodes[2]
	for _, n := range nodes {
		if s := raftServers(t, n); s[w.Name()] != raft.Voter {
			t.Fatalf("witness is not a voter: %v", s)
		}
	}
	waitFor(t, 5*time.Second, "reporters without witness", func() bool {
		return slices.Equal(nodes[0].LiveReporters(), []string{"n1", "n2"})
	})
	for _, m := range nodes[0].Members() {
		if m.Name == w.Name() && m.Meta.Role != RoleWitness {
			t.Fatalf("witness metadata role %q", m.Meta.Role)
		}
	}
	// Kill one director: the other director and the witness keep a quorum.
	_ = nodes[0].Shutdown()
	rest := nodes[1:]
	waitLeader(t, rest, 10*time.Second)
	apply(t, nodes[1], "w=1")
	waitValue(t, rest, "w", "1")
	for _, n := range rest {
		waitFor(t, 5*time.Second, n.Name()+" has quorum with 2 of 3 voters up", func() bool {
			_, lost := n.QuorumLost()
			return !lost
		})
	}
	// The dead director stays a voter (no automatic removal) until an
	// operator removes it; the request works from any node.
	waitFor(t, 5*time.Second, "n1 seen dead", func() bool {
		for _, m := range w.Members() {
			if m.Name == "n1" {
				return m.State == MemberDead && m.Suffrage == SuffrageVoter
			}
		}
		return false
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var via *tnode = w
	if w.IsLeader() {
		via = nodes[1]
	}
	if _, err := via.RemoveServer(ctx, "n1"); err != nil {
		t.Fatalf("remove dead voter via %s: %v", via.Name(), err)
	}
	waitFor(t, 5*time.Second, "n1 removed from the configuration", func() bool {
		return len(raftServers(t, nodes[1])) == 2 && len(raftServers(t, w)) == 2
	})
	if _, err := via.RemoveServer(ctx, "bad name!"); err == nil {
		t.Fatal("RemoveServer accepted an invalid id")
	}
}

func TestGossipEncryption(t *testing.T) {
	key := []byte("0123456789abcdef")
	other := []byte("fedcba9876543210")
	a := startNode(t, func() Config {
		c := testConfig(t, "a", 2)
		c.GossipKey = key
		return c
	}())
	bad := startNode(t, func() Config {
		c := testConfig(t, "bad", 2, a.GossipAddr())
		c.GossipKey = other
		c.Timing.JoinRetryMax = 200 * time.Millisecond
		return c
	}())
	plain := startNode(t, func() Config {
		c := testConfig(t, "plain", 2, a.GossipAddr())
		c.Timing.JoinRetryMax = 200 * time.Millisecond
		return c
	}())
	good := startNode(t, func() Config {
		c := testConfig(t, "good", 2, a.GossipAddr())
		c.GossipKey = key
		return c
	}())
	nodes := []*tnode{a, good}
	waitLeader(t, nodes, 10*time.Second)
	time.Sleep(time.Second) // give the wrong-key and no-key nodes time to try
	for _, m := range a.Members() {
		if m.Name == "bad" || m.Name == "plain" {
			t.Fatalf("node %s joined without the right key: %+v", m.Name, m)
		}
	}
	for _, n := range []*tnode{bad, plain} {
		if len(n.Members()) != 1 || n.LeaderName() != "" {
			t.Fatalf("%s sees members %+v leader %q", n.Name(), n.Members(), n.LeaderName())
		}
	}
}

func TestUpdateMetadataPropagates(t *testing.T) {
	nodes := startCluster(t, 2, func(i int, c *Config) {
		c.Metadata = Meta{APIAddr: "127.0.0.1:9900"}
	})
	waitLeader(t, nodes, 10*time.Second)
	err := nodes[1].UpdateMetadata(Meta{APIAddr: "127.0.0.1:9901", MACs: []string{"02:00:00:00:00:01"}, TableDigest: "sha256:abc", Role: RoleWitness})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "metadata update seen", func() bool {
		for _, m := range nodes[0].Members() {
			if m.Name == "n2" {
				return m.Meta.APIAddr == "127.0.0.1:9901" && m.Meta.TableDigest == "sha256:abc" &&
					m.Meta.Role == RoleVoter && len(m.Meta.MACs) == 1
			}
		}
		return false
	})
	big := Meta{Extra: map[string]string{"blob": strings.Repeat("x", 600)}}
	if err := nodes[1].UpdateMetadata(big); err == nil {
		t.Fatal("oversized metadata accepted")
	}
	if got := nodes[1].Metadata().APIAddr; got != "127.0.0.1:9901" {
		t.Fatalf("rejected update changed metadata: api %q", got)
	}
	if err := nodes[1].UpdateMetadata(Meta{MACs: []string{"not-a-mac"}}); err == nil {
		t.Fatal("bad MAC accepted")
	}
}

func TestApplyWithoutLeaderTimesOut(t *testing.T) {
	// expect 2 but alone: never bootstraps, so there is never a leader.
	n := startNode(t, testConfig(t, "lonely", 2))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, _, err := n.Apply(ctx, []byte("a=1"))
	if !errors.Is(err, ErrNoLeader) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("apply without leader: %v, want ErrNoLeader and deadline", err)
	}
	if err := n.ConsistentRead(ctx); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("consistent read without leader: %v", err)
	}
	waitFor(t, 3*time.Second, "degraded while waiting for peers", n.Degraded)
	if _, lost := n.QuorumLost(); !lost {
		t.Fatal("a node with no cluster must report quorum lost")
	}
	_ = n.Shutdown()
	if _, _, err := n.Apply(context.Background(), []byte("a=1")); !errors.Is(err, ErrShutdown) {
		t.Fatalf("apply after shutdown: %v", err)
	}
	if err := n.Shutdown(); err != nil {
		t.Fatalf("second shutdown: %v", err)
	}
}

func checkGauge(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string, want float64) {
	t.Helper()
	if got := promtest.Value(t, reg, name, labels); got != want {
		t.Fatalf("%s%v = %v, want %v", name, labels, got, want)
	}
}

func TestIPv6Loopback(t *testing.T) {
	probe, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	_ = probe.Close()
	nodes := startCluster(t, 2, func(i int, c *Config) {
		c.BindAddr = netip.IPv6Loopback()
		if i > 0 {
			// a peer given as a bare address with an explicit port
			c.Peers = []string{c.Peers[0]}
		}
	})
	leader := waitLeader(t, nodes, 10*time.Second)
	if !strings.HasPrefix(leader.RaftAddr(), "[::1]:") {
		t.Fatalf("raft address %q", leader.RaftAddr())
	}
	apply(t, followers(nodes, leader)[0], "v6=1")
	waitValue(t, nodes, "v6", "1")
	for _, m := range leader.Members() {
		if m.Addr.Addr() != netip.IPv6Loopback() {
			t.Fatalf("member %s gossip address %s", m.Name, m.Addr)
		}
	}
}

func TestDataDirInUse(t *testing.T) {
	cfg := testConfig(t, "owner", 1)
	startNode(t, cfg)
	second := cfg
	second.RaftPort, second.GossipPort = 0, 0
	start := time.Now()
	if _, err := tryStartNode(second); err == nil || !strings.Contains(err.Error(), "raft.db") {
		t.Fatalf("second node on the same data dir: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("refusal took %s", d)
	}
}
