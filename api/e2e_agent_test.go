package api_test

// End-to-end tests of the admin API served by real agents: a 3-node group
// of `quadrature agent` processes in network namespaces (package
// internal/clustertest), reached over HTTP from inside the namespaces.
// One group is shared by the subtests of TestE2EAgentAPI to keep the wall
// time low; the subtest that partitions the group runs last.
//
// Needs root (skips otherwise, fails under CI=true), nft, and for two of
// the subtests promtool (Debian prometheus) and chromium.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"quadrature/api"
	"quadrature/api/apitest"
	"quadrature/api/client"
	"quadrature/internal/clustertest"
)

// e2eHTTP is an HTTP client whose connections are opened inside n's
// namespace (one connection per request), trusting the group's CA.
func e2eHTTP(n *clustertest.Node) *http.Client { return n.APIHTTPClient(5 * time.Second) }

// e2eURL is the URL of path on n's API.
func e2eURL(n *clustertest.Node, path string) string { return n.APIURL(path) }

// e2eGet fetches path from n's API with an optional bearer token.
func e2eGet(n *clustertest.Node, path, token string) (int, []byte, error) {
	req, err := http.NewRequest("GET", e2eURL(n, path), nil)
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e2eHTTP(n).Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	return resp.StatusCode, body, err
}

// e2eReady returns /readyz of n: the HTTP status and the decoded body.
func e2eReady(n *clustertest.Node) (int, api.ReadyBody, error) {
	code, body, err := e2eGet(n, "/readyz", "")
	if err != nil {
		return 0, api.ReadyBody{}, err
	}
	var rb api.ReadyBody
	if err := json.Unmarshal(body, &rb); err != nil {
		return code, rb, fmt.Errorf("readyz body %q: %w", body, err)
	}
	return code, rb, nil
}

// poll is clustertest.Poll that fails t (not the group's test, which must
// not be failed from a subtest) on timeout.
func poll(t *testing.T, what string, timeout time.Duration, cond func() error) time.Duration {
	t.Helper()
	start := time.Now()
	if err := clustertest.Poll(timeout, 50*time.Millisecond, cond); err != nil {
		t.Fatalf("timed out after %v waiting for %s: %v", timeout, what, err)
	}
	return time.Since(start)
}

func TestE2EAgentAPI(t *testing.T) {
	start := time.Now()
	g := clustertest.New(t, clustertest.Options{Nodes: 3})
	st := g.WaitReady()
	// Every real server must be up with every reporter agreeing before
	// the subtests look at verdicts.
	g.WaitFor("every real server up 3/3 on every node", 30*time.Second, func() error {
		for _, n := range g.Nodes {
			for i := range g.Nodes {
				rs, err := n.RealServer(clustertest.NodeName(i + 1))
				if err != nil {
					return err
				}
				if rs.Verdict != "up" || rs.Agreeing != 3 || rs.Reporters != 3 {
					return fmt.Errorf("%s sees %s %s %d/%d", n.Name, rs.ID, rs.Verdict, rs.Agreeing, rs.Reporters)
				}
			}
		}
		return nil
	})
	// WaitReady's convergence can pass while every node still reports the
	// digest of the empty table it had before the first commit: /readyz
	// compares the kernel digest with the committed table's.
	g.WaitFor("every node /readyz 200 and one digest", 30*time.Second, func() error {
		for _, n := range g.Nodes {
			if code, rb, err := e2eReady(n); err != nil || code != http.StatusOK {
				return fmt.Errorf("%s readyz %d %+v %v", n.Name, code, rb, err)
			}
		}
		var err error
		st, err = g.Converged()
		return err
	})
	t.Logf("group of 3 ready in %v: leader %s, config v%d, VIP on %v", time.Since(start).Round(time.Millisecond),
		st.Leader, st.ConfigVersion, g.VIPHolders())

	t.Run("HealthReady", func(t *testing.T) { e2eHealthReady(t, g) })
	t.Run("Metrics", func(t *testing.T) { e2eMetrics(t, g) })
	t.Run("StatusPage", func(t *testing.T) { e2eStatusPage(t, g) })
	t.Run("ConfigCAS", func(t *testing.T) { e2eConfigCAS(t, g) })
	t.Run("ConfigChangesTable", func(t *testing.T) { e2eConfigChangesTable(t, g) })
	// Last: it partitions the group.
	t.Run("ReadyIsolated", func(t *testing.T) { e2eReadyIsolated(t, g) })
}

