package clustertest

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"quadrature/api/client"
	"quadrature/cluster/credentials"
	"quadrature/internal/netnstest"
)

// Group is a running test group: a lab (bridge + namespaces), one agent
// process and one application server per node, and a client namespace.
type Group struct {
	T testing.TB
	// Lab is the underlying network; Client is the client namespace.
	Lab    *netnstest.Lab
	Client *netnstest.NS
	// Nodes in order n1, n2, ...
	Nodes []*Node
	// Bins are the programs the group runs.
	Bins Binaries
	// Dir holds the config, the token, data dirs and logs.
	Dir string
	// ConfigPath is the one file all agents run; ConfigText its content.
	ConfigPath string
	ConfigText string
	// Token is the admin API token.
	Token string
	// CredDir holds the group's credentials (ca.crt, one directory per
	// node); CAFile is its CA, which verifies every node's API. Both are
	// "" for an Insecure group.
	CredDir string
	CAFile  string
	caPool  *x509.CertPool

	opts    Options
	mu      sync.Mutex
	blocked [][2]*Node
}

// Node is one director of the group.
type Node struct {
	g *Group
	// Index is 1-based; Name is "n<Index>".
	Index int
	Name  string
	Addr  netip.Addr
	// NS is the node's namespace.
	NS *netnstest.NS
	// API calls this node's admin API (dialled inside its namespace).
	API *client.Client
	// DataDir is the agent's data directory (kept across restarts).
	DataDir string
	// LogPath is the agent's log (stdout and stderr, appended across
	// restarts); AppLogPath the application server's.
	LogPath    string
	AppLogPath string

	nlMu sync.Mutex
	nl   *netlink.Handle

	mu    sync.Mutex
	agent *proc
	app   *proc
}

// proc is a started process and the channel closed when it has exited.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func (p *proc) running() bool {
	if p == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// New builds the binaries (once per test binary), creates the lab and the
