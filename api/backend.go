package api

import (
	"context"
	"encoding/json"
	"net/netip"
	"time"
)

// Backend is what the API needs from a running node. The agent implements it
// over cluster and fsm; tests use apitest.Fake.
//
// Threading contract: every method may be called concurrently from many
// HTTP requests and from the metrics collector, and must honour ctx.
//
// Error contract: methods return the sentinel errors of this package (wrapped
// with context if useful) so the API can map them to HTTP statuses:
// ErrNotFound → 404, ErrInvalid (preferably an *InvalidError with details) →
// 422, ErrConflict (preferably a *ConflictError) → 412, ErrNoLeader → 503,
// anything else → 500.
//
// Writes (PutConfig unless ValidateOnly, Drain, Maintenance, TransferVIP,
// AddVoter, AddWitness, RemoveServer, Snapshot) are forwarded to the Raft
// leader by the backend itself. They are idempotent where that is natural:
// draining a drained real server or switching maintenance on twice succeeds.
type Backend interface {
	// Status describes this node.
	Status(ctx context.Context) (Status, error)
	// Members lists the group as this node sees it (memberlist + raft).
	Members(ctx context.Context) ([]Member, error)
	// VRRP lists THIS node's VRRP instances.
	VRRP(ctx context.Context) ([]VRRPInstance, error)
	// Services lists the virtual services with their real servers, the
	// aggregated verdicts, per-node observations and kernel counters.
	Services(ctx context.Context) ([]VirtualService, error)
	// Config returns the running (committed) configuration.
	Config(ctx context.Context) (ConfigDoc, error)
	// PutConfig validates and, unless req.ValidateOnly, proposes a new
	// configuration. With req.ExpectVersion != 0 the write only succeeds if
	// the running version equals it (compare-and-swap); otherwise it returns
	// an error matching ErrConflict. Invalid configurations return an
	// *InvalidError listing every file:line problem and change nothing.
	PutConfig(ctx context.Context, req PutConfigRequest) (PutConfigResult, error)
	// Drain sets (drained=true) or clears the operator drain of real server
	// rs in virtual service vs (IDs as in VirtualService.ID and
	// RealServer.ID).
	Drain(ctx context.Context, vs, rs string, drained bool) error
	// Maintenance switches maintenance mode of a node on or off.
	Maintenance(ctx context.Context, node string, on bool) error
	// TransferVIP asks the group to move VRRP instance ownership to node.
	TransferVIP(ctx context.Context, instance, node string) error
	// RaftServers lists the raft configuration.
	RaftServers(ctx context.Context) ([]RaftServer, error)
	// AddVoter adds a voting director.
	AddVoter(ctx context.Context, name, addr string) error
	// AddWitness adds a witness (raft + memberlist only, no data plane).
	AddWitness(ctx context.Context, name, addr string) error
	// RemoveServer removes a server from the raft configuration.
	RemoveServer(ctx context.Context, name string) error
	// Snapshot asks raft for a snapshot now.
	Snapshot(ctx context.Context) error
	// Ready reports whether the node serves traffic as intended (config
	// applied, raft joined); reason explains a false.
	Ready(ctx context.Context) (ready bool, reason string)
}

// Status describes one node. The JSON names are a contract for scripts
// (see testdata/status.golden.json); add fields, never rename.
type Status struct {
	Node          string `json:"node"`
	Leader        string `json:"leader"`     // raft leader's node name, "" if unknown
	RaftState     string `json:"raft_state"` // Leader, Follower, Candidate, Shutdown
	Role          string `json:"role"`       // director or witness
	ConfigVersion uint64 `json:"config_version"`
	AppliedIndex  uint64 `json:"applied_index"`
	CommitIndex   uint64 `json:"commit_index"`
	TableDigest   string `json:"table_digest"` // digest of this node's kernel IPVS table
	Degraded      bool   `json:"degraded"`     // running on local verdicts only
	Fenced        bool   `json:"fenced"`       // quorum_fence instances moved to FAULT
	Members       int    `json:"members"`
	Version       string `json:"version"` // quadrature build version
	// Insecure: the group runs without mutual TLS and a gossip key
	// (insecure yes): anyone on its LAN can join and reprogram it. The
	// status page shows a warning banner while it is true.
	Insecure bool `json:"insecure"`
	// Backend is the data plane: ipvs, nftables, or none/memory.
	Backend string `json:"backend,omitempty"`
	// DesiredDigest is the digest of the table this node wants programmed
	// (derived from the committed state); while TableDigest differs from
	// it, the kernel is not in sync. "" on a witness and before the first
	// table.
	DesiredDigest string `json:"desired_digest,omitempty"`
	// DegradedReason and FencedReason say why, in the operator's terms,
	// while Degraded or Fenced holds (how long without a leader or a
	// quorum, what the node does meanwhile).
	DegradedReason string `json:"degraded_reason,omitempty"`
	FencedReason   string `json:"fenced_reason,omitempty"`
}

