package main

// End-to-end tests of the operator CLI against a real group: three
// `quadrature agent` processes in network namespaces (package
// internal/clustertest), and the real binary's client subcommands run
// inside a node's namespace (`ip netns exec NS quadrature status -api
// ADDR -token-file FILE`), their exit codes and outputs checked. One group
// is shared by the subtests of TestE2ECLI, which run in order; each one
// leaves the group as it found it (drains undone, maintenance off, VIP
// back on its first holder).
//
// Needs root (skips otherwise, fails under CI=true) and nft.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"quadrature/api"
	"quadrature/cluster/credentials"
	"quadrature/internal/clustertest"
)

// e2eEnv is the shared group and what the CLI needs to reach it.
type e2eEnv struct {
	g *clustertest.Group
	// adminFile and readFile hold the admin and the read-only token.
	adminFile, readFile string
	readToken           string
}

// cliResult is one CLI run.
type cliResult struct {
	code           int
	stdout, stderr string
}

func (r cliResult) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// cliAs runs the built binary inside n's namespace against n's API with
// the given token file ("" = none; env is added to the environment).
func (e *e2eEnv) cliAs(t *testing.T, n *clustertest.Node, tokenFile string, env []string, args ...string) cliResult {
	t.Helper()
	full := append([]string{"netns", "exec", n.NS.Name, e.g.Bins.Agent}, args...)
	full = append(full, "-api", e.g.APIBase(n), "-ca-file", e.g.CAFile, "-timeout", "10s")
	if tokenFile != "" {
		full = append(full, "-token-file", tokenFile)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", full...)
	// No token from the test's own environment, no stray data dir.
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "QUADRATURE_TOKEN="}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("quadrature %v: %v", args, err)
	}
	return r
}

// cli runs the CLI on n with the admin token.
func (e *e2eEnv) cli(t *testing.T, n *clustertest.Node, args ...string) cliResult {
	t.Helper()
	return e.cliAs(t, n, e.adminFile, nil, args...)
}

// mustCLI is cli that fails the test unless the command exits 0.
func (e *e2eEnv) mustCLI(t *testing.T, n *clustertest.Node, args ...string) cliResult {
	t.Helper()
	r := e.cli(t, n, args...)
	if r.code != 0 {
		t.Fatalf("quadrature %s on %s: %s", strings.Join(args, " "), n.Name, r)
	}
	return r
}

// follower returns a node that is not the raft leader.
func (e *e2eEnv) follower(t *testing.T) *clustertest.Node {
	t.Helper()
	leader := e.g.Leader()
	if leader == "" {
		t.Fatal("no leader")
	}
	for _, n := range e.g.Nodes {
		if n.Name != leader {
			return n
		}
	}
	t.Fatal("no follower")
	return nil
}

// waitT polls cond like clustertest.Poll and fails t (not the group's
// test: a subtest must not fail its parent) on timeout.
func waitT(t *testing.T, what string, timeout time.Duration, cond func() error) time.Duration {
	t.Helper()
	start := time.Now()
	if err := clustertest.Poll(timeout, 100*time.Millisecond, cond); err != nil {
		t.Fatalf("timed out after %v waiting for %s: %v", timeout, what, err)
	}
	return time.Since(start)
}

// configVersions returns every node's config_version from `status -o json`.
func (e *e2eEnv) configVersions(t *testing.T) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	for _, n := range e.g.Nodes {
		var st api.Status
		r := e.mustCLI(t, n, "status", "-o", "json")
		if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
			t.Fatalf("%s status -o json: %v\n%s", n.Name, err, r.stdout)
		}
		out[n.Name] = st.ConfigVersion
	}
	return out
}

// sameVersion fails t unless every node runs version v.
func (e *e2eEnv) sameVersion(t *testing.T, v uint64) {
	t.Helper()
	for name, got := range e.configVersions(t) {
		if got != v {
			t.Errorf("%s runs config version %d, want %d", name, got, v)
		}
	}
}

// waitVIP waits until exactly one namespace, want, holds the VIP.
func (e *e2eEnv) waitVIP(t *testing.T, want string, timeout time.Duration) time.Duration {
	t.Helper()
	return waitT(t, "the VIP on "+want+" only", timeout, func() error {
		h := e.g.VIPHolders()
		if len(h) != 1 || h[0] != want {
			return fmt.Errorf("VIP holders %v", h)
		}
		return nil
	})
}

