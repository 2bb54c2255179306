package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"quadrature/api"
	"quadrature/api/apitest"
	"quadrature/api/client"
	"quadrature/cluster/credentials"
)

// TestFanoutNeverForwardsTheCallersToken: a member's API (here one that
// records what it receives, as a rogue api_addr would) never sees the
// caller's token, only the node's own read token.
func TestFanoutNeverForwardsTheCallersToken(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	rogue := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		_ = json.NewEncoder(w).Encode(api.VRRPBody{Node: "iwash3"})
	}))
	defer rogue.Close()
	f := apitest.NewFake("iwash1")
	f.Mems[2].APIAddr = strings.TrimPrefix(rogue.URL, "http://")
	ts, _ := apitest.NewServer(t, f, func(o *api.Options) { o.PeerToken = apitest.ReadToken })
	admin := apitest.NewClient(t, ts, apitest.AdminToken)
	if _, err := admin.VRRPNodes(t.Context(), "all"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 {
		t.Fatal("the member was not asked")
	}
	for _, h := range seen {
		if strings.Contains(h, apitest.AdminToken) {
			t.Fatalf("the caller's admin token reached a member: %q", h)
		}
		if h != "Bearer "+apitest.ReadToken {
			t.Fatalf("member got %q, want the node's read token", h)
		}
	}
}

// TestFanoutOverMutualTLS: nodes ask each other with their own
// certificates; a member whose API certificate carries another name (a
// gossip member advertising someone else's address) is not believed.
func TestFanoutOverMutualTLS(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "creds")
	var nodes []credentials.Node
	for _, n := range []string{"iwash1", "iwash2", "iwash3", "rogue"} {
		nodes = append(nodes, credentials.Node{Name: n, Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}})
	}
	if err := credentials.Init(dir, nodes, credentials.Options{}); err != nil {
		t.Fatal(err)
	}
	base := apitest.NewFake("iwash1")
	var fakes []*apitest.Fake
	var addrs []string
	start := func(self, certOf string) string {
		f := base.Clone(self)
		fakes = append(fakes, f)
		nd := filepath.Join(dir, certOf)
		s, err := api.New(api.Options{Backend: f, AdminToken: apitest.AdminToken, ReadToken: apitest.ReadToken,
			Listen: "127.0.0.1:0", TLSCertFile: filepath.Join(nd, credentials.CertFile), TLSKeyFile: filepath.Join(nd, credentials.KeyFile),
			ClientCAFile: filepath.Join(nd, credentials.CAFile), PeerCAFile: filepath.Join(nd, credentials.CAFile),
			PeerCertFile: filepath.Join(nd, credentials.CertFile), PeerKeyFile: filepath.Join(nd, credentials.KeyFile)})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Shutdown(t.Context()) })
		return s.Addr().String()
	}
	addrs = append(addrs, start("iwash1", "iwash1"), start("iwash2", "iwash2"), start("iwash3", "rogue"))
	for _, f := range fakes {
		for i := range f.Mems {
			f.Mems[i].APIAddr = addrs[i]
		}
	}
	c, err := client.New(client.Options{Addr: "https://" + addrs[0], Token: apitest.ReadToken, CAFile: filepath.Join(dir, credentials.CAFile)})
	if err != nil {
		t.Fatal(err)
	}
	all, err := c.VRRPNodes(t.Context(), "all")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range all.Nodes {
		switch n.Node {
		case "iwash2":
			if n.Error != "" || len(n.Instances) != 1 {
				t.Errorf("iwash2 over mutual TLS: %+v", n)
			}
		case "iwash3":
			if n.Error == "" || !strings.Contains(n.Error, "certificate") {
				t.Errorf("a peer with another node's certificate was believed: %+v", n)
			}
		}
	}
	// A client certificate of the group gives read access, never admin.
	nd := filepath.Join(dir, "iwash2")
	peerOnly, err := client.New(client.Options{Addr: "https://" + addrs[0], CAFile: filepath.Join(nd, credentials.CAFile),
		CertFile: filepath.Join(nd, credentials.CertFile), KeyFile: filepath.Join(nd, credentials.KeyFile)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := peerOnly.VRRP(t.Context()); err != nil {
		t.Errorf("a peer's certificate did not give read access: %v", err)
	}
	if err := peerOnly.Maintenance(t.Context(), "iwash2", true); err == nil {
		t.Error("a peer's certificate gave admin access")
	}
}

// TestFanoutPlainHTTPWithoutPeerToken: without TLS and without a read
// token to send, a member is asked with no credentials at all (and
// answers 401, reported), and a member's redirect is not followed.
func TestFanoutPlainHTTPWithoutPeerToken(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	var followed bool
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		followed = true
		mu.Unlock()
	}))
	defer target.Close()
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: "missing bearer token", Code: "unauthorized"})
	}))
	defer peer.Close()
	redirector := httptest.NewServer(http.RedirectHandler(target.URL+"/v1/vrrp", http.StatusTemporaryRedirect))
	defer redirector.Close()
	f := apitest.NewFake("iwash1")
	f.Mems[1].APIAddr = strings.TrimPrefix(peer.URL, "http://")
	f.Mems[2].APIAddr = strings.TrimPrefix(redirector.URL, "http://")
	ts, _ := apitest.NewServer(t, f, nil)
	all, err := apitest.NewClient(t, ts, apitest.AdminToken).VRRPNodes(t.Context(), "all")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range all.Nodes {
		switch n.Node {
		case "iwash2":
			if !strings.Contains(n.Error, "401") {
				t.Errorf("iwash2: %+v", n)
			}
		case "iwash3":
			if !strings.Contains(n.Error, "307") {
				t.Errorf("iwash3 (redirect): %+v", n)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0] != "" {
		t.Errorf("member received Authorization %q, want none", seen)
	}
	if followed {
		t.Error("a member's redirect was followed")
	}
}
