package jepsen

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/raft"
	"golang.org/x/sys/unix"

	"quadrature/api"
	"quadrature/cluster/credentials"
	"quadrature/fsm"
	"quadrature/internal/clustertest"
	"quadrature/internal/netnstest"
	"quadrature/vrrp"
)

// The attacker's address: a fourth host on the group's LAN.
var attackerAddr = netip.MustParseAddr("203.0.113.66")

const (
	raftPort   = 9901
	gossipPort = 9902
)

// groupView is what an attack must not change.
type groupView struct {
	version uint64
	leader  string
	members []string
	servers []string
}

func (v groupView) String() string {
	return fmt.Sprintf("config v%d, leader %s, members %v, raft servers %v", v.version, v.leader, v.members, v.servers)
}

func viewOf(t *testing.T, g *clustertest.Group) groupView {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	n := g.Nodes[0]
	st, err := n.API.Status(ctx)
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	ms, err := n.API.Members(ctx)
	if err != nil {
		t.Fatalf("members: %v", err)
	}
	rs, err := n.API.RaftServers(ctx)
	if err != nil {
		t.Fatalf("raft servers: %v", err)
	}
	v := groupView{version: st.ConfigVersion, leader: st.Leader}
	for _, m := range ms {
		v.members = append(v.members, m.Name)
	}
	for _, s := range rs {
		v.servers = append(v.servers, s.Name)
	}
	slices.Sort(v.members)
	slices.Sort(v.servers)
	return v
}

// attackLog collects one line per attack for the report at the end.
type attackLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *attackLog) add(attack, result string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf("%-44s %s", attack, result))
}

