package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// routeWords is a route or rule line as words: the statement key and its
// arguments (a list block's items are statements whose key is the first
// word).
func routeWords(s *Stmt) []string {
	return append([]string{s.Key}, s.ArgStrings()...)
}

// tableNumber reads a routing table: a number or main, local, default.
// Other names would need /etc/iproute2/rt_tables, which quadrature does
// not read (iproute_etc_dir is ignored).
func tableNumber(w string) (uint32, error) {
	switch w {
	case "main":
		return 254, nil
	case "local":
		return 255, nil
	case "default":
		return 253, nil
	}
	v, err := strconv.ParseUint(w, 0, 32)
	if err != nil {
		return 0, fmt.Errorf("table %q is not a number, main, local or default (table names from rt_tables are not read)", w)
	}
	return uint32(v), nil
}

func parseUint(w string, bits int) (uint64, bool) {
	v, err := strconv.ParseUint(w, 0, bits)
	return v, err == nil
}

// routeProtocols are the rtm_protocol names of iproute2's rt_protos (the
// file itself is not read).
var routeProtocols = map[string]uint8{
	"unspec": 0, "redirect": 1, "kernel": 2, "boot": 3, "static": 4, "gated": 8, "ra": 9, "mrt": 10, "zebra": 11,
	"bird": 12, "dnrouted": 13, "xorp": 14, "ntk": 15, "dhcp": 16, "keepalived": 18, "babel": 42, "openr": 99,
	"bgp": 186, "isis": 187, "ospf": 188, "rip": 189, "eigrp": 192,
}

// ProtocolKeepalived is RTPROT_KEEPALIVED, the protocol keepalived (and
// quadrature) installs tracked routes and rules with.
const ProtocolKeepalived = 18

// ProtocolNumber returns the rtm_protocol of a route or rule protocol as
// written (a name of routeProtocols or a number 0-255).
func ProtocolNumber(w string) (uint8, bool) {
	if n, ok := routeProtocols[w]; ok {
		return n, true
	}
	n, ok := parseUint(w, 8)
	return uint8(n), ok
}

// routeScopes are the rtm_scope names.
var routeScopes = map[string]uint8{"global": 0, "universe": 0, "site": 200, "link": 253, "host": 254, "nowhere": 255}

// ScopeNumber returns the rtm_scope of a scope as written.
func ScopeNumber(w string) (uint8, bool) {
	if n, ok := routeScopes[w]; ok {
		return n, true
	}
	n, ok := parseUint(w, 8)
	return uint8(n), ok
}

// parseRealms reads "[FROM/]TO" realm numbers (rt_realms names are not
// read) into FROM<<16 | TO.
func parseRealms(w string) (uint32, error) {
	from, to, has := strings.Cut(w, "/")
	if !has {
		from, to = "0", w
	}
	f, ok1 := parseUint(from, 16)
	t, ok2 := parseUint(to, 16)
	if !ok1 || !ok2 {
		return 0, fmt.Errorf("realms %q is not [FROM/]TO with numbers 0-65535 (realm names from rt_realms are not read)", w)
	}
	return uint32(f)<<16 | uint32(t), nil
}

// parseRTT reads a time metric: a bare number is the kernel's value, a
// value with s/sec/secs or ms is converted to units of 1/unit ms.
func parseRTT(w string, unit uint64) (uint32, bool) {
	lw := strings.ToLower(w)
	mult := uint64(0)
	num := lw
	switch {
	case strings.HasSuffix(lw, "ms"):
		num, mult = strings.TrimSuffix(lw, "ms"), unit
	case strings.HasSuffix(lw, "secs"), strings.HasSuffix(lw, "sec"), strings.HasSuffix(lw, "s"):
		num = strings.TrimRight(strings.TrimSuffix(strings.TrimSuffix(lw, "secs"), "sec"), "s")
		mult = 1000 * unit
	}
	v, ok := parseUint(num, 32)
	if !ok {
		return 0, false
	}
	if mult != 0 {
		v *= mult
	}
	if v > 1<<32-1 {
		return 0, false
	}
	return uint32(v), true
}

