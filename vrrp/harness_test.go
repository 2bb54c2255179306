package vrrp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"quadrature/internal/netnstest"
)

// The integration tests run each VRRP node as a separate process (this
// test binary re-executed inside a namespace with QUADRATURE_VRRP_NODE
// naming a JSON NodeConfig), so SIGKILL is a real crash. The child
// prints one JSON line per transition and answers "status" and
// "prio NAME N" commands on stdin.
const helperEnv = "QUADRATURE_VRRP_NODE"

func TestMain(m *testing.M) {
	if path := os.Getenv(helperEnv); path != "" {
		os.Exit(helperNode(path))
	}
	os.Exit(m.Run())
}

type helperMsg struct {
	Kind   string           `json:"kind"` // "change", "status", "error", "ready"
	Change *StateChange     `json:"change,omitempty"`
	Status []InstanceStatus `json:"status,omitempty"`
	Error  string           `json:"error,omitempty"`
	// Mono is the child's CLOCK_MONOTONIC reading in ns when the message
	// was produced (same clock in every process of the host).
	Mono int64 `json:"mono"`
}

func monoNow() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

func helperNode(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var cfg NodeConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var outMu sync.Mutex
	enc := json.NewEncoder(os.Stdout)
	emit := func(m helperMsg) {
		m.Mono = monoNow()
		outMu.Lock()
		defer outMu.Unlock()
		_ = enc.Encode(m)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n, err := NewNode(cfg, WithLogger(log), WithStateChange(func(c StateChange) { emit(helperMsg{Kind: "change", Change: &c}) }))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 1 && f[0] == "status":
				emit(helperMsg{Kind: "status", Status: n.Status()})
			case len(f) == 2 && f[0] == "reload":
				var nc NodeConfig
				b, err := os.ReadFile(f[1])
				if err == nil {
					err = json.Unmarshal(b, &nc)
				}
				if err == nil {
					err = n.Update(nc)
				}
				if err != nil {
					emit(helperMsg{Kind: "error", Error: err.Error()})
				} else {
					emit(helperMsg{Kind: "reloaded"})
				}
			case len(f) >= 1 && f[0] == "peers":
				// "peers ADDR..." → SetKnownPeers; "peers" alone → nil.
				var addrs []netip.Addr
				for _, a := range f[1:] {
					if ip, err := netip.ParseAddr(a); err == nil {
						addrs = append(addrs, ip)
					}
				}
				n.SetKnownPeers(addrs)
				emit(helperMsg{Kind: "reloaded"})
			case len(f) == 3 && f[0] == "prio":
				p, _ := strconv.Atoi(f[2])
				if err := n.SetPriority(f[1], p); err != nil {
					emit(helperMsg{Kind: "error", Error: err.Error()})
				}
			}
		}
	}()
	emit(helperMsg{Kind: "ready"})
	if err := n.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// proc is a VRRP node process in a namespace.
