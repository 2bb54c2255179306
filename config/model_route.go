package config

import "net/netip"

// Route is one line of static_routes or virtual_routes: keepalived's
// `ip route add` syntax, parsed. Static routes stay on the node; virtual
// routes go with the instance's VIPs (added on MASTER, removed when it
// leaves MASTER). Values are as the kernel takes them (RTA_* / RTAX_*), so
// that applying a Route through netlink is a field-by-field copy:
//
//	Dst -> RTA_DST + rtm_dst_len, Src -> RTA_PREFSRC, Via -> RTA_GATEWAY,
//	Dev -> RTA_OIF, Table -> RTA_TABLE (0 = main), Metric -> RTA_PRIORITY,
//	Scope -> rtm_scope, Protocol -> rtm_protocol, Type -> rtm_type,
//	Onlink -> RTNH_F_ONLINK, Nexthops -> RTA_MULTIPATH, Metrics -> RTA_METRICS,
//	From -> RTA_SRC + rtm_src_len, Realms -> RTA_FLOW.
//
// The VRRP runtime (package vrrp, through the agent) installs them with
// netlink. Like keepalived, a route without no_track is installed with
// protocol keepalived (18) whatever Protocol says (the parser warns).
type Route struct {
	Pos Pos `json:"-"`
	// Family is FamilyInet or FamilyInet6 (from Dst, or "inet6").
	Family string `json:"family"`
	// Type is "" for a unicast route, else one of RouteTypes.
	Type string `json:"type,omitempty"`
	// Dst is the destination; "default" is 0.0.0.0/0 or ::/0.
	Dst netip.Prefix `json:"dst"`
	// From is the source prefix of an IPv6 source-specific route ("from").
	From netip.Prefix `json:"from,omitzero"`
	// Src is the preferred source address ("src").
	Src netip.Addr `json:"src,omitzero"`
	// Via is the gateway ("via", or keepalived's older "gw").
	Via    netip.Addr `json:"via,omitzero"`
	Dev    string     `json:"dev,omitempty"`
	Onlink bool       `json:"onlink,omitempty"`
	// Nexthops is a multipath route ("nexthop via A dev X weight W ...",
	// or keepalived's deprecated "via A or B"); Via and Dev are then
	// unset.
	Nexthops []Nexthop `json:"nexthops,omitempty"`
	// Table is the routing table number; 0 means main (254).
	Table uint32 `json:"table,omitempty"`
	// Metric is the route priority ("metric", "priority", "preference").
	Metric uint32 `json:"metric,omitempty"`
	// Scope is "" (the kernel's default for the type), host, link, site,
	// global, nowhere, or a number.
	Scope string `json:"scope,omitempty"`
	// Protocol is "" (boot), a name (kernel, boot, static, ra, bird, ...)
	// or a number, as written.
	Protocol string `json:"protocol,omitempty"`
	// Tos is the type of service byte ("tos", "dsfield").
	Tos uint8 `json:"tos,omitempty"`
	// Metrics are the RTAX_* values (mtu, advmss, window, ...), in the
	// order written.
	Metrics []RouteMetric `json:"metrics,omitempty"`
	// Realms is RTA_FLOW ("realms [FROM/]TO", IPv4): FROM<<16 | TO.
	Realms uint32 `json:"realms,omitempty"`
	// FeatureECN is "features ecn" (RTAX_FEATURES).
	FeatureECN bool `json:"features_ecn,omitempty"`
	// Congctl is the TCP congestion control algorithm (RTAX_CC_ALGO),
	// CongctlLock its "lock".
	Congctl     string `json:"congctl,omitempty"`
	CongctlLock bool   `json:"congctl_lock,omitempty"`
	// Append adds the route after matching ones (ip route append).
	Append bool `json:"append,omitempty"`
	// Add fails when a matching route exists (ip route add, NLM_F_EXCL);
	// the default is keepalived's prepend (before matching routes).
	Add bool `json:"add,omitempty"`
	// NoTrack: the instance does not leave MASTER when the route is
	// deleted (virtual_routes).
	NoTrack bool `json:"no_track,omitempty"`
}

// RouteTypes are the route types keepalived accepts before a destination.
var RouteTypes = []string{"unicast", "local", "broadcast", "anycast", "multicast", "blackhole", "unreachable", "prohibit", "throw", "nat"}

// Nexthop is one path of a multipath route.
type Nexthop struct {
	Via    netip.Addr `json:"via,omitzero"`
	Dev    string     `json:"dev,omitempty"`
	Weight int        `json:"weight,omitempty"` // 1..256, 0 = not given (1)
	Onlink bool       `json:"onlink,omitempty"`
	Realms uint32     `json:"realms,omitempty"`
}

// RouteMetric is one RTAX_* metric of a route ("mtu lock 1400").
type RouteMetric struct {
	Name  string `json:"name"`
	Value uint32 `json:"value"`
	Lock  bool   `json:"lock,omitempty"`
}

// routeMetrics are the metric keywords a route takes, the RTAX_* values;
// Value is what the kernel stores (rtt in 1/8 ms, rttvar in 1/4 ms,
// rto_min in ms when written with a unit: "rtt 10ms" is 80).
var routeMetrics = []string{"mtu", "advmss", "hoplimit", "window", "cwnd", "initcwnd", "initrwnd", "rtt", "rttvar", "rto_min", "ssthresh", "reordering", "quickack", "fastopen_no_cookie"}

