package cluster

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Role is what a node is in the group. Both roles are Raft voters; a witness
// only runs Raft and gossip (no data plane), which the caller decides. The
// role travels in the node metadata so peers and operators can see it.
type Role string

const (
	// RoleVoter is a full director: Raft voter with a data plane.
	RoleVoter Role = "voter"
	// RoleWitness is a Raft voter without a data plane: it gives two
	// directors a quorum.
	RoleWitness Role = "witness"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleVoter || r == RoleWitness }

// TLSConfig names the PEM files for mutual TLS on the Raft stream layer
// (which also carries the forwarding RPC). Every node presents CertFile and
// accepts only peers whose certificate chains to CAFile and whose Subject
// CommonName is a node of the group (see Config.Nodes); host names and IP
// SANs are not checked, so the CA must be dedicated to the cluster (as the
// one `quadrature cluster init` makes is).
type TLSConfig struct {
	CertFile string
	KeyFile  string
	CAFile   string
}

// Timing holds the failure-detection and consensus timers. Use
// DefaultTiming or TunedTiming and adjust; a zero Timing means DefaultTiming.
type Timing struct {
	// memberlist
	ProbeInterval    time.Duration
	ProbeTimeout     time.Duration
	SuspicionMult    int
	GossipInterval   time.Duration
	PushPullInterval time.Duration
	TCPTimeout       time.Duration

	// raft
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration

	// ReconcileInterval is how often the leader compares gossip membership
	// with the Raft configuration and every node re-joins configured peers
	// that gossip does not see; it is also the bootstrap poll period.
	ReconcileInterval time.Duration
	// MonitorInterval is the period of the degraded/quorum watch.
	MonitorInterval time.Duration
	// JoinRetryMax caps the backoff between join attempts.
	JoinRetryMax time.Duration
}

// DefaultTiming is memberlist's LAN profile and raft's defaults: robust on
// busy or lossy networks, about 2-5 s to detect a crash.
func DefaultTiming() Timing {
	return Timing{
		ProbeInterval:      time.Second,
		ProbeTimeout:       500 * time.Millisecond,
		SuspicionMult:      4,
		GossipInterval:     200 * time.Millisecond,
		PushPullInterval:   30 * time.Second,
		TCPTimeout:         10 * time.Second,
		HeartbeatTimeout:   time.Second,
		ElectionTimeout:    time.Second,
		LeaderLeaseTimeout: 500 * time.Millisecond,
		CommitTimeout:      50 * time.Millisecond,
		ReconcileInterval:  2 * time.Second,
		MonitorInterval:    100 * time.Millisecond,
		JoinRetryMax:       30 * time.Second,
	}
}

// TunedTiming is the LAN profile tightened for a small group on a good
// network: sub-second crash detection and leader failover.
func TunedTiming() Timing {
	return Timing{
		ProbeInterval:      200 * time.Millisecond,
		ProbeTimeout:       100 * time.Millisecond,
		SuspicionMult:      2,
		GossipInterval:     100 * time.Millisecond,
		PushPullInterval:   15 * time.Second,
		TCPTimeout:         2 * time.Second,
		HeartbeatTimeout:   300 * time.Millisecond,
		ElectionTimeout:    300 * time.Millisecond,
		LeaderLeaseTimeout: 200 * time.Millisecond,
		CommitTimeout:      3 * time.Millisecond,
		ReconcileInterval:  500 * time.Millisecond,
		MonitorInterval:    25 * time.Millisecond,
		JoinRetryMax:       5 * time.Second,
	}
}

func (t Timing) validate() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"probe_interval", t.ProbeInterval}, {"probe_timeout", t.ProbeTimeout},
		{"gossip_interval", t.GossipInterval}, {"push_pull_interval", t.PushPullInterval},
		{"tcp_timeout", t.TCPTimeout}, {"heartbeat_timeout", t.HeartbeatTimeout},
		{"election_timeout", t.ElectionTimeout}, {"leader_lease_timeout", t.LeaderLeaseTimeout},
		{"commit_timeout", t.CommitTimeout}, {"reconcile_interval", t.ReconcileInterval},
		{"monitor_interval", t.MonitorInterval}, {"join_retry_max", t.JoinRetryMax},
	} {
		if d.v <= 0 {
			return fmt.Errorf("timing %s must be positive, got %s", d.name, d.v)
		}
	}
	if t.SuspicionMult < 1 {
		return fmt.Errorf("timing suspicion_mult must be at least 1, got %d", t.SuspicionMult)
	}
	if t.ProbeTimeout >= t.ProbeInterval {
		return fmt.Errorf("timing probe_timeout %s must be below probe_interval %s", t.ProbeTimeout, t.ProbeInterval)
	}
	if t.LeaderLeaseTimeout > t.HeartbeatTimeout {
		return fmt.Errorf("timing leader_lease_timeout %s must not exceed heartbeat_timeout %s", t.LeaderLeaseTimeout, t.HeartbeatTimeout)
	}
	if t.ElectionTimeout < t.HeartbeatTimeout {
		return fmt.Errorf("timing election_timeout %s must not be below heartbeat_timeout %s", t.ElectionTimeout, t.HeartbeatTimeout)
	}
	return nil
}