type proc struct {
	t        *testing.T
	name     string
	ns       *netnstest.NS
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	stderr   *syncBuffer
	mu       sync.Mutex
	states   map[string]State
	status   chan []InstanceStatus
	reloaded chan struct{}
	change   chan helperMsg
	exited   chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startNode(t *testing.T, ns *netnstest.NS, cfg NodeConfig) *proc {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "node.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := ns.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+path)
	p := &proc{t: t, name: ns.Name, ns: ns, cmd: cmd, stderr: &syncBuffer{}, states: map[string]State{},
		status: make(chan []InstanceStatus, 4), reloaded: make(chan struct{}, 4), change: make(chan helperMsg, 256), exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := ns.Start(cmd); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		defer close(p.exited)
		dec := json.NewDecoder(out)
		for {
			var m helperMsg
			if err := dec.Decode(&m); err != nil {
				return
			}
			switch m.Kind {
			case "ready":
				close(ready)
			case "change":
				p.mu.Lock()
				p.states[m.Change.Instance] = m.Change.To
				p.mu.Unlock()
				select {
				case p.change <- m:
				default:
				}
			case "status":
				p.status <- m.Status
			case "reloaded":
				p.reloaded <- struct{}{}
			case "error":
				t.Errorf("%s: %s", p.name, m.Error)
			}
		}
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- log of %s ---\n%s", p.name, tail(p.stderr.String(), 60))
		}
	})
	select {
	case <-ready:
	case <-p.exited:
		t.Fatalf("%s exited at start: %s", p.name, p.stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not start", p.name)
	}
	return p
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (p *proc) state(inst string) State {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.states[inst]
}

func (p *proc) Status() []InstanceStatus {
	p.t.Helper()
	fmt.Fprintln(p.stdin, "status")
	select {
	case s := <-p.status:
		return s
	case <-time.After(5 * time.Second):
		p.t.Fatalf("%s: no status", p.name)
		return nil
	}
}

// reload makes the node apply cfg with Update (SIGHUP path).
func (p *proc) reload(cfg NodeConfig) {
	p.t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		p.t.Fatal(err)
	}
	path := filepath.Join(p.t.TempDir(), "reload.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		p.t.Fatal(err)
	}
	fmt.Fprintf(p.stdin, "reload %s\n", path)
	select {
	case <-p.reloaded:
	case <-time.After(5 * time.Second):
		p.t.Fatalf("%s: reload not confirmed", p.name)
	}
}

// setKnownPeers calls SetKnownPeers in the node and waits for it.
func (p *proc) setKnownPeers(addrs ...string) {
	p.t.Helper()
	fmt.Fprintln(p.stdin, "peers "+strings.Join(addrs, " "))
	select {
	case <-p.reloaded:
	case <-time.After(5 * time.Second):
		p.t.Fatalf("%s: peers not confirmed", p.name)
	}
}

func (p *proc) setPriority(inst string, prio int) {
	fmt.Fprintf(p.stdin, "prio %s %d\n", inst, prio)
}

func (p *proc) signal(sig syscall.Signal) {
	_ = p.cmd.Process.Signal(sig)
}

func (p *proc) wait(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-p.exited:
		_ = p.cmd.Wait()
	case <-time.After(d):
		t.Fatalf("%s did not exit", p.name)
	}
}

// waitState waits until the process reports inst in state.
func (p *proc) waitState(t *testing.T, inst string, want State, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if p.state(inst) == want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: %s is %v after %v, want %v", p.name, inst, p.state(inst), d, want)
}

// hasAddr reports whether ns has addr on any interface.
func hasAddr(t *testing.T, ns *netnstest.NS, addr string) bool {
	t.Helper()
	out, err := ns.Run("ip", "-o", "addr", "show")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(string(out)) {
		if strings.HasPrefix(f, addr+"/") {
			return true
		}
	}
	return false
}

func waitAddr(t *testing.T, ns *netnstest.NS, addr string, present bool, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if hasAddr(t, ns, addr) == present {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: address %s present=%v after %v, want %v", ns.Name, addr, !present, d, present)
}

func macOf(t *testing.T, ns *netnstest.NS) string {
	t.Helper()
	out := ns.MustRun("cat", "/sys/class/net/eth0/address")
	return strings.TrimSpace(string(out))
}

// neighMAC returns the link-layer address ns has cached for ip ("" if none).
func neighMAC(t *testing.T, ns *netnstest.NS, ip string) string {
	t.Helper()
	out, _ := ns.Run("ip", "neigh", "show", ip)
	f := strings.Fields(string(out))
	for i := range f {
		if f[i] == "lladdr" && i+1 < len(f) {
			return f[i+1]
		}
	}
	return ""
}

func waitNeigh(t *testing.T, ns *netnstest.NS, ip, mac string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if neighMAC(t, ns, ip) == mac {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: neighbour %s is %q after %v, want %s", ns.Name, ip, neighMAC(t, ns, ip), d, mac)
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