// Member is one node of the group.
type Member struct {
	Name         string `json:"name"`
	State        string `json:"state"`    // alive, suspect, dead, left, unknown (in raft, never seen by gossip)
	Addr         string `json:"addr"`     // raft/gossip host:port
	APIAddr      string `json:"api_addr"` // host:port of its HTTP API, "" if unknown
	Role         string `json:"role"`     // director or witness
	Suffrage     string `json:"suffrage"` // voter, nonvoter, none
	Leader       bool   `json:"leader"`
	Maintenance  bool   `json:"maintenance"`
	TableDigest  string `json:"table_digest"`
	AppliedIndex uint64 `json:"applied_index"`
	// Reason says why a member that is not alive is not (what gossip
	// says; on the Raft leader also when the node last answered it).
	Reason string `json:"reason,omitempty"`
}

// VRRPInstance is one VRRP instance on one node. The JSON names are a
// contract for scripts (see testdata/vrrp.golden.json).
type VRRPInstance struct {
	Name           string            `json:"name"`
	VRID           uint8             `json:"vrid"`
	Interface      string            `json:"interface"`
	State          string            `json:"state"` // INIT, BACKUP, MASTER, FAULT
	Priority       int               `json:"priority"`
	BasePriority   int               `json:"base_priority"`
	Master         string            `json:"master"` // node name (or address of a foreign router) believed master
	VIPs           []netip.Prefix    `json:"vips"`
	Counters       map[string]uint64 `json:"counters"` // advert_rcvd, advert_sent, become_master, ...
	LastTransition time.Time         `json:"last_transition"`
	Reason         string            `json:"reason"` // why the last transition happened
}

// VirtualService is one IPVS virtual service with its real servers.
type VirtualService struct {
	ID          string         `json:"id"`       // stable key, e.g. "tcp/192.0.2.10:80" or "fwmark/1"
	Protocol    string         `json:"protocol"` // tcp, udp, sctp, or "" for fwmark
	Addr        netip.AddrPort `json:"addr"`     // zero for fwmark services
	FWMark      uint32         `json:"fwmark,omitempty"`
	Scheduler   string         `json:"scheduler"`
	Flags       string         `json:"flags"` // ipvsadm-style, e.g. "persistent 300"
	Counters    KernelCounters `json:"counters"`
	RealServers []RealServer   `json:"real_servers"`
	Quorum      *VirtualQuorum `json:"quorum,omitempty"`
}

// VirtualQuorum reports keepalived's quorum for a virtual service.
type VirtualQuorum struct {
	Want int  `json:"want"`
	Up   bool `json:"up"`
}

// RealServer is one destination of a virtual service with the group's
// aggregated verdict.
type RealServer struct {
	ID               string         `json:"id"` // e.g. "198.51.100.1:80"
	Addr             netip.AddrPort `json:"addr"`
	Forward          string         `json:"forward"` // Route, Masq, Tunnel
	ConfiguredWeight int            `json:"configured_weight"`
	Weight           int            `json:"weight"`  // effective weight programmed in IPVS
	Verdict          string         `json:"verdict"` // up, down, unknown
	Up               bool           `json:"up"`
	Drained          bool           `json:"drained"`
	Agreeing         int            `json:"agreeing"`  // live reporters whose observation matches the verdict
	Reporters        int            `json:"reporters"` // live reporters
	Observations     []Observation  `json:"observations"`
	Counters         KernelCounters `json:"counters"`
}

