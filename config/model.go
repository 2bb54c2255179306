package config

import (
	"fmt"
	"net/netip"
	"time"

	"quadrature/internal/ids"
)

// Pos is where a block or statement came from. It is kept on every block of
// the model so that later stages (validation, the agent, the API) can point
// an operator at the right line. Pos is excluded from JSON and from model
// equality (see Equal).
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line"`
}

// String returns "file:line".
func (p Pos) String() string {
	if p.File == "" && p.Line == 0 {
		return "-"
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// Config is one keepalived.conf evaluated for one node: conditional lines
// (@node, @^node) are already applied, parameters expanded, includes read,
// defaults filled in and inheritance resolved. Every value in the model is the
// effective one: a consumer never has to know keepalived's defaults.
type Config struct {
	// Node is the node name (keepalived's config-id) the file was evaluated for.
	Node string `json:"node"`
	// NodeNames are the config-ids the file's conditional lines name
	// (@NAME and @^NAME, includes too), sorted and deduplicated, nil when
	// there are none: the nodes of the group as the file knows them. It
	// describes the source, like Pos: Equal and Diff ignore it.
	NodeNames      []string             `json:"node_names,omitempty"`
	Global         GlobalDefs           `json:"global_defs"`
	Scripts        []VRRPScript         `json:"vrrp_scripts"`
	Instances      []VRRPInstance       `json:"vrrp_instances"`
	SyncGroups     []SyncGroup          `json:"vrrp_sync_groups"`
	VirtualServers []VirtualServer      `json:"virtual_servers"`
	VSGroups       []VirtualServerGroup `json:"virtual_server_groups"`
	// TrackFiles are the track_file blocks FILE_CHECK and the VRRP
	// instances' track_file entries refer to.
	TrackFiles []TrackFile `json:"track_files"`
	// ProcessTrackers are the vrrp_track_process blocks (model_track.go).
	ProcessTrackers []TrackProcess `json:"vrrp_track_processes,omitempty"`
	// StaticAddresses, StaticRoutes and StaticRules are static_ipaddress,
	// static_routes and static_rules: kept on the node whatever the VRRP
	// state. Parsed, not applied yet.
	StaticAddresses []VIP   `json:"static_ipaddress,omitempty"`
	StaticRoutes    []Route `json:"static_routes,omitempty"`
	StaticRules     []Rule  `json:"static_rules,omitempty"`
	// Cluster is quadrature's own block; nil when the file has none (a plain
	// keepalived.conf, which runs as a one-node cluster).
	Cluster *Cluster `json:"cluster,omitempty"`
	// BGP is quadrature's bgp block (decode_bgp.go); nil when absent.
	BGP *BGP `json:"bgp,omitempty"`
}

// Address families, as keepalived spells them (ip_family, fwmark entries).
const (
	FamilyInet  = "inet"
	FamilyInet6 = "inet6"
)

// GlobalDefs is the global_defs block. Fields quadrature has no use for yet
// are still parsed so that a file keeps its meaning when rendered back.
type GlobalDefs struct {
	Pos                   Pos           `json:"-"`
	RouterID              string        `json:"router_id"`
	NotificationEmail     []string      `json:"notification_email"`
	NotificationEmailFrom string        `json:"notification_email_from"`
	SMTPServer            string        `json:"smtp_server"` // address or host name, "" = none
	SMTPPort              uint16        `json:"smtp_port"`   // default 25
	SMTPHeloName          string        `json:"smtp_helo_name"`
	SMTPConnectTimeout    time.Duration `json:"smtp_connect_timeout"` // default 30s
	SMTPAlert             bool          `json:"smtp_alert"`
	ScriptUser            string        `json:"script_user"` // "user" or "user:group"
	EnableScriptSecurity  bool          `json:"enable_script_security"`
	// GlobalScripts are startup_script, shutdown_script and
	// vrrp_notify_priority_changes (model_notify.go).
	GlobalScripts
	// SNMP is the AgentX subagent (enable_snmp_*, snmp_socket,
	// enable_traps); nothing enabled = none.
	SNMP SNMP `json:"snmp"`

	VRRPVersion              int           `json:"vrrp_version"`                    // default 2
	VRRPMcastGroup4          netip.Addr    `json:"vrrp_mcast_group4"`               // default 224.0.0.18
	VRRPMcastGroup6          netip.Addr    `json:"vrrp_mcast_group6"`               // default ff02::12
	VRRPGarpMasterDelay      time.Duration `json:"vrrp_garp_master_delay"`          // default 5s
	VRRPGarpMasterRepeat     int           `json:"vrrp_garp_master_repeat"`         // default 5
	VRRPGarpMasterRefresh    time.Duration `json:"vrrp_garp_master_refresh"`        // 0 = off
	VRRPGarpRefreshRepeat    int           `json:"vrrp_garp_master_refresh_repeat"` // default 1
	VRRPGarpLowerPrioDelay   time.Duration `json:"vrrp_garp_lower_prio_delay"`      // default = master delay
	VRRPGarpLowerPrioRepeat  int           `json:"vrrp_garp_lower_prio_repeat"`     // default = master repeat
	VRRPGarpInterval         time.Duration `json:"vrrp_garp_interval"`
	VRRPGnaInterval          time.Duration `json:"vrrp_gna_interval"`
	VRRPDownTimerAdverts     int           `json:"vrrp_down_timer_adverts"` // default 3
	VRRPSkipCheckAdvAddr     bool          `json:"vrrp_skip_check_adv_addr"`
	VRRPStrict               bool          `json:"vrrp_strict"`
	VRRPCheckUnicastSrc      bool          `json:"vrrp_check_unicast_src"`
	VRRPLowerPrioNoAdvert    bool          `json:"vrrp_lower_prio_no_advert"`
	VRRPHigherPrioSendAdvert bool          `json:"vrrp_higher_prio_send_advert"`
	V3ChecksumAsV2           bool          `json:"v3_checksum_as_v2"`

	LVSTimeouts    LVSTimeouts `json:"lvs_timeouts"`
	LVSFlush       bool        `json:"lvs_flush"`
	LVSFlushOnStop bool        `json:"lvs_flush_on_stop"`
	// LVSBackend is quadrature's own: auto | ipvs | nftables (default auto).
	LVSBackend string `json:"lvs_backend"`

	// MaxAutoPriority is keepalived's limit for raising its own realtime
	// priority: 0 (the default) never raises it, -1 also silences
	// keepalived's warning at startup, 1..99 (99 when written without a
	// value) allows it. quadrature records it; it does not change the agent.
	MaxAutoPriority   int    `json:"max_auto_priority"`
	DefaultInterface  string `json:"default_interface"` // default eth0
	DynamicInterfaces bool   `json:"dynamic_interfaces"`
	// DynamicInterfacesAllowIfChanges is "dynamic_interfaces allow_if_changes".
	DynamicInterfacesAllowIfChanges bool `json:"dynamic_interfaces_allow_if_changes"`

	// NetNamespace is net_namespace (top level or global_defs); parsed,
	// not applied yet.
	NetNamespace string `json:"net_namespace,omitempty"`
	// NotifyFIFO, VRRPNotifyFIFO and LVSNotifyFIFO are notify_fifo,
	// vrrp_notify_fifo and lvs_notify_fifo with their _script; parsed,
	// not applied yet.
	NotifyFIFO     *FIFO `json:"notify_fifo,omitempty"`
	VRRPNotifyFIFO *FIFO `json:"vrrp_notify_fifo,omitempty"`
	LVSNotifyFIFO  *FIFO `json:"lvs_notify_fifo,omitempty"`

	// KeywordPos is the line of each keyword written in the block, for
	// diagnostics about a value that is not where the block starts.
	// Like Pos it describes the source, not the meaning.
	KeywordPos map[string]Pos `json:"-"`
}

// LVSTimeouts is "lvs_timeouts tcp S tcpfin S udp S"; zero = kernel default.
type LVSTimeouts struct {
	TCP    time.Duration `json:"tcp"`
	TCPFin time.Duration `json:"tcpfin"`
	UDP    time.Duration `json:"udp"`
}

// VRRPScript is a vrrp_script block: a command run every Interval whose exit
// status (0 = OK) moves the priority of the instances that track it.
type VRRPScript struct {
	Pos      Pos           `json:"-"`
	Name     string        `json:"name"`
	Script   string        `json:"script"`   // command line, as written (quotes removed)
	Interval time.Duration `json:"interval"` // default 1s
	Timeout  time.Duration `json:"timeout"`  // default = Interval
	Weight   int           `json:"weight"`   // -253..253, 0 = failure means FAULT
	Reverse  bool          `json:"reverse"`
	Rise     int           `json:"rise"` // default 1
	Fall     int           `json:"fall"` // default 1
	User     string        `json:"user"` // "" = script_user
	InitFail bool          `json:"init_fail"`
}

// TrackFile is a track_file block: a file holding an integer.
type TrackFile struct {
	Pos     Pos    `json:"-"`
	Name    string `json:"name"`
	File    string `json:"file"`
	Weight  int    `json:"weight"` // default 1
	Reverse bool   `json:"reverse"`
	// InitFile writes InitValue to File at startup when it does not exist
	// (or always, with InitOverwrite).
	InitFile      bool `json:"init_file"`
	InitValue     int  `json:"init_value"`
	InitOverwrite bool `json:"init_overwrite"`
}

// VIP is one line of virtual_ipaddress or virtual_ipaddress_excluded:
// IP[/mask] [brd X] [dev IF] [scope S] [label L] [peer P] [-nodad] ...
type VIP struct {
	Pos Pos `json:"-"`
	// Prefix is the address with its mask (/32 or /128 when none was given);
	// the address part is not masked.
	Prefix        netip.Prefix `json:"prefix"`
	Broadcast     netip.Addr   `json:"broadcast,omitzero"`
	Dev           string       `json:"dev,omitempty"` // "" = the instance interface
	Scope         string       `json:"scope,omitempty"`
	Label         string       `json:"label,omitempty"`
	Peer          netip.Prefix `json:"peer,omitzero"`
	NoDAD         bool         `json:"nodad,omitempty"`
	NoPrefixRoute bool         `json:"noprefixroute,omitempty"`
	Home          bool         `json:"home,omitempty"`
	MngTmpAddr    bool         `json:"mngtmpaddr,omitempty"`
	AutoJoin      bool         `json:"autojoin,omitempty"`
	NoTrack       bool         `json:"no_track,omitempty"`
	PreferredLft  string       `json:"preferred_lft,omitempty"` // "forever" or seconds, as written
}

// UnicastPeer is one line of unicast_peer.
type UnicastPeer struct {
	Pos    Pos        `json:"-"`
	Addr   netip.Addr `json:"addr"`
	MinTTL int        `json:"min_ttl,omitempty"` // 0 = not checked
	MaxTTL int        `json:"max_ttl,omitempty"`
}

// Authentication is the VRRPv2 authentication block.
type Authentication struct {
	Pos  Pos    `json:"-"`         // the auth_type line (else the block's)
	Type string `json:"auth_type"` // PASS | AH
	Pass string `json:"auth_pass"` // at most 8 characters are used
}

// TrackInterface is one line of track_interface.
type TrackInterface struct {
	Pos     Pos    `json:"-"`
	Name    string `json:"name"`
	Weight  int    `json:"weight"` // 0 = down means FAULT
	Reverse bool   `json:"reverse"`
}

// TrackScript is one line of track_script. Weight and Reverse are the
// effective ones: the line's own when given, else the vrrp_script's.
type TrackScript struct {
	Pos     Pos    `json:"-"`
	Name    string `json:"name"`
	Weight  int    `json:"weight"`
	Reverse bool   `json:"reverse"`
}

// Notify holds the notify scripts of an instance or sync group.
type Notify struct {
	Notify       string `json:"notify,omitempty"`
	NotifyMaster string `json:"notify_master,omitempty"`
	NotifyBackup string `json:"notify_backup,omitempty"`
	NotifyFault  string `json:"notify_fault,omitempty"`
	NotifyStop   string `json:"notify_stop,omitempty"`
	// PriorityChanges is notify_priority_changes: priority changes are
	// written to the notify FIFOs (resolved: instance, else its sync
	// group, else global_defs vrrp_notify_priority_changes).
	PriorityChanges bool `json:"notify_priority_changes,omitempty"`
}

// VRRPInstance is a vrrp_instance block with every default applied.
type VRRPInstance struct {
	Pos       Pos    `json:"-"`
	Name      string `json:"name"`
	State     string `json:"state"` // MASTER | BACKUP (default BACKUP)
	Interface string `json:"interface"`
	VRID      int    `json:"virtual_router_id"`
	// Priority defaults to 100, or 255 when state is MASTER and no priority
	// is given (keepalived's address-owner rule).
	Priority int `json:"priority"`
	// AdvertInt is 1s by default; whole seconds for v2, centiseconds for v3.
	AdvertInt time.Duration `json:"advert_int"`
	Version   int           `json:"version"` // 2 | 3; IPv6 forces 3
	// Family is FamilyInet or FamilyInet6, taken from the first VIP.
	Family string `json:"family"`
	// VIPs may be empty: keepalived accepts an instance without addresses
	// (with a warning; cloud setups move the address in notify scripts),
	// except under vrrp_strict.
	VIPs []VIP `json:"virtual_ipaddress"`
	// NoVirtualIPAddress is no_virtual_ipaddress: no VIPs, on purpose.
	NoVirtualIPAddress bool            `json:"no_virtual_ipaddress,omitempty"`
	ExcludedVIPs       []VIP           `json:"virtual_ipaddress_excluded"`
	UnicastSrcIP       netip.Addr      `json:"unicast_src_ip,omitzero"`
	UnicastPeers       []UnicastPeer   `json:"unicast_peer"`
	McastSrcIP         netip.Addr      `json:"mcast_src_ip,omitzero"`
	Auth               *Authentication `json:"authentication,omitempty"`
	NoPreempt          bool            `json:"nopreempt"`
	PreemptDelay       time.Duration   `json:"preempt_delay"` // 0..1000s

	TrackInterfaces []TrackInterface `json:"track_interface"`
	TrackScripts    []TrackScript    `json:"track_script"`
	TrackFileRefs   []TrackRef       `json:"track_file,omitempty"`    // model_track.go
	TrackProcesses  []TrackRef       `json:"track_process,omitempty"` // model_track.go
	Notify

	GarpMasterDelay         time.Duration `json:"garp_master_delay"`
	GarpMasterRepeat        int           `json:"garp_master_repeat"`
	GarpMasterRefresh       time.Duration `json:"garp_master_refresh"`
	GarpMasterRefreshRepeat int           `json:"garp_master_refresh_repeat"`
	GarpLowerPrioDelay      time.Duration `json:"garp_lower_prio_delay"`
	GarpLowerPrioRepeat     int           `json:"garp_lower_prio_repeat"`

	Accept               bool `json:"accept"` // default true, false under vrrp_strict
	V3ChecksumAsV2       bool `json:"v3_checksum_as_v2"`
	DownTimerAdverts     int  `json:"down_timer_adverts"` // 1..100, default 3
	LowerPrioNoAdvert    bool `json:"lower_prio_no_advert"`
	HigherPrioSendAdvert bool `json:"higher_prio_send_advert"`
	SkipCheckAdvAddr     bool `json:"skip_check_adv_addr"`
	CheckUnicastSrc      bool `json:"check_unicast_src"`
	StrictMode           bool `json:"strict_mode"`
	DontTrackPrimary     bool `json:"dont_track_primary"`
	SMTPAlert            bool `json:"smtp_alert"`
	Debug                int  `json:"debug"`
	// QuorumFence is quadrature's own: without quorum contact the instance
	// goes to FAULT instead of electing itself master (docs/design.md, decision 5).
	QuorumFence bool `json:"quorum_fence"`
	// VirtualRoutes and VirtualRules follow the VIPs; VMAC is use_vmac,
	// IPVLAN use_ipvlan (config/decode_vmac.go).
	VirtualRoutes []Route `json:"virtual_routes,omitempty"`
	VirtualRules  []Rule  `json:"virtual_rules,omitempty"`
	VMAC          *VMAC   `json:"use_vmac,omitempty"`
	IPVLAN        *IPVLAN `json:"use_ipvlan,omitempty"`

	// KeywordPos is the line of each keyword written in the block (see
	// GlobalDefs.KeywordPos).
	KeywordPos map[string]Pos `json:"-"`
}

// SyncGroup is a vrrp_sync_group block.
type SyncGroup struct {
	Pos             Pos              `json:"-"`
	Name            string           `json:"name"`
	Group           []string         `json:"group"`
	TrackInterfaces []TrackInterface `json:"track_interface"`
	TrackScripts    []TrackScript    `json:"track_script"`
	TrackFileRefs   []TrackRef       `json:"track_file,omitempty"`
	TrackProcesses  []TrackRef       `json:"track_process,omitempty"`
	Notify
	SMTPAlert bool `json:"smtp_alert"`
}

// VirtualServer is a virtual_server block. Exactly one of (Addr, Port),
// Fwmark or Group identifies it.
type VirtualServer struct {
	Pos    Pos        `json:"-"`
	Addr   netip.Addr `json:"addr,omitzero"`
	Port   uint16     `json:"port"`
	Fwmark uint32     `json:"fwmark,omitempty"`
	Group  string     `json:"group,omitempty"`
	// Family is the address family of the service (from Addr, the fwmark
	// family / ip_family, or the group's entries).
	Family   string `json:"family"`
	Protocol string `json:"protocol"` // TCP | UDP | SCTP (default TCP)
	// Scheduler is lb_algo / lvs_sched (default wlc, keepalived's
	// IPVS_DEF_SCHED).
	Scheduler  string   `json:"lvs_sched"`
	SchedFlags []string `json:"sched_flags"` // flag-1..3 in canonical names, sorted
	Method     string   `json:"lvs_method"`  // NAT | DR | TUN (default NAT)
	Tunnel     *Tunnel  `json:"tunnel,omitempty"`
	OPS        bool     `json:"ops"`

	PersistenceTimeout time.Duration `json:"persistence_timeout"` // 0 = not persistent
	// PersistenceGranularity is a prefix length (dotted netmask for IPv4 in
	// the file); 0 = not set.
	PersistenceGranularity int    `json:"persistence_granularity"`
	PersistenceEngine      string `json:"persistence_engine,omitempty"`

	// Defaults inherited by real servers and their checkers.
	DelayLoop        time.Duration  `json:"delay_loop"`         // default 60s
	ConnectTimeout   time.Duration  `json:"connect_timeout"`    // default 5s
	Retry            *int           `json:"retry"`              // nil = per checker kind
	DelayBeforeRetry *time.Duration `json:"delay_before_retry"` // nil = per checker kind
	Warmup           *time.Duration `json:"warmup"`             // nil = random in [0, delay_loop]
	Alpha            bool           `json:"alpha"`
	InhibitOnFailure bool           `json:"inhibit_on_failure"`
	VirtualHost      string         `json:"virtualhost,omitempty"`

	Quorum             int          `json:"quorum"` // default 1
	Hysteresis         int          `json:"hysteresis"`
	QuorumUp           string       `json:"quorum_up,omitempty"`
	QuorumDown         string       `json:"quorum_down,omitempty"`
	SorryServer        *SorryServer `json:"sorry_server,omitempty"`
	SorryServerInhibit bool         `json:"sorry_server_inhibit"`
	Omega              bool         `json:"omega"`
	HASuspend          bool         `json:"ha_suspend"`
	SMTPAlert          bool         `json:"smtp_alert"`
	// IPFamily is the ip_family keyword as written ("" when absent).
	IPFamily    string       `json:"ip_family,omitempty"`
	RealServers []RealServer `json:"real_servers"`
}

// Tunnel holds the TUN method options: type ipip|gue|gre, port (gue), csum.
type Tunnel struct {
	Type string `json:"type"`           // ipip | gue | gre
	Port uint16 `json:"port,omitempty"` // gue only
	Csum string `json:"csum,omitempty"` // nocsum | csum | remcsum
}

// SorryServer is "sorry_server IP [port]" with its method.
type SorryServer struct {
	Addr   netip.Addr `json:"addr"`
	Name   string     `json:"name,omitempty"` // host name as written, if any
	Port   uint16     `json:"port"`
	Method string     `json:"lvs_method"` // inherits the VS method
}

// VirtualServerGroup is a virtual_server_group block.
type VirtualServerGroup struct {
	Pos     Pos        `json:"-"`
	Name    string     `json:"name"`
	Entries []VSGEntry `json:"entries"`
}

// VSGEntry is one line of a virtual_server_group: an address range with a
// port, or a fwmark. A single address has First == Last; "a.b.c.d-e" and CIDR
// forms are stored as the inclusive range they denote.
type VSGEntry struct {
	Pos    Pos        `json:"-"`
	First  netip.Addr `json:"first,omitzero"`
	Last   netip.Addr `json:"last,omitzero"`
	Port   uint16     `json:"port,omitempty"`
	Fwmark uint32     `json:"fwmark,omitempty"`
	Family string     `json:"family"`
}

// RealServer is a real_server block. Inherited values (method, checker
// defaults) are already resolved from the virtual server.
type RealServer struct {
	Pos  Pos        `json:"-"`
	Addr netip.Addr `json:"addr"`
	// Name is the host name as written ("real_server tic 42"), else "".
	Name             string         `json:"name,omitempty"`
	Port             uint16         `json:"port"`
	Weight           int            `json:"weight"` // default 1, 0 allowed
	Method           string         `json:"lvs_method"`
	InhibitOnFailure bool           `json:"inhibit_on_failure"`
	NotifyUp         string         `json:"notify_up,omitempty"`
	NotifyDown       string         `json:"notify_down,omitempty"`
	UThreshold       int            `json:"uthreshold"`
	LThreshold       int            `json:"lthreshold"`
	Alpha            bool           `json:"alpha"`
	Retry            *int           `json:"retry"`
	DelayBeforeRetry *time.Duration `json:"delay_before_retry"`
	Warmup           *time.Duration `json:"warmup"`
	DelayLoop        time.Duration  `json:"delay_loop"`
	ConnectTimeout   time.Duration  `json:"connect_timeout"`
	VirtualHost      string         `json:"virtualhost,omitempty"`
	SMTPAlert        bool           `json:"smtp_alert"`
	Checkers         []Checker      `json:"checkers"`
}

// Checker kinds.
const (
	CheckTCP  = "TCP_CHECK"
	CheckHTTP = "HTTP_GET"
	CheckSSL  = "SSL_GET"
	CheckSMTP = "SMTP_CHECK"
	CheckDNS  = "DNS_CHECK"
	CheckMisc = "MISC_CHECK"
	CheckUDP  = "UDP_CHECK"
	CheckPing = "PING_CHECK"
	CheckFile = "FILE_CHECK"
)

// Checker is one health checker of a real server with effective values.
//
// Inheritance rule: a timing or retry value set in the checker wins; else the
// real server's; else the virtual server's; else the default of the checker
// kind (connect_timeout 5s; retry 1, MISC 0, DNS 3; delay_before_retry 1s,
// HTTP/SSL 3s, DNS = delay_loop; delay_loop 60s; warmup random in
// [0, delay_loop] when unset everywhere). ConnectIP and ConnectPort default to
// the real server's address and port; MISC timeout defaults to delay_loop.
type Checker struct {
	Pos              Pos            `json:"-"`
	Kind             string         `json:"kind"`
	ConnectIP        netip.Addr     `json:"connect_ip,omitzero"`
	ConnectIPName    string         `json:"connect_ip_name,omitempty"`
	ConnectPort      uint16         `json:"connect_port"`
	BindTo           netip.Addr     `json:"bindto,omitzero"`
	BindToName       string         `json:"bindto_name,omitempty"`
	BindPort         uint16         `json:"bind_port,omitempty"`
	BindIf           string         `json:"bind_if,omitempty"`
	Fwmark           uint32         `json:"fwmark,omitempty"`
	ConnectTimeout   time.Duration  `json:"connect_timeout"`
	Retry            int            `json:"retry"`
	DelayBeforeRetry time.Duration  `json:"delay_before_retry"`
	Warmup           *time.Duration `json:"warmup"`
	DelayLoop        time.Duration  `json:"delay_loop"`
	Alpha            bool           `json:"alpha"`
	LogAllFailures   bool           `json:"log_all_failures"`

	HTTP *HTTPCheck `json:"http,omitempty"` // HTTP_GET, SSL_GET
	SMTP *SMTPCheck `json:"smtp,omitempty"`
	DNS  *DNSCheck  `json:"dns,omitempty"`
	Misc *MiscCheck `json:"misc,omitempty"`
	UDP  *UDPCheck  `json:"udp,omitempty"`
	File *FileCheck `json:"file,omitempty"`
}

// HTTPCheck is the HTTP_GET / SSL_GET part of a checker.
type HTTPCheck struct {
	URLs         []URL  `json:"urls"`
	Protocol     string `json:"http_protocol"` // 1.0 | 1.0C | 1.1 (default 1.0)
	VirtualHost  string `json:"virtualhost,omitempty"`
	EnableSNI    bool   `json:"enable_sni"`
	SNIName      string `json:"sni_name,omitempty"`
	FastRecovery bool   `json:"fast_recovery"`
	TLSCompliant bool   `json:"tls_compliant"`
}

// URL is one url block. Status is the accepted status set (default 200-299).
type URL struct {
	Pos          Pos           `json:"-"`
	Path         string        `json:"path"`
	Digest       string        `json:"digest,omitempty"` // lower-case hex MD5
	Status       []StatusRange `json:"status_code"`
	Regex        string        `json:"regex,omitempty"`
	RegexNoMatch bool          `json:"regex_no_match"`
	VirtualHost  string        `json:"virtualhost,omitempty"`
}

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct {
	From int `json:"from"`
	To   int `json:"to"`
}

// SMTPCheck is the SMTP_CHECK part of a checker.
type SMTPCheck struct {
	HeloName string `json:"helo_name"` // default the system host name, "" here
	// Hosts are the host { } blocks (parsed, not applied yet).
	Hosts []SMTPHost `json:"hosts,omitempty"`
}

// DNSCheck is the DNS_CHECK part of a checker.
type DNSCheck struct {
	Type string `json:"type"` // default SOA
	Name string `json:"name"` // default "."
}

// MiscCheck is the MISC_CHECK part of a checker.
type MiscCheck struct {
	Path    string        `json:"misc_path"`    // command line with arguments
	Timeout time.Duration `json:"misc_timeout"` // default delay_loop
	Dynamic bool          `json:"misc_dynamic"`
	User    string        `json:"user,omitempty"`
}

// UDPCheck is the UDP_CHECK part of a checker.
type UDPCheck struct {
	Payload      []byte `json:"payload,omitempty"`
	RequireReply bool   `json:"require_reply"`
	// ReplyPattern is lower-case hex; an 'x' digit matches any 4 bits.
	ReplyPattern   string `json:"reply_pattern,omitempty"`
	MinReplyLength int    `json:"min_reply_length"`
	MaxReplyLength int    `json:"max_reply_length"` // default 255
}

// FileCheck is the FILE_CHECK part of a checker. TrackFile names a
// track_file block; Weight and Reverse default to that block's.
type FileCheck struct {
	TrackFile string `json:"track_file"`
	Weight    int    `json:"weight"`
	Reverse   bool   `json:"reverse"`
}

// Cluster is quadrature's own "cluster" block (see docs/design.md).
type Cluster struct {
	Pos        Pos          `json:"-"`
	NodeName   string       `json:"node_name"` // default: Config.Node
	Bind       netip.Addr   `json:"bind,omitzero"`
	RaftPort   uint16       `json:"raft_port"`   // default 9901
	GossipPort uint16       `json:"gossip_port"` // default 9902
	Peers      []netip.Addr `json:"peers"`
	// PeerNames holds the host names as written in peers, parallel to Peers
	// ("" for literal addresses).
	PeerNames []string `json:"peer_names,omitempty"`
	// BootstrapExpect defaults to ListedNodes(). Peers may include this
	// node's own bind address, so that every node can run the same file;
	// it is not a peer then.
	BootstrapExpect int           `json:"bootstrap_expect"`
	DataDir         string        `json:"data_dir"`       // default /var/lib/quadrature
	Role            string        `json:"role"`           // voter | witness
	VerdictPolicy   string        `json:"verdict_policy"` // any | majority | all
	GossipKeyFile   string        `json:"gossip_key_file,omitempty"`
	QuorumFence     bool          `json:"quorum_fence"`   // default for every instance
	DegradedAfter   time.Duration `json:"degraded_after"` // default 10s
	TLS             *ClusterTLS   `json:"tls,omitempty"`
	API             ClusterAPI    `json:"api"`
	Placement       string        `json:"placement"` // auto | configured
	// Credentials is the directory `quadrature cluster init` wrote for this
	// node (ca.crt, node.crt, node.key, gossip.key, api-token,
	// api-read-token); explicit keywords win over its files.
	Credentials string `json:"credentials,omitempty"`
	// Insecure lets a group of more than one node run without TLS and a
	// gossip key ("insecure yes"); the agent warns at start and in
	// status and metrics.
	Insecure bool `json:"insecure,omitempty"`
}

// ClusterTLS is the tls block of cluster: mutual TLS for raft.
type ClusterTLS struct {
	CertFile string `json:"cert_file"`
	KeyFile  string `json:"key_file"`
	CAFile   string `json:"ca_file"`
}

// ClusterAPI is the api block of cluster.
type ClusterAPI struct {
	Listen        netip.AddrPort `json:"listen,omitzero"` // default bind:9900
	TokenFile     string         `json:"token_file,omitempty"`
	ReadTokenFile string         `json:"read_token_file,omitempty"`
	MetricsAuth   bool           `json:"metrics_auth"`
	// CertFile and KeyFile serve the API over TLS (default with
	// credentials: the node certificate); CAFile verifies peers' client
	// certificates and the peers' API certificates in fan-out.
	CertFile string `json:"cert_file,omitempty"`
	KeyFile  string `json:"key_file,omitempty"`
	CAFile   string `json:"ca_file,omitempty"`
}

// Counts summarises a configuration (config check's one-line summary).
type Counts struct {
	Instances, VirtualServers, RealServers, Checkers int
}

// Count returns the number of instances, virtual servers, real servers and
// checkers in c.
func (c *Config) Count() Counts {
	n := Counts{Instances: len(c.Instances), VirtualServers: len(c.VirtualServers)}
	for _, vs := range c.VirtualServers {
		n.RealServers += len(vs.RealServers)
		for _, rs := range vs.RealServers {
			n.Checkers += len(rs.Checkers)
		}
	}
	return n
}

// mergeKey identifies a VRRP instance across nodes: the VRRP router it is
// (VRID, interface, family), whatever its name.
func (in *VRRPInstance) Key() string {
	return fmt.Sprintf("vrrp_instance vrid %d %s %s", in.VRID, in.Interface, in.Family)
}

// ID is the virtual service's ID in quadrature's one scheme (package
// internal/ids): "tcp/192.0.2.10:80", "udp/[2001:db8::1]:53", "fwmark/7",
// "fwmark/7/ipv6", "group/web/tcp". The replicated state, the checkers,
// the API, the metrics and the logs all name the virtual server by it.
func (vs *VirtualServer) ID() string {
	switch {
	case vs.Group != "":
		return ids.Group(vs.Group, vs.Protocol)
	case vs.Fwmark != 0:
		return ids.FWMark(vs.Fwmark, vs.Family == FamilyInet6)
	}
	return ids.Service(vs.Protocol, netip.AddrPortFrom(vs.Addr, vs.Port))
}

// mergeKey identifies a virtual server across nodes.
func (vs *VirtualServer) Key() string {
	return "virtual_server " + vs.Ident() + " " + vs.Protocol + " " + vs.Family
}

// ListedNodes is the number of nodes the block names: this node and every
// peer address other than its own bind address.
func (c *Cluster) ListedNodes() int {
	n := 1
	for _, p := range c.Peers {
		if p != c.Bind {
			n++
		}
	}
	return n
}

// SNMP says which MIBs the AgentX subagent serves (keepalived's
// enable_snmp_vrrp, enable_snmp_checker, enable_snmp_rfcv2/_rfcv3,
// enable_snmp_rfc for both), where snmpd's master agent listens
// (snmp_socket; "" = /var/agentx/master) and whether VRRP state changes
// are sent as notifications (enable_traps).
type SNMP struct {
	VRRP    bool   `json:"vrrp"`
	Checker bool   `json:"checker"`
	RFCv2   bool   `json:"rfcv2"`
	RFCv3   bool   `json:"rfcv3"`
	Traps   bool   `json:"traps"`
	Socket  string `json:"socket"`
}

// Enabled reports whether any MIB is served.
func (s SNMP) Enabled() bool { return s.VRRP || s.Checker || s.RFCv2 || s.RFCv3 }
