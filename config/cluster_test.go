package config

import "testing"

// One file for every node: peers may list the node's own bind address,
// which is then not a peer, and bootstrap_expect counts each node once.
func TestClusterPeersIncludeSelf(t *testing.T) {
	src := []byte(`cluster {
  @a bind 192.0.2.1
  @b bind 192.0.2.2
  peers 192.0.2.1 192.0.2.2 192.0.2.3
  credentials /etc/quadrature/credentials
}
`)
	for _, node := range []string{"a", "b"} {
		c, _, err := LoadBytes("one.conf", src, LoadOptions{Node: node})
		if err != nil {
			t.Fatalf("node %s: %v", node, err)
		}
		if got := c.Cluster.BootstrapExpect; got != 3 {
			t.Errorf("node %s: bootstrap_expect = %d, want 3", node, got)
		}
		back, _, err := LoadBytes("render.conf", c.Render(), LoadOptions{Node: node})
		if err != nil || !Equal(c, back) {
			t.Errorf("node %s: render round trip: %v %s", node, err, Diff(c, back))
		}
	}
}