// unsupportedRouteOptions are keepalived route options quadrature refuses:
// the netlink library it programs routes with cannot set them.
var unsupportedRouteOptions = map[string]string{
	"encap":         "lightweight tunnel encapsulation is not implemented",
	"expires":       "RTA_EXPIRES is not implemented",
	"pref":          "the IPv6 router preference (RTA_PREF) is not implemented",
	"ttl-propagate": "RTA_TTL_PROPAGATE is not implemented",
	"as":            "MPLS destinations are not implemented",
	"vrf":           "VRF tables are not looked up; give the VRF's table number",
}

// routeWarning is a warning of one route or rule line.
type routeWarning string

// routes parses a static_routes / virtual_routes block.
func (d *decoder) routes(b *Stmt) []Route {
	if !d.needBlock(b) {
		return nil
	}
	var out []Route
	for _, s := range b.Block {
		if s.HasBlock {
			d.errorf(s.Pos, "unexpected block in %s", b.Key)
			continue
		}
		r, warns, err := parseRoute(routeWords(s))
		for _, w := range warns {
			d.warnf(s.Pos, "%s: %s", b.Key, w)
		}
		if err != nil {
			d.errorf(s.Pos, "%s: %v", b.Key, err)
			continue
		}
		r.Pos = s.Pos
		out = append(out, r)
	}
	return out
}

