package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// kvFSM is a tiny append-only key/value state machine: a command is
// "key=value"; Apply returns the previous value as []byte. "fail=..."
// returns a coded error; "panicfree" commands without '=' return a plain
// error. It records every applied command in order.
type kvFSM struct {
	mu      sync.Mutex
	kv      map[string]string
	log     []string
	onApply func(cmd string) // set before Start; called after each command
}

type codedErr struct{ code, msg string }

func (e codedErr) Error() string { return e.msg }
func (e codedErr) Code() string  { return e.code }

var errConflict = codedErr{code: "conflict", msg: "key is locked"}

func newKV() *kvFSM { return &kvFSM{kv: map[string]string{}} }

func (f *kvFSM) Apply(l *raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	k, v, ok := strings.Cut(string(l.Data), "=")
	if !ok {
		return fmt.Errorf("kv: bad command %q", l.Data)
	}
	if k == "locked" {
		return codedErr{code: "conflict", msg: "key " + k + " is locked"}
	}
	prev := f.kv[k]
	f.kv[k] = v
	f.log = append(f.log, string(l.Data))
	if f.onApply != nil {
		f.onApply(string(l.Data))
	}
	return []byte(prev)
}

type kvSnap struct {
	KV  map[string]string `json:"kv"`
	Log []string          `json:"log"`
}

func (f *kvFSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := kvSnap{KV: map[string]string{}, Log: append([]string(nil), f.log...)}
	for k, v := range f.kv {
		s.KV[k] = v
	}
	return &s, nil
}

func (f *kvFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var s kvSnap
	if err := json.NewDecoder(rc).Decode(&s); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.kv, f.log = s.KV, s.Log
	if f.kv == nil {
		f.kv = map[string]string{}
	}
	return nil
}

func (s *kvSnap) Persist(sink raft.SnapshotSink) error {
	if err := json.NewEncoder(sink).Encode(s); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *kvSnap) Release() {}

func (f *kvFSM) get(k string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.kv[k]
	return v, ok
}

func (f *kvFSM) entries() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