// nodes, writes the config, starts the application servers and the first
// Options.Initial agents. It does not wait for the group to form: call
// WaitReady. Everything is torn down in t.Cleanup, also on failure; when
// the test failed, the agents' logs are written to the test log first.
func New(t testing.TB, opts Options) *Group {
	t.Helper()
	netnstest.RequireRoot(t)
	netnstest.RequireBinary(t, "nft")
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	if opts.Nodes < 1 || opts.Nodes > 9 {
		t.Fatalf("clustertest: %d nodes: want 1..9", opts.Nodes)
	}
	if opts.Initial == 0 {
		opts.Initial = opts.Nodes
	}
	if opts.Initial < 1 || opts.Initial > opts.Nodes {
		t.Fatalf("clustertest: Initial %d of %d nodes", opts.Initial, opts.Nodes)
	}
	bins, err := Build()
	if err != nil {
		t.Fatal(err)
	}
	g := &Group{T: t, Bins: bins, Dir: t.TempDir(), opts: opts}
	g.Lab = netnstest.NewLab(t)
	// Registered after the lab's cleanup, so it runs before it: stop the
	// processes we track (and dump logs) while the namespaces still exist.
	t.Cleanup(g.teardown)

	tokenFile := filepath.Join(g.Dir, "token")
	if opts.Insecure {
		var tok [24]byte
		if _, err := rand.Read(tok[:]); err != nil {
			t.Fatal(err)
		}
		g.Token = hex.EncodeToString(tok[:])
		if err := os.WriteFile(tokenFile, []byte(g.Token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	} else {
		g.writeCredentials(opts.Nodes)
		tokenFile = filepath.Join(g.CredDir, credentials.TokenFile)
	}

	params := ConfigParams{Initial: opts.Initial, TokenFile: tokenFile, Options: opts, Insecure: opts.Insecure}
	var initial []netip.Addr
	for i := 1; i <= opts.Initial; i++ {
		initial = append(initial, NodeAddr(i))
	}
	for i := 1; i <= opts.Nodes; i++ {
		np := NodeParams{Name: NodeName(i), Addr: NodeAddr(i), Priority: NodePriority(i),
			DataDir: filepath.Join(g.Dir, NodeName(i)), Peers: initial}
		if !opts.Insecure {
			np.Credentials = filepath.Join(g.CredDir, np.Name)
		}
		if via, ok := opts.JoinVia[np.Name]; ok && i > opts.Initial {
			np.Peers = nil
			for _, v := range via {
				var j int
				if _, err := fmt.Sscanf(v, "n%d", &j); err != nil || j < 1 || j > opts.Nodes {
					t.Fatalf("clustertest: JoinVia %s: bad node %q", np.Name, v)
				}
				np.Peers = append(np.Peers, NodeAddr(j))
			}
		}
		params.Nodes = append(params.Nodes, np)
	}
	render := opts.Config
	if render == nil {
		render = DefaultConfig
	}
	g.ConfigText = render(params)
	g.ConfigPath = filepath.Join(g.Dir, "keepalived.conf")
	if err := os.WriteFile(g.ConfigPath, []byte(g.ConfigText), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, np := range params.Nodes {
		var idx int
		fmt.Sscanf(np.Name, "n%d", &idx)
		n := &Node{g: g, Index: idx, Name: np.Name, Addr: np.Addr, DataDir: np.DataDir,
			LogPath:    filepath.Join(g.Dir, np.Name+".log"),
			AppLogPath: filepath.Join(g.Dir, np.Name+"-app.log")}
		n.NS = g.Lab.AddHost(np.Name, netip.PrefixFrom(np.Addr, 24).String())
		n.NS.MustRun("sysctl", "-qw", "net.ipv4.ip_forward=1")
		h, err := n.NS.Handle()
		if err != nil {
			t.Fatalf("clustertest: %v", err)
		}
		n.nl, err = netlink.NewHandleAt(h)
		h.Close()
		if err != nil {
			t.Fatalf("clustertest: netlink handle in %s: %v", n.NS.Name, err)
		}
		n.API, err = client.New(client.Options{
			Addr:       g.APIBase(n),
			Token:      g.Token,
			HTTPClient: &http.Client{Timeout: 5 * time.Second, Transport: g.Transport(n.NS, true)},
		})
		if err != nil {
			t.Fatal(err)
		}
		g.Nodes = append(g.Nodes, n)
	}
	g.Client = g.Lab.AddHost("client", netip.PrefixFrom(ClientAddr, 24).String())

	if !opts.NoApps {
		for _, n := range g.Nodes {
			g.StartApp(n.Name)
		}
	}
	for _, n := range g.Nodes[:opts.Initial] {
		g.StartAgent(n.Name)
	}
	return g
}

// writeCredentials writes the group's credentials for n nodes, as
// `quadrature cluster init` does.
func (g *Group) writeCredentials(n int) {
	g.CredDir = filepath.Join(g.Dir, "credentials")
	var nodes []credentials.Node
	for i := 1; i <= n; i++ {
		nodes = append(nodes, credentials.Node{Name: NodeName(i), Addrs: []netip.Addr{NodeAddr(i)}})
	}
	if err := credentials.Init(g.CredDir, nodes, credentials.Options{}); err != nil {
		g.T.Fatalf("clustertest: %v", err)
	}
	tok, err := os.ReadFile(filepath.Join(g.CredDir, credentials.TokenFile))
	if err != nil {
		g.T.Fatal(err)
	}
	g.Token = strings.TrimSpace(string(tok))
	g.CAFile = filepath.Join(g.CredDir, credentials.CAFile)
	pem, err := os.ReadFile(g.CAFile)
	if err != nil {
		g.T.Fatal(err)
	}
	g.caPool = x509.NewCertPool()
	if !g.caPool.AppendCertsFromPEM(pem) {
		g.T.Fatalf("clustertest: %s: no certificate", g.CAFile)
	}
}

// Scheme is the API's scheme: https, or http for an Insecure group.
func (g *Group) Scheme() string {
	if g.opts.Insecure {
		return "http"
	}
	return "https"
}

// APIBase is the base URL of n's admin API ("https://203.0.113.11:9900").
func (g *Group) APIBase(n *Node) string {
	return g.Scheme() + "://" + net.JoinHostPort(n.Addr.String(), fmt.Sprint(APIPort))
}

// APIURL is APIBase plus path.
func (g *Group) APIURL(n *Node, path string) string { return g.APIBase(n) + path }

// Transport is an HTTP transport whose connections are opened inside ns
// and that trusts the group's CA; keepAlive false gives one new TCP
// connection per request.
func (g *Group) Transport(ns *netnstest.NS, keepAlive bool) *http.Transport {
	tr := nsTransport(ns, keepAlive)
	if g.caPool != nil {
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: g.caPool}
	}
	return tr
}

// nsTransport is an HTTP transport whose connections are opened inside
// ns; keepAlive false gives one new TCP connection per request.
func nsTransport(ns *netnstest.NS, keepAlive bool) *http.Transport {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         NSDialer(ns, 2*time.Second),
		DisableKeepAlives:   !keepAlive,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
	}
	return tr
}

// NSDialer returns a DialContext that opens its sockets inside ns (the
// socket is created on a thread switched into the namespace, and stays
// there).
func NSDialer(ns *netnstest.NS, timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := ns.Do(func() error {
			d := net.Dialer{Timeout: timeout}
			var err error
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}

// Node returns the node called name (failing the test if there is none).
func (g *Group) Node(name string) *Node {
	g.T.Helper()
	for _, n := range g.Nodes {
		if n.Name == name {
			return n
		}
	}
	g.T.Fatalf("clustertest: no node %q", name)
	return nil
}

// Running returns the nodes whose agent process is running.
func (g *Group) Running() []*Node {
	var out []*Node
	for _, n := range g.Nodes {
		if n.AgentRunning() {
			out = append(out, n)
		}
	}
	return out
}

// AgentRunning reports whether the node's agent process is running.
func (n *Node) AgentRunning() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.agent.running()
}

// AgentPID is the agent's process id (0 when not running).
func (n *Node) AgentPID() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.agent.running() {
		return 0
	}
	return n.agent.cmd.Process.Pid
}

func (g *Group) start(n *Node, logPath string, name string, args ...string) *proc {
	g.T.Helper()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		g.T.Fatalf("clustertest: %v", err)
	}
	fmt.Fprintf(f, "==== clustertest: %s start %s %v\n", time.Now().Format(time.RFC3339Nano), filepath.Base(name), args)
	cmd := n.NS.Command(name, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := n.NS.Start(cmd); err != nil {
		f.Close()
		g.T.Fatalf("clustertest: start %s in %s: %v", name, n.NS.Name, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p
}

// StartAgent starts the node's agent (with its existing data dir).
func (g *Group) StartAgent(name string) {
	g.T.Helper()
	n := g.Node(name)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.agent.running() {
		g.T.Fatalf("clustertest: agent %s already running", name)
	}
	args := append([]string{"agent", "-config", g.ConfigPath, "-node", n.Name, "-timing", "tuned"}, g.opts.AgentArgs...)
	n.agent = g.start(n, n.LogPath, g.Bins.Agent, args...)
}

// Kill sends SIGKILL to the node's agent (a crash: no priority 0 advert,
// the VIP stays configured on the interface until someone removes it) and
// waits for it to exit.
func (g *Group) Kill(name string) { g.signal(name, syscall.SIGKILL, 5*time.Second) }

// Term sends SIGTERM (a graceful stop: priority 0, VIPs removed) and waits
// up to 15 s for the agent to exit, then kills it.
func (g *Group) Term(name string) { g.signal(name, syscall.SIGTERM, 15*time.Second) }

// Reload sends SIGHUP: the agent re-reads ConfigPath and proposes it.
func (g *Group) Reload(name string) {
	g.T.Helper()
	if err := g.runningAgent(name, syscall.SIGHUP).cmd.Process.Signal(syscall.SIGHUP); err != nil {
		g.T.Fatalf("clustertest: SIGHUP to %s: %v", name, err)
	}
}

func (g *Group) signal(name string, sig syscall.Signal, wait time.Duration) {
	g.T.Helper()
	stopProc(g.runningAgent(name, sig), sig, wait)
	if sig == syscall.SIGKILL {
		// A crashed agent leaves its VIP on the interface, as a real crash
		// would; its nftables table stays too. Both are what a restarted
		// agent must cope with.
		return
	}
}

// runningAgent returns node name's agent process, failing the test when
// it is not running (sig names what the caller was about to send).
func (g *Group) runningAgent(name string, sig syscall.Signal) *proc {
	g.T.Helper()
	n := g.Node(name)
	n.mu.Lock()
	p := n.agent
	n.mu.Unlock()
	if !p.running() {
		g.T.Fatalf("clustertest: %v to agent %s: not running", sig, name)
	}
	return p
}

func stopProc(p *proc, sig syscall.Signal, wait time.Duration) {
	if !p.running() {
		return
	}
	pid := p.cmd.Process.Pid
	if sig == syscall.SIGKILL {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	_ = syscall.Kill(pid, sig)
	select {
	case <-p.done:
		return
	case <-time.After(wait):
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = syscall.Kill(pid, syscall.SIGKILL)
	<-p.done
}

// Restart starts a stopped or killed node's agent again with the same
// config and data dir.
func (g *Group) Restart(name string) {
	g.T.Helper()
	if g.Node(name).AgentRunning() {
		g.Term(name)
	}
	g.StartAgent(name)
}

// StopApp kills the node's application server (its real server goes down).
func (g *Group) StopApp(name string) {
	g.T.Helper()
	n := g.Node(name)
	n.mu.Lock()
	p := n.app
	n.mu.Unlock()
	stopProc(p, syscall.SIGKILL, 5*time.Second)
}

// StartApp starts the node's application server on Addr:AppPort and waits
// until it accepts connections.
func (g *Group) StartApp(name string) {
	g.T.Helper()
	n := g.Node(name)
	n.mu.Lock()
	if n.app.running() {
		n.mu.Unlock()
		return
	}
	n.app = g.start(n, n.AppLogPath, g.Bins.App, "-listen", netip.AddrPortFrom(n.Addr, AppPort).String(), "-name", n.Name)
	n.mu.Unlock()
	dial := NSDialer(n.NS, time.Second)
	g.WaitFor("application server of "+name+" listening", 10*time.Second, func() error {
		c, err := dial(context.Background(), "tcp", netip.AddrPortFrom(n.Addr, AppPort).String())
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// teardown stops every process the group started (agents with SIGKILL:
// the namespaces are deleted right after) and, if the test failed, logs
// the tail of every agent log.
func (g *Group) teardown() {
	if g.T.Failed() {
		g.DumpLogs(60)
		g.keepLogs()
	}
	for _, n := range g.Nodes {
		n.mu.Lock()
		a, app := n.agent, n.app
		n.mu.Unlock()
		stopProc(a, syscall.SIGKILL, 5*time.Second)
		stopProc(app, syscall.SIGKILL, 5*time.Second)
		n.nlMu.Lock()
		if n.nl != nil {
			n.nl.Close()
			n.nl = nil
		}
		n.nlMu.Unlock()
	}
}

// KeepEnv names an environment variable: when set to a directory, a
// failed test's agent and application logs are copied there (the group's
// own directory is removed with the test).
const KeepEnv = "QUADRATURE_CLUSTERTEST_KEEP"

func (g *Group) keepLogs() {
	dir := os.Getenv(KeepEnv)
	if dir == "" {
		return
	}
	dst := filepath.Join(dir, strings.ReplaceAll(g.T.Name(), "/", "_")+"-"+g.Lab.Prefix)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		g.T.Logf("clustertest: keep logs: %v", err)
		return
	}
	for _, n := range g.Nodes {
		for _, p := range []string{n.LogPath, n.AppLogPath} {
			if b, err := os.ReadFile(p); err == nil {
				_ = os.WriteFile(filepath.Join(dst, filepath.Base(p)), b, 0o644)
			}
		}
	}
	_ = os.WriteFile(filepath.Join(dst, "keepalived.conf"), []byte(g.ConfigText), 0o644)
	g.T.Logf("clustertest: logs kept in %s", dst)
}

// APIURL is the URL of path on n's admin API.
func (n *Node) APIURL(path string) string { return n.g.APIURL(n, path) }

// APIHTTPClient is an HTTP client dialling from n's namespace that trusts
// the group's CA, one new connection per request.
func (n *Node) APIHTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: n.g.Transport(n.NS, false)}
}