// parseRoute reads one route line: the `ip route add` syntax keepalived
// 2.2.7 reads (vrrp_iproute.c), with its warnings.
func parseRoute(words []string) (Route, []routeWarning, error) {
	var r Route
	var warns []routeWarning
	family := ""
	var dst *netip.Prefix
	var nh *Nexthop // the nexthop being read, nil before the first
	var orVias []netip.Addr
	protocolGiven := false
	need := func(i int) (string, error) {
		if i+1 >= len(words) {
			return "", fmt.Errorf("%s needs a value", words[i])
		}
		return words[i+1], nil
	}
	addr := func(what, w string) (netip.Addr, error) {
		a, err := netip.ParseAddr(w)
		if err != nil || a.Zone() != "" {
			return netip.Addr{}, fmt.Errorf("%s %q is not an IP address", what, w)
		}
		return a.Unmap(), nil
	}
	// setFamily fixes the route's family at the first word that has one;
	// what names the word in the error.
	setFamily := func(f, what string) error {
		if family == "" || family == f {
			family = f
			return nil
		}
		return fmt.Errorf("%s is %s, the route is %s (keepalived: cannot mix IPv4 and IPv6 addresses for route)", what, familyName(f), familyName(family))
	}
	for i := 0; i < len(words); i++ {
		w := words[i]
		// After the first nexthop only nexthop options follow
		// (keepalived: "Route has trailing nonsense after nexthops").
		if nh != nil {
			switch w {
			case "nexthop":
				r.Nexthops = append(r.Nexthops, Nexthop{})
				nh = &r.Nexthops[len(r.Nexthops)-1]
			case "via", "gw":
				v, err := need(i)
				if err != nil {
					return r, warns, err
				}
				i++
				if v == "inet" || v == "inet6" {
					if err := setFamily(v, v); err != nil {
						return r, warns, err
					}
					if v, err = need(i); err != nil {
						return r, warns, err
					}
					i++
				}
				if nh.Via, err = addr("nexthop via", v); err != nil {
					return r, warns, err
				}
			case "dev":
				v, err := need(i)
				if err != nil {
					return r, warns, err
				}
				i++
				nh.Dev = v
			case "weight":
				v, err := need(i)
				if err != nil {
					return r, warns, err
				}
				i++
				n, ok := parseUint(v, 16)
				if !ok || n < 1 || n > 256 {
					return r, warns, fmt.Errorf("nexthop weight %q is not in 1-256", v)
				}
				nh.Weight = int(n)
			case "onlink":
				nh.Onlink = true
			case "realms":
				v, err := need(i)
				if err != nil {
					return r, warns, err
				}
				i++
				if nh.Realms, err = parseRealms(v); err != nil {
					return r, warns, err
				}
			case "encap":
				return r, warns, fmt.Errorf("not supported: nexthop encap (%s)", unsupportedRouteOptions["encap"])
			default:
				return r, warns, fmt.Errorf("%q after the nexthops (only nexthop via, dev, weight, onlink, realms follow them)", w)
			}
			continue
		}
		if why, ok := unsupportedRouteOptions[w]; ok {
			return r, warns, fmt.Errorf("not supported: route option %s (%s)", w, why)
		}
		switch {
		case w == "inet" || w == "inet6":
			if err := setFamily(w, w); err != nil {
				return r, warns, err
			}
		case w == "src":
			v, err := need(i)
			if err != nil {
				return r, warns, err
			}
			i++
			if r.Src, err = addr("src", v); err != nil {
				return r, warns, err
			}
			if err := setFamily(familyOf(r.Src), "src "+v); err != nil {
				return r, warns, err
			}
		case w == "from":
			v, err := need(i)
			if err != nil {
				return r, warns, err
			}
			i++
			p, ok := parsePrefixOrAddr(v)
			if !ok {
				return r, warns, fmt.Errorf("from %q is not an address or prefix", v)
			}
			if !p.Addr().Is6() {
				return r, warns, fmt.Errorf("from %s: a route's source prefix is IPv6 only", v)
			}
			r.From = p
			if err := setFamily(FamilyInet6, "from "+v); err != nil {
				return r, warns, err
			}
		case w == "via" || w == "gw":
			if w == "gw" {
				warns = append(warns, `"gw" is deprecated, use "via" (keepalived says so too)`)
			}
			v, err := need(i)
			if err != nil {
				return r, warns, err
			}
			i++
			if v == "inet" || v == "inet6" { // "via inet6 ADDR"
				if err := setFamily(v, w+" "+v); err != nil {
					return r, warns, err
				}
				if v, err = need(i); err != nil {
					return r, warns, err
				}
				i++
			}
			if r.Via, err = addr(w, v); err != nil {
				return r, warns, err
			}
			if err := setFamily(familyOf(r.Via), w+" "+v); err != nil {
				return r, warns, err
			}
		case w == "or":
			v, err := need(i)
			if err != nil {
				return r, warns, err
			}
			i++
			if len(orVias) == 0 {
				warns = append(warns, `"or" is deprecated (keepalived says so too); read as nexthop paths`)
			}
			a, err := addr("or", v)
			if err != nil {
				return r, warns, err
			}
			orVias = append(orVias, a)
		case w == "dev" || w == "oif":
			v, err := need(i)
			if err != nil {
				return r, warns, err
			}
			i++
			r.Dev = v
		case w == "onlink":
			r.Onlink = true
		case w == "nexthop":
			if len(orVias) > 0 {
				return r, warns, fmt.Errorf("nexthop and \"or\" exclude each other")
			}
			r.Nexthops = append(r.Nexthops, Nexthop{})
			nh = &r.Nexthops[len(r.Nexthops)-1]
		case w == "table":
			v, err := need(i)
			if err != nil {
				return r, warns, err
			}
			i++
			if r.Table, err = tableNumber(v); err != nil {
				return r, warns, err
			}
		case w == "metric" || w == "priority" || w == "preference":
			v, err := need(i)
			if err != nil {
				return r, warns, err
			}
			i++
			n, ok := parseUint(v, 32)
			if !ok {
				return r, warns, fmt.Errorf("%s %q is not a number 0-4294967295", w, v)
			}
			r.Metric = uint32(n)
		case w == "scope":
			v, err := need(i)
			if err != nil {
				return r, warns, err
			}
			i++
			if _, ok := ScopeNumber(v); !ok {
				return r, warns, fmt.Errorf("scope %q is not host, link, site, global, nowhere or a number 0-255", v)
			}
			r.Scope = v
		case w == "proto" || w == "protocol":
			v, err := need(i)
			if err != nil {
				return r, warns, err
			}
			i++
			if _, ok := ProtocolNumber(v); !ok {
				return r, warns, fmt.Errorf("protocol %q is not a number 0-255 or a name of rt_protos (kernel, boot, static, bird, ...)", v)
			}
			r.Protocol, protocolGiven = v, true
		case w == "tos" || w == "dsfield":
			v, err := need(i)
			if err != nil {
				return r, warns, err
			}
			i++
			n, ok := parseUint(v, 8)
			if !ok {
				return r, warns, fmt.Errorf("%s %q is not a number 0-255", w, v)
			}
			r.Tos = uint8(n)
		case w == "realms":
			v, err := need(i)
			if err != nil {
				return r, warns, err
			}
			i++
			if r.Realms, err = parseRealms(v); err != nil {
				return r, warns, err
			}
			if err := setFamily(FamilyInet, "realms"); err != nil {
				return r, warns, fmt.Errorf("realms are IPv4 only")
			}
		case w == "features":
			v, err := need(i)
			if err != nil {
				return r, warns, err
			}
			i++
			if v != "ecn" {
				return r, warns, fmt.Errorf("feature %q is not supported (ecn is)", v)
			}
			r.FeatureECN = true
		case w == "congctl":
			v, err := need(i)
			if err != nil {
				return r, warns, err
			}
			i++
			if v == "lock" {
				r.CongctlLock = true
				if v, err = need(i); err != nil {
					return r, warns, err
				}
				i++
			}
			r.Congctl = v
		case slices.Contains(routeMetrics, w):
			m := RouteMetric{Name: w}
			v, err := need(i)
			if err != nil {
				return r, warns, err
			}
			i++
			if v == "lock" {
				if !slices.Contains(lockableMetrics, w) {
					return r, warns, fmt.Errorf("%s takes no lock", w)
				}
				m.Lock = true
				if v, err = need(i); err != nil {
					return r, warns, err
				}
				i++
			}
			var ok bool
			if unit, isTime := rttUnits[w]; isTime {
				m.Value, ok = parseRTT(v, unit)
			} else {
				var n uint64
				n, ok = parseUint(v, 32)
				if lim, has := metricMax[w]; has && n > lim {
					ok = false
				}
				m.Value = uint32(n)
			}
			if !ok {
				if lim, has := metricMax[w]; has {
					return r, warns, fmt.Errorf("%s %q is not a number 0-%d", w, v, lim)
				}
				return r, warns, fmt.Errorf("%s %q is not a number", w, v)
			}
			r.Metrics = append(r.Metrics, m)
		case w == "append":
			r.Append, r.Add = true, false
		case w == "add":
			r.Add, r.Append = true, false
		case w == "prepend":
			r.Add, r.Append = false, false
		case w == "no_track":
			r.NoTrack = true
		case w == "track_group":
			return r, warns, fmt.Errorf("not supported: track_group (%s)", refusedAnywhere["track_group"])
		default:
			// keepalived: [to] [TYPE] DESTINATION.
			if w == "to" {
				v, err := need(i)
				if err != nil {
					return r, warns, err
				}
				i++
				w = v
			}
			if slices.Contains(RouteTypes, w) {
				v, err := need(i)
				if err != nil {
					return r, warns, fmt.Errorf("route type %s needs a destination", w)
				}
				i++
				r.Type = w
				if w == "unicast" {
					r.Type = ""
				}
				w = v
			}
			p, ok := parsePrefixOrAddr(w)
			if w == "default" || w == "all" {
				p, ok = netip.PrefixFrom(netip.IPv4Unspecified(), 0), true
				if family == FamilyInet6 {
					p = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
				}
			} else if ok {
				if err := setFamily(familyOf(p.Addr()), w); err != nil {
					return r, warns, err
				}
			}
			if !ok {
				if dst == nil {
					return r, warns, fmt.Errorf("unknown route option or destination %q", w)
				}
				return r, warns, fmt.Errorf("unknown route option %q", w)
			}
			dst = &p
		}
	}
	if dst == nil {
		return r, warns, fmt.Errorf("no destination")
	}
	r.Dst = *dst
	if len(orVias) > 0 {
		if !r.Via.IsValid() {
			return r, warns, fmt.Errorf("\"or\" needs a via before it")
		}
		for _, a := range append([]netip.Addr{r.Via}, orVias...) {
			r.Nexthops = append(r.Nexthops, Nexthop{Via: a, Dev: r.Dev, Onlink: r.Onlink})
		}
		r.Via, r.Dev, r.Onlink = netip.Addr{}, "", false
	}
	if len(r.Nexthops) > 0 && (r.Via.IsValid() || r.Dev != "") {
		return r, warns, fmt.Errorf("via and dev go in each nexthop of a multipath route")
	}
	if family == "" {
		family = FamilyInet
	}
	r.Family = family
	if r.Dst.Bits() == 0 && r.Dst.Addr().IsUnspecified() {
		// "default" read before inet6, or 0.0.0.0/0 in an IPv6 route.
		if family == FamilyInet6 {
			r.Dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
		}
	}
	if familyOf(r.Dst.Addr()) != r.Family {
		return r, warns, fmt.Errorf("%s is not %s", r.Dst, familyName(r.Family))
	}
	for _, n := range r.Nexthops {
		if n.Via.IsValid() && familyOf(n.Via) != r.Family {
			return r, warns, fmt.Errorf("nexthop via %s is not %s like %s", n.Via, familyName(r.Family), r.Dst)
		}
		if n.Realms != 0 && r.Family == FamilyInet6 {
			return r, warns, fmt.Errorf("realms are IPv4 only")
		}
	}
	if r.Type != "" && r.Type != "local" && r.Type != "broadcast" && r.Type != "anycast" && r.Type != "multicast" && (r.Via.IsValid() || len(r.Nexthops) > 0) {
		return r, warns, fmt.Errorf("a %s route has no gateway", r.Type)
	}
	if !r.NoTrack && protocolGiven {
		if n, _ := ProtocolNumber(r.Protocol); n != ProtocolKeepalived {
			warns = append(warns, routeWarning(fmt.Sprintf("protocol %s is replaced by keepalived (%d) unless the route has no_track, as keepalived does", r.Protocol, ProtocolKeepalived)))
		}
	}
	return r, warns, nil
}