// tnode is one test node; cfg keeps the actual ports so it can restart.
type tnode struct {
	*Node
	fsm    *kvFSM
	cfg    Config
	faults *faultSet
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("QUADRATURE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

// testConfig is a node config on loopback with free ports and tuned timing.
func testConfig(t testing.TB, name string, expect int, peers ...string) Config {
	return Config{
		NodeName:        name,
		BindAddr:        netip.MustParseAddr("127.0.0.1"),
		Peers:           peers,
		BootstrapExpect: expect,
		DataDir:         filepath.Join(t.TempDir(), name),
		Timing:          TunedTiming(),
		DegradedAfter:   time.Second,
		Logger:          testLogger(t),
		// Loopback groups without credentials: the security tests
		// (tls_test.go, peerauth_test.go) set TLS and clear this.
		Insecure: true,
	}
}

// startNode creates and starts a node, with a fault set, shut down at the
// end of the test. The config is updated with the ports actually bound.
func startNode(t testing.TB, cfg Config) *tnode {
	t.Helper()
	tn, err := tryStartNode(cfg)
	if err != nil {
		t.Fatalf("start %s: %v", cfg.NodeName, err)
	}
	t.Cleanup(func() { _ = tn.Shutdown() })
	return tn
}

func tryStartNode(cfg Config) (*tnode, error) {
	return tryStartNodeFSM(cfg, newKV())
}

func tryStartNodeFSM(cfg Config, fsm *kvFSM) (*tnode, error) {
	n, err := New(cfg, fsm)
	if err != nil {
		return nil, err
	}
	faults := newFaultSet()
	n.faults = faults
	if err := n.Start(context.Background()); err != nil {
		return nil, err
	}
	cfg.RaftPort = portOf(n.RaftAddr())
	cfg.GossipPort = portOf(n.GossipAddr())
	return &tnode{Node: n, fsm: fsm, cfg: cfg, faults: faults}, nil
}

// restart shuts tn down (crash-like) and starts it again on the same data
// directory and ports.
func (tn *tnode) restart(t testing.TB) *tnode {
	t.Helper()
	_ = tn.Shutdown()
	var nt *tnode
	var err error
	for i := 0; i < 20; i++ { // the old sockets may linger for a moment
		if nt, err = tryStartNode(tn.cfg); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("restart %s: %v", tn.cfg.NodeName, err)
	}
	t.Cleanup(func() { _ = nt.Shutdown() })
	return nt
}

// startCluster starts count nodes with bootstrap_expect=count; the first is
// everyone's peer. Names are n1..nN.
func startCluster(t testing.TB, count int, mutate func(i int, c *Config)) []*tnode {
	t.Helper()
	var nodes []*tnode
	for i := 0; i < count; i++ {
		var peers []string
		if i > 0 {
			peers = []string{nodes[0].GossipAddr()}
		}
		cfg := testConfig(t, fmt.Sprintf("n%d", i+1), count, peers...)
		if mutate != nil {
			mutate(i, &cfg)
		}
		nodes = append(nodes, startNode(t, cfg))
	}
	return nodes
}

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitLeader waits until every node agrees on one leader, and returns it.
func waitLeader(t testing.TB, nodes []*tnode, timeout time.Duration) *tnode {
	t.Helper()
	var leader *tnode
	waitFor(t, timeout, "one agreed leader", func() bool {
		leader = nil
		name := ""
		for _, n := range nodes {
			l := n.LeaderName()
			if l == "" || (name != "" && l != name) {
				return false
			}
			name = l
			if n.Name() == l {
				leader = n
			}
		}
		return leader != nil && leader.IsLeader()
	})
	return leader
}

func followers(nodes []*tnode, leader *tnode) []*tnode {
	var out []*tnode
	for _, n := range nodes {
		if n != leader {
			out = append(out, n)
		}
	}
	return out
}

func raftServers(t testing.TB, n *tnode) map[string]raft.ServerSuffrage {
	t.Helper()
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		t.Fatalf("configuration on %s: %v", n.Name(), err)
	}
	out := map[string]raft.ServerSuffrage{}
	for _, s := range f.Configuration().Servers {
		out[string(s.ID)] = s.Suffrage
	}
	return out
}

// partition cuts a off from each of others, both ways (raft and gossip).
func partition(a *tnode, others ...*tnode) {
	for _, o := range others {
		a.faults.block(o.RaftAddr(), o.GossipAddr())
		o.faults.block(a.RaftAddr(), a.GossipAddr())
	}
}

func heal(a *tnode, others ...*tnode) {
	for _, o := range others {
		a.faults.unblock(o.RaftAddr(), o.GossipAddr())
		o.faults.unblock(a.RaftAddr(), a.GossipAddr())
	}
}

// apply commits cmd through n, retrying (like a client would) when the
// outcome is unknown because leadership moved; test commands are
// idempotent, so a duplicate is harmless and checks allow for it.
func apply(t testing.TB, n *tnode, cmd string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, idx, err := n.Apply(ctx, []byte(cmd))
	for errors.Is(err, ErrLeadershipLost) && ctx.Err() == nil {
		t.Logf("apply %q on %s: %v; retrying", cmd, n.Name(), err)
		res, idx, err = n.Apply(ctx, []byte(cmd))
	}
	if err != nil {
		t.Fatalf("apply %q on %s: %v", cmd, n.Name(), err)
	}
	if idx == 0 {
		t.Fatalf("apply %q on %s: zero index", cmd, n.Name())
	}
	b, ok := res.([]byte)
	if !ok {
		t.Fatalf("apply %q on %s: result %T, want []byte", cmd, n.Name(), res)
	}
	return b
}

func waitValue(t testing.TB, nodes []*tnode, k, want string) {
	t.Helper()
	for _, n := range nodes {
		waitFor(t, 10*time.Second, fmt.Sprintf("%s=%s on %s", k, want, n.Name()), func() bool {
			v, _ := n.fsm.get(k)
			return v == want
		})
	}
}

// checkLogs fails unless every node applied the same sequence of commands
// and that sequence holds every acknowledged command, in order.
func checkLogs(t testing.TB, nodes []*tnode, acked []string) {
	t.Helper()
	ref := nodes[0].fsm.entries()
	for _, n := range nodes[1:] {
		if got := n.fsm.entries(); !slices.Equal(got, ref) {
			t.Fatalf("%s applied %v\n%s applied %v", n.Name(), got, nodes[0].Name(), ref)
		}
	}
	i := 0
	for _, e := range ref {
		if i < len(acked) && e == acked[i] {
			i++
		}
	}
	if i != len(acked) {
		t.Fatalf("acknowledged command %q missing from the applied log %v", acked[i], ref)
	}
}

// hasAll reports whether log contains every acknowledged command in order.
func hasAll(log, acked []string) bool {
	i := 0
	for _, e := range log {
		if i < len(acked) && e == acked[i] {
			i++
		}
	}
	return i == len(acked)
}
