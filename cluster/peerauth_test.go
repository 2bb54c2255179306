package cluster

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus/testutil"
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
	// A real raft transport from 127.0.0.2: AppendEntries and RequestVote
	// with term 1000 would make the leader step down; they never reach it.
	forger := raft.NewNetworkTransport(&fromStream{local: "127.0.0.2", closed: make(chan struct{})}, 1, 2*time.Second, io.Discard)
	defer forger.Close()
	hdr := raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("forger"), Addr: []byte("127.0.0.2:1")}
	var aeResp raft.AppendEntriesResponse
	if err := forger.AppendEntries("n1", raft.ServerAddress(leader.RaftAddr()), &raft.AppendEntriesRequest{
		RPCHeader: hdr, Term: 1000, LeaderCommitIndex: 1 << 20,
	}, &aeResp); err == nil {
		t.Errorf("a forged AppendEntries from a stranger's address was answered: %+v", aeResp)
	}
	var rvResp raft.RequestVoteResponse
	if err := forger.RequestVote("n1", raft.ServerAddress(leader.RaftAddr()), &raft.RequestVoteRequest{
		RPCHeader: hdr, Term: 1000, LastLogIndex: 1 << 20, LastLogTerm: 1000,
	}, &rvResp); err == nil {
		t.Errorf("a forged RequestVote from a stranger's address was answered: %+v", rvResp)
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
	if got := testutil.ToFloat64(leader.metrics.peerRefused.WithLabelValues(refusedNotPeer)); got < 6 {
		t.Fatalf("refusals counted: %v, want at least 6", got)
	}
	// A peer at a configured address may still forward applies; membership
	// changes over RPC need TLS.
	f := followers(nodes, leader)[0]
	apply(t, f, "forwarded=1")
	resp, err := f.call(t.Context(), leader.RaftAddr(), rpcRequest{Op: opAddVoter, ID: "x", Addr: "127.0.0.1:1"})
	if err != nil || resp.Code != codeForbidden {
		t.Fatalf("add_voter over insecure rpc from a member: %+v %v", resp, err)
	}
	if _, err := f.AddNonvoter(t.Context(), "x", "127.0.0.1:1"); !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "mutual TLS") {
		t.Fatalf("AddNonvoter forwarded without TLS: %v, want ErrForbidden", err)
	}
	if s := raftServers(t, leader); len(s) != 3 {
		t.Fatalf("raft servers changed: %v", s)
	}
}

// fromStream is a raft.StreamLayer that dials the Raft port from a chosen
// local address, as a stranger on the LAN would.
type fromStream struct {
	local  string
	closed chan struct{}
	once   sync.Once
}

func (s *fromStream) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(s.local)}}
	c, err := d.Dial("tcp", string(addr))
	if err != nil {
		return nil, err
	}
	if _, err := c.Write([]byte{muxRaft}); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

func (s *fromStream) Accept() (net.Conn, error) {
	<-s.closed
	return nil, errStreamClosed
}

func (s *fromStream) Close() error {
	s.once.Do(func() { close(s.closed) })
	return nil
}

func (s *fromStream) Addr() net.Addr { return &net.TCPAddr{IP: net.ParseIP(s.local), Port: 1} }