// Config is everything a Node needs. The agent converts the keepalived.conf
// cluster block into it.
type Config struct {
	// NodeName is this node's unique name: its Raft server ID and its
	// memberlist name.
	NodeName string
	// BindAddr is the address Raft, gossip (and by default the API) use.
	BindAddr netip.Addr
	// RaftPort is the TCP port of Raft and of the forwarding RPC. 0 picks a
	// free port (tests); a restarted node must keep its port.
	RaftPort int
	// GossipPort is the TCP and UDP port of memberlist. 0 picks a free port.
	GossipPort int
	// Peers are other nodes' gossip addresses, "host" or "host:port" (the
	// port defaults to this node's GossipPort). Any one answering is enough.
	Peers []string
	// BootstrapExpect is how many voters (witnesses included) form the
	// group on first start. 1 bootstraps alone at once. 0 means 1 when
	// Peers is empty and "join an existing group, never bootstrap" otherwise.
	BootstrapExpect int
	// DataDir holds raft.db (log and stable store) and snapshots/.
	DataDir string
	// Role defaults to RoleVoter.
	Role Role
	// GossipKey enables gossip encryption (AES with a 16, 24 or 32 byte
	// key); see LoadGossipKey.
	GossipKey []byte
	// TLS enables mutual TLS on the Raft port when non-nil.
	TLS *TLSConfig
	// Insecure lets a node with peers (or BootstrapExpect > 1) run without
	// TLS and a gossip key. Without it, such a node refuses to start.
	Insecure bool
	// Nodes are the names of the group's configured nodes (this one
	// included). With TLS, only certificates for these names (and for
	// servers already in the Raft configuration) are accepted on the Raft
	// port, and only these members are added as voters by the leader.
	// When it names no node but this one, peers are recognised by the
	// literal IP addresses in Peers (and, without TLS, BindAddr) instead.
	Nodes []string
	// Timing; zero value means DefaultTiming().
	Timing Timing
	// Metadata is the caller's part of the gossip metadata (API address,
	// MACs, table digest, extras). Role, Raft address and bootstrap expect
	// are filled in by the node.
	Metadata Meta
	// DegradedAfter is how long a node may be cut off from a leader before
	// it reports degraded mode. Default 3s.
	DegradedAfter time.Duration
	// SnapshotRetain is how many Raft snapshots to keep. Default 2.
	SnapshotRetain int
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registerer receives the package metrics when non-nil.
	Registerer prometheus.Registerer
}

func (c *Config) withDefaults() Config {
	out := *c
	if out.Role == "" {
		out.Role = RoleVoter
	}
	if out.Timing == (Timing{}) {
		out.Timing = DefaultTiming()
	}
	if out.DegradedAfter == 0 {
		out.DegradedAfter = 3 * time.Second
	}
	if out.SnapshotRetain == 0 {
		out.SnapshotRetain = 2
	}
	if out.Logger == nil {
		out.Logger = slog.Default()
	}
	if out.BootstrapExpect == 0 && len(out.Peers) == 0 {
		out.BootstrapExpect = 1
	}
	out.Peers = append([]string(nil), c.Peers...)
	return out
}

// Validate reports the first problem with c, after defaults are applied.
func (c *Config) Validate() error {
	d := c.withDefaults()
	return d.validate()
}

