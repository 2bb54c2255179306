package api_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"quadrature/api"
	"quadrature/api/apitest"
)

// group serves one Fake per node of the 3-node group on its own httptest
// server, with every member's api_addr pointing at the right server.
func group(t *testing.T, mod func(*api.Options)) ([]*apitest.Fake, []*httptest.Server) {
	t.Helper()
	base := apitest.NewFake("iwash1")
	var fakes []*apitest.Fake
	var servers []*httptest.Server
	// Nodes of an insecure group show each other the read-only token.
	withPeerToken := func(o *api.Options) {
		o.PeerToken = apitest.ReadToken
		if mod != nil {
			mod(o)
		}
	}
	for _, n := range []string{"iwash1", "iwash2", "iwash3"} {
		f := base.Clone(n)
		ts, _ := apitest.NewServer(t, f, withPeerToken)
		fakes = append(fakes, f)
		servers = append(servers, ts)
	}
	for _, f := range fakes {
		f.Mu.Lock()
		for i := range f.Mems {
			f.Mems[i].APIAddr = strings.TrimPrefix(servers[i].URL, "http://")
		}
		f.Mu.Unlock()
	}
	return fakes, servers
}

func TestVRRPFanout(t *testing.T) {
	fakes, servers := group(t, nil)
	c := apitest.NewClient(t, servers[1], apitest.ReadToken)
	all, err := c.VRRPNodes(t.Context(), "all")
	if err != nil {
		t.Fatal(err)
	}
	if all.Partial || len(all.Nodes) != 3 {
		t.Fatalf("all: %+v", all)
	}
	for i, n := range all.Nodes {
		want := []string{"MASTER", "BACKUP", "BACKUP"}[i]
		if n.Error != "" || len(n.Instances) != 1 || n.Instances[0].State != want {
			t.Errorf("node %s: %+v", n.Node, n)
		}
	}
	one, err := c.VRRPNodes(t.Context(), "iwash1")
	if err != nil || len(one.Nodes) != 1 || one.Nodes[0].Instances[0].State != "MASTER" {
		t.Fatalf("one: %+v %v", one, err)
	}
	if _, err := c.VRRPNodes(t.Context(), "nobody"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("unknown node: %v", err)
	}

	// iwash3 stops answering, a fourth member is dead: partial results.
	servers[2].Close()
	fakes[1].Mu.Lock()
	fakes[1].Mems = append(fakes[1].Mems, api.Member{Name: "iwash4", State: "dead", APIAddr: "198.51.100.14:9900"})
	fakes[1].Mu.Unlock()
	all, err = c.VRRPNodes(t.Context(), "all")
	if err != nil {
		t.Fatal(err)
	}
	if !all.Partial || len(all.Nodes) != 4 {
		t.Fatalf("partial: %+v", all)
	}
	if all.Nodes[0].Error != "" || all.Nodes[1].Error != "" {
		t.Errorf("live nodes: %+v", all.Nodes[:2])
	}
	if all.Nodes[2].Error == "" || all.Nodes[3].Error != "member is dead" {
		t.Errorf("unreachable/dead: %+v", all.Nodes[2:])
	}
}

// TestVRRPFanoutToken: peers get the caller's token, so a peer with other
// tokens answers 401 and the entry says so.
func TestVRRPFanoutToken(t *testing.T) {
	fakes, servers := group(t, func(o *api.Options) { o.FanoutTimeout = 500 * time.Millisecond })
	other := apitest.NewFake("iwash3")
	ts, _ := apitest.NewServer(t, other, func(o *api.Options) { o.AdminToken, o.ReadToken = "x-admin", "x-read" })
	fakes[0].Mu.Lock()
	fakes[0].Mems[2].APIAddr = strings.TrimPrefix(ts.URL, "http://")
	fakes[0].Mu.Unlock()
	c := apitest.NewClient(t, servers[0], apitest.ReadToken)
	all, err := c.VRRPNodes(t.Context(), "all")
	if err != nil {
		t.Fatal(err)
	}
	if !all.Partial || !strings.Contains(all.Nodes[2].Error, "401") {
		t.Fatalf("%+v", all.Nodes[2])
	}
}
