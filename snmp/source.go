package snmp

import (
	"net/netip"
	"time"
)

// Source is what the agent gives the subagent: one consistent picture of
// the node, read when a request needs a fresher one than the cache
// (Options.CacheTTL). Snapshot is called from the subagent's goroutine
// and, for notifications, from NotifyStateChange's caller, so it must be
// safe for concurrent use and must not block for long. The subagent
// neither modifies what it returns nor keeps it beyond the cache.
type Source interface {
	Snapshot() Snapshot
}

// SourceFunc adapts a function to Source.
type SourceFunc func() Snapshot

// Snapshot implements Source.
func (f SourceFunc) Snapshot() Snapshot { return f() }

// Snapshot is the state the MIBs show. Order matters: the position of an
// instance or virtual server (from 1) is its index in KEEPALIVED-MIB, as
// in keepalived, so keep it stable (configuration order).
type Snapshot struct {
	Global         Global
	Instances      []VRRPInstance
	VirtualServers []VirtualServer
}

// Global is KEEPALIVED-MIB's global group.
type Global struct {
	// Version is the daemon's version string ("quadrature 1.4.0").
	Version string
	// RouterID is global_defs router_id (keepalived defaults it to the
	// host name).
	RouterID string
}

// VRRPState is an instance's protocol state.
type VRRPState int

// VRRP states.
const (
	StateInit VRRPState = iota
	StateBackup
	StateMaster
	StateFault
	StateStopped
	StateDeleted
)

// AuthType is a VRRPv2 instance's authentication (authentication block).
type AuthType int

// Authentication types, numbered as KEEPALIVED-MIB's vrrpInstanceAuthType.
const (
	AuthNone AuthType = 0
	AuthPass AuthType = 1
	AuthAH   AuthType = 2
)

// MasterReason is why an instance last became master (RFC 6527
// vrrpv3StatisticsNewMasterReason).
type MasterReason int

// Master reasons.
const (
	ReasonNotMaster        MasterReason = 0 // never was master
	ReasonPriority         MasterReason = 1 // priority 255 / owner
	ReasonPreempted        MasterReason = 2 // preempted a lower-priority master
	ReasonMasterNoResponse MasterReason = 3 // master down timer expired
)

// VRRPInstance is one vrrp_instance.
type VRRPInstance struct {
	Name string
	// State is the current state; InitialState the configured one
	// (state MASTER|BACKUP, Init when not given).
	State        VRRPState
	InitialState VRRPState
	VRID         uint8
	// Version is 2 or 3 (vrrp_version).
	Version int
	// Interface is the instance's interface and IfIndex its ifIndex (0
	// when unknown); the RFC tables are indexed by IfIndex.
	Interface string
	IfIndex   int
	// BasePriority is the configured priority, EffectivePriority the one
	// advertised now (after tracking and the group's placement).
	BasePriority      int
	EffectivePriority int
	// VIPs are the virtual_ipaddress entries (address and prefix length).
	VIPs           []netip.Prefix
	AdvertInterval time.Duration
	Preempt        bool
	PreemptDelay   time.Duration
	Accept         bool
	Auth           AuthType
	// SyncGroup is the vrrp_sync_group the instance is in, "" if none.
	SyncGroup string
	// PrimaryAddr is this node's own address on the interface (the
	// advert source); MasterAddr the current master's address (the source
	// of the last advert received, or PrimaryAddr while master). Zero
	// values are left out.
	PrimaryAddr netip.Addr
	MasterAddr  netip.Addr
	// UpSince is when the instance left INIT (RFC 6527 UpTime); zero
	// while in INIT, FAULT or STOP.
	UpSince      time.Time
	MasterReason MasterReason
	// Counters is nil when the node has none for this instance.
	Counters *VRRPCounters
}

// VRRPCounters are per-instance protocol counters (RFC 6527 and RFC 2787
// statistics).
type VRRPCounters struct {
	BecameMaster         uint64
	AdvertsReceived      uint64
	AdvertIntervalErrors uint64
	TTLErrors            uint64
	PriorityZeroReceived uint64
	PriorityZeroSent     uint64
	InvalidType          uint64
	AddressListErrors    uint64
	PacketLengthErrors   uint64
	AuthFailures         uint64
	// The router-wide error counters of both MIBs are the sums of these.
	ChecksumErrors uint64
	VersionErrors  uint64
	VRIDErrors     uint64
}

// VirtualServer is one virtual_server with its real servers.
type VirtualServer struct {
	// Exactly one of FWMark (fwmark service), Group (virtual_server_group
	// name) or Addr identifies the service.
	FWMark uint32
	Group  string
	Addr   netip.Addr
	Port   uint16
	// Protocol is "TCP", "UDP" or "SCTP" ("" for none).
	Protocol string
	// Scheduler is lb_algo ("rr", "wlc", ...), ForwardMethod lb_kind
	// ("NAT", "DR", "TUN").
	Scheduler     string
	ForwardMethod string
	// Name is the virtual server's name (keepalived's vs name), if any.
	Name string
	// Persist is persistence_timeout (0: no persistence).
	Persist   time.Duration
	DelayLoop time.Duration
	// Quorum is the quorum weight; QuorumMet whether the live real
	// servers reach it (keepalived's alive/dead of the service).
	Quorum    uint32
	QuorumMet bool
	Reals     []RealServer
	// Stats is nil when unavailable.
	Stats *IPVSStats
}

// RealServer is one real_server (or the sorry_server, Sorry set).
type RealServer struct {
	Addr   netip.Addr
	Port   uint16
	Weight int
	Alive  bool
	Sorry  bool
	// ForwardMethod is the real server's lb_kind when it differs from
	// the service's; "" inherits it.
	ForwardMethod  string
	UpperConnLimit uint32
	LowerConnLimit uint32
	// FailedChecks is how many of its checkers currently fail.
	FailedChecks uint32
	Name         string
	Stats        *IPVSStats
}

// IPVSStats are the kernel's counters and rates of a service or
// destination.
type IPVSStats struct {
	Conns, InPkts, OutPkts, InBytes, OutBytes uint64
	CPS, InPPS, OutPPS, InBPS, OutBPS         uint64
	// Destinations only.
	ActiveConns, InactiveConns, PersistentConns uint64
}
