package cluster

import (
	"bufio"
	"net"
	"path/filepath"
	"testing"
	"time"
)

// dialFrom opens a TCP connection to addr from a chosen local address
// (all of 127/8 is local on Linux: 127.0.0.2 is "another host").
func dialFrom(t *testing.T, local, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, local, err)
	}
	return c
}

// answered writes b and reports whether the server sent anything back
// before closing.
func answered(t *testing.T, c net.Conn, b []byte) bool {
	t.Helper()
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	_, _ = c.Write(b)
	n, _ := bufio.NewReader(c).Read(make([]byte, 1))
	return n > 0
}

func rpcFrame(t *testing.T, req rpcRequest) []byte {
	t.Helper()
	var buf []byte
	w := &sliceWriter{b: &buf}
	if err := writeFrame(w, req); err != nil {
		t.Fatal(err)
	}
	return append([]byte{muxRPC}, buf...)
}

type sliceWriter struct{ b *[]byte }

func (w *sliceWriter) Write(p []byte) (int, error) { *w.b = append(*w.b, p...); return len(p), nil }

// TestInsecureGroupRefusesStrangers: without TLS, the Raft port accepts
// only configured peer addresses and Raft servers' addresses: forged
// forwarding RPCs (apply, add_voter) and a forged raft stream from another
// address are closed unanswered, and nothing changes.
func TestInsecureGroupRefusesStrangers(t *testing.T) {
	nodes := startCluster(t, 3, func(i int, c *Config) {})
	leader := waitLeader(t, nodes, 10*time.Second)
	apply(t, leader, "k=1")
	term := leader.raft.Stats()["term"]
	for _, req := range []rpcRequest{
		{Op: opApply, Cmd: []byte("evil=1")},
		{Op: opAddVoter, ID: "rogue", Addr: "127.0.0.2:1"},
		{Op: opRemoveServer, ID: nodes[1].Name()},
		{Op: opStatus},
	} {
		if answered(t, dialFrom(t, "127.0.0.2", leader.RaftAddr()), rpcFrame(t, req)) {
			t.Errorf("rpc %s from a stranger's address was answered", req.Op)
		}
	}
	for i := 0; i < 10; i++ {
		// 'R', AppendEntries, then garbage: raft never sees it.
		if answered(t, dialFrom(t, "127.0.0.2", leader.RaftAddr()), []byte{muxRaft, 0, 0x85, 0xa4}) {
			t.Error("a raft stream from a stranger's address was answered")
		}
	}
	time.Sleep(time.Second)
	if _, ok := leader.fsm.get("evil"); ok {
		t.Fatal("a forged apply was committed")
	}
	if s := raftServers(t, leader); len(s) != 3 {
		t.Fatalf("raft servers changed: %v", s)
	}
	if got := leader.raft.Stats()["term"]; got != term || !leader.IsLeader() {
		t.Fatalf("leadership disturbed: term %s -> %s", term, got)
	}
	// A peer at a configured address may still forward (the followers did,
	// through apply above); membership changes over RPC need TLS.
	f := followers(nodes, leader)[0]
	resp, err := f.call(t.Context(), leader.RaftAddr(), rpcRequest{Op: opAddVoter, ID: "x", Addr: "127.0.0.1:1"})
	if err != nil || resp.Code != codeForbidden {
		t.Fatalf("add_voter over insecure rpc from a member: %+v %v", resp, err)
	}
}

// TestUnknownGossipMemberIsNotMadeAVoter: the leader adds only configured
// nodes as voters, not whoever joins gossip.
func TestUnknownGossipMemberIsNotMadeAVoter(t *testing.T) {
	names := []string{"n1", "n2", "n3"}
	nodes := startCluster(t, 3, func(i int, c *Config) { c.Nodes = names })
	leader := waitLeader(t, nodes, 10*time.Second)
	rogue := startNode(t, func() Config {
		c := testConfig(t, "rogue", 0, nodes[0].GossipAddr())
		c.Nodes = append(names, "rogue") // it believes it belongs
		return c
	}())
	waitFor(t, 5*time.Second, "the rogue node in gossip", func() bool {
		for _, m := range leader.Members() {
			if m.Name == rogue.Name() && m.State == MemberAlive {
				return true
			}
		}
		return false
	})
	time.Sleep(4 * leader.cfg.Timing.ReconcileInterval)
	if s := raftServers(t, leader); len(s) != 3 {
		t.Fatalf("an unconfigured gossip member became a raft server: %v", s)
	}
}

// TestTLSPeerNamesAndRevocation: with mutual TLS, a certificate of the
// group's CA whose name is not a node is refused, and a revoked node's
// open connections are closed and new ones refused.
func TestTLSPeerNamesAndRevocation(t *testing.T) {
	ca := newTestCA(t, "group ca")
	key := []byte("0123456789abcdef0123456789abcdef")
	dir := t.TempDir()
	names := []string{"n1", "n2", "n3"}
	nodes := startCluster(t, 3, func(i int, c *Config) {
		c.TLS = ca.issue(t, filepath.Join(dir, c.NodeName), c.NodeName)
		c.GossipKey, c.Insecure, c.Nodes = key, false, names
	})
	leader := waitLeader(t, nodes, 10*time.Second)
	// A stranger whose certificate the group's CA signed under a name that
	// is not a node: the handshake completes, the port closes.
	stranger := startNode(t, func() Config {
		c := testConfig(t, "stranger", 0, nodes[0].GossipAddr())
		c.TLS = ca.issue(t, filepath.Join(dir, "stranger"), "stranger")
		c.GossipKey, c.Insecure = key, false
		return c
	}())
	resp, err := stranger.call(t.Context(), leader.RaftAddr(), rpcRequest{Op: opStatus})
	if err == nil {
		t.Fatalf("a CA-signed certificate of a non-node was answered: %+v", resp)
	}
	// Revoke n3 on every node: its connections close, and it cannot come back.
	victim := followers(nodes, leader)[0]
	for _, n := range nodes {
		if n != victim {
			n.SetRevoked([]string{victim.Name()})
		}
	}
	if _, err := victim.call(t.Context(), leader.RaftAddr(), rpcRequest{Op: opStatus}); err == nil {
		t.Fatal("a revoked node was answered")
	}
	if got := leader.metrics.peerRefused.WithLabelValues(refusedRevoked); got == nil {
		t.Fatal("no refusal counter")
	}
	apply(t, leader, "after=1") // the others still have a quorum
}