// rules parses a static_rules / virtual_rules block.
func (d *decoder) rules(b *Stmt) []Rule {
	if !d.needBlock(b) {
		return nil
	}
	var out []Rule
	for _, s := range b.Block {
		if s.HasBlock {
			d.errorf(s.Pos, "unexpected block in %s", b.Key)
			continue
		}
		r, warns, err := parseRule(routeWords(s))
		for _, w := range warns {
			d.warnf(s.Pos, "%s: %s", b.Key, w)
		}
		if err != nil {
			d.errorf(s.Pos, "%s: %v", b.Key, err)
			continue
		}
		r.Pos = s.Pos
		if r.Preference == nil {
			// keepalived: "Rule has no preference specified - setting
			// to N. This is probably not what you want." It counts down
			// from 16384 per family, in the order it reads the rules.
			if d.nextRulePref == nil {
				d.nextRulePref = map[string]uint32{FamilyInet: 16384, FamilyInet6: 16384}
			}
			p := d.nextRulePref[r.Family]
			d.nextRulePref[r.Family] = p - 1
			r.Preference = &p
			d.warnf(s.Pos, "%s: the rule has no preference: set to %d, as keepalived does; this is probably not what you want (rules added on state changes need a fixed order)", b.Key, p)
		}
		out = append(out, r)
	}
	return out
}

