package vrrp

import (
	"fmt"
	"net/netip"
	"slices"
)

// Route is one static or virtual route (keepalived static_routes /
// virtual_routes), in the kernel's terms: the agent resolves names
// (tables, scopes, protocols, types) to numbers.
type Route struct {
	// Dst is the destination; host bits are cleared when it is installed.
	Dst netip.Prefix
	// Src is the preferred source (RTA_PREFSRC), Via the gateway.
	Src netip.Addr
	Via netip.Addr
	// Dev is the output interface; "" lets the kernel find it from Via.
	Dev    string
	Onlink bool
	// Nexthops make a multipath route (Via and Dev are then unset).
	Nexthops []Nexthop
	// Table is the routing table; 0 is main (254).
	Table uint32
	// Metric is the route priority (RTA_PRIORITY).
	Metric uint32
	// Scope is rtm_scope (0 universe, 253 link, 254 host, ...).
	Scope uint8
	// Protocol is rtm_protocol; 0 means boot (3), keepalived's and ip's
	// default. Tracked routes use 18 (keepalived).
	Protocol uint8
	// Type is rtm_type; 0 means unicast.
	Type   uint8
	Tos    uint8
	Realms uint32
	// Metrics are the RTAX_* values; zero values are not sent.
	Metrics RouteMetrics
	// Append adds after matching routes (NLM_F_APPEND); Add fails on a
	// matching route (NLM_F_EXCL); the default prepends (keepalived's).
	Append bool
	Add    bool
}

// Nexthop is one path of a multipath route.
type Nexthop struct {
	Via    netip.Addr
	Dev    string
	Weight int // 1..256, 0 = 1
	Onlink bool
}

// RouteMetrics are the RTAX_* metrics of a route in the kernel's units.
type RouteMetrics struct {
	MTU              uint32
	MTULock          bool
	AdvMSS           uint32
	Hoplimit         uint32
	Window           uint32
	Cwnd             uint32
	InitCwnd         uint32
	InitRwnd         uint32
	RTT              uint32
	RTTVar           uint32
	RtoMin           uint32
	RtoMinLock       bool
	Ssthresh         uint32
	Reordering       uint32
	QuickACK         uint32
	FastOpenNoCookie uint32
	FeatureECN       bool
	Congctl          string
}

// Rule actions (fib_rule_hdr action, FR_ACT_*).
const (
	RuleToTable     = 1
	RuleGoto        = 2
	RuleNop         = 3
	RuleBlackhole   = 6
	RuleUnreachable = 7
	RuleProhibit    = 8
)

// PortRange is an inclusive range of a rule selector (ports, uids).
type PortRange struct{ Start, End uint32 }

// Rule is one static or virtual policy routing rule (keepalived
// static_rules / virtual_rules).
type Rule struct {
	// IPv6 is the family; From and To must match it.
	IPv6 bool
	Not  bool
	// From and To select on the addresses; an invalid prefix is "all".
	From, To netip.Prefix
	// Priority is the rule's preference (always set: the parser assigns
	// one as keepalived does).
	Priority uint32
	// Action is one of the Rule* constants; RuleToTable looks up Table.
	Action int
	Table  uint32
	Goto   uint32
	// Fwmark / FwmarkMask (HasMask: a mask was given, possibly 0).
	Fwmark     uint32
	FwmarkMask uint32
	HasMask    bool
	IIf, OIf   string
	Tos        uint8
	Realms     uint32
	// SuppressPrefixLength and SuppressIfgroup are nil when not given.
	SuppressPrefixLength *int
	SuppressIfgroup      *int
	IPProto              uint8
	Sport, Dport         *PortRange
	UIDRange             *PortRange
	// Protocol is FRA_PROTOCOL (0: not sent); tracked rules use 18.
	Protocol uint8
}

