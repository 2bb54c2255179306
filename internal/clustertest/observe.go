package clustertest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"

	"quadrature/api"
)

// Ctx returns a context for one API call (5 s).
func Ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Second)
}

// WaitFor polls cond every 50 ms until it returns nil or timeout passes;
// then it fails the test with what, the last error cond returned and the
// tail of every agent's log. It returns how long it waited.
func (g *Group) WaitFor(what string, timeout time.Duration, cond func() error) time.Duration {
	g.T.Helper()
	start := time.Now()
	err := Poll(timeout, 50*time.Millisecond, cond)
	if err != nil {
		g.DumpLogs(40)
		g.T.Fatalf("clustertest: timed out after %v waiting for %s: %v", timeout, what, err)
	}
	return time.Since(start)
}

// Poll calls cond every interval until it returns nil (Poll returns nil)
// or timeout passes (Poll returns cond's last error). It never fails a
// test, for callers that measure or that want to handle the timeout.
func Poll(timeout, interval time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(interval)
	}
}

// DumpLogs writes the last lines of every agent log to the test log.
func (g *Group) DumpLogs(lines int) {
	for _, n := range g.Nodes {
		g.T.Logf("---- %s agent log (last %d lines, %s) ----\n%s", n.Name, lines, n.LogPath, tail(n.LogPath, lines))
	}
}

func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var ring []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		ring = append(ring, sc.Text())
		if len(ring) > n {
			ring = ring[1:]
		}
	}
	return strings.Join(ring, "\n")
}

// Status calls GET /v1/status on the node.
func (n *Node) Status() (api.Status, error) {
	ctx, cancel := Ctx()
	defer cancel()
	st, err := n.API.Status(ctx)
	if err != nil {
		return st, fmt.Errorf("%s: %w", n.Name, err)
	}
	return st, nil
}

// Statuses asks every running node for /v1/status, concurrently; the
// error names every node that did not answer.
func (g *Group) Statuses() (map[string]api.Status, error) {
	return g.StatusesOf(g.Running())
}

// StatusesOf is Statuses for the given nodes.
func (g *Group) StatusesOf(nodes []*Node) (map[string]api.Status, error) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := map[string]api.Status{}
	var errs []error
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := n.Status()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			out[n.Name] = st
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// Digests returns each running node's table digest from /v1/status.
func (g *Group) Digests() (map[string]string, error) {
	sts, err := g.Statuses()
	out := map[string]string{}
	for k, s := range sts {
		out[k] = s.TableDigest
	}
	return out, err
}

// Converged checks that the given nodes (default: all running) answer,
// agree on one leader, have applied the same config_version ≥ 1, report
// the same non-empty kernel table digest and are ready (/readyz: the
// kernel table matches the committed state). It returns the common
// status of the first node.
func (g *Group) Converged(nodes ...*Node) (api.Status, error) {
	if len(nodes) == 0 {
		nodes = g.Running()
	}
	sts, err := g.StatusesOf(nodes)
	if err != nil {
		return api.Status{}, err
	}
	var first api.Status
	var problems []string
	for i, n := range nodes {
		s := sts[n.Name]
		if i == 0 {
			first = s
		}
		if s.Leader == "" {
			problems = append(problems, n.Name+" knows no leader")
		} else if s.Leader != first.Leader {
			problems = append(problems, fmt.Sprintf("%s sees leader %s, %s sees %s", n.Name, s.Leader, nodes[0].Name, first.Leader))
		}
		if s.ConfigVersion == 0 {
			problems = append(problems, n.Name+" has no committed config")
		} else if s.ConfigVersion != first.ConfigVersion {
			problems = append(problems, fmt.Sprintf("%s config_version %d, %s %d", n.Name, s.ConfigVersion, nodes[0].Name, first.ConfigVersion))
		}
		if s.TableDigest == "" {
			problems = append(problems, n.Name+" reports no table digest")
		} else if s.TableDigest != first.TableDigest {
			problems = append(problems, fmt.Sprintf("%s digest %.12s, %s %.12s", n.Name, s.TableDigest, nodes[0].Name, first.TableDigest))
		}
	}
	// /readyz also compares each kernel table with the committed one, so
	// equal digests of a table not yet programmed (all empty) do not pass.
	for _, n := range nodes {
		ctx, cancel := Ctx()
		rb, err := n.API.Ready(ctx)
		cancel()
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s /readyz: %v", n.Name, err))
		} else if !rb.Ready {
			problems = append(problems, fmt.Sprintf("%s not ready: %s", n.Name, rb.Reason))
		}
	}
	if len(problems) > 0 {
		return first, errors.New(strings.Join(problems, "; "))
	}
	return first, nil
}