// TestUnknownGossipMemberIsNotMadeAVoter: the leader adds only configured
// nodes as voters, not whoever joins gossip: a fourth node whose name is not
// in Nodes, or (when the nodes are known by address) that is not at a
// configured peer address.
func TestUnknownGossipMemberIsNotMadeAVoter(t *testing.T) {
	names := []string{"n1", "n2", "n3"}
	for _, tc := range []struct {
		name   string
		nodes  []string // the group's Config.Nodes
		bindAt string   // the stranger's address
	}{
		{"not in nodes", names, "127.0.0.1"},
		{"not at a peer address", nil, "127.0.0.2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes := startCluster(t, 3, func(i int, c *Config) { c.Nodes = tc.nodes })
			leader := waitLeader(t, nodes, 10*time.Second)
			rogue := startNode(t, func() Config {
				c := testConfig(t, "rogue", 0, nodes[0].GossipAddr())
				c.BindAddr = netip.MustParseAddr(tc.bindAt)
				c.Nodes = append(slices.Clone(names), "rogue") // it believes it belongs
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
			if got := rogue.fsm.entries(); len(got) != 0 {
				t.Fatalf("the rogue node received entries: %v", got)
			}
		})
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
	for _, mux := range []byte{muxRPC, muxRaft} {
		c, name, err := stranger.stream.dialPeer(leader.RaftAddr(), mux, time.Second)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		if name != leader.Name() {
			t.Fatalf("dial reports the peer as %q, want %q", name, leader.Name())
		}
		if answered(t, c, rpcFrame(t, rpcRequest{Op: opStatus})[1:]) {
			t.Fatalf("mux %q: a CA-signed certificate of a non-node was answered", mux)
		}
	}
	if _, _, err := stranger.Apply(func() context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		t.Cleanup(cancel)
		return ctx
	}(), []byte("evil=1")); err == nil {
		t.Fatal("a non-node applied a command")
	}
	if got := testutil.ToFloat64(leader.metrics.peerRefused.WithLabelValues(refusedNotNode)); got == 0 {
		t.Fatal("no not_a_node refusal counted")
	}

	// Revoke a follower on every other node: the RPC connection it holds
	// open is closed, new ones are refused, and the others keep a quorum.
	victim := followers(nodes, leader)[0]
	apply(t, victim, "before=1") // forwarded
	open, _, err := victim.stream.dialPeer(leader.RaftAddr(), muxRPC, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	br := bufio.NewReader(open)
	if err := writeFrame(open, rpcRequest{Op: opStatus}); err != nil {
		t.Fatal(err)
	}
	var resp rpcResponse
	if err := readFrame(br, &resp); err != nil || resp.Leader != leader.Name() {
		t.Fatalf("status before revocation: %+v %v", resp, err)
	}
	for _, n := range nodes {
		if n != victim {
			n.SetRevoked([]string{victim.Name()})
		}
	}
	_ = open.SetReadDeadline(time.Now().Add(2 * time.Second))
	if err := readFrame(br, &resp); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the revoked node's open connection was not closed: %v", err)
	}
	for i := 0; i < 2; i++ { // the first may use a pooled connection the leader closed
		if _, err := victim.call(t.Context(), leader.RaftAddr(), rpcRequest{Op: opStatus}); err == nil {
			t.Fatal("a revoked node was answered")
		}
	}
	if got := testutil.ToFloat64(leader.metrics.peerRefused.WithLabelValues(refusedRevoked)); got == 0 {
		t.Fatal("no revoked refusal counted")
	}
	// The leader no longer reaches it either (its dials hang up on the
	// revoked name), so the victim stops getting entries.
	apply(t, leader, "after=1")
	time.Sleep(500 * time.Millisecond)
	if _, ok := victim.fsm.get("after"); ok {
		t.Fatal("the revoked node still receives entries")
	}
	other := followers(followers(nodes, leader), victim)[0]
	waitValue(t, []*tnode{leader, other}, "after", "1")
	// The leader takes the revoked node out of the Raft configuration by
	// itself: a quorum never counts it.
	waitFor(t, 10*time.Second, "the revoked node out of the raft configuration", func() bool {
		return !isServer(leader, victim.Name())
	})
	if isServer(other, victim.Name()) {
		// replicated by now or shortly
		waitFor(t, 5*time.Second, "the removal replicated", func() bool { return !isServer(other, victim.Name()) })
	}
}

// TestRevokedLeaderHandsOver: when the deny list names the leader itself
// (the operator revoked it through another node), it hands leadership
// over and the new leader removes it, though it keeps running.
func TestRevokedLeaderHandsOver(t *testing.T) {
	ca := newTestCA(t, "group ca")
	key := []byte("0123456789abcdef0123456789abcdef")
	dir := t.TempDir()
	names := []string{"n1", "n2", "n3"}
	nodes := startCluster(t, 3, func(i int, c *Config) {
		c.TLS = ca.issue(t, filepath.Join(dir, c.NodeName), c.NodeName)
		c.GossipKey, c.Insecure, c.Nodes = key, false, names
	})
	old := waitLeader(t, nodes, 10*time.Second)
	for _, n := range nodes {
		n.SetRevoked([]string{old.Name()})
	}
	rest := followers(nodes, old)
	waitFor(t, 15*time.Second, "a new leader without the revoked one", func() bool {
		for _, n := range rest {
			if n.raft.State() == raft.Leader && !isServer(n, old.Name()) {
				return true
			}
		}
		return false
	})
	apply(t, rest[0], "after=1")
	waitValue(t, rest, "after", "1")
}

// isServer reports whether id is in n's Raft configuration.
func isServer(n *tnode, id string) bool {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return true
	}
	for _, s := range f.Configuration().Servers {
		if string(s.ID) == id {
			return true
		}
	}
	return false
}

// TestTLSMemberCertificateMustMatchName: a configured node's name in
// gossip is not enough; the leader adds it only when its Raft port presents
// a certificate with that name.
func TestTLSMemberCertificateMustMatchName(t *testing.T) {
	ca := newTestCA(t, "group ca")
	key := []byte("0123456789abcdef0123456789abcdef")
	dir := t.TempDir()
	names := []string{"n1", "n2", "n3", "n4"}
	nodes := startCluster(t, 3, func(i int, c *Config) {
		c.TLS = ca.issue(t, filepath.Join(dir, c.NodeName), c.NodeName)
		c.GossipKey, c.Insecure, c.Nodes, c.BootstrapExpect = key, false, names, 3
	})
	leader := waitLeader(t, nodes, 10*time.Second)
	// "n4" is configured, but this one holds a certificate for "imposter".
	imp := startNode(t, func() Config {
		c := testConfig(t, "n4", 0, nodes[0].GossipAddr())
		c.TLS = ca.issue(t, filepath.Join(dir, "imposter"), "imposter")
		c.GossipKey, c.Insecure, c.Nodes = key, false, names
		return c
	}())
	waitFor(t, 5*time.Second, "n4 in gossip", func() bool {
		for _, m := range leader.Members() {
			if m.Name == imp.Name() && m.State == MemberAlive {
				return true
			}
		}
		return false
	})
	time.Sleep(4 * leader.cfg.Timing.ReconcileInterval)
	if s := raftServers(t, leader); len(s) != 3 {
		t.Fatalf("a member with another name's certificate became a raft server: %v", s)
	}
}