// e2eHealthReady: /healthz answers 200 on every node, and /readyz 200
// once the committed table is applied (the harness waited for identical
// kernel digests already).
func e2eHealthReady(t *testing.T, g *clustertest.Group) {
	for _, n := range g.Nodes {
		code, body, err := e2eGet(n, "/healthz", "")
		if err != nil || code != http.StatusOK {
			t.Errorf("%s /healthz: %d %s %v", n.Name, code, body, err)
		}
		var last string
		d := poll(t, n.Name+" /readyz 200", 20*time.Second, func() error {
			code, rb, err := e2eReady(n)
			if err != nil {
				return err
			}
			last = fmt.Sprintf("%d %+v", code, rb)
			if code != http.StatusOK || !rb.Ready || rb.Reason != "" {
				return errors.New(last)
			}
			return nil
		})
		t.Logf("%s: /healthz 200, /readyz %s after %v", n.Name, last, d.Round(time.Millisecond))
	}
}

// e2eMetrics: /metrics of a real agent passes promtool and carries the
// families of every package the agent runs.
func e2eMetrics(t *testing.T, g *clustertest.Group) {
	n := g.Nodes[1]
	// Some API traffic first, so the request metrics have series.
	if _, err := n.Status(); err != nil {
		t.Fatal(err)
	}
	code, body, err := e2eGet(n, "/metrics", "")
	if err != nil || code != http.StatusOK {
		t.Fatalf("/metrics: %d %v", code, err)
	}
	text := string(body)
	families := map[string]string{} // name → type
	for _, line := range strings.Split(text, "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			families[f[2]] = f[3]
		}
	}
	for _, prefix := range []string{"quadrature_vrrp_", "quadrature_check_", "quadrature_lvs_", "quadrature_cluster_",
		"quadrature_realserver_up", "quadrature_build_info", "quadrature_api_"} {
		var got []string
		for name := range families {
			if strings.HasPrefix(name, prefix) {
				got = append(got, name)
			}
		}
		sort.Strings(got)
		if len(got) == 0 {
			t.Errorf("no metric family %s*", prefix)
			continue
		}
		t.Logf("%-26s %2d families, e.g. %s", prefix+"*", len(got), got[0])
	}
	// The verdict gauges reflect the live group: every real server up.
	for i := range g.Nodes {
		want := fmt.Sprintf(`quadrature_realserver_up{rs=%q,vs=%q} 1`, clustertest.RealServerID(i+1), clustertest.ServiceID())
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if !regexp.MustCompile(`(?m)^quadrature_build_info\{[^}]*\} 1$`).MatchString(text) {
		t.Error("quadrature_build_info is not 1")
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		needProgram(t, "promtool") // skips, or fails under CI=true
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	t.Logf("promtool check metrics on %d bytes, %d families: exit %v", len(text), len(families), err)
	if err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out.String())
	} else if s := strings.TrimSpace(out.String()); s != "" {
		t.Errorf("promtool lint findings:\n%s", s)
	}
}

// e2eChromium runs headless Chromium inside the namespace ns on url.
func e2eChromium(t *testing.T, ns string, url string, extra ...string) []byte {
	t.Helper()
	// The group's CA is not in Chromium's store: the API's certificate
	// itself is checked by the Go clients of these tests.
	return chromiumIn(t, ns, url, append([]string{"--ignore-certificate-errors"}, extra...)...)
}