// AssertConverged waits (up to 20 s) until Converged holds for the nodes
// (default: all running) and returns the common status.
func (g *Group) AssertConverged(nodes ...*Node) api.Status {
	g.T.Helper()
	var st api.Status
	g.WaitFor("the group to converge (one leader, one config version, identical table digests)", 20*time.Second, func() error {
		var err error
		st, err = g.Converged(nodes...)
		return err
	})
	return st
}

// AssertConvergedWith waits (up to 20 s) until Converged holds for the
// nodes (default: all running) and check accepts the common status, which
// it returns. Use it after a change: a node may report the new
// config_version a moment before its kernel table (and digest) follows.
func (g *Group) AssertConvergedWith(what string, check func(api.Status) error, nodes ...*Node) api.Status {
	g.T.Helper()
	var st api.Status
	g.WaitFor("the group to converge with "+what, 20*time.Second, func() error {
		var err error
		if st, err = g.Converged(nodes...); err != nil {
			return err
		}
		return check(st)
	})
	return st
}

// WaitReady waits (up to 60 s) until every running node has converged and
// some node holds the VIP; it returns the common status.
func (g *Group) WaitReady() api.Status {
	g.T.Helper()
	st := g.AssertConverged()
	g.WaitFor("a VIP holder", 30*time.Second, func() error {
		if len(g.VIPHolders()) == 0 {
			return errors.New("no namespace holds the VIP")
		}
		return nil
	})
	return st
}

// HasVIP reports whether the node's eth0 holds addr (read with netlink in
// its namespace; cheap enough to sample every few milliseconds).
func (n *Node) HasVIP(addr netip.Addr) bool {
	n.nlMu.Lock()
	defer n.nlMu.Unlock()
	if n.nl == nil {
		return false
	}
	link, err := n.nl.LinkByName("eth0")
	if err != nil {
		return false
	}
	addrs, err := n.nl.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == addr {
			return true
		}
	}
	return false
}

// VIPHolders returns the names of the nodes whose namespace holds the
// VIP (sorted), whatever their agent's state.
func (g *Group) VIPHolders() []string {
	var out []string
	for _, n := range g.Nodes {
		if n.HasVIP(VIP) {
			out = append(out, n.Name)
		}
	}
	sort.Strings(out)
	return out
}

// Leader returns the leader name a running node reports ("" if none do).
func (g *Group) Leader() string {
	sts, _ := g.Statuses()
	for _, s := range sts {
		if s.Leader != "" {
			return s.Leader
		}
	}
	return ""
}

// Service returns the node's view (GET /v1/services) of the real server
// at the node rs's application address in the VIP service.
func (n *Node) RealServer(rs string) (api.RealServer, error) {
	ctx, cancel := Ctx()
	defer cancel()
	b, err := n.API.Services(ctx)
	if err != nil {
		return api.RealServer{}, fmt.Errorf("%s: %w", n.Name, err)
	}
	want := netip.AddrPortFrom(n.g.Node(rs).Addr, AppPort)
	for _, vs := range b.Services {
		if vs.Addr != netip.AddrPortFrom(VIP, VIPPort) {
			continue
		}
		for _, r := range vs.RealServers {
			if r.Addr == want {
				return r, nil
			}
		}
	}
	return api.RealServer{}, fmt.Errorf("%s: real server %s not in its services", n.Name, want)
}