// lockableMetrics take "lock" before the value (keepalived's list).
var lockableMetrics = []string{"mtu", "advmss", "rtt", "rttvar", "reordering", "cwnd", "ssthresh", "rto_min"}

// rttUnits is the kernel's unit of the time metrics in parts of a
// millisecond (a value written with s or ms is converted).
var rttUnits = map[string]uint64{"rtt": 8, "rttvar": 4, "rto_min": 1}

// metricMax bounds metrics narrower than 32 bits.
var metricMax = map[string]uint64{"hoplimit": 255, "quickack": 1, "fastopen_no_cookie": 1}

// Rule is one line of static_rules or virtual_rules: keepalived's
// `ip rule add` syntax, parsed (FRA_* attributes, fib_rule_hdr fields).
// The VRRP runtime installs them with netlink; like keepalived, a rule
// without no_track gets protocol keepalived (18).
type Rule struct {
	Pos    Pos    `json:"-"`
	Family string `json:"family"` // from From/To, or "inet6"; default inet
	// Not inverts the selector (FIB_RULE_INVERT).
	Not bool `json:"not,omitempty"`
	// From and To are the selectors; an invalid (zero) prefix is "all".
	From netip.Prefix `json:"from,omitzero"`
	To   netip.Prefix `json:"to,omitzero"`
	// Preference is FRA_PRIORITY ("preference", "priority", "pref",
	// "order"). When the line gives none the parser assigns one as
	// keepalived does (16384, 16383, ... per family in file order) and
	// warns; nil only in a model built by hand.
	Preference *uint32 `json:"preference,omitempty"`
	// Table is the table looked up (FR_ACT_TO_TBL); 0 with no Action is
	// refused by the parser (keepalived: "No action specified").
	Table uint32 `json:"table,omitempty"`
	// Action is "" (look up Table), blackhole, unreachable, prohibit,
	// goto (Goto) or nop.
	Action string `json:"action,omitempty"`
	Goto   uint32 `json:"goto,omitempty"`
	// Fwmark and FwmarkMask select on the packet mark ("fwmark M[/MASK]").
	Fwmark     uint32 `json:"fwmark,omitempty"`
	FwmarkMask uint32 `json:"fwmark_mask,omitempty"`
	IIf        string `json:"iif,omitempty"`
	OIf        string `json:"oif,omitempty"`
	Tos        uint8  `json:"tos,omitempty"`
	// SuppressPrefixLength is FRA_SUPPRESS_PREFIXLEN; nil when not given
	// (0 is a common value).
	SuppressPrefixLength *int `json:"suppress_prefixlength,omitempty"`
	// SuppressIfgroup is FRA_SUPPRESS_IFGROUP ("suppress_ifgroup",
	// "sup_group"); nil when not given.
	SuppressIfgroup *int `json:"suppress_ifgroup,omitempty"`
	// Realms is FRA_FLOW ("realms [FROM/]TO", IPv4).
	Realms uint32 `json:"realms,omitempty"`
	// UIDRange is FRA_UID_RANGE ("uidrange START-END").
	UIDRange *Range `json:"uidrange,omitempty"`
	// IPProto is FRA_IP_PROTO ("ipproto tcp|udp|sctp|icmp|icmpv6|N");
	// Sport and Dport are FRA_SPORT_RANGE / FRA_DPORT_RANGE ("N" or "N-M").
	IPProto  uint8  `json:"ipproto,omitempty"`
	Sport    *Range `json:"sport,omitempty"`
	Dport    *Range `json:"dport,omitempty"`
	Protocol string `json:"protocol,omitempty"`
	L3mdev   bool   `json:"l3mdev,omitempty"`
	NoTrack  bool   `json:"no_track,omitempty"`
}

// Range is an inclusive range of rule selector values (ports, uids).
type Range struct {
	Start uint32 `json:"start"`
	End   uint32 `json:"end"`
}

// SMTPHost is one host block of SMTP_CHECK: another address the check
// must reach (keepalived's deprecated multi-host form): each host is one
// more check of the real server, and all must pass. ConnectIP zero = the
// real server's address, ConnectPort 0 = its port.
type SMTPHost struct {
	Pos            Pos        `json:"-"`
	ConnectIP      netip.Addr `json:"connect_ip,omitzero"`
	ConnectIPName  string     `json:"connect_ip_name,omitempty"`
	ConnectPort    uint16     `json:"connect_port,omitempty"` // 0 = the checker's
	BindTo         netip.Addr `json:"bindto,omitzero"`
	BindToName     string     `json:"bindto_name,omitempty"`
	BindPort       uint16     `json:"bind_port,omitempty"`
	BindIf         string     `json:"bind_if,omitempty"`
	Fwmark         uint32     `json:"fwmark,omitempty"`
	ConnectTimeout float64    `json:"connect_timeout,omitempty"` // seconds, 0 = the checker's
	HeloName       string     `json:"helo_name,omitempty"`
}

// FIFO is a notify_fifo (or vrrp_/lvs_notify_fifo) with its script.
type FIFO struct {
	Path string `json:"path"`
	// User is "user" or "user:group" for the FIFO's owner, "" = default.
	User       string `json:"user,omitempty"`
	Script     string `json:"script,omitempty"`
	ScriptUser string `json:"script_user,omitempty"`
}