// e2eStatusPage renders / of a follower in headless Chromium running in
// the client namespace (an operator's browser on the LAN): the live state
// of the group must be on the page, and the screenshot must be a picture.
func e2eStatusPage(t *testing.T, g *clustertest.Group) {
	leader := g.Leader()
	var n *clustertest.Node
	for _, x := range g.Nodes {
		if x.Name != leader {
			n = x
			break
		}
	}
	holders := g.VIPHolders()
	if len(holders) != 1 {
		t.Fatalf("VIP holders %v, want one", holders)
	}
	url := e2eURL(n, "/#token="+g.Token)
	dom := string(e2eChromium(t, g.Client.Name, url, "--dump-dom"))
	want := []string{
		fmt.Sprintf("node %s · leader %s", n.Name, leader),
		leader + " ★ leader",
		clustertest.Instance, clustertest.VIP.String() + "/24",
		fmt.Sprintf(`<span class="pill MASTER">%s</span>`, holders[0]),
		fmt.Sprintf("TCP %s wrr", netip.AddrPortFrom(clustertest.VIP, clustertest.VIPPort)),
		">up<", ">3/3<",
	}
	for i, x := range g.Nodes {
		want = append(want, ">"+x.Name, clustertest.RealServerID(i+1))
		// Each node's VRRP state, as the fan-out gathered it.
		state := "BACKUP"
		if x.Name == holders[0] {
			state = "MASTER"
		}
		want = append(want, fmt.Sprintf(">%s %s %d<", x.Name, state, clustertest.NodePriority(i+1)))
	}
	// Each real server row: id, verdict, weight 1, agreement 3/3.
	rowRE := regexp.MustCompile(`<span class="mono">(203\.0\.113\.1[123]:8080)</span></td><td><span><span class="pill up">up</span></span></td><td>(\d+)</td><td>3/3</td>`)
	rows := rowRE.FindAllStringSubmatch(dom, -1)
	if len(rows) != 3 {
		t.Errorf("want 3 real-server rows up, weight, 3/3; found %d", len(rows))
	}
	for _, r := range rows {
		if r[2] != "1" {
			t.Errorf("real server %s weight %s on the page, want 1", r[1], r[2])
		}
	}
	for _, w := range want {
		if !strings.Contains(dom, w) {
			t.Errorf("rendered page lacks %q", w)
		}
	}
	if !strings.Contains(dom, `<span id="err"></span>`) {
		t.Error("page shows an error")
	}
	if t.Failed() {
		t.Logf("DOM:\n%s", dom)
	}
	// Without a token from the LAN: the page asks for one and does not
	// say a token was rejected (none was sent).
	none := string(e2eChromium(t, g.Client.Name, e2eURL(n, "/"), "--dump-dom"))
	if !strings.Contains(none, `<span id="err">this page needs the group's read-only token (api-read-token) or the admin token</span>`) ||
		!strings.Contains(none, `id="auth" class="show"`) {
		i := strings.Index(none, `id="err"`)
		t.Errorf("no token from the LAN: the page does not say a token is needed: %.200s", none[max(i, 0):])
	}
	// Without a token on the node itself (loopback): the group is shown.
	local := strings.Replace(e2eURL(n, "/"), n.Addr.String(), "127.0.0.1", 1)
	mine := string(e2eChromium(t, n.NS.Name, local, "--dump-dom"))
	if !strings.Contains(mine, `<span id="err"></span>`) || !strings.Contains(mine, leader+" ★ leader") ||
		strings.Contains(mine, `id="auth" class="show"`) {
		i := strings.Index(mine, `id="err"`)
		t.Errorf("no token on %s itself (%s): the page does not show the group: %.300s", n.Name, local, mine[max(i, 0):])
	}

	shot := filepath.Join(t.TempDir(), "status.png")
	e2eChromium(t, g.Client.Name, url, "--screenshot="+shot)
	data, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	b := img.Bounds()
	colours := map[[4]uint32]bool{}
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, gr, bl, a := img.At(x, y).RGBA()
			colours[[4]uint32{r >> 8, gr >> 8, bl >> 8, a >> 8}] = true
		}
	}
	t.Logf("screenshot %s: %dx%d, %d distinct colours (sampled), %d bytes", shot, b.Dx(), b.Dy(), len(colours), len(data))
	if b.Dx() < 800 || b.Dy() < 600 {
		t.Errorf("screenshot %v", b)
	}
	if len(colours) < 16 {
		t.Errorf("screenshot looks blank: %d distinct colours", len(colours))
	}
	if dir := os.Getenv("QUADRATURE_ARTIFACTS"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "e2e-status-page.png"), data, 0o644)
	}
}