func (c *Config) validate() error {
	if err := validateNodeName(c.NodeName); err != nil {
		return err
	}
	if !c.BindAddr.IsValid() || c.BindAddr.IsUnspecified() {
		return fmt.Errorf("cluster: bind address %q must be a concrete IP address", c.BindAddr)
	}
	if c.BindAddr.Zone() != "" {
		return fmt.Errorf("cluster: bind address %s: zones are not supported", c.BindAddr)
	}
	for name, p := range map[string]int{"raft port": c.RaftPort, "gossip port": c.GossipPort} {
		if p < 0 || p > 65535 {
			return fmt.Errorf("cluster: %s %d out of range 0-65535", name, p)
		}
	}
	if c.RaftPort != 0 && c.RaftPort == c.GossipPort {
		return fmt.Errorf("cluster: raft port and gossip port must differ (both %d)", c.RaftPort)
	}
	for _, p := range c.Peers {
		if _, err := peerAddress(p, 1); err != nil {
			return err
		}
	}
	if c.BootstrapExpect < 0 {
		return fmt.Errorf("cluster: bootstrap_expect must not be negative, got %d", c.BootstrapExpect)
	}
	if c.DataDir == "" {
		return errors.New("cluster: data_dir is required")
	}
	if !c.Role.Valid() {
		return fmt.Errorf("cluster: unknown role %q (want voter or witness)", c.Role)
	}
	switch len(c.GossipKey) {
	case 0, 16, 24, 32:
	default:
		return fmt.Errorf("cluster: gossip key must be 16, 24 or 32 bytes, got %d", len(c.GossipKey))
	}
	if c.TLS != nil && (c.TLS.CertFile == "" || c.TLS.KeyFile == "" || c.TLS.CAFile == "") {
		return errors.New("cluster: tls needs cert_file, key_file and ca_file")
	}
	if (len(c.Peers) > 0 || c.BootstrapExpect > 1) && (c.TLS == nil || len(c.GossipKey) == 0) && !c.Insecure {
		return errors.New("cluster: a group of more than one node needs mutual TLS (tls) and a gossip key (gossip_key_file), " +
			"e.g. from `quadrature cluster init`; set insecure to run without them")
	}
	for _, name := range c.Nodes {
		if err := validateNodeName(name); err != nil {
			return fmt.Errorf("cluster: nodes: %w", err)
		}
	}
	if err := c.Timing.validate(); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	if c.DegradedAfter < 0 {
		return fmt.Errorf("cluster: degraded_after must not be negative, got %s", c.DegradedAfter)
	}
	if c.SnapshotRetain < 1 {
		return fmt.Errorf("cluster: snapshot retain must be at least 1, got %d", c.SnapshotRetain)
	}
	if _, err := c.Metadata.encode(); err != nil {
		return err
	}
	return nil
}

// validateNodeName accepts names usable as Raft IDs, memberlist names,
// metric label values and file names: letters, digits, '.', '_', '-'.
func validateNodeName(name string) error {
	if name == "" {
		return errors.New("cluster: node_name is required")
	}
	if len(name) > 64 {
		return fmt.Errorf("cluster: node_name %q longer than 64 bytes", name)
	}
	for _, r := range name {
		ok := r == '.' || r == '_' || r == '-' ||
			(r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if !ok {
			return fmt.Errorf("cluster: node_name %q: character %q not allowed (letters, digits, . _ -)", name, r)
		}
	}
	return nil
}

// peerAddress turns "host", "host:port", "ip" or "[ipv6]:port" into a
// host:port string for memberlist Join, using defPort when none is given.
func peerAddress(p string, defPort int) (string, error) {
	p = strings.TrimSpace(p)
	if p == "" {
		return "", errors.New("cluster: empty peer address")
	}
	if a, err := netip.ParseAddr(p); err == nil {
		if a.Zone() != "" {
			return "", fmt.Errorf("cluster: peer %q: zones are not supported", p)
		}
		return netip.AddrPortFrom(a, uint16(defPort)).String(), nil
	}
	host, port, err := net.SplitHostPort(p)
	if err != nil {
		if strings.ContainsAny(p, ":[]/ ") {
			return "", fmt.Errorf("cluster: peer %q: not host or host:port", p)
		}
		return net.JoinHostPort(p, strconv.Itoa(defPort)), nil
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("cluster: peer %q: bad port %q", p, port)
	}
	if host == "" || strings.ContainsAny(host, "/ ") {
		return "", fmt.Errorf("cluster: peer %q: bad host", p)
	}
	return net.JoinHostPort(host, port), nil
}

// ParseGossipKey decodes a base64 gossip key (standard or URL alphabet,
// surrounding white space ignored) and checks its length.
func ParseGossipKey(text []byte) ([]byte, error) {
	s := strings.TrimSpace(string(text))
	if s == "" {
		return nil, errors.New("cluster: gossip key is empty")
	}
	var key []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if key, err = enc.DecodeString(s); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: gossip key is not base64: %w", err)
	}
	switch len(key) {
	case 16, 24, 32:
		return key, nil
	}
	return nil, fmt.Errorf("cluster: gossip key must decode to 16, 24 or 32 bytes, got %d", len(key))
}

// LoadGossipKey reads a gossip_key_file: one base64 line.
func LoadGossipKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cluster: gossip key file: %w", err)
	}
	k, err := ParseGossipKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}
