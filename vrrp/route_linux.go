package vrrp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func ipNet(p netip.Prefix) *net.IPNet {
	p = p.Masked()
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func ipOf(a netip.Addr) net.IP {
	if !a.IsValid() {
		return nil
	}
	return a.AsSlice()
}

// routeDescr is a route for logs and errors, in ip route's words.
func routeDescr(r Route) string {
	s := r.Dst.Masked().String()
	if r.Via.IsValid() {
		s += " via " + r.Via.String()
	}
	if r.Dev != "" {
		s += " dev " + r.Dev
	}
	if r.Table != 0 {
		s += fmt.Sprintf(" table %d", r.Table)
	}
	return s
}

// nlRoute converts a route for RTM_NEWROUTE (del false) or RTM_DELROUTE:
// a deletion matches any scope and type but only our protocol, so a
// route someone else installed with the same destination stays.
func (r *runtimeIO) nlRoute(rt Route, del bool) (*netlink.Route, error) {
	nr := &netlink.Route{
		Dst:      ipNet(rt.Dst),
		Src:      ipOf(rt.Src),
		Gw:       ipOf(rt.Via),
		Table:    int(rt.Table),
		Priority: int(rt.Metric),
		Scope:    netlink.Scope(rt.Scope),
		Protocol: netlink.RouteProtocol(rt.Protocol),
		Type:     int(rt.Type),
		Tos:      int(rt.Tos),
		Realm:    int(rt.Realms),
		Family:   netlink.FAMILY_V4,
	}
	if rt.Dst.Addr().Is6() {
		nr.Family = netlink.FAMILY_V6
	}
	if nr.Protocol == 0 {
		nr.Protocol = unix.RTPROT_BOOT
	}
	if rt.Onlink {
		nr.Flags |= unix.RTNH_F_ONLINK
	}
	if rt.Dev != "" {
		l, err := r.h.LinkByName(rt.Dev)
		if err != nil {
			return nil, fmt.Errorf("interface %s for route %s: %w", rt.Dev, routeDescr(rt), err)
		}
		nr.LinkIndex = l.Attrs().Index
	}
	for _, n := range rt.Nexthops {
		nh := &netlink.NexthopInfo{Gw: ipOf(n.Via)}
		if n.Weight > 1 {
			nh.Hops = n.Weight - 1
		}
		if n.Onlink {
			nh.Flags |= unix.RTNH_F_ONLINK
		}
		if n.Dev != "" {
			l, err := r.h.LinkByName(n.Dev)
			if err != nil {
				return nil, fmt.Errorf("interface %s for route %s: %w", n.Dev, routeDescr(rt), err)
			}
			nh.LinkIndex = l.Attrs().Index
		}
		nr.MultiPath = append(nr.MultiPath, nh)
	}
	m := rt.Metrics
	nr.MTU, nr.MTULock, nr.AdvMSS, nr.Hoplimit = int(m.MTU), m.MTULock, int(m.AdvMSS), int(m.Hoplimit)
	nr.Window, nr.Cwnd, nr.InitCwnd, nr.InitRwnd = int(m.Window), int(m.Cwnd), int(m.InitCwnd), int(m.InitRwnd)
	nr.Rtt, nr.RttVar, nr.RtoMin, nr.RtoMinLock = int(m.RTT), int(m.RTTVar), int(m.RtoMin), m.RtoMinLock
	nr.Ssthresh, nr.Reordering, nr.QuickACK, nr.FastOpenNoCookie = int(m.Ssthresh), int(m.Reordering), int(m.QuickACK), int(m.FastOpenNoCookie)
	nr.Congctl = m.Congctl
	if m.FeatureECN {
		nr.Features = unix.RTAX_FEATURE_ECN
	}
	if del {
		nr.Scope = netlink.SCOPE_NOWHERE
		nr.Type = 0
	}
	return nr, nil
}

// addRoute installs one route; the same route already there is not an
// error.
func (r *runtimeIO) addRoute(rt Route) error {
	nr, err := r.nlRoute(rt, false)
	if err != nil {
		return err
	}
	switch {
	case rt.Append:
		err = r.h.RouteAppend(nr)
	case rt.Add:
		err = r.h.RouteAdd(nr)
	default: // prepend: NLM_F_CREATE alone, keepalived's default
		err = r.h.RouteAddEcmp(nr)
	}
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("add route %s: %w", routeDescr(rt), err)
	}
	return nil
}

// delRoute removes one route; a missing route is not an error.
func (r *runtimeIO) delRoute(rt Route) error {
	nr, err := r.nlRoute(rt, true)
	if err != nil {
		return err
	}
	if err := r.h.RouteDel(nr); err != nil && !errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove route %s: %w", routeDescr(rt), err)
	}
	return nil
}

