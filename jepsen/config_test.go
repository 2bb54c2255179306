package jepsen

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"quadrature/config"
	"quadrature/internal/clustertest"
)

func testParams(n int) clustertest.ConfigParams {
	p := clustertest.ConfigParams{Initial: n, TokenFile: "/nonexistent/token"}
	for i := 1; i <= n; i++ {
		p.Nodes = append(p.Nodes, clustertest.NodeParams{Name: clustertest.NodeName(i), Addr: clustertest.NodeAddr(i),
			Priority: clustertest.NodePriority(i), DataDir: fmt.Sprintf("/nonexistent/n%d", i),
			Credentials: fmt.Sprintf("/nonexistent/credentials/n%d", i)})
	}
	for i := range p.Nodes {
		for _, q := range p.Nodes {
			p.Nodes[i].Peers = append(p.Nodes[i].Peers, q.Addr)
		}
	}
	return p
}

// TestRenderConfig: the group's config (as first written and as every
// CAS write rewrites it) is a valid keepalived.conf for every node, with
// quorum_fence on vf1 only, vf1 preferring the last node, and the weights
// of the write on the fenced VIP's service.
func TestRenderConfig(t *testing.T) {
	for _, nodes := range []int{3, 5} {
		p := testParams(nodes)
		weights := []int{5, 1, 3, 2, 4}[:nodes]
		text := RenderConfig(p, weights, "p1-7")
		if !strings.HasSuffix(text, writeMarker+"p1-7\n") || tag(text) != "[p1-7]" {
			t.Fatalf("marker missing: %q", text[len(text)-40:])
		}
		if tag(RenderConfig(p, nil, "")) != "[initial]" {
			t.Error("initial config tagged as a write")
		}
		for _, np := range p.Nodes {
			cfg, _, err := config.LoadBytes("keepalived.conf", []byte(text), config.LoadOptions{Node: np.Name})
			if err != nil {
				t.Fatalf("%d nodes, %s: %v\n%s", nodes, np.Name, err, text)
			}
			if errs := config.CheckSupport(cfg); len(errs) > 0 {
				t.Fatalf("%s: unsupported: %v", np.Name, errs)
			}
			insts := map[string]config.VRRPInstance{}
			for _, in := range cfg.Instances {
				insts[in.Name] = in
			}
			vi, vf := insts[AvailInstance], insts[FencedInstance]
			if vi.QuorumFence || !vf.QuorumFence {
				t.Errorf("%s: quorum_fence vi1=%v vf1=%v, want false, true", np.Name, vi.QuorumFence, vf.QuorumFence)
			}
			if len(vf.VIPs) != 1 || vf.VIPs[0].Prefix.Addr() != FencedVIP || vf.VRID == vi.VRID {
				t.Errorf("%s: vf1 %+v", np.Name, vf)
			}
			last := np.Name == clustertest.NodeName(nodes)
			if (vf.Priority > 200-1) != last {
				t.Errorf("%s: vf1 priority %d (the last node must be preferred)", np.Name, vf.Priority)
			}
			var fencedVS *config.VirtualServer
			for i := range cfg.VirtualServers {
				if cfg.VirtualServers[i].Addr == FencedVIP {
					fencedVS = &cfg.VirtualServers[i]
				}
			}
			if fencedVS == nil || len(fencedVS.RealServers) != nodes {
				t.Fatalf("%s: no service on the fenced VIP with %d real servers", np.Name, nodes)
			}
			for i, rs := range fencedVS.RealServers {
				if rs.Addr != clustertest.NodeAddr(i+1) || rs.Weight != weights[i] {
					t.Errorf("%s: real server %d %v weight %d, want %v weight %d", np.Name, i, rs.Addr, rs.Weight, clustertest.NodeAddr(i+1), weights[i])
				}
			}
		}
	}
	if VIPs()[FencedInstance] != netip.MustParseAddr("203.0.113.9") {
		t.Error("fenced VIP moved")
	}
}