func TestE2ECLI(t *testing.T) {
	start := time.Now()
	// The group's credentials (quadrature cluster init) hold both tokens.
	e := &e2eEnv{}
	e.g = clustertest.New(t, clustertest.Options{Nodes: 3})
	e.adminFile = filepath.Join(e.g.CredDir, credentials.TokenFile)
	e.readFile = filepath.Join(e.g.CredDir, credentials.ReadTokenFile)
	rt, err := os.ReadFile(e.readFile)
	if err != nil {
		t.Fatal(err)
	}
	e.readToken = strings.TrimSpace(string(rt))
	e.g.WaitReady()
	e.g.WaitFor("every real server up 3/3 on every node", 30*time.Second, func() error {
		for _, n := range e.g.Nodes {
			for i := range e.g.Nodes {
				rs, err := n.RealServer(clustertest.NodeName(i + 1))
				if err != nil {
					return err
				}
				if rs.Verdict != "up" || rs.Agreeing != 3 || rs.Reporters != 3 || rs.Weight != 1 {
					return fmt.Errorf("%s sees %s %s %d/%d weight %d", n.Name, rs.ID, rs.Verdict, rs.Agreeing, rs.Reporters, rs.Weight)
				}
			}
		}
		return nil
	})
	// WaitReady's convergence can pass while every node still reports the
	// digest of the empty table it had before the first commit: /readyz
	// compares the kernel digest with the committed table's.
	e.g.WaitFor("every node /readyz 200 and one digest", 30*time.Second, func() error {
		for _, n := range e.g.Nodes {
			if code, body, err := rawHTTP(n, "GET", "/readyz", "", ""); err != nil || code != http.StatusOK {
				return fmt.Errorf("%s readyz %d %s %v", n.Name, code, body, err)
			}
		}
		_, err := e.g.Converged()
		return err
	})
	t.Logf("group ready in %v", time.Since(start).Round(time.Millisecond))

	for _, st := range []struct {
		name string
		f    func(*testing.T, *e2eEnv)
	}{
		{"Logs", e2eLogs},
		{"Status", e2eStatus},
		{"Members", e2eMembers},
		{"RaftList", e2eRaftList},
		{"List", e2eList},
		{"Auth", e2eAuth},
		{"DrainUndrain", e2eDrain},
		{"Maintenance", e2eMaintenance},
		{"Transfer", e2eTransfer},
		{"Errors", e2eErrors},
		{"Config", e2eConfig},
	} {
		t.Run(st.name, func(t *testing.T) {
			s := time.Now()
			st.f(t, e)
			t.Logf("%s: %v", st.name, time.Since(s).Round(time.Millisecond))
		})
	}
}

// e2eLogs reads every agent's log after the group came up: the API's
// "listening" line once per start, every line with node=, no Go value
// dumped (&{...}, {Field:...}, map[...]) and "real server down" (if any)
// at WARN.
func e2eLogs(t *testing.T, e *e2eEnv) {
	dump := regexp.MustCompile(`&\{|=\{[A-Z][A-Za-z]*:|=map\[`)
	for _, n := range e.g.Nodes {
		b, err := os.ReadFile(n.LogPath)
		if err != nil {
			t.Fatal(err)
		}
		starts, listening := 0, 0
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			switch {
			case strings.HasPrefix(line, "==== clustertest:"):
				if strings.Contains(line, " start quadrature ") {
					starts++
				}
				continue
			case strings.Contains(line, "listening"):
				listening++
			}
			if !strings.Contains(line, "node="+n.Name) {
				t.Errorf("%s: line without node=: %s", n.Name, line)
			}
			if dump.MatchString(line) {
				t.Errorf("%s: a Go value dumped in a log line: %s", n.Name, line)
			}
			if strings.Contains(line, `msg="real server down"`) && !strings.Contains(line, "level=WARN") {
				t.Errorf("%s: real server down not at WARN: %s", n.Name, line)
			}
		}
		if starts == 0 || listening != starts {
			t.Errorf("%s: %d \"listening\" lines for %d starts", n.Name, listening, starts)
		}
	}
}

// statusKeys are the JSON names of `status -o json` that scripts rely on.
var statusKeys = []string{"node", "leader", "raft_state", "config_version", "applied_index", "table_digest", "degraded", "fenced"}