// Observation is what one node's checkers last reported for a real server.
type Observation struct {
	Node   string `json:"node"`
	Up     bool   `json:"up"`
	Weight int    `json:"weight"`
	Reason string `json:"reason"`
	// At is when the observation was made; the replicated state does not
	// record it yet (see fsm.Observation), so it is omitted rather than
	// shown as 0001-01-01.
	At time.Time `json:"at,omitzero"`
}

// KernelCounters are live IPVS counters read from this node's kernel.
type KernelCounters struct {
	Conns         uint64 `json:"conns"`
	InPackets     uint64 `json:"in_packets"`
	OutPackets    uint64 `json:"out_packets"`
	InBytes       uint64 `json:"in_bytes"`
	OutBytes      uint64 `json:"out_bytes"`
	ActiveConns   uint64 `json:"active_conns"`
	InactiveConns uint64 `json:"inactive_conns"`
}

// ConfigDoc is the running configuration.
type ConfigDoc struct {
	// Stale marks a read served from this node's applied state without
	// asking the leader (GET /v1/config?stale=true): it may lag the group.
	// StaleReason says what this node knows about how far.
	Stale       bool              `json:"stale,omitempty"`
	StaleReason string            `json:"stale_reason,omitempty"`
	Version     uint64            `json:"version"`
	Main        string            `json:"main"`     // name of the main file within Files
	Files       map[string]string `json:"files"`    // file name → content (main + includes)
	Rendered    string            `json:"rendered"` // canonical keepalived.conf text
	Model       json.RawMessage   `json:"model"`    // typed model as JSON
}

// PutConfigRequest is a proposed configuration.
type PutConfigRequest struct {
	Main          string            // main file name; "keepalived.conf" if empty
	Files         map[string]string // file name → content
	ExpectVersion uint64            // from If-Match; 0 = unconditional
	ValidateOnly  bool
	// AllowEmpty (?allow_empty=true) accepts a configuration with no
	// vrrp_instance and no virtual_server, which removes every VIP and
	// virtual service of the group; without it such a write is refused.
	AllowEmpty bool
	// Origin says who asks ("api node=... remote=... auth=..."), for the
	// command's envelope.
	Origin string
}

// PutConfigResult is the outcome of an accepted PutConfig.
type PutConfigResult struct {
	Version  uint64        `json:"version"` // new version, or the running one for validate-only
	Valid    bool          `json:"valid"`
	Applied  bool          `json:"applied"` // false for validate-only
	Warnings []ConfigError `json:"warnings,omitempty"`
	// Diff is, for validate-only, a unified diff of every file against
	// the running configuration ("" when they are the same).
	Diff string `json:"diff,omitempty"`
	// Changes is, for validate-only, what the candidate adds, removes or
	// changes (VRRP instances by name, virtual servers by ID); nil when
	// the backend does not evaluate configurations.
	Changes *ConfigChanges `json:"changes,omitempty"`
}

// ConfigError is one problem in a configuration, located by file:line.
type ConfigError struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Message string `json:"message"`
}

func (e ConfigError) String() string {
	if e.File == "" {
		return e.Message
	}
	if e.Line <= 0 {
		return e.File + ": " + e.Message
	}
	return e.File + ":" + itoa(e.Line) + ": " + e.Message
}

// RaftServer is one server of the raft configuration.
type RaftServer struct {
	Name     string `json:"name"`
	Addr     string `json:"addr"`
	Suffrage string `json:"suffrage"` // voter, nonvoter
	Role     string `json:"role"`     // director or witness
	Leader   bool   `json:"leader"`
}

// StaleReader is the optional Backend part for reads that any node answers
// from its own applied state, without a leader (?stale=true, as Consul's
// stale reads): what an operator needs when the group has lost its quorum.
// The answer is marked (ConfigDoc.Stale, the X-Quadrature-Stale header).
type StaleReader interface {
	StaleConfig(ctx context.Context) (ConfigDoc, error)
}
