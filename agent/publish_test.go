package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"quadrature/cluster"
	"quadrature/lvs"
)

// gatedPlane is the in-memory data plane with a gate: while closed, an
// Apply that changes something blocks until the gate opens (a large
// table whose programming takes minutes). entered receives one value
// per blocked Apply.
type gatedPlane struct {
	*lvs.MemDataPlane
	mu      sync.Mutex
	gate    chan struct{} // nil: open
	entered chan struct{}
}

func newGatedPlane() *gatedPlane {
	return &gatedPlane{MemDataPlane: lvs.NewMemDataPlane(), entered: make(chan struct{}, 16)}
}

func (g *gatedPlane) close() {
	g.mu.Lock()
	g.gate = make(chan struct{})
	g.mu.Unlock()
}

func (g *gatedPlane) open() {
	g.mu.Lock()
	if g.gate != nil {
		close(g.gate)
		g.gate = nil
	}
	g.mu.Unlock()
}

func (g *gatedPlane) Apply(ctx context.Context, p lvs.Plan) error {
	g.mu.Lock()
	gate := g.gate
	g.mu.Unlock()
	if gate != nil && !p.Empty() {
		g.entered <- struct{}{}
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return g.MemDataPlane.Apply(ctx, p)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// singleConfig is a one-node group on loopback (no VRRP instance, real
// servers without checkers) whose first real server has weight w.
func singleConfig(dir string, raftPort, gossipPort, w int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global_defs {\n  router_id pub\n}\ncluster {\n  bind 127.0.0.1\n  raft_port %d\n  gossip_port %d\n", raftPort, gossipPort)
	fmt.Fprintf(&b, "  bootstrap_expect 1\n  insecure yes\n  data_dir %s\n}\n", filepath.Join(dir, "data"))
	fmt.Fprintf(&b, "virtual_server 192.0.2.10 80 {\n  protocol TCP\n  lb_algo wrr\n  lb_kind NAT\n")
	fmt.Fprintf(&b, "  real_server 198.51.100.1 80 {\n    weight %d\n  }\n  real_server 198.51.100.2 80 {\n    weight 1\n  }\n}\n", w)
	return b.String()
}

// startSingle runs a one-node agent in this process over dp; it returns
// the agent and a function that writes and proposes a config with the
// first real server's weight w.
func startSingle(t *testing.T, dp lvs.DataPlane, w int) (*Agent, func(w int)) {
	t.Helper()
	dir := t.TempDir()
	rp, gp := freePort(t), freePort(t)
	path := filepath.Join(dir, "keepalived.conf")
	write := func(w int) {
		if err := os.WriteFile(path, []byte(singleConfig(dir, rp, gp, w)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(w)
	tm := cluster.TunedTiming()
	a, err := New(Config{ConfigPath: path, Node: "pub1", Timing: tm, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	a.testDataPlane = dp
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("agent did not stop")
		}
	})
	propose := func(w int) {
		t.Helper()
		write(w)
		src, err := ReadConfigSource(path, "pub1", "")
		if err != nil {
			t.Fatal(err)
		}
		pctx, pcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer pcancel()
		if _, err := a.ProposeConfig(pctx, Proposal{Source: src.Source, Origin: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	return a, propose
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// TestDigestPublishedWithPass: the kernel digest the agent publishes
// (/v1/status table_digest, gossip) is the new table's as soon as the
// reconciler's pass for it has ended: at the moment the pass shows in the
// reconciler's status, not up to a polling interval (50 ms) later.
func TestDigestPublishedWithPass(t *testing.T) {
	dp := newGatedPlane()
	a, propose := startSingle(t, dp, 1)
	select {
	case <-a.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("agent not ready")
	}
	for i := 0; i < 5; i++ {
		dp.close()
		propose(2 + i)
		select {
		case <-dp.entered:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: no pass for the new table", i)
		}
		want := a.desiredDigest()
		if a.TableDigest() == want {
			t.Fatalf("round %d: digest published before the table was programmed", i)
		}
		before := a.Reconciler().Status().LastSuccess
		dp.open()
		waitFor(t, "the pass to end", 10*time.Second, func() bool { return a.Reconciler().Status().LastSuccess.After(before) })
		if got := a.TableDigest(); got != want {
			t.Fatalf("round %d: the pass has ended but the published digest is %q, want the new table's %q", i, got, want)
		}
	}
}

// TestHoldWaitsForTable: the startup hold ends with "state and table
// ready" only once the kernel holds the committed table, however long
// programming it takes (here longer than the 5 s after which the agent
// used to stop waiting for a pass), never while the first pass is still
// running.
func TestHoldWaitsForTable(t *testing.T) {
	dp := newGatedPlane()
	dp.close()
	a, _ := startSingle(t, dp, 1)
	select {
	case <-dp.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the committed table never reached the data plane")
	}
	select {
	case <-a.Ready():
		t.Fatalf("ready (%q) while the table is still being programmed", a.ReadyReason())
	case <-time.After(7 * time.Second):
	}
	dp.open()
	select {
	case <-a.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("not ready after the table was programmed")
	}
	if r := a.ReadyReason(); r != "state and table ready" {
		t.Fatalf("ready reason %q", r)
	}
	if got, want := a.TableDigest(), a.desiredDigest(); got != want || got == "" {
		t.Fatalf("ready with kernel digest %q, desired %q", got, want)
	}
}
