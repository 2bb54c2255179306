package clustertest

import (
	"net/netip"
	"testing"
	"time"

	"quadrature/config"
)

// TestDefaultConfigValid renders the default config for groups of every
// shape the tests use and loads it for every node: it must be valid and
// evaluate to the addressing the harness assumes.
func TestDefaultConfigValid(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"three", Options{Nodes: 3}},
		{"five-late", Options{Nodes: 5, Initial: 3}},
		{"fenced-any", Options{Nodes: 3, QuorumFence: true, VerdictPolicy: "any", DegradedAfter: 2 * time.Second, Weight: 5}},
		{"insecure", Options{Nodes: 3, Insecure: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			if o.Initial == 0 {
				o.Initial = o.Nodes
			}
			p := ConfigParams{Initial: o.Initial, TokenFile: "/nonexistent/token", Options: o, Insecure: o.Insecure}
			var initial []netip.Addr
			for i := 1; i <= o.Initial; i++ {
				initial = append(initial, NodeAddr(i))
			}
			for i := 1; i <= o.Nodes; i++ {
				np := NodeParams{Name: NodeName(i), Addr: NodeAddr(i), DataDir: "/nonexistent/" + NodeName(i), Priority: NodePriority(i), Peers: initial}
				if !o.Insecure {
					np.Credentials = "/nonexistent/credentials/" + NodeName(i)
				}
				p.Nodes = append(p.Nodes, np)
			}
			src := DefaultConfig(p)
			for i := 1; i <= o.Nodes; i++ {
				c, diags, err := config.LoadBytes("keepalived.conf", []byte(src), config.LoadOptions{Node: NodeName(i)})
				if err != nil {
					t.Fatalf("node %s: %v\n%s", NodeName(i), err, src)
				}
				for _, d := range diags {
					t.Logf("node %s: %s", NodeName(i), d.String())
				}
				if c.Cluster == nil || c.Cluster.Bind != NodeAddr(i) {
					t.Fatalf("node %s: cluster bind %v, want %v", NodeName(i), c.Cluster, NodeAddr(i))
				}
				if len(c.Instances) != 1 || c.Instances[0].Priority != NodePriority(i) || c.Instances[0].QuorumFence != o.QuorumFence {
					t.Fatalf("node %s: instances %+v", NodeName(i), c.Instances)
				}
				if got := c.Cluster.VerdictPolicy; got != o.verdictPolicy() {
					t.Fatalf("node %s: verdict_policy %q", NodeName(i), got)
				}
				if len(c.VirtualServers) != 1 || len(c.VirtualServers[0].RealServers) != o.Nodes {
					t.Fatalf("node %s: virtual servers %+v", NodeName(i), c.VirtualServers)
				}
			}
		})
	}
}