// ServiceID is the API id of the VIP service ("tcp/203.0.113.10:80") and
// RealServerID the id of node rs's real server in it.
func ServiceID() string { return "tcp/" + netip.AddrPortFrom(VIP, VIPPort).String() }

// RealServerID is the API id of node i's real server.
func RealServerID(i int) string { return netip.AddrPortFrom(NodeAddr(i), AppPort).String() }

// ClientHTTP returns an HTTP client in the client namespace that opens a
// new TCP connection for every request (no keep-alive), with timeout.
func (g *Group) ClientHTTP(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: nsTransport(g.Client, false)}
}

// Get fetches http://VIP/ from the client namespace with a new connection
// and returns the body ("served by nX").
func (g *Group) Get(hc *http.Client) (string, error) {
	resp, err := hc.Get("http://" + netip.AddrPortFrom(VIP, VIPPort).String() + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	return strings.TrimSpace(string(body)), nil
}

// Isolate cuts node name off from every other node (a symmetric partition
// at the bridge; the client namespace still reaches it).
func (g *Group) Isolate(name string) {
	g.T.Helper()
	var others []string
	for _, n := range g.Nodes {
		if n.Name != name {
			others = append(others, n.Name)
		}
	}
	g.Partition([]string{name}, others)
}

// Partition blocks all traffic between every node of a and every node of
// b (both directions, at the bridge).
func (g *Group) Partition(a, b []string) {
	g.T.Helper()
	for _, x := range a {
		for _, y := range b {
			nx, ny := g.Node(x), g.Node(y)
			g.Lab.Block(nx.NS, ny.NS)
			g.mu.Lock()
			g.blocked = append(g.blocked, [2]*Node{nx, ny})
			g.mu.Unlock()
		}
	}
}

// Heal removes every partition installed by Partition or Isolate.
func (g *Group) Heal() {
	g.T.Helper()
	g.mu.Lock()
	bl := g.blocked
	g.blocked = nil
	g.mu.Unlock()
	for _, p := range bl {
		g.Lab.Unblock(p[0].NS, p[1].NS)
	}
}

// DropOutput makes node name's own outgoing packets to dst (TCP) vanish:
// an nftables output-hook drop in its namespace, so its checkers cannot
// reach dst while forwarded client traffic is untouched. AllowOutput
// removes it.
func (g *Group) DropOutput(name string, dst netip.AddrPort) {
	g.T.Helper()
	n := g.Node(name)
	n.NS.MustRun("nft", "add", "table", "inet", "clustertest")
	n.NS.MustRun("nft", "add", "chain", "inet", "clustertest", "out", "{ type filter hook output priority 0 ; }")
	n.NS.MustRun("nft", "add", "rule", "inet", "clustertest", "out", "ip", "daddr", dst.Addr().String(),
		"tcp", "dport", fmt.Sprint(dst.Port()), "drop", "comment", fmt.Sprintf("%q", "drop-"+dst.String()))
}

// AllowOutput removes the drops DropOutput installed in the node for dst.
func (g *Group) AllowOutput(name string, dst netip.AddrPort) {
	g.T.Helper()
	n := g.Node(name)
	out, err := n.NS.Run("nft", "-a", "list", "chain", "inet", "clustertest", "out")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.Contains(line, `"drop-`+dst.String()+`"`) {
			continue
		}
		if i := strings.LastIndex(line, "# handle "); i >= 0 {
			n.NS.MustRun("nft", "delete", "rule", "inet", "clustertest", "out", "handle", strings.TrimSpace(line[i+len("# handle "):]))
		}
	}
}

// Names returns the names of nodes.
func Names(nodes []*Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.Name
	}
	return slices.Clip(out)
}