// TestAuthorizePeer is the decision table of the Raft port's door, without
// a Raft configuration (a fresh node).
func TestAuthorizePeer(t *testing.T) {
	ip := netip.MustParseAddr
	mk := func(tls bool, nodes []string, peers ...string) *Node {
		c := testConfig(t, "n1", 3, peers...)
		c.Nodes = nodes
		if tls {
			c.TLS = &TLSConfig{CertFile: "c", KeyFile: "k", CAFile: "ca"}
			c.GossipKey, c.Insecure = []byte("0123456789abcdef"), false
		}
		n, err := New(c, newKV())
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	named := mk(true, []string{"n1", "n2", "n3"}, "192.0.2.2")
	byAddr := mk(true, []string{"n1"}, "192.0.2.2", "192.0.2.3:7946", "peer.example:7946")
	insecure := mk(false, nil, "192.0.2.2", "192.0.2.3:7946", "[2001:db8::3]:7946")
	revoked := mk(true, []string{"n1", "n2", "n3"})
	revoked.SetRevoked([]string{"n2"})
	for _, tc := range []struct {
		name string
		n    *Node
		p    peer
		want string // refusal reason, "" = accepted
	}{
		{"tls: configured node", named, peer{"n2", ip("198.51.100.9")}, ""},
		{"tls: itself", named, peer{"n1", ip("198.51.100.9")}, ""},
		{"tls: unknown name at a peer address", named, peer{"x", ip("192.0.2.2")}, refusedNotNode},
		{"tls: no name", named, peer{"", ip("192.0.2.2")}, refusedNoIdentity},
		{"tls: revoked node", revoked, peer{"n2", ip("192.0.2.2")}, refusedRevoked},
		{"tls by address: at a peer address", byAddr, peer{"n7", ip("192.0.2.3")}, ""},
		{"tls by address: elsewhere", byAddr, peer{"n7", ip("198.51.100.9")}, refusedNotNode},
		{"tls by address: own address is not a peer", byAddr, peer{"n7", ip("127.0.0.1")}, refusedNotNode},
		{"insecure: peer ip", insecure, peer{"", ip("192.0.2.2")}, ""},
		{"insecure: peer ip:port", insecure, peer{"", ip("192.0.2.3")}, ""},
		{"insecure: peer ipv6", insecure, peer{"", ip("2001:db8::3")}, ""},
		{"insecure: own address", insecure, peer{"", ip("127.0.0.1")}, ""},
		{"insecure: stranger", insecure, peer{"", ip("127.0.0.2")}, refusedNotPeer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reason, err := tc.n.authorizePeer(tc.p)
			if reason != tc.want || (err == nil) != (tc.want == "") {
				t.Fatalf("authorizePeer(%s) = %q, %v; want %q", tc.p, reason, err, tc.want)
			}
			if err != nil && !errors.Is(err, errPeerRefused) {
				t.Fatalf("refusal %v does not wrap errPeerRefused", err)
			}
		})
	}
	// Without a Raft configuration nobody may apply or change membership.
	for _, op := range []string{opApply, opReadIndex, opAddVoter, opAddNonvoter, opRemoveServer} {
		if err := insecure.authorizeRPC(peer{"", ip("192.0.2.2")}, rpcRequest{Op: op, ID: "n2"}); err == nil {
			t.Errorf("%s allowed from a node that is not a raft server", op)
		}
	}
	if err := insecure.authorizeRPC(peer{"", ip("192.0.2.2")}, rpcRequest{Op: opStatus}); err != nil {
		t.Errorf("status refused: %v", err)
	}
	// Gossip members the leader would add.
	for _, tc := range []struct {
		n    *Node
		name string
		addr netip.Addr
		want bool
	}{
		{named, "n2", ip("198.51.100.9"), true},
		{named, "x", ip("192.0.2.2"), false},
		{revoked, "n2", ip("192.0.2.2"), false},
		{byAddr, "x", ip("192.0.2.3"), true},
		{byAddr, "x", ip("198.51.100.9"), false},
		{insecure, "x", ip("192.0.2.2"), true},
		{insecure, "x", ip("127.0.0.2"), false},
	} {
		if got := tc.n.configuredMember(tc.name, tc.addr); got != tc.want {
			t.Errorf("%s: configuredMember(%s at %s) = %v, want %v", tc.n.cfg.Nodes, tc.name, tc.addr, got, tc.want)
		}
	}
}