func e2eStatus(t *testing.T, e *e2eEnv) {
	leaders := map[string]bool{}
	digests := map[string]bool{}
	raftLeaders := 0
	for _, n := range e.g.Nodes {
		r := e.mustCLI(t, n, "status", "-o", "json")
		var raw map[string]json.RawMessage
		if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil {
			t.Fatalf("%s: status -o json: %v\n%s", n.Name, err, r.stdout)
		}
		for _, k := range statusKeys {
			if _, ok := raw[k]; !ok {
				t.Errorf("%s: status -o json lacks %q", n.Name, k)
			}
		}
		var st struct {
			api.Status
			VRRP api.VRRPAllBody `json:"vrrp"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
			t.Fatal(err)
		}
		if st.Node != n.Name {
			t.Errorf("%s: node %q", n.Name, st.Node)
		}
		if st.ConfigVersion < 1 || st.AppliedIndex < 1 || st.TableDigest == "" || st.Degraded || st.Fenced {
			t.Errorf("%s: status %+v", n.Name, st.Status)
		}
		if len(st.VRRP.Nodes) != 1 || len(st.VRRP.Nodes[0].Instances) != 1 || st.VRRP.Nodes[0].Instances[0].Name != clustertest.Instance {
			t.Errorf("%s: vrrp %+v", n.Name, st.VRRP)
		}
		leaders[st.Leader] = true
		digests[st.TableDigest] = true
		if st.RaftState == "Leader" {
			raftLeaders++
			if st.Leader != n.Name {
				t.Errorf("%s is raft Leader but names %q the leader", n.Name, st.Leader)
			}
		} else if st.RaftState != "Follower" {
			t.Errorf("%s: raft_state %q", n.Name, st.RaftState)
		}
		// The text form has the same facts.
		txt := e.mustCLI(t, n, "status").stdout
		for _, re := range []string{
			`(?m)^node +` + n.Name + `$`,
			`(?m)^leader +` + regexp.QuoteMeta(st.Leader) + `$`,
			`(?m)^raft state +` + st.RaftState + `$`,
			`(?m)^config version +` + strconv.FormatUint(st.ConfigVersion, 10) + `$`,
			`(?m)^table digest +` + st.TableDigest + `$`,
			`(?m)^degraded +no$`, `(?m)^fenced +no$`,
			`(?m)^NODE +INSTANCE +VRID +STATE +PRIO +MASTER +VIPS$`,
			`(?m)^` + n.Name + ` +` + clustertest.Instance + ` +51 +(MASTER|BACKUP) .*` + regexp.QuoteMeta(clustertest.VIP.String()+"/24") + `$`,
		} {
			if !regexp.MustCompile(re).MatchString(txt) {
				t.Errorf("%s: status text does not match %s:\n%s", n.Name, re, txt)
			}
		}
	}
	if len(leaders) != 1 || leaders[""] {
		t.Errorf("nodes name leaders %v, want one", leaders)
	}
	if raftLeaders != 1 {
		t.Errorf("%d nodes in raft state Leader", raftLeaders)
	}
	if len(digests) != 1 {
		t.Errorf("table digests differ: %v", digests)
	}
	// status -all gathers every node's instances through one API.
	all := e.mustCLI(t, e.g.Nodes[1], "status", "-all").stdout
	masters := regexp.MustCompile(`(?m)^n[123] +`+clustertest.Instance+` +51 +MASTER `).FindAllString(all, -1)
	backups := regexp.MustCompile(`(?m)^n[123] +`+clustertest.Instance+` +51 +BACKUP `).FindAllString(all, -1)
	if len(masters) != 1 || len(backups) != 2 {
		t.Errorf("status -all: %d masters, %d backups:\n%s", len(masters), len(backups), all)
	}
}

func e2eMembers(t *testing.T, e *e2eEnv) {
	// Table digests of the other members travel by gossip: poll until
	// every node's view has caught up with the digests the nodes report
	// themselves.
	var last string
	d := waitT(t, "every node's members view: 3 alive voters, one leader, one digest", 15*time.Second, func() error {
		for _, n := range e.g.Nodes {
			var b api.MembersBody
			r := e.cli(t, n, "members", "-o", "json")
			if r.code != 0 {
				return fmt.Errorf("%s: members -o json: %s", n.Name, r)
			}
			if err := json.Unmarshal([]byte(r.stdout), &b); err != nil {
				return fmt.Errorf("%s: members -o json: %v\n%s", n.Name, err, r.stdout)
			}
			alive, leaders := 0, 0
			digests := map[string]bool{}
			for _, m := range b.Members {
				if m.State == "alive" && m.Suffrage == "voter" && m.Role == "director" {
					alive++
				}
				if m.Leader {
					leaders++
				}
				digests[m.TableDigest] = true
			}
			if len(b.Members) != 3 || alive != 3 || leaders != 1 || len(digests) != 1 {
				return fmt.Errorf("%s: members %+v", n.Name, b.Members)
			}
			txt := e.cli(t, n, "members").stdout
			last = txt
			rows := regexp.MustCompile(`(?m)^n[123] +alive +director +voter +(yes|no) `).FindAllStringSubmatch(txt, -1)
			yes := 0
			for _, row := range rows {
				if row[1] == "yes" {
					yes++
				}
			}
			if len(rows) != 3 || yes != 1 || strings.Contains(txt, "diverges") {
				return fmt.Errorf("%s: members text:\n%s", n.Name, txt)
			}
		}
		return nil
	})
	t.Logf("members views agree after %v:\n%s", d.Round(time.Millisecond), last)
}

func e2eRaftList(t *testing.T, e *e2eEnv) {
	txt := e.mustCLI(t, e.g.Nodes[2], "raft", "list").stdout
	rows := regexp.MustCompile(`(?m)^(n[123]) +203\.0\.113\.1[123]:\d+ +voter +director +(yes|no)$`).FindAllStringSubmatch(txt, -1)
	yes := 0
	for _, r := range rows {
		if r[2] == "yes" {
			yes++
			if r[1] != e.g.Leader() {
				t.Errorf("raft list names %s the leader, status says %s", r[1], e.g.Leader())
			}
		}
	}
	if len(rows) != 3 || yes != 1 {
		t.Errorf("raft list:\n%s", txt)
	}
}

// rsLine matches one real server line of `quadrature list`.
func rsLine(rs string, weight int, verdict string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^  -> ` + regexp.QuoteMeta(rs) + ` +Masq +` + strconv.Itoa(weight) + ` +\d+ +\d+ +` + regexp.QuoteMeta(verdict) + `$`)
}

func e2eList(t *testing.T, e *e2eEnv) {
	for _, n := range e.g.Nodes {
		txt := e.mustCLI(t, n, "list").stdout
		for _, re := range []*regexp.Regexp{
			regexp.MustCompile(`(?m)^Load-balancing table of node ` + n.Name + ` \(nftables backend, not IPVS\)$`),
			regexp.MustCompile(`(?m)^Prot LocalAddress:Port Scheduler Flags$`),
			regexp.MustCompile(`(?m)^  -> RemoteAddress:Port +Forward Weight ActiveConn InActConn +Verdict$`),
			regexp.MustCompile(`(?m)^TCP  ` + regexp.QuoteMeta(netip.AddrPortFrom(clustertest.VIP, clustertest.VIPPort).String()) + ` wrr$`),
			rsLine(clustertest.RealServerID(1), 1, "up 3/3"),
			rsLine(clustertest.RealServerID(2), 1, "up 3/3"),
			rsLine(clustertest.RealServerID(3), 1, "up 3/3"),
		} {
			if !re.MatchString(txt) {
				t.Errorf("%s: list does not match %s:\n%s", n.Name, re, txt)
			}
		}
		var b api.ServicesBody
		r := e.mustCLI(t, n, "list", "-o", "json")
		if err := json.Unmarshal([]byte(r.stdout), &b); err != nil {
			t.Fatalf("%s: list -o json: %v", n.Name, err)
		}
		if len(b.Services) != 1 || b.Services[0].ID != clustertest.ServiceID() || len(b.Services[0].RealServers) != 3 {
			t.Errorf("%s: list -o json: %s", n.Name, r.stdout)
		}
	}
}

// rawHTTP sends one request to n's API from inside its namespace.
func rawHTTP(n *clustertest.Node, method, path, token, body string, hdr ...string) (int, string, error) {
	hc := n.APIHTTPClient(5 * time.Second)
	req, err := http.NewRequest(method, n.APIURL(path), strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), err
}

// groupState is what a refused write must not change.
func (e *e2eEnv) groupState(t *testing.T) string {
	t.Helper()
	ctx, cancel := clustertest.Ctx()
	defer cancel()
	var b strings.Builder
	for _, n := range e.g.Nodes {
		st, err := n.API.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		svcs, err := n.API.Services(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ms, err := n.API.Members(ctx)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s v%d;", n.Name, st.ConfigVersion)
		for _, vs := range svcs.Services {
			for _, rs := range vs.RealServers {
				fmt.Fprintf(&b, " %s drained=%v weight=%d;", rs.ID, rs.Drained, rs.Weight)
			}
		}
		for _, m := range ms {
			fmt.Fprintf(&b, " %s maint=%v;", m.Name, m.Maintenance)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func e2eAuth(t *testing.T, e *e2eEnv) {
	n := e.follower(t)
	before := e.groupState(t)
	drain := fmt.Sprintf(`{"vs":%q,"rs":%q}`, clustertest.ServiceID(), clustertest.RealServerID(1))
	// No token: 401 on reads and writes, and the writes change nothing.
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1/status", ""},
		{"GET", "/v1/config", ""},
		{"POST", "/v1/drain", drain},
		{"POST", "/v1/maintenance", `{"node":"n1","on":true}`},
		{"PUT", "/v1/config", `{"main":"keepalived.conf","files":{"keepalived.conf":"global_defs {\n}\n"}}`},
	} {
		code, body, err := rawHTTP(n, c.method, c.path, "", c.body)
		if err != nil || code != http.StatusUnauthorized || !strings.Contains(body, `"unauthorized"`) {
			t.Errorf("no token: %s %s: %d %s %v", c.method, c.path, code, body, err)
		}
		// The read token may read but never write.
		code, body, err = rawHTTP(n, c.method, c.path, e.readToken, c.body)
		want := http.StatusForbidden
		if c.method == "GET" {
			want = http.StatusOK
		}
		if err != nil || code != want {
			t.Errorf("read token: %s %s: %d (want %d) %s %v", c.method, c.path, code, want, body, err)
		}
	}
	// The CLI with the read token: reads work, a write is refused with 403.
	if r := e.cliAs(t, n, e.readFile, nil, "status"); r.code != 0 {
		t.Errorf("status with the read token: %s", r)
	}
	r := e.cliAs(t, n, e.readFile, nil, "drain", clustertest.ServiceID(), clustertest.RealServerID(1))
	if r.code == 0 || !strings.Contains(r.stderr, "403") || !strings.Contains(r.stderr, "admin token") {
		t.Errorf("drain with the read token: %s", r)
	}
	// A wrong token (from the environment): 401 and a hint.
	r = e.cliAs(t, n, "", []string{"QUADRATURE_TOKEN=not-the-token"}, "maintenance", "n1", "on")
	if r.code == 0 || !strings.Contains(r.stderr, "401") || !strings.Contains(r.stderr, "token was refused") {
		t.Errorf("maintenance with a wrong token: %s", r)
	}
	// No token at all: the CLI says so and sends nothing.
	r = e.cliAs(t, n, "", []string{"HOME=" + t.TempDir()}, "drain", clustertest.ServiceID(), clustertest.RealServerID(1), "-data-dir", t.TempDir())
	if r.code == 0 || !strings.Contains(r.stderr, "no API token") {
		t.Errorf("drain without a token: %s", r)
	}
	if after := e.groupState(t); after != before {
		t.Errorf("refused writes changed the group:\nbefore:\n%safter:\n%s", before, after)
	}
}

// servedBy sends n requests through the VIP from the client namespace and
// counts the answers per node.
func (e *e2eEnv) servedBy(t *testing.T, n int) map[string]int {
	t.Helper()
	hc := e.g.ClientHTTP(2 * time.Second)
	out := map[string]int{}
	for range n {
		body, err := e.g.Get(hc)
		if err != nil {
			out["error"]++
			continue
		}
		out[strings.TrimPrefix(body, "served by ")]++
	}
	return out
}

func e2eDrain(t *testing.T, e *e2eEnv) {
	f := e.follower(t)
	rs := clustertest.RealServerID(1)
	var before api.Status
	waitT(t, "the group converged", 20*time.Second, func() error {
		var err error
		before, err = e.g.Converged()
		return err
	})
	// Written on a follower: forwarded to the leader.
	r := e.mustCLI(t, f, "drain", clustertest.ServiceID(), rs)
	if !strings.Contains(r.stdout, "drained "+rs+" in "+clustertest.ServiceID()) {
		t.Errorf("drain output: %s", r)
	}
	// Idempotent.
	e.mustCLI(t, f, "drain", clustertest.ServiceID(), rs)
	d := waitT(t, "weight 0 and drained on every node", 15*time.Second, func() error {
		for _, n := range e.g.Nodes {
			x, err := n.RealServer("n1")
			if err != nil {
				return err
			}
			if !x.Drained || x.Weight != 0 {
				return fmt.Errorf("%s: %s drained=%v weight %d", n.Name, rs, x.Drained, x.Weight)
			}
		}
		return nil
	})
	// Every kernel table follows: one new digest on all nodes.
	var after api.Status
	dk := waitT(t, "a new identical kernel table digest on every node", 15*time.Second, func() error {
		var err error
		after, err = e.g.Converged()
		if err == nil && after.TableDigest == before.TableDigest {
			err = fmt.Errorf("digest still %.12s", after.TableDigest)
		}
		return err
	})
	t.Logf("drain committed everywhere in %v, kernel digests %.12s -> %.12s on all nodes in %v",
		d.Round(time.Millisecond), before.TableDigest, after.TableDigest, dk.Round(time.Millisecond))
	for _, n := range e.g.Nodes {
		txt := e.mustCLI(t, n, "list").stdout
		if !rsLine(rs, 0, "up 3/3 drained").MatchString(txt) || !rsLine(clustertest.RealServerID(2), 1, "up 3/3").MatchString(txt) {
			t.Errorf("%s: list after drain:\n%s", n.Name, txt)
		}
	}
	// The data plane: n1's application gets no new connection.
	if got := e.servedBy(t, 15); got["n1"] != 0 || got["error"] != 0 || got["n2"]+got["n3"] != 15 {
		t.Errorf("traffic with n1 drained: %v", got)
	}

	// Undrain, with the bare ADDR:PORT form of the service, on another node.
	r = e.mustCLI(t, e.g.Nodes[0], "undrain", netip.AddrPortFrom(clustertest.VIP, clustertest.VIPPort).String(), rs)
	if !strings.Contains(r.stdout, "undrained "+rs+" in "+clustertest.ServiceID()) {
		t.Errorf("undrain output: %s", r)
	}
	waitT(t, "weight 1 and not drained on every node", 15*time.Second, func() error {
		for _, n := range e.g.Nodes {
			x, err := n.RealServer("n1")
			if err != nil {
				return err
			}
			if x.Drained || x.Weight != 1 {
				return fmt.Errorf("%s: %s drained=%v weight %d", n.Name, rs, x.Drained, x.Weight)
			}
		}
		st, err := e.g.Converged()
		if err == nil && st.TableDigest != before.TableDigest {
			err = fmt.Errorf("digest %.12s, before the drain %.12s", st.TableDigest, before.TableDigest)
		}
		return err
	})
	for _, n := range e.g.Nodes {
		if txt := e.mustCLI(t, n, "list").stdout; !rsLine(rs, 1, "up 3/3").MatchString(txt) {
			t.Errorf("%s: list after undrain:\n%s", n.Name, txt)
		}
	}
	if got := e.servedBy(t, 30); got["n1"] == 0 || got["error"] != 0 {
		t.Errorf("traffic after undrain: %v", got)
	}
	// An unknown real server is a 404, not a silent success.
	if r := e.cli(t, f, "drain", clustertest.ServiceID(), "203.0.113.99:8080"); r.code == 0 || !strings.Contains(r.stderr, "404") {
		t.Errorf("drain of an unknown real server: %s", r)
	}
}

func e2eMaintenance(t *testing.T, e *e2eEnv) {
	h := e.g.VIPHolders()
	if len(h) != 1 {
		t.Fatalf("VIP holders %v", h)
	}
	master := h[0]
	f := e.follower(t)
	r := e.mustCLI(t, f, "maintenance", master, "on")
	if !strings.Contains(r.stdout, "maintenance on for "+master) {
		t.Errorf("maintenance output: %s", r)
	}
	var moved string
	d := waitT(t, "the VIP to leave "+master, 15*time.Second, func() error {
		h := e.g.VIPHolders()
		if len(h) != 1 || h[0] == master {
			return fmt.Errorf("VIP holders %v", h)
		}
		moved = h[0]
		return nil
	})
	t.Logf("maintenance on %s: VIP moved to %s in %v", master, moved, d.Round(time.Millisecond))
	if txt := e.mustCLI(t, e.g.Node(moved), "members").stdout; !regexp.MustCompile(`(?m)^` + master + ` +alive .* yes$`).MatchString(txt) {
		t.Errorf("members does not show %s in maintenance:\n%s", master, txt)
	}
	// Traffic flows through the new master (once the client's neighbour
	// entry follows the gratuitous ARP).
	hc := e.g.ClientHTTP(time.Second)
	waitT(t, "a request through the VIP on "+moved, 5*time.Second, func() error { _, err := e.g.Get(hc); return err })
	if got := e.servedBy(t, 6); got["error"] != 0 {
		t.Errorf("traffic with %s in maintenance: %v", master, got)
	}
	e.mustCLI(t, f, "maintenance", master, "off")
	d = e.waitVIP(t, master, 15*time.Second)
	t.Logf("maintenance off: VIP back on %s in %v", master, d.Round(time.Millisecond))
	if r := e.cli(t, f, "maintenance", "n9", "on"); r.code == 0 || !strings.Contains(r.stderr, "404") {
		t.Errorf("maintenance of an unknown node: %s", r)
	}
}

func e2eTransfer(t *testing.T, e *e2eEnv) {
	h := e.g.VIPHolders()
	if len(h) != 1 {
		t.Fatalf("VIP holders %v", h)
	}
	master := h[0]
	to := "n3"
	if master == to {
		to = "n2"
	}
	r := e.mustCLI(t, e.follower(t), "transfer", clustertest.Instance, to)
	if !strings.Contains(r.stdout, "transfer of "+clustertest.Instance+" to "+to+" requested") {
		t.Errorf("transfer output: %s", r)
	}
	d := e.waitVIP(t, to, 15*time.Second)
	t.Logf("transfer %s -> %s: VIP moved in %v", master, to, d.Round(time.Millisecond))
	// The status of the new master says so.
	if txt := e.mustCLI(t, e.g.Node(to), "status").stdout; !regexp.MustCompile(`(?m)^` + to + ` +` + clustertest.Instance + ` +51 +MASTER `).MatchString(txt) {
		t.Errorf("status of %s:\n%s", to, txt)
	}
	// Clearing the transfer hands the instance back to the placement,
	// which puts it where it was.
	if r := e.mustCLI(t, e.g.Nodes[0], "transfer", "-clear", clustertest.Instance); !strings.Contains(r.stdout, "transfer of "+clustertest.Instance+" cleared") {
		t.Errorf("transfer -clear output: %s", r)
	}
	e.waitVIP(t, master, 15*time.Second)
	if r := e.cli(t, e.g.Nodes[0], "transfer", "no_such_instance", "n2"); r.code == 0 || !strings.Contains(r.stderr, "404") {
		t.Errorf("transfer of an unknown instance: %s", r)
	}
}

// e2eErrors: refused writes, sent from a follower (forwarded to the
// leader, refused by its FSM or by the backend), come back as one sentence
// for the operator, in the CLI and in the API's JSON body, without the
// packages' chain ("api: 404 not found: fsm: not found: transfer_vip: ...").
func e2eErrors(t *testing.T, e *e2eEnv) {
	f := e.follower(t)
	before := e.groupState(t)
	for _, c := range []struct {
		args []string
		want string // the whole of stderr
	}{
		{[]string{"transfer", "VI_9", "n2"}, `quadrature transfer: no VRRP instance "VI_9" on this group (404)` + "\n"},
		{[]string{"transfer", "-clear", "VI_9"}, `quadrature transfer: no VRRP instance "VI_9" on this group (404)` + "\n"},
		{[]string{"transfer", clustertest.Instance, "n9"}, `quadrature transfer: no node "n9" in this group (404)` + "\n"},
		{[]string{"maintenance", "n9", "on"}, `quadrature maintenance: no node "n9" in this group (404)` + "\n"},
		{[]string{"drain", "tcp/203.0.113.99:80", clustertest.RealServerID(1)},
			"quadrature drain: no virtual service tcp/203.0.113.99:80 on this group (404)\n"},
		{[]string{"drain", clustertest.ServiceID(), "203.0.113.99:80"},
			"quadrature drain: no real server 203.0.113.99:80 in virtual service " + clustertest.ServiceID() + " (404)\n"},
	} {
		r := e.cli(t, f, c.args...)
		if r.code != 1 || r.stderr != c.want {
			t.Errorf("quadrature %s on %s: %s\nwant stderr %q", strings.Join(c.args, " "), f.Name, r, c.want)
		}
		for _, bad := range []string{"fsm:", "api:", "not found:", "transfer_vip"} {
			if strings.Contains(r.stderr, bad) {
				t.Errorf("quadrature %s: internal chain %q in %q", strings.Join(c.args, " "), bad, r.stderr)
			}
		}
	}
	admin, err := os.ReadFile(e.adminFile)
	if err != nil {
		t.Fatal(err)
	}
	code, body, err := rawHTTP(f, "POST", "/v1/transfer", strings.TrimSpace(string(admin)), `{"instance":"VI_9","node":"n2"}`)
	var eb api.ErrorBody
	if err != nil || code != http.StatusNotFound || json.Unmarshal([]byte(body), &eb) != nil ||
		eb.Error != `no VRRP instance "VI_9" on this group` || eb.Code != "not_found" {
		t.Errorf("POST /v1/transfer VI_9: %d %s %v", code, body, err)
	}
	if after := e.groupState(t); after != before {
		t.Errorf("refused writes changed the group:\n%s\n---\n%s", before, after)
	}
}

// invalidEdits breaks a valid configuration at known places; each entry
// replaces a line and the error must name that line.
var invalidEdits = []struct{ old, new string }{
	{"  virtual_router_id 51\n", "  virtual_router_id 300\n"},
	{"  lb_algo wrr\n", "  lb_algo nosuchsched\n"},
}

func e2eConfig(t *testing.T, e *e2eEnv) {
	leader := e.g.Leader()
	f := e.follower(t)
	dir := t.TempDir()
	// config get: the main file on stdout, the version on stderr.
	r := e.mustCLI(t, f, "config", "get")
	m := regexp.MustCompile(`# config version (\d+)`).FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("config get stderr: %s", r)
	}
	v, _ := strconv.ParseUint(m[1], 10, 64)
	if !strings.Contains(r.stdout, "vrrp_instance "+clustertest.Instance) {
		t.Fatalf("config get: %s", r)
	}
	orig := r.stdout
	path := filepath.Join(dir, "keepalived.conf")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// validate: a valid file.
	write(orig)
	if r := e.mustCLI(t, f, "config", "validate", path); !strings.Contains(r.stdout, fmt.Sprintf("configuration valid (running version %d)", v)) {
		t.Errorf("config validate: %s", r)
	}
	// validate: a changed instance is named in the summary above the diff.
	changed := strings.Replace(orig, "vrrp_instance "+clustertest.Instance+" {",
		"vrrp_instance "+clustertest.Instance+" {\n    garp_master_delay 2", 1)
	write(changed)
	if r := e.mustCLI(t, f, "config", "validate", path); !strings.Contains(r.stdout, "vrrp_instance changed: "+clustertest.Instance+"\n") ||
		!strings.Contains(r.stdout, "+    garp_master_delay 2") {
		t.Errorf("config validate of a changed instance: %s", r)
	}

	// validate: the group's warnings come back as FILE:LINE: warning:.
	warned := strings.Replace(orig, "vrrp_instance "+clustertest.Instance+" {",
		"vrrp_instance "+clustertest.Instance+" {\n    nopreempt 1", 1)
	write(warned)
	if r := e.mustCLI(t, f, "config", "validate", path); !strings.Contains(r.stderr+r.stdout, `keepalived.conf:`) ||
		!strings.Contains(r.stderr+r.stdout, `: warning: nopreempt takes no value: "1" is ignored`) {
		t.Errorf("config validate of a file with a warning: %s", r)
	}

	// An invalid file: exit 1, every error as FILE:LINE, nothing changes.
	bad := orig
	var lines []int
	for _, ed := range invalidEdits {
		i := strings.Index(bad, ed.old)
		if i < 0 {
			t.Fatalf("config lacks %q", ed.old)
		}
		lines = append(lines, strings.Count(bad[:i], "\n")+1)
		bad = bad[:i] + ed.new + bad[i+len(ed.old):]
	}
	write(bad)
	for _, args := range [][]string{
		{"config", "validate", path},
		{"config", "put", "-if-match", strconv.FormatUint(v, 10), path},
	} {
		r := e.cli(t, f, args...)
		t.Logf("%s of a file broken at lines %v: exit %d, %s", strings.Join(args[:2], " "), lines, r.code, strings.TrimSpace(r.stderr))
		if r.code != 1 || !strings.Contains(r.stderr, "422") {
			t.Errorf("%v of an invalid file: %s", args[:2], r)
		}
		for _, l := range lines {
			if !strings.Contains(r.stderr, fmt.Sprintf("keepalived.conf:%d: ", l)) {
				t.Errorf("%v: no error at keepalived.conf:%d:\n%s", args[:2], l, r.stderr)
			}
		}
	}
	e.sameVersion(t, v)

	// A stale -if-match: 412, a conflict message, nothing changes.
	edited := orig + "\n# edited by the e2e test\n"
	write(edited)
	r = e.cli(t, f, "config", "put", "-if-match", strconv.FormatUint(v+7, 10), path)
	t.Logf("config put -if-match %d (running %d): exit %d, %s", v+7, v, r.code, strings.TrimSpace(r.stderr))
	if r.code != 1 || !strings.Contains(r.stderr, "412") || !strings.Contains(r.stderr, "someone changed the configuration") {
		t.Errorf("config put with a stale -if-match: %s", r)
	}
	e.sameVersion(t, v)

	// The right -if-match on a follower: forwarded to the leader, applied
	// everywhere.
	r = e.mustCLI(t, f, "config", "put", "-if-match", strconv.FormatUint(v, 10), path)
	if !strings.Contains(r.stdout, fmt.Sprintf("configuration version %d applied", v+1)) {
		t.Errorf("config put on follower %s (leader %s): %s", f.Name, leader, r)
	}
	waitT(t, "every node on the new version", 15*time.Second, func() error {
		for name, got := range e.configVersions(t) {
			if got != v+1 {
				return fmt.Errorf("%s runs v%d", name, got)
			}
		}
		return nil
	})
	for _, n := range e.g.Nodes {
		r := e.mustCLI(t, n, "config", "get")
		if r.stdout != edited || !strings.Contains(r.stderr, fmt.Sprintf("# config version %d", v+1)) {
			t.Errorf("%s: config get after the put: %s", n.Name, r)
		}
	}
	// The same write again with the old version is now a conflict.
	if r := e.cli(t, e.g.Node(leader), "config", "put", "-if-match", strconv.FormatUint(v, 10), path); r.code != 1 || !strings.Contains(r.stderr, "412") {
		t.Errorf("second put with -if-match %d: %s", v, r)
	}
	// -o json of config get carries the version and the files.
	var doc api.ConfigDoc
	r = e.mustCLI(t, e.g.Nodes[2], "config", "get", "-o", "json")
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.Version != v+1 || doc.Files[doc.Main] != edited {
		t.Errorf("config get -o json: version %d main %q err %v", doc.Version, doc.Main, err)
	}
	// The group still serves.
	e.sameVersion(t, v+1)
	if got := e.servedBy(t, 6); got["error"] != 0 {
		t.Errorf("traffic after the config change: %v", got)
	}
}
