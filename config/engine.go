package config

import (
	"fmt"
)

// CheckSupport reports keepalived keywords that parse into the model but
// that quadrature's runtime does not implement yet. Each is an error
// naming the keyword ("not supported"), never a silent no-op: a
// configuration relying on it would not behave as its author expects.
// Load keeps the dialect (so `config show` and `merge` keep a file's
// meaning); `config check`, the agent and the API run this on top.
func CheckSupport(c *Config) ErrorList {
	var errs ErrorList
	g := c.Global
	unsupported := func(p Pos, block, kw string) {
		errs = append(errs, Diagnostic{Pos: p, Msg: fmt.Sprintf("not supported: %s (%s)", kw, checkSupportReason(block, kw))})
	}
	// A value inherited from global_defs is reported once, at the global
	// keyword's line, under the global keyword's name: never a keyword
	// the file does not contain.
	global := func(kw string) Pos {
		if p, ok := g.KeywordPos[kw]; ok {
			return p
		}
		return g.Pos
	}
	for i := range c.Instances {
		in := &c.Instances[i]
		inherited := func(kw, globalKw string, globalOn bool) {
			if p, ok := in.KeywordPos[kw]; ok {
				unsupported(p, "vrrp_instance", kw)
			} else if globalOn {
				unsupported(global(globalKw), "global_defs", globalKw)
			}
		}
		// Under strict mode lower_prio_no_advert is implied, not written:
		// that is warned about at vrrp_strict / strict_mode.
		if in.LowerPrioNoAdvert && !in.StrictMode {
			inherited("lower_prio_no_advert", "vrrp_lower_prio_no_advert", g.VRRPLowerPrioNoAdvert)
		}
		if in.HigherPrioSendAdvert {
			inherited("higher_prio_send_advert", "vrrp_higher_prio_send_advert", g.VRRPHigherPrioSendAdvert)
		}
		if in.Auth != nil && in.Auth.Type == "AH" {
			unsupported(in.Auth.Pos, "authentication", "auth_type AH")
		}
		if in.DownTimerAdverts != 0 && in.DownTimerAdverts != 3 {
			inherited("down_timer_adverts", "vrrp_down_timer_adverts", g.VRRPDownTimerAdverts != 3)
		}
		for _, r := range in.VirtualRoutes {
			errs = append(errs, routeSupport("virtual_routes", r)...)
		}
		for _, r := range in.VirtualRules {
			errs = append(errs, ruleSupport("virtual_rules", r)...)
		}
		for _, p := range in.UnicastPeers {
			if p.MinTTL != 0 || p.MaxTTL != 0 {
				errs = append(errs, Diagnostic{Pos: p.Pos, Msg: "not supported: unicast_peer min_ttl/max_ttl (unicast TTL checks are not implemented)"})
			}
		}
	}
	for _, r := range c.StaticRoutes {
		errs = append(errs, routeSupport("static_routes", r)...)
	}
	for _, r := range c.StaticRules {
		errs = append(errs, ruleSupport("static_rules", r)...)
	}
	errs.Sort()
	return errs
}

// routeSupport reports what of a parsed route the runtime cannot install:
// vishvananda/netlink, which programs the routes, has no field for it.
func routeSupport(block string, r Route) ErrorList {
	var errs ErrorList
	no := func(what string) {
		errs = append(errs, Diagnostic{Pos: r.Pos, Msg: fmt.Sprintf("not supported: %s %s (the route cannot be installed through the netlink library quadrature uses)", block, what)})
	}
	if r.From.IsValid() {
		no("from (IPv6 source-specific routes)")
	}
	for _, n := range r.Nexthops {
		if n.Realms != 0 {
			no("nexthop realms")
			break
		}
	}
	locks := 0
	for _, m := range r.Metrics {
		if m.Lock {
			locks++
			if m.Name != "mtu" && m.Name != "rto_min" {
				no(m.Name + " lock (only mtu and rto_min can be locked)")
			}
		}
	}
	if locks > 1 {
		no("more than one metric lock")
	}
	if r.CongctlLock {
		no("congctl lock")
	}
	return errs
}

// ruleSupport is routeSupport for a rule.
func ruleSupport(block string, r Rule) ErrorList {
	var errs ErrorList
	no := func(what string) {
		errs = append(errs, Diagnostic{Pos: r.Pos, Msg: fmt.Sprintf("not supported: %s %s (the rule cannot be installed through the netlink library quadrature uses)", block, what)})
	}
	if r.L3mdev {
		no("l3mdev")
	}
	if (r.SuppressPrefixLength != nil || r.SuppressIfgroup != nil) && r.Table >= 256 {
		no("suppress_prefixlength or suppress_ifgroup with a table above 255")
	}
	return errs
}