func ruleDescr(r Rule) string {
	s := fmt.Sprintf("%d:", r.Priority)
	if r.From.IsValid() {
		s += " from " + r.From.String()
	}
	if r.To.IsValid() {
		s += " to " + r.To.String()
	}
	switch r.Action {
	case RuleToTable:
		s += fmt.Sprintf(" table %d", r.Table)
	case RuleGoto:
		s += fmt.Sprintf(" goto %d", r.Goto)
	default:
		s += fmt.Sprintf(" action %d", r.Action)
	}
	return s
}

func nlRule(ru Rule) *netlink.Rule {
	nr := netlink.NewRule()
	nr.Family = netlink.FAMILY_V4
	if ru.IPv6 {
		nr.Family = netlink.FAMILY_V6
	}
	nr.Priority = int(ru.Priority)
	nr.Type = uint8(ru.Action)
	nr.Invert = ru.Not
	if ru.Action == RuleToTable {
		nr.Table = int(ru.Table)
	}
	if ru.Action == RuleGoto {
		nr.Goto = int(ru.Goto)
	}
	if ru.From.IsValid() {
		nr.Src = ipNet(ru.From)
	}
	if ru.To.IsValid() {
		nr.Dst = ipNet(ru.To)
	}
	nr.Mark = ru.Fwmark
	if ru.HasMask {
		m := ru.FwmarkMask
		nr.Mask = &m
	}
	nr.Tos = uint(ru.Tos)
	nr.IifName, nr.OifName = ru.IIf, ru.OIf
	if ru.Realms != 0 {
		nr.Flow = int(ru.Realms)
	}
	if ru.SuppressPrefixLength != nil {
		nr.SuppressPrefixlen = *ru.SuppressPrefixLength
	}
	if ru.SuppressIfgroup != nil {
		nr.SuppressIfgroup = *ru.SuppressIfgroup
	}
	nr.IPProto = int(ru.IPProto)
	if p := ru.Sport; p != nil {
		nr.Sport = netlink.NewRulePortRange(uint16(p.Start), uint16(p.End))
	}
	if p := ru.Dport; p != nil {
		nr.Dport = netlink.NewRulePortRange(uint16(p.Start), uint16(p.End))
	}
	if p := ru.UIDRange; p != nil {
		nr.UIDRange = netlink.NewRuleUIDRange(p.Start, p.End)
	}
	nr.Protocol = ru.Protocol
	return nr
}

// addRule installs one rule; the same rule already there is not an error
// (RuleAdd is NLM_F_EXCL, so a rule is never added twice).
func (r *runtimeIO) addRule(ru Rule) error {
	if err := r.h.RuleAdd(nlRule(ru)); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("add rule %s: %w", ruleDescr(ru), err)
	}
	return nil
}

// delRule removes one rule; a missing rule is not an error.
func (r *runtimeIO) delRule(ru Rule) error {
	if err := r.h.RuleDel(nlRule(ru)); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("remove rule %s: %w", ruleDescr(ru), err)
	}
	return nil
}

// addRoutesRules installs routes, then rules (a rule may send traffic to
// a table the routes fill).
func (r *runtimeIO) addRoutesRules(routes []Route, rules []Rule) []error {
	var errs []error
	for _, rt := range routes {
		if err := r.addRoute(rt); err != nil {
			errs = append(errs, err)
		}
	}
	for _, ru := range rules {
		if err := r.addRule(ru); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// delRoutesRules removes rules, then routes.
func (r *runtimeIO) delRoutesRules(routes []Route, rules []Rule) []error {
	var errs []error
	for _, ru := range rules {
		if err := r.delRule(ru); err != nil {
			errs = append(errs, err)
		}
	}
	for _, rt := range routes {
		if err := r.delRoute(rt); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// addStatic installs static_ipaddress, static_routes and static_rules.
func (r *runtimeIO) addStatic(addrs []VIP, routes []Route, rules []Rule) []error {
	var errs []error
	for _, v := range addrs {
		l, err := r.h.LinkByName(v.Dev)
		if err == nil {
			err = addVIP(r.h, l, v)
		} else {
			err = fmt.Errorf("interface %s for static address %v: %w", v.Dev, v.Prefix, err)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return append(errs, r.addRoutesRules(routes, rules)...)
}

// delStatic removes static rules, routes and addresses.
func (r *runtimeIO) delStatic(addrs []VIP, routes []Route, rules []Rule) []error {
	errs := r.delRoutesRules(routes, rules)
	for _, v := range addrs {
		l, err := r.h.LinkByName(v.Dev)
		if err != nil {
			continue // the interface is gone, and its addresses with it
		}
		if err := delVIP(r.h, l, v); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}
