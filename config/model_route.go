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
//	Onlink -> RTNH_F_ONLINK, Nexthops -> RTA_MULTIPATH, Metrics -> RTA_METRICS.
//
// The runtime does not apply routes yet (keywords.go: NotApplied).
type Route struct {
	Pos Pos `json:"-"`
	// Family is FamilyInet or FamilyInet6 (from Dst, or "inet6").
	Family string `json:"family"`
	// Type is "" for a unicast route, else one of RouteTypes.
	Type string `json:"type,omitempty"`
	// Dst is the destination; "default" is 0.0.0.0/0 or ::/0.
	Dst netip.Prefix `json:"dst"`
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
	// Append adds the route after matching ones (ip route append).
	Append bool `json:"append,omitempty"`
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
}

// RouteMetric is one RTAX_* metric of a route ("mtu lock 1400").
type RouteMetric struct {
	Name  string `json:"name"`
	Value uint32 `json:"value"`
	Lock  bool   `json:"lock,omitempty"`
}

// routeMetrics are the metric keywords a route takes ("lock" allowed).
var routeMetrics = []string{"mtu", "advmss", "hoplimit", "window", "cwnd", "initcwnd", "initrwnd", "rtt", "rttvar", "rto_min", "ssthresh", "reordering", "quickack", "fastopen_no_cookie"}

// Rule is one line of static_rules or virtual_rules: keepalived's
// `ip rule add` syntax, parsed (FRA_* attributes, fib_rule_hdr fields).
// The runtime does not apply rules yet.
type Rule struct {
	Pos    Pos    `json:"-"`
	Family string `json:"family"` // from From/To, or "inet6"; default inet
	// Not inverts the selector (FIB_RULE_INVERT).
	Not bool `json:"not,omitempty"`
	// From and To are the selectors; an invalid (zero) prefix is "all".
	From netip.Prefix `json:"from,omitzero"`
	To   netip.Prefix `json:"to,omitzero"`
	// Preference is FRA_PRIORITY ("preference", "priority", "pref",
	// "order"); nil when not given (keepalived then picks one and warns).
	Preference *uint32 `json:"preference,omitempty"`
	// Table is the table looked up (FR_ACT_TO_TBL); 0 = main.
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
	SuppressPrefixLength *int   `json:"suppress_prefixlength,omitempty"`
	Protocol             string `json:"protocol,omitempty"`
	L3mdev               bool   `json:"l3mdev,omitempty"`
	NoTrack              bool   `json:"no_track,omitempty"`
}

// VMAC is use_vmac: the instance's VIPs on a macvlan interface with the
// VRRP virtual MAC (00:00:5e:00:01:VRID, IPv6 00:00:5e:00:02:VRID). Parsed,
// not applied yet.
type VMAC struct {
	// Name is the interface name; "" = keepalived's vrrp.VRID.
	Name string `json:"name,omitempty"`
	// MAC is the address when not the standard one, canonical form.
	MAC string `json:"mac,omitempty"`
	// XmitBase is vmac_xmit_base: adverts go out on the base interface.
	XmitBase bool `json:"vmac_xmit_base,omitempty"`
}

// SMTPHost is one host block of SMTP_CHECK: another address the check
// must reach (keepalived's deprecated multi-host form). Parsed, not
// applied yet: the check connects to its own connect_ip only.
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