// TestAttackerOnTheLAN starts a default (secure) three-node group and,
// from a fourth namespace on the same LAN, tries what issues 14 and 19
// list: joining gossip and Raft with a rogue agent, forged Raft and
// forwarding-RPC frames, API writes without or with a wrong token, a
// replayed captured request, 1,000 slow connections and a 100 MB body.
// Every attempt must be refused or bounded, the group must keep serving,
// and nothing may change.
func TestAttackerOnTheLAN(t *testing.T) {
	netnstest.RequireRoot(t)
	g := clustertest.New(t, clustertest.Options{Nodes: 3})
	g.WaitReady()
	att := g.Lab.AddHost("attacker", netip.PrefixFrom(attackerAddr, 24).String())
	before := viewOf(t, g)
	t.Logf("group before the attacks: %s", before)
	log := &attackLog{}
	defer func() {
		t.Logf("attack results:\n%s", strings.Join(log.lines, "\n"))
	}()
	unchanged := func(t *testing.T, what string) {
		t.Helper()
		if now := viewOf(t, g); now.String() != before.String() {
			t.Errorf("%s changed the group: before %s, now %s", what, before, now)
		}
	}
	dial := clustertest.NSDialer(att, 2*time.Second)
	n1 := g.Nodes[0]
	raftAddr := netip.AddrPortFrom(n1.Addr, raftPort).String()

	t.Run("RogueAgentJoinsInsecure", func(t *testing.T) {
		seen := runRogue(t, g, att, "rogue", "  insecure yes\n")
		if seen {
			t.Error("a rogue agent without credentials appeared in the group's members")
		}
		unchanged(t, "a rogue agent")
		log.add("join gossip+raft, no credentials", resultOf(t, "refused (never a member, raft unchanged)"))
	})
	t.Run("RogueAgentWithOtherCA", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "other")
		if err := credentials.Init(dir, []credentials.Node{{Name: "n4", Addrs: []netip.Addr{attackerAddr}}}, credentials.Options{}); err != nil {
			t.Fatal(err)
		}
		seen := runRogue(t, g, att, "n4", "  credentials "+filepath.Join(dir, "n4")+"\n")
		if seen {
			t.Error("an agent with another group's credentials appeared in the members")
		}
		unchanged(t, "a rogue agent with another CA")
		log.add("join with another group's CA and key", resultOf(t, "refused (gossip key and certificate rejected)"))
	})
	t.Run("ForgedAppendEntriesAndRequestVote", func(t *testing.T) {
		for _, frame := range []struct {
			name string
			typ  byte
			req  any
		}{
			{"AppendEntries", 0, &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, Addr: []byte(attackerAddr.String() + ":9901")},
				Term: 1000, PrevLogEntry: 1 << 40, PrevLogTerm: 999, LeaderCommitIndex: 1 << 40}},
			{"RequestVote", 1, &raft.RequestVoteRequest{RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("rogue"), Addr: []byte(attackerAddr.String() + ":9901")},
				Term: 1000, LastLogIndex: 1 << 40, LastLogTerm: 999}},
		} {
			var buf bytes.Buffer
			buf.WriteByte('R')
			buf.WriteByte(frame.typ)
			if err := codec.NewEncoder(&buf, &codec.MsgpackHandle{}).Encode(frame.req); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 20; i++ { // a stream of them, as in the finding
				if answered := sendRaw(t, dial, raftAddr, buf.Bytes()); answered != "" {
					t.Errorf("%s in clear: the raft port answered %q", frame.name, answered)
					break
				}
			}
			// The same frames inside TLS with a certificate of another CA.
			if err := sendTLSOtherCA(t, dial, raftAddr, buf.Bytes()); err == nil {
				t.Errorf("%s over TLS with another CA's certificate: accepted", frame.name)
			}
		}
		time.Sleep(2 * time.Second) // a term-1000 vote would have unseated the leader by now
		unchanged(t, "forged raft frames")
		log.add("forged AppendEntries/RequestVote (term 1000)", resultOf(t, "refused before raft (TLS), leader unchanged"))
	})
	t.Run("ForgedForwardingRPC", func(t *testing.T) {
		empty := fsm.MustEncode(fsm.SetConfig{ExpectVersion: before.version, Main: "keepalived.conf", Files: []fsm.File{{Name: "keepalived.conf"}}})
		for _, req := range []map[string]any{
			{"op": "apply", "cmd": empty},
			{"op": "add_voter", "id": "rogue", "addr": attackerAddr.String() + ":9901"},
			{"op": "remove_server", "id": "n2"},
		} {
			body, _ := json.Marshal(req)
			frame := []byte{'F', 0, 0, 0, 0}
			binary.BigEndian.PutUint32(frame[1:], uint32(len(body)))
			if answered := sendRaw(t, dial, raftAddr, append(frame, body...)); answered != "" {
				t.Errorf("forwarding RPC %s: answered %q", req["op"], answered)
			}
		}
		unchanged(t, "forged forwarding RPCs")
		log.add("forged 'F' RPC: apply, add_voter, remove_server", resultOf(t, "refused (TLS), nothing applied"))
	})
	t.Run("APIWritesWithoutCredentials", func(t *testing.T) {
		hc := &http.Client{Timeout: 5 * time.Second, Transport: g.Transport(att, false)}
		for _, tc := range []struct {
			name, token string
			want        int
		}{{"no token", "", http.StatusUnauthorized}, {"wrong token", "0123456789abcdef0123456789abcdef", http.StatusUnauthorized}} {
			for _, path := range []string{"/v1/config", "/v1/drain", "/v1/transfer", "/v1/raft/voters", "/v1/revocations"} {
				method := "POST"
				if path == "/v1/config" {
					method = "PUT"
				}
				code := do(t, hc, method, g.APIURL(n1, path), tc.token, `{"node":"n1","vs":"x","rs":"x","name":"rogue","addr":"203.0.113.66:9901","instance":"vi1"}`)
				if code != tc.want {
					t.Errorf("%s %s with %s: %d, want %d", method, path, tc.name, code, tc.want)
				}
			}
		}
		// Plain HTTP to the HTTPS port: the server refuses to speak.
		plain := &http.Client{Timeout: 5 * time.Second, Transport: g.Transport(att, false)}
		if code := do(t, plain, "PUT", "http://"+netip.AddrPortFrom(n1.Addr, clustertest.APIPort).String()+"/v1/config", g.Token, ""); code == http.StatusOK {
			t.Error("a plain-HTTP request to the API was served")
		}
		// Reads that show the config or scripts need a token too.
		for _, path := range []string{"/v1/config", "/v1/status", "/v1/services", "/v1/members"} {
			if code := do(t, hc, "GET", g.APIURL(n1, path), "", ""); code != http.StatusUnauthorized {
				t.Errorf("GET %s without a token: %d", path, code)
			}
		}
		unchanged(t, "API writes without credentials")
		log.add("API writes/reads without or with a wrong token", resultOf(t, "401 on every route, plain HTTP refused"))
	})
	t.Run("ReplayCapturedRequest", func(t *testing.T) {
		captured, version := captureConfigPut(t, g, att, n1)
		before.version = version // the legitimate write through the proxy
		for i := 0; i < 3; i++ {
			if answered := sendRaw(t, dial, netip.AddrPortFrom(n1.Addr, clustertest.APIPort).String(), captured); strings.Contains(answered, "200 OK") {
				t.Errorf("the replayed TLS stream was served: %q", answered)
			}
		}
		unchanged(t, "replaying the captured request")
		// An insider replaying the request in clear (token and If-Match
		// included) is refused by the compare-and-swap.
		hc := &http.Client{Timeout: 5 * time.Second, Transport: g.Transport(g.Client, false)}
		req, _ := http.NewRequest("PUT", g.APIURL(n1, "/v1/config"), strings.NewReader(g.ConfigText))
		req.Header.Set("Authorization", "Bearer "+g.Token)
		req.Header.Set("Content-Type", "text/plain")
		req.Header.Set("If-Match", fmt.Sprintf(`"%d"`, version-1))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusPreconditionFailed {
			t.Errorf("application-level replay with the old If-Match: %s, want 412", resp.Status)
		}
		unchanged(t, "replaying with the old If-Match")
		log.add("replay of a captured config PUT", resultOf(t, fmt.Sprintf("TLS replay not served; in-clear replay 412 (%d bytes captured)", len(captured))))
	})
	t.Run("SlowConnections", func(t *testing.T) {
		res := slowConnections(t, g, att, n1, 1000)
		unchanged(t, "1,000 slow connections")
		log.add("1,000 slow connections on the API", resultOf(t, res))
	})
	t.Run("HugeBody", func(t *testing.T) {
		res := hugeBody(t, g, att, n1)
		unchanged(t, "a 100 MB body")
		log.add("100 MB request body", resultOf(t, res))
	})
	t.Run("ForgedVRRPOwnerAdverts", func(t *testing.T) {
		res := forgeOwnerAdverts(t, g, att)
		log.add("forged VRRP adverts, priority 255", resultOf(t, res))
	})
	victim := "n3" // RevokedNodeStaysOut revokes it; GroupStillServes checks the others
	t.Run("RevokedNodeStaysOut", func(t *testing.T) {
		// The operator revokes a stolen box: it leaves Raft, and its valid
		// certificate is refused from then on, though it keeps running. The
		// victim is the leader when that is not n1 (whom the test asks):
		// the deny list is committed before the removal, and the next
		// leader finishes it.
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		if v := viewOf(t, g); v.leader != "" && v.leader != "n1" {
			victim = v.leader
		}
		t.Logf("revoking %s (leader %s)", victim, viewOf(t, g).leader)
		if err := g.Nodes[0].API.Revoke(ctx, victim, true); err != nil {
			t.Fatal(err)
		}
		g.WaitFor(victim+" out of raft", 15*time.Second, func() error {
			if v := viewOf(t, g); slices.Contains(v.servers, victim) {
				return fmt.Errorf("raft servers %v", v.servers)
			}
			return nil
		})
		time.Sleep(3 * time.Second) // the victim keeps trying
		if v := viewOf(t, g); slices.Contains(v.servers, victim) {
			t.Errorf("the revoked node came back: %s", v)
		}
		// The attacker holds the victim's stolen, still valid certificate.
		frame := rpcFrameJSON(t, map[string]any{"op": "status"})
		if err := sendTLSWith(t, dial, raftAddr, filepath.Join(g.CredDir, victim), frame); err == nil {
			t.Errorf("%s's certificate is still accepted after its revocation", victim)
		}
		refused := metricValue(t, g.Nodes[0], `quadrature_cluster_peer_refused_total{reason="revoked"}`)
		if refused < 1 {
			t.Errorf("the refusal was not counted (quadrature_cluster_peer_refused_total{reason=\"revoked\"} = %v)", refused)
		}
		log.add("revoked node, its stolen certificate used", resultOf(t, "refused: out of raft, the certificate refused and counted"))
	})
	t.Run("GroupStillServes", func(t *testing.T) {
		g.WaitFor("a member to hold the VIP again", 20*time.Second, func() error {
			if len(g.VIPHolders()) != 1 {
				return fmt.Errorf("VIP holders %v", g.VIPHolders())
			}
			return nil
		})
		var rest []*clustertest.Node // the nodes that were not revoked
		for _, n := range g.Nodes {
			if n.Name != victim {
				rest = append(rest, n)
			}
		}
		g.AssertConverged(rest...)
		if _, err := g.Get(g.ClientHTTP(2 * time.Second)); err != nil {
			t.Errorf("the VIP no longer serves: %v", err)
		}
		log.add("group after the attacks", resultOf(t, "converged, VIP serving"))
	})
}