// roamingClient is an API client whose every request goes to a node
// chosen at random (new connection each time), like an operator behind a
// load balancer or DNS round robin in front of the group's APIs.
func roamingClient(t *testing.T, g *clustertest.Group) *client.Client {
	t.Helper()
	tr := g.Transport(g.Client, false)
	// Every node's certificate names localhost: the one name all share.
	tr.TLSClientConfig.ServerName = "localhost"
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		n := g.Nodes[mrand.IntN(len(g.Nodes))]
		return clustertest.NSDialer(n.NS, 2*time.Second)(ctx, network, netip.AddrPortFrom(n.Addr, clustertest.APIPort).String())
	}
	c, err := client.New(client.Options{Addr: "https://api.quadrature.test:9900", Token: g.Token,
		HTTPClient: &http.Client{Timeout: 5 * time.Second, Transport: tr}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// e2eConfigCAS: concurrent read-modify-write operators on every node's
// API (writes on followers are forwarded to the leader) produce a
// linearizable history of the configuration register.
func e2eConfigCAS(t *testing.T, g *clustertest.Group) {
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	doc, err := g.Nodes[0].API.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	base := api.ConfigRequest{Main: doc.Main, Files: doc.Files}
	// One operator per node, and three behind a "load balancer" whose
	// every request may land on any node: a version read on one node is
	// then written through another, which may lag.
	var clients []*client.Client
	clients = append(clients, g.Nodes[0].API, g.Nodes[1].API, g.Nodes[2].API)
	for range 3 {
		clients = append(clients, roamingClient(t, g))
	}
	start := time.Now()
	init, history, err := apitest.RunConfigCAS(ctx, apitest.CASRun{
		Clients: clients, OpsPerClient: 20, Base: base, ReadRatio: 0.5, Timeout: 5 * time.Second, Seed: uint64(time.Now().UnixNano()),
	})
	run := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	reads, ok, conflicts, unknown := apitest.CASSummary(history)
	start = time.Now()
	res, verr := apitest.CheckConfigCASVisual(init, history, 60*time.Second, filepath.Join(t.TempDir(), "cas.html"))
	t.Logf("CAS on the real group: %d clients (3 pinned to a node, 3 roaming), %d ops in %v (%d reads, %d puts ok, %d conflicts, %d unknown); porcupine %v in %v",
		len(clients), len(history), run.Round(time.Millisecond), reads, ok, conflicts, unknown, res, time.Since(start).Round(time.Millisecond))
	if res != porcupine.Ok {
		sort.Slice(history, func(i, j int) bool { return history[i].Call < history[j].Call })
		var b strings.Builder
		m := apitest.CASModel(init)
		for _, op := range history {
			fmt.Fprintf(&b, "  c%d [%7.1fms %7.1fms] %s\n", op.ClientId, float64(op.Call)/1e6, float64(op.Return)/1e6, m.DescribeOperation(op.Input, op.Output))
		}
		t.Fatalf("history is %v (visualization: %v); init v%d; operations by call time:\n%s", res, verr, init.Version, b.String())
	}
	if ok == 0 {
		t.Error("no put succeeded: the check saw no writes")
	}
	if unknown > len(history)/4 {
		t.Errorf("%d of %d operations had an unknown outcome", unknown, len(history))
	}
	// The group converges on the last committed version.
	after := g.AssertConverged()
	if after.ConfigVersion <= init.Version {
		t.Errorf("config version %d after the run, %d before", after.ConfigVersion, init.Version)
	}
}

// e2eReadyIsolated: a node cut off from the group loses its leader and
// says it is not ready; when the partition heals it is ready again.
func e2eReadyIsolated(t *testing.T, g *clustertest.Group) {
	n := g.Nodes[2]
	ctx, cancel := clustertest.Ctx()
	doc, err := g.Nodes[0].API.Config(ctx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	put, err := json.Marshal(api.ConfigRequest{Main: doc.Main, Files: map[string]string{doc.Main: doc.Files[doc.Main] + "\n# minority write\n"}})
	if err != nil {
		t.Fatal(err)
	}
	g.Isolate(n.Name)
	healed := false
	defer func() {
		if !healed {
			g.Heal()
		}
	}()
	var reason string
	d := poll(t, n.Name+" /readyz 503 while isolated", 20*time.Second, func() error {
		code, rb, err := e2eReady(n)
		if err != nil {
			return err
		}
		if code != http.StatusServiceUnavailable || rb.Ready {
			return fmt.Errorf("readyz %d %+v", code, rb)
		}
		reason = rb.Reason
		return nil
	})
	t.Logf("%s isolated: /readyz 503 %q after %v", n.Name, reason, d.Round(time.Millisecond))
	if !strings.Contains(reason, "leader") {
		t.Errorf("isolated node's reason %q does not mention the leader", reason)
	}
	// /healthz is liveness only: still 200.
	if code, _, err := e2eGet(n, "/healthz", ""); err != nil || code != http.StatusOK {
		t.Errorf("isolated %s /healthz: %d %v", n.Name, code, err)
	}
	// The minority node neither serves a possibly stale configuration
	// (GET /v1/config is linearizable) nor takes a write: both end in 503
	// no_leader once the API's backend timeout (15 s) gives up waiting for
	// a leader. They run while the majority is checked.
	type answer struct {
		what string
		code int
		body string
		took time.Duration
		err  error
	}
	answers := make(chan answer, 2)
	for _, rq := range []struct{ method, what, body string }{
		{"GET", "GET /v1/config", ""},
		{"PUT", "PUT /v1/config If-Match current", string(put)},
	} {
		go func() {
			start := time.Now()
			req, err := http.NewRequest(rq.method, e2eURL(n, "/v1/config"), strings.NewReader(rq.body))
			if err != nil {
				answers <- answer{what: rq.what, err: err}
				return
			}
			req.Header.Set("Authorization", "Bearer "+g.Token)
			if rq.body != "" {
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("If-Match", fmt.Sprintf(`"%d"`, doc.Version))
			}
			hc := e2eHTTP(n)
			hc.Timeout = 25 * time.Second
			resp, err := hc.Do(req)
			a := answer{what: rq.what, err: err, took: time.Since(start)}
			if err == nil {
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
				resp.Body.Close()
				a.code, a.body = resp.StatusCode, string(b)
			}
			answers <- a
		}()
	}
	collected := false
	defer func() {
		if !collected { // a failed majority check: let the requests end first
			for range 2 {
				<-answers
			}
		}
	}()
	// The majority keeps (or regains) a leader and stays ready.
	for _, m := range g.Nodes[:2] {
		poll(t, m.Name+" ready on the majority side", 20*time.Second, func() error {
			code, rb, err := e2eReady(m)
			if err != nil {
				return err
			}
			if code != http.StatusOK {
				return fmt.Errorf("readyz %d %+v", code, rb)
			}
			return nil
		})
	}
	// Collect the minority's answers before healing.
	for range 2 {
		a := <-answers
		t.Logf("isolated %s: %s -> %d %s in %v", n.Name, a.what, a.code, strings.Join(strings.Fields(a.body), " "), a.took.Round(time.Millisecond))
		if a.err != nil || a.code != http.StatusServiceUnavailable || !strings.Contains(a.body, `"no_leader"`) {
			t.Errorf("isolated %s: %s: %d %s %v; want 503 no_leader", n.Name, a.what, a.code, a.body, a.err)
		}
	}
	collected = true
	// A stale read answers at once on the isolated node, clearly marked.
	start := time.Now()
	code, body, err := e2eGet(n, "/v1/config?stale=true", g.Token)
	var sdoc api.ConfigDoc
	if err == nil {
		err = json.Unmarshal(body, &sdoc)
	}
	t.Logf("isolated %s: GET /v1/config?stale=true -> %d in %v: stale=%v %q", n.Name, code, time.Since(start).Round(time.Millisecond), sdoc.Stale, sdoc.StaleReason)
	if err != nil || code != http.StatusOK || !sdoc.Stale || sdoc.Version != doc.Version || sdoc.Files[sdoc.Main] == "" ||
		!strings.Contains(sdoc.StaleReason, "later versions") {
		t.Errorf("isolated %s: stale read %d %v %+v; want 200, marked stale, version %d", n.Name, code, err, sdoc, doc.Version)
	}
	g.Heal()
	healed = true
	d = poll(t, n.Name+" /readyz 200 after the heal", 30*time.Second, func() error {
		code, rb, err := e2eReady(n)
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("readyz %d %+v", code, rb)
		}
		return nil
	})
	t.Logf("%s healed: /readyz 200 after %v", n.Name, d.Round(time.Millisecond))
	// The refused write never happened.
	ctx, cancel = clustertest.Ctx()
	defer cancel()
	after, err := n.API.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.Version != doc.Version || strings.Contains(after.Files[after.Main], "minority write") {
		t.Errorf("after the heal: config v%d (was v%d), minority write present: %v", after.Version, doc.Version,
			strings.Contains(after.Files[after.Main], "minority write"))
	}
}

// e2eConfigChangesTable: a configuration written through the API that
// removes a real server changes every node's kernel table (one new digest
// everywhere, no traffic to the removed server), and putting it back
// restores the original table. On n2 the removed server's destination
// element was deleted behind the agent's back beforehand, so its
// incremental update (which deletes it again) fails and it must repair
// its table to converge: a data plane that diverged from the group comes
// back to it on its own.
func e2eConfigChangesTable(t *testing.T, g *clustertest.Group) {
	n2 := g.Nodes[1]
	rs := clustertest.RealServerID(3)
	var before api.Status
	poll(t, "the group converged", 20*time.Second, func() error {
		var err error
		before, err = g.Converged()
		return err
	})
	table, err := n2.NS.Run("nft", "list", "table", "inet", "quadrature")
	if err != nil {
		t.Fatal(err)
	}
	// The destination map holds "MARK : ADDR . PORT" elements.
	elem := fmt.Sprintf("%s . %d", clustertest.NodeAddr(3), clustertest.AppPort)
	m := regexp.MustCompile(`(0x[0-9a-f]+|\d+)(?: comment "[^"]*")? : ` + regexp.QuoteMeta(elem)).FindSubmatch(table)
	if m == nil {
		t.Fatalf("no destination element for %s in n2's table:\n%s", rs, table)
	}
	n2.NS.MustRun("nft", "delete", "element", "inet", "quadrature", "dst4", "{", string(m[1]), "}")

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	doc, err := g.Nodes[0].API.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	orig := doc.Files[doc.Main]
	head := "  real_server " + clustertest.NodeAddr(3).String() + " " + fmt.Sprint(clustertest.AppPort) + " {\n"
	i := strings.Index(orig, head)
	if i < 0 {
		t.Fatalf("cannot find the real_server block of %s in the config", rs)
	}
	j := strings.Index(orig[i:], "\n  }\n")
	if j < 0 {
		t.Fatalf("cannot find the end of the real_server block of %s", rs)
	}
	without := orig[:i] + orig[i+j+len("\n  }\n"):]
	res, err := g.Nodes[2].API.PutConfig(ctx, api.ConfigRequest{Main: doc.Main, Files: map[string]string{doc.Main: without}}, doc.Version)
	if err != nil {
		t.Fatalf("put the config without %s: %v", rs, err)
	}
	restored := false
	defer func() {
		if !restored {
			_, _ = g.Nodes[0].API.PutConfig(context.Background(), api.ConfigRequest{Main: doc.Main, Files: map[string]string{doc.Main: orig}}, 0)
		}
	}()
	var mid api.Status
	d := poll(t, "one new digest on every node, all ready", 20*time.Second, func() error {
		mid, err = g.Converged()
		if err != nil {
			return err
		}
		if mid.TableDigest == before.TableDigest {
			return fmt.Errorf("digest still %.12s", mid.TableDigest)
		}
		for _, n := range g.Nodes {
			if code, rb, err := e2eReady(n); err != nil || code != http.StatusOK {
				return fmt.Errorf("%s readyz %d %+v %v", n.Name, code, rb, err)
			}
		}
		return nil
	})
	t.Logf("config v%d without %s: digest %.12s -> %.12s on every node in %v", res.Version, rs, before.TableDigest, mid.TableDigest, d.Round(time.Millisecond))
	if out, err := n2.NS.Run("nft", "list", "table", "inet", "quadrature"); err != nil || strings.Contains(string(out), elem) {
		t.Errorf("n2's table still sends to the removed server (%v):\n%s", err, out)
	}
	for _, n := range g.Nodes {
		b, err := n.API.Services(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Services) != 1 || len(b.Services[0].RealServers) != 2 {
			t.Errorf("%s: services %+v", n.Name, b.Services)
		}
	}
	hc := g.ClientHTTP(2 * time.Second)
	served := map[string]int{}
	for range 12 {
		body, err := g.Get(hc)
		if err != nil {
			t.Errorf("request through the VIP: %v", err)
			continue
		}
		served[body]++
	}
	if served["served by n3"] != 0 {
		t.Errorf("the removed real server got traffic: %v", served)
	}

	if _, err := g.Nodes[0].API.PutConfig(ctx, api.ConfigRequest{Main: doc.Main, Files: map[string]string{doc.Main: orig}}, res.Version); err != nil {
		t.Fatalf("restore the config: %v", err)
	}
	restored = true
	d = poll(t, "the original table and 3 real servers up everywhere", 30*time.Second, func() error {
		st, err := g.Converged()
		if err != nil {
			return err
		}
		if st.TableDigest != before.TableDigest {
			return fmt.Errorf("digest %.12s, originally %.12s", st.TableDigest, before.TableDigest)
		}
		for _, n := range g.Nodes {
			x, err := n.RealServer("n3")
			if err != nil {
				return err
			}
			if x.Verdict != "up" || x.Agreeing != 3 {
				return fmt.Errorf("%s sees %s %s %d/%d", n.Name, x.ID, x.Verdict, x.Agreeing, x.Reporters)
			}
		}
		return nil
	})
	t.Logf("config restored: original digest and %s up 3/3 everywhere after %v", rs, d.Round(time.Millisecond))
}