// ipProtocols are the ipproto names keepalived reads.
var ipProtocols = map[string]uint8{"tcp": 6, "udp": 17, "sctp": 132, "icmp": 1, "icmpv6": 58, "ipv6-icmp": 58}

// parseSelectorRange reads "N" or "N-M" with both ends at most max.
func parseSelectorRange(w string, max uint64) (*Range, bool) {
	a, b, has := strings.Cut(w, "-")
	if !has {
		b = a
	}
	x, ok1 := parseUint(a, 32)
	y, ok2 := parseUint(b, 32)
	if !ok1 || !ok2 || x > max || y > max || x > y {
		return nil, false
	}
	return &Range{Start: uint32(x), End: uint32(y)}, true
}

// parseRule reads one rule line: the `ip rule add` syntax keepalived
// 2.2.7 reads (vrrp_iprule.c), with its warnings.
func parseRule(words []string) (Rule, []routeWarning, error) {
	r := Rule{}
	var warns []routeWarning
	family := ""
	protocolGiven := false
	tableOption := "" // a selector only valid with a table action
	need := func(i int) (string, error) {
		if i+1 >= len(words) {
			return "", fmt.Errorf("%s needs a value", words[i])
		}
		return words[i+1], nil
	}
	setFamily := func(f string) error {
		if family == "" || family == f {
			family = f
			return nil
		}
		return fmt.Errorf("the rule mixes IPv4 and IPv6")
	}
	prefix := func(what, w string) (netip.Prefix, error) {
		if w == "all" {
			return netip.Prefix{}, nil
		}
		p, ok := parsePrefixOrAddr(w)
		if !ok {
			return p, fmt.Errorf("%s %q is not an address or prefix", what, w)
		}
		return p, setFamily(familyOf(p.Addr()))
	}
	setAction := func(a string) error {
		if r.Action != "" || r.Table != 0 {
			return fmt.Errorf("only one of table, goto, nop, blackhole, unreachable, prohibit and l3mdev")
		}
		r.Action = a
		return nil
	}
	for i := 0; i < len(words); i++ {
		w := words[i]
		var v string
		var err error
		switch w {
		case "from", "to", "table", "lookup", "priority", "preference", "pref", "order", "fwmark", "iif", "iifname", "dev",
			"oif", "oifname", "tos", "dsfield", "goto", "suppress_prefixlength", "sup_pl", "suppress_ifgroup", "sup_group",
			"protocol", "realms", "uidrange", "ipproto", "sport", "dport", "type", "tunnel-id":
			if v, err = need(i); err != nil {
				return r, warns, err
			}
			i++
		}
		if w == "type" { // "type ACTION"
			w = v
			if w == "goto" {
				if v, err = need(i); err != nil {
					return r, warns, err
				}
				i++
			}
		}
		switch w {
		case "inet", "inet6":
			if err := setFamily(w); err != nil {
				return r, warns, err
			}
		case "not":
			r.Not = true
		case "from":
			if r.From, err = prefix("from", v); err != nil {
				return r, warns, err
			}
		case "to":
			if r.To, err = prefix("to", v); err != nil {
				return r, warns, err
			}
		case "table", "lookup":
			t, err := tableNumber(v)
			if err != nil {
				return r, warns, err
			}
			if t == 0 {
				return r, warns, fmt.Errorf("table 0 is not valid")
			}
			if r.Action != "" || r.Table != 0 {
				return r, warns, fmt.Errorf("only one of table, goto, nop, blackhole, unreachable, prohibit and l3mdev")
			}
			r.Table = t
		case "priority", "preference", "pref", "order":
			n, ok := parseUint(v, 32)
			if !ok {
				return r, warns, fmt.Errorf("%s %q is not a number 0-4294967295", w, v)
			}
			p := uint32(n)
			r.Preference = &p
		case "fwmark":
			mark, mask, hasMask := strings.Cut(v, "/")
			n, ok := parseUint(mark, 32)
			if !ok {
				return r, warns, fmt.Errorf("fwmark %q is not a number", v)
			}
			r.Fwmark = uint32(n)
			if hasMask {
				m, ok := parseUint(mask, 32)
				if !ok {
					return r, warns, fmt.Errorf("fwmark mask %q is not a number", mask)
				}
				r.FwmarkMask = uint32(m)
			}
		case "iif", "iifname", "dev":
			r.IIf = v
		case "oif", "oifname":
			r.OIf = v
		case "tos", "dsfield":
			n, ok := parseUint(v, 8)
			if !ok {
				return r, warns, fmt.Errorf("%s %q is not a number 0-255", w, v)
			}
			r.Tos = uint8(n)
		case "goto":
			n, ok := parseUint(v, 32)
			if !ok {
				return r, warns, fmt.Errorf("goto %q is not a number", v)
			}
			if err := setAction("goto"); err != nil {
				return r, warns, err
			}
			r.Goto = uint32(n)
		case "suppress_prefixlength", "sup_pl":
			n, ok := parseUint(v, 8)
			if !ok || n > 128 {
				return r, warns, fmt.Errorf("%s %q is not in 0-128", w, v)
			}
			sp := int(n)
			r.SuppressPrefixLength = &sp
			tableOption = w
		case "suppress_ifgroup", "sup_group":
			n, ok := parseUint(v, 31)
			if !ok {
				return r, warns, fmt.Errorf("%s %q is not a group number", w, v)
			}
			g := int(n)
			r.SuppressIfgroup = &g
			tableOption = w
		case "realms":
			if r.Realms, err = parseRealms(v); err != nil {
				return r, warns, err
			}
			if err := setFamily(FamilyInet); err != nil {
				return r, warns, fmt.Errorf("realms are IPv4 only")
			}
			tableOption = w
		case "uidrange":
			rg, ok := parseSelectorRange(v, 1<<32-1)
			if !ok || !strings.Contains(v, "-") {
				return r, warns, fmt.Errorf("uidrange %q is not START-END", v)
			}
			r.UIDRange = rg
		case "ipproto":
			if n, ok := ipProtocols[strings.ToLower(v)]; ok {
				r.IPProto = n
			} else if n, ok := parseUint(v, 8); ok && n > 0 {
				r.IPProto = uint8(n)
			} else {
				return r, warns, fmt.Errorf("ipproto %q is not tcp, udp, sctp, icmp, icmpv6 or a number 1-255", v)
			}
		case "sport", "dport":
			rg, ok := parseSelectorRange(v, 65535)
			if !ok {
				return r, warns, fmt.Errorf("%s %q is not a port or a range N-M", w, v)
			}
			if w == "sport" {
				r.Sport = rg
			} else {
				r.Dport = rg
			}
		case "protocol":
			if _, ok := ProtocolNumber(v); !ok {
				return r, warns, fmt.Errorf("protocol %q is not a number 0-255 or a name of rt_protos", v)
			}
			r.Protocol, protocolGiven = v, true
		case "tunnel-id":
			return r, warns, fmt.Errorf("not supported: rule option tunnel-id (FRA_TUN_ID is not implemented)")
		case "blackhole", "unreachable", "prohibit", "nop":
			if err := setAction(w); err != nil {
				return r, warns, err
			}
		case "l3mdev":
			if err := setAction("l3mdev"); err != nil {
				return r, warns, err
			}
			r.L3mdev, r.Action = true, ""
		case "no_track":
			r.NoTrack = true
		case "track_group":
			return r, warns, fmt.Errorf("not supported: track_group (%s)", refusedAnywhere["track_group"])
		default:
			if slices.Contains(RouteTypes, w) {
				return r, warns, fmt.Errorf("rule action %q is not goto, nop, blackhole, unreachable or prohibit", w)
			}
			return r, warns, fmt.Errorf("unknown rule option %q", w)
		}
	}
	if family == "" {
		family = FamilyInet
	}
	r.Family = family
	if r.Table == 0 && r.Action == "" && !r.L3mdev {
		return r, warns, fmt.Errorf("no action: a rule needs table, goto, nop, blackhole, unreachable, prohibit or l3mdev (keepalived ignores it)")
	}
	if r.L3mdev && r.Table != 0 {
		return r, warns, fmt.Errorf("table and l3mdev exclude each other")
	}
	if tableOption != "" && r.Table == 0 && !r.L3mdev {
		return r, warns, fmt.Errorf("%s needs a table action", tableOption)
	}
	if r.Action == "goto" {
		if r.Preference == nil {
			return r, warns, fmt.Errorf("goto %d needs a preference", r.Goto)
		}
		if *r.Preference >= r.Goto {
			return r, warns, fmt.Errorf("preference %d is not below the goto target %d", *r.Preference, r.Goto)
		}
	}
	if !r.NoTrack && protocolGiven {
		if n, _ := ProtocolNumber(r.Protocol); n != ProtocolKeepalived {
			warns = append(warns, routeWarning(fmt.Sprintf("protocol %s is replaced by keepalived (%d) unless the rule has no_track, as keepalived does", r.Protocol, ProtocolKeepalived)))
		}
	}
	return r, warns, nil
}
