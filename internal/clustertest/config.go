package clustertest

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Fixed addressing of a group (documentation range 203.0.113.0/24 on the
// lab's bridge): node i (1-based) is 203.0.113.(10+i), the VIP is
// 203.0.113.10, the client namespace is 203.0.113.100.
const (
	// VIPPort is the virtual service port (TCP).
	VIPPort = 80
	// AppPort is where every node's application server listens.
	AppPort = 8080
	// APIPort is every agent's admin API port.
	APIPort = 9900
	// Instance is the name of the VRRP instance of the default config.
	Instance = "vi1"
)

var (
	// VIP is the virtual address of the default config.
	VIP = netip.MustParseAddr("203.0.113.10")
	// ClientAddr is the client namespace's address.
	ClientAddr = netip.MustParseAddr("203.0.113.100")
)

// NodeName is the name of node i (1-based): "n1", "n2", ...
func NodeName(i int) string { return fmt.Sprintf("n%d", i) }

// NodeAddr is the LAN address of node i (1-based).
func NodeAddr(i int) netip.Addr { return netip.AddrFrom4([4]byte{203, 0, 113, byte(10 + i)}) }

// NodePriority is the configured VRRP priority of node i in the default
// config: n1 is the highest (200), then 190, 180, ...
func NodePriority(i int) int { return 210 - 10*i }

// ConfigParams is what a config template gets to write one file for the
// whole group.
type ConfigParams struct {
	// Nodes lists every node of the group, in order (including those that
	// start later).
	Nodes []NodeParams
	// Initial is how many nodes start at once (bootstrap_expect).
	Initial int
	// TokenFile is the admin token file every agent reads (with
	// credentials: the one `quadrature cluster init` wrote).
	TokenFile string
	// Insecure: the group runs without credentials (`insecure yes`, API
	// over plain HTTP with TokenFile); otherwise every node has Credentials.
	Insecure bool
	// Options are the group's options (policy, degraded_after, fence...).
	Options Options
}

// NodeParams describes one node for the config template.
type NodeParams struct {
	Name     string
	Addr     netip.Addr
	DataDir  string
	Priority int
	// Peers are the addresses this node lists in its peers line.
	Peers []netip.Addr
	// Credentials is the node's directory from `quadrature cluster init`
	// ("" when the group is Insecure).
	Credentials string
}

// DefaultConfig renders the standard test group: one keepalived.conf with
// @NAME lines, a cluster block (tuned for tests), one VRRP v3 instance
// (advert_int 0.2) holding VIP/24 on eth0, and one NAT virtual service
// VIP:80 (nftables backend, masquerade) whose real servers are every
// node's own application server on :8080, checked with HTTP_GET every
// second (delay_loop 1, retry 0).
func DefaultConfig(p ConfigParams) string {
	o := p.Options
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("# clustertest group: %d nodes, one file for all (@NAME lines)", len(p.Nodes))
	w("global_defs {")
	w("  router_id clustertest")
	w("  script_user root")
	w("  lvs_backend nftables")
	w("}")
	w("")
	w("cluster {")
	for _, n := range p.Nodes {
		w("  @%s bind %s", n.Name, n.Addr)
		peers := make([]string, len(n.Peers))
		for i, a := range n.Peers {
			peers[i] = a.String()
		}
		w("  @%s peers %s", n.Name, strings.Join(peers, " "))
		w("  @%s data_dir %s", n.Name, n.DataDir)
		if n.Credentials != "" {
			w("  @%s credentials %s", n.Name, n.Credentials)
		}
	}
	if p.Insecure {
		w("  insecure yes")
	}
	w("  bootstrap_expect %d", p.Initial)
	w("  verdict_policy %s", o.verdictPolicy())
	if o.DegradedAfter > 0 {
		w("  degraded_after %s", o.DegradedAfter)
	}
	w("  api {")
	w("    listen 0.0.0.0:%d", APIPort)
	if p.Insecure {
		w("    token_file %s", p.TokenFile)
	}
	w("  }")
	w("}")
	w("")
	w("vrrp_instance %s {", Instance)
	w("  state BACKUP")
	w("  interface eth0")
	w("  virtual_router_id 51")
	w("  version 3")
	w("  advert_int 0.2")
	for _, n := range p.Nodes {
		w("  @%s priority %d", n.Name, n.Priority)
	}
	if o.QuorumFence {
		w("  quorum_fence")
	}
	w("  virtual_ipaddress {")
	w("    %s/24", VIP)
	w("  }")
	w("}")
	w("")
	w("virtual_server %s %d {", VIP, VIPPort)
	w("  protocol TCP")
	w("  lb_algo wrr")
	w("  lb_kind NAT")
	w("  delay_loop 1")
	for _, n := range p.Nodes {
		WriteRealServer(w, n.Addr, o.weight())
	}
	w("}")
	return b.String()
}

// WriteRealServer writes, through w (one line per call), the real_server
// block of the default config for a node's application server: weight,
// HTTP_GET on / expecting 200, connect_timeout 0.5, retry 0.
func WriteRealServer(w func(format string, args ...any), addr netip.Addr, weight int) {
	w("  real_server %s %d {", addr, AppPort)
	w("    weight %d", weight)
	w("    HTTP_GET {")
	w("      url {")
	w("        path /")
	w("        status_code 200")
	w("      }")
	w("      connect_timeout 0.5")
	w("      retry 0")
	w("    }")
	w("  }")
}

func (o Options) verdictPolicy() string {
	if o.VerdictPolicy == "" {
		return "majority"
	}
	return o.VerdictPolicy
}

func (o Options) weight() int {
	if o.Weight == 0 {
		return 1
	}
	return o.Weight
}

// Options configures a Group.
type Options struct {
	// Nodes is the group size (default 3, at most 9).
	Nodes int
	// Initial is how many nodes start in New (default Nodes); the others
	// start with StartAgent and join through their peers.
	Initial int
	// JoinVia names the peers a late node (index > Initial) lists; default
	// all initial nodes. Initial nodes always list the initial nodes.
	JoinVia map[string][]string
	// VerdictPolicy is the cluster verdict_policy (default majority).
	VerdictPolicy string
	// DegradedAfter sets cluster degraded_after (0 = the default 10s).
	DegradedAfter time.Duration
	// QuorumFence adds quorum_fence to the VRRP instance.
	QuorumFence bool
	// Weight is every real server's configured weight (default 1).
	Weight int
	// Config replaces DefaultConfig (it must keep the addressing above).
	Config func(ConfigParams) string
	// AgentArgs are extra flags for every agent (after -config, -node,
	// -timing tuned).
	AgentArgs []string
	// NoApps skips starting the application servers.
	NoApps bool
	// Insecure runs the group without credentials (`insecure yes`, API
	// over HTTP). By default New writes credentials with `quadrature
	// cluster init`'s package and the API is HTTPS with the group's CA.
	Insecure bool
}