// Validate checks a route on its own.
func (r Route) Validate() error {
	if !r.Dst.IsValid() {
		return fmt.Errorf("route: no destination")
	}
	v6 := r.Dst.Addr().Is6()
	for _, a := range []netip.Addr{r.Src, r.Via} {
		if a.IsValid() && a.Is6() != v6 {
			return fmt.Errorf("route %v: %v is of another family", r.Dst, a)
		}
	}
	if len(r.Nexthops) > 0 && (r.Via.IsValid() || r.Dev != "") {
		return fmt.Errorf("route %v: via and dev go in the nexthops", r.Dst)
	}
	for _, n := range r.Nexthops {
		if n.Via.IsValid() && n.Via.Is6() != v6 {
			return fmt.Errorf("route %v: nexthop %v is of another family", r.Dst, n.Via)
		}
		if n.Weight < 0 || n.Weight > 256 {
			return fmt.Errorf("route %v: nexthop weight %d out of 1..256", r.Dst, n.Weight)
		}
	}
	if r.Append && r.Add {
		return fmt.Errorf("route %v: append and add exclude each other", r.Dst)
	}
	if r.Metrics.MTULock && r.Metrics.RtoMinLock {
		return fmt.Errorf("route %v: only one of mtu lock and rto_min lock", r.Dst)
	}
	return nil
}

// Validate checks a rule on its own.
func (r Rule) Validate() error {
	for _, p := range []netip.Prefix{r.From, r.To} {
		if p.IsValid() && p.Addr().Is6() != r.IPv6 {
			return fmt.Errorf("rule %d: %v is of another family", r.Priority, p)
		}
	}
	if !slices.Contains([]int{RuleToTable, RuleGoto, RuleNop, RuleBlackhole, RuleUnreachable, RuleProhibit}, r.Action) {
		return fmt.Errorf("rule %d: unknown action %d", r.Priority, r.Action)
	}
	if r.Action == RuleToTable && r.Table == 0 {
		return fmt.Errorf("rule %d: no table", r.Priority)
	}
	if (r.SuppressPrefixLength != nil || r.SuppressIfgroup != nil) && (r.Action != RuleToTable || r.Table >= 256) {
		// vishvananda/netlink sends the suppressors only with a table
		// number that fits rtm_table.
		return fmt.Errorf("rule %d: suppress_prefixlength and suppress_ifgroup need a table below 256", r.Priority)
	}
	return nil
}

// routeKey identifies a route for reload diffs: the whole route.
func routeKey(r Route) string { return fmt.Sprintf("%+v", r) }

// ruleKey identifies a rule for reload diffs.
func ruleKey(r Rule) string {
	bare := r
	bare.Sport, bare.Dport, bare.UIDRange, bare.SuppressPrefixLength, bare.SuppressIfgroup = nil, nil, nil, nil, nil
	s := fmt.Sprintf("%+v", bare)
	for _, p := range []*PortRange{r.Sport, r.Dport, r.UIDRange} {
		if p != nil {
			s += fmt.Sprintf("|%d-%d", p.Start, p.End)
		} else {
			s += "|-"
		}
	}
	for _, p := range []*int{r.SuppressPrefixLength, r.SuppressIfgroup} {
		if p != nil {
			s += fmt.Sprintf("|%d", *p)
		} else {
			s += "|-"
		}
	}
	return s
}

func routesMinus(a, b []Route) []Route {
	var out []Route
	for _, r := range a {
		if !slices.ContainsFunc(b, func(s Route) bool { return routeKey(s) == routeKey(r) }) {
			out = append(out, r)
		}
	}
	return out
}

func rulesMinus(a, b []Rule) []Rule {
	var out []Rule
	for _, r := range a {
		if !slices.ContainsFunc(b, func(s Rule) bool { return ruleKey(s) == ruleKey(r) }) {
			out = append(out, r)
		}
	}
	return out
}

// vipKey identifies an address for reload diffs.
func vipKey(v VIP) string { return fmt.Sprintf("%+v", v) }

func vipsMinusExact(a, b []VIP) []VIP {
	var out []VIP
	for _, v := range a {
		if !slices.ContainsFunc(b, func(w VIP) bool { return vipKey(w) == vipKey(v) }) {
			out = append(out, v)
		}
	}
	return out
}