func resultOf(t *testing.T, ok string) string {
	if t.Failed() {
		return "FAILED"
	}
	return ok
}

// runRogue runs a quadrature agent named name in the attacker's namespace
// for a few seconds, with clusterExtra in its cluster block, and reports
// whether any real node listed it as a member meanwhile.
func runRogue(t *testing.T, g *clustertest.Group, att *netnstest.NS, name, clusterExtra string) (seen bool) {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global_defs {
  router_id %[1]s
}
cluster {
  node_name %[1]s
  bind %[2]s
  peers %[3]s %[4]s %[5]s
  bootstrap_expect 2
  data_dir %[6]s
%[7]s}
`, name, attackerAddr, g.Nodes[0].Addr, g.Nodes[1].Addr, g.Nodes[2].Addr, filepath.Join(dir, "data"), clusterExtra)
	path := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "rogue.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command("ip", "netns", "exec", att.Name, g.Bins.Agent, "agent", "-config", path, "-node", name,
		"-timing", "tuned", "-backend", "none", "-api-listen", "off")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := att.Start(cmd); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("rogue agent log:\n%s", b)
		}
	}()
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) {
		for _, n := range g.Nodes {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			ms, err := n.API.Members(ctx)
			cancel()
			if err != nil {
				continue
			}
			for _, m := range ms {
				if m.Name == name {
					seen = true
				}
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	return seen
}

// sendRaw writes b on a new TCP connection from the attacker and returns
// what the server answered within 2 s ("" when it closed or said nothing).
func sendRaw(t *testing.T, dial func(context.Context, string, string) (net.Conn, error), addr string, b []byte) string {
	t.Helper()
	c, err := dial(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	_, _ = c.Write(b)
	got, _ := io.ReadAll(c)
	// A TLS server answers a non-TLS first byte with a TLS alert record
	// (content type 21) or an HTTP 400 for HTTP: neither serves anything.
	if len(got) > 0 && got[0] == 21 {
		return ""
	}
	return string(got)
}

// sendTLSOtherCA completes what it can of a TLS handshake with a
// certificate of a CA the group never saw, then sends b; it returns nil
// only if the server answered b.
func sendTLSOtherCA(t *testing.T, dial func(context.Context, string, string) (net.Conn, error), addr string, b []byte) error {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "x")
	if err := credentials.Init(dir, []credentials.Node{{Name: "n1", Addrs: []netip.Addr{attackerAddr}}}, credentials.Options{}); err != nil {
		t.Fatal(err)
	}
	return sendTLSWith(t, dial, addr, filepath.Join(dir, "n1"), b)
}

// sendTLSWith is sendTLSOtherCA with the certificate in nodeDir.
func sendTLSWith(t *testing.T, dial func(context.Context, string, string) (net.Conn, error), addr, nodeDir string, b []byte) error {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(nodeDir, credentials.CertFile), filepath.Join(nodeDir, credentials.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := dial(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(3 * time.Second))
	c := tls.Client(raw, &tls.Config{Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}) //nolint:gosec // the attacker does not care who answers
	if err := c.Handshake(); err != nil {
		return err
	}
	if _, err := c.Write(b); err != nil {
		return err
	}
	buf := make([]byte, 1)
	if _, err := c.Read(buf); err != nil {
		return err
	}
	return nil
}

// rpcFrameJSON is a forwarding-RPC frame after the mux byte 'F'.
func rpcFrameJSON(t *testing.T, req map[string]any) []byte {
	t.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	frame := []byte{'F', 0, 0, 0, 0}
	binary.BigEndian.PutUint32(frame[1:], uint32(len(body)))
	return append(frame, body...)
}

func do(t *testing.T, hc *http.Client, method, url, token, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// captureConfigPut makes the operator's client (in the client namespace)
// send a legitimate config PUT through a TCP relay the attacker runs, as
// if it sat on the path, and returns the client-to-server bytes it
// recorded and the version the write produced.
func captureConfigPut(t *testing.T, g *clustertest.Group, att *netnstest.NS, target *clustertest.Node) ([]byte, uint64) {
	t.Helper()
	var ln net.Listener
	if err := att.Do(func() (err error) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(attackerAddr, 19900).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var captured bytes.Buffer
	var mu sync.Mutex
	relayed := make(chan struct{})
	go func() {
		defer close(relayed)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		up, err := clustertest.NSDialer(att, 2*time.Second)(context.Background(), "tcp", netip.AddrPortFrom(target.Addr, clustertest.APIPort).String())
		if err != nil {
			return
		}
		defer up.Close()
		done := make(chan struct{})
		go func() {
			_, _ = io.Copy(c, up)
			close(done)
		}()
		buf := make([]byte, 32<<10)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				mu.Lock()
				captured.Write(buf[:n])
				mu.Unlock()
				_, _ = up.Write(buf[:n])
			}
			if err != nil {
				break
			}
		}
		_ = up.(*net.TCPConn).CloseWrite()
		<-done
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, version, err := target.API.ConfigText(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(g.CAFile)
	pool.AppendCertsFromPEM(pem)
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true, DialContext: clustertest.NSDialer(g.Client, 2*time.Second),
		// The operator believes it talks to n1 (e.g. a spoofed name).
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: target.Name, MinVersion: tls.VersionTLS12}}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: tr}
	body := g.ConfigText + "\n# written through the attacker's relay\n"
	req, _ := http.NewRequestWithContext(ctx, "PUT", "https://"+netip.AddrPortFrom(attackerAddr, 19900).String()+"/v1/config", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+g.Token)
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("If-Match", fmt.Sprintf(`"%d"`, version))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("the legitimate write through the relay: %v", err)
	}
	var res api.PutConfigResult
	_ = json.NewDecoder(resp.Body).Decode(&res)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || res.Version != version+1 {
		t.Fatalf("the legitimate write through the relay: %s, version %d (had %d)", resp.Status, res.Version, version)
	}
	select {
	case <-relayed:
	case <-time.After(5 * time.Second):
	}
	mu.Lock()
	defer mu.Unlock()
	if captured.Len() == 0 {
		t.Fatal("the relay captured nothing")
	}
	// Every node has applied it before the attack goes on.
	g.AssertConverged()
	return bytes.Clone(captured.Bytes()), res.Version
}

// slowConnections holds n connections on the API from the attacker, each
// sending one byte of a TLS record and nothing more, checks that the
// operator is served meanwhile, and that the server bounds them in time.
func slowConnections(t *testing.T, g *clustertest.Group, att *netnstest.NS, target *clustertest.Node, n int) string {
	t.Helper()
	addr := netip.AddrPortFrom(target.Addr, clustertest.APIPort).String()
	dial := clustertest.NSDialer(att, 2*time.Second)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	refusedAtDial := 0
	for i := 0; i < n; i++ {
		c, err := dial(t.Context(), "tcp", addr)
		if err != nil {
			refusedAtDial++
			continue
		}
		_, _ = c.Write([]byte{22}) // the first byte of a handshake record, then silence
		conns = append(conns, c)
	}
	held := time.Now()
	// Beyond the per-address cap the server closes them at accept.
	time.Sleep(time.Second)
	closedAtAccept := 0
	kept := conns[:0]
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != nil {
			var ne net.Error
			if !(errors.As(err, &ne) && ne.Timeout()) {
				closedAtAccept++
				c.Close()
				continue
			}
		}
		kept = append(kept, c)
	}
	conns = kept
	if closedAtAccept == 0 {
		t.Errorf("none of %d connections from one address was refused: no per-address cap", n)
	}
	// The operator, from another host, is served while they are held.
	var worst time.Duration
	hc := &http.Client{Timeout: 5 * time.Second, Transport: g.Transport(g.Client, false)}
	for i := 0; i < 10; i++ {
		start := time.Now()
		req, _ := http.NewRequest("GET", g.APIURL(target, "/v1/status"), nil)
		req.Header.Set("Authorization", "Bearer "+g.Token)
		resp, err := hc.Do(req)
		if err != nil {
			t.Errorf("status while %d slow connections are held: %v", len(conns), err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("status while slow connections are held: %s", resp.Status)
		}
		worst = max(worst, time.Since(start))
	}
	// The server closes them: count those still open after the bound.
	var open atomic.Int32
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetReadDeadline(held.Add(30 * time.Second))
			buf := make([]byte, 64)
			for {
				if _, err := c.Read(buf); err != nil {
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() {
						open.Add(1)
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	if open.Load() > 0 {
		t.Errorf("%d of %d slow connections still open 30 s later: the server does not bound them", open.Load(), len(conns))
	}
	return fmt.Sprintf("bounded: %d closed at accept (per-address cap), %d held until the server's timeout (%d refused at connect), operator's worst status %s, all closed within 30 s",
		closedAtAccept, len(conns), refusedAtDial, worst.Round(time.Millisecond))
}

// hugeBody sends a 100 MB PUT, without and with the admin token, and
// checks that the server answers without reading it all.
func hugeBody(t *testing.T, g *clustertest.Group, att *netnstest.NS, target *clustertest.Node) string {
	t.Helper()
	const size = 100 << 20
	var out []string
	for _, tc := range []struct {
		name, token string
		want        int
	}{{"no token", "", http.StatusUnauthorized}, {"admin token", g.Token, http.StatusRequestEntityTooLarge}} {
		var sent atomic.Int64
		body := &countingReader{n: size, sent: &sent}
		hc := &http.Client{Timeout: 60 * time.Second, Transport: g.Transport(att, false)}
		req, _ := http.NewRequest("PUT", g.APIURL(target, "/v1/config"), body)
		req.ContentLength = size
		req.Header.Set("Content-Type", "text/plain")
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		start := time.Now()
		resp, err := hc.Do(req)
		code := 0
		if err == nil {
			code = resp.StatusCode
			resp.Body.Close()
		}
		// The server may answer and close while the client still writes:
		// the client then sees the closed connection instead of the status.
		closedEarly := err != nil && code == 0
		if code != tc.want && !closedEarly {
			t.Errorf("100 MB body with %s: status %d (err %v), want %d", tc.name, code, err, tc.want)
		}
		if sent.Load() > 32<<20 {
			t.Errorf("100 MB body with %s: the client got to send %d MB before the answer", tc.name, sent.Load()>>20)
		}
		what := fmt.Sprint(code)
		if closedEarly {
			what = "closed by the server"
		}
		out = append(out, fmt.Sprintf("%s: %s after %d MB in %s", tc.name, what, sent.Load()>>20, time.Since(start).Round(time.Millisecond)))
	}
	return strings.Join(out, "; ")
}

type countingReader struct {
	n    int64
	sent *atomic.Int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	left := r.n - r.sent.Load()
	if left <= 0 {
		return 0, io.EOF
	}
	k := min(int64(len(p)), left)
	for i := range p[:k] {
		p[i] = 'x'
	}
	r.sent.Add(k)
	return int(k), nil
}

// forgeOwnerAdverts sends VRRPv3 adverts of priority 255 for the group's
// VRID from the attacker for 3 s. RFC 5798 makes the members yield (kept,
// as keepalived does); they must count the adverts and flag the attacker
// as a master that is not a member of the group.
func forgeOwnerAdverts(t *testing.T, g *clustertest.Group, att *netnstest.NS) string {
	t.Helper()
	fd := -1
	if err := att.Do(func() error {
		var err error
		if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 112); err != nil {
			return err
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, 255); err != nil {
			return err
		}
		return unix.BindToDevice(fd, "eth0")
	}); err != nil {
		t.Fatalf("raw socket: %v", err)
	}
	defer unix.Close(fd)
	adv := vrrp.Advert{Version: 3, VRID: 51, Priority: 255, Interval: 200 * time.Millisecond, Addrs: []netip.Addr{clustertest.VIP}}
	pkt, err := adv.Marshal(false, attackerAddr, vrrp.GroupIPv4, false)
	if err != nil {
		t.Fatal(err)
	}
	flagged := map[string]bool{}
	end := time.Now().Add(3 * time.Second)
	for time.Now().Before(end) {
		if err := unix.Sendto(fd, pkt, 0, &unix.SockaddrInet4{Addr: vrrp.GroupIPv4.As4()}); err != nil {
			t.Fatalf("send: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
		for _, n := range g.Nodes {
			if !flagged[n.Name] && metricValue(t, n, `quadrature_vrrp_foreign_master{instance="vi1"`) == 1 {
				flagged[n.Name] = true
			}
		}
	}
	var counted []string
	for _, n := range g.Nodes {
		c := metricValue(t, n, `quadrature_vrrp_owner_adverts_total{instance="vi1"`)
		if c < 1 {
			t.Errorf("%s did not count the forged priority-255 adverts", n.Name)
		}
		if !flagged[n.Name] {
			t.Errorf("%s never flagged the attacker as a foreign master", n.Name)
		}
		counted = append(counted, fmt.Sprintf("%s=%.0f", n.Name, c))
	}
	return fmt.Sprintf("yielded as RFC 5798 says; counted (%s), foreign master flagged on %d/3, members re-elect after", strings.Join(counted, " "), len(flagged))
}

// metricValue reads one sample (name{labels... prefix) from n's /metrics;
// -1 when absent.
func metricValue(t *testing.T, n *clustertest.Node, prefix string) float64 {
	t.Helper()
	req, _ := http.NewRequest("GET", n.APIURL("/metrics"), nil)
	resp, err := n.APIHTTPClient(3 * time.Second).Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, prefix) {
			var v float64
			if _, err := fmt.Sscanf(line[strings.LastIndexByte(line, ' ')+1:], "%g", &v); err == nil {
				return v
			}
		}
	}
	return -1
}
