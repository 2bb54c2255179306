package config

import (
	"fmt"
	"net"
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
		if r, err := parseRoute(routeWords(s)); err != nil {
			d.errorf(s.Pos, "%s: %v", b.Key, err)
		} else {
			r.Pos = s.Pos
			if r.deprecatedOr {
				d.warnf(s.Pos, "%s: \"or\" is deprecated (keepalived says so too); read as nexthop paths", b.Key)
			}
			out = append(out, r.Route)
		}
	}
	return out
}

type parsedRoute struct {
	Route
	deprecatedOr bool
}

// parseRoute reads one route line (keepalived vrrp_iproute.c syntax, the
// ip route add one).
func parseRoute(words []string) (parsedRoute, error) {
	var r parsedRoute
	family := ""
	var dst *netip.Prefix
	var nh *Nexthop // the nexthop being read, nil outside one
	var orVias []netip.Addr
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
	for i := 0; i < len(words); i++ {
		w := words[i]
		if nh != nil {
			switch w {
			case "via", "gw", "dev", "weight", "onlink", "nexthop":
			default:
				nh = nil // the nexthop ends at the first word it does not take
			}
		}
		switch {
		case w == "inet" || w == "inet6":
			family = w
		case w == "to":
			// The destination follows.
		case slices.Contains(RouteTypes, w) && dst == nil:
			if w != "unicast" {
				r.Type = w
			}
		case w == "src":
			v, err := need(i)
			if err != nil {
				return r, err
			}
			i++
			if r.Src, err = addr("src", v); err != nil {
				return r, err
			}
		case w == "via" || w == "gw":
			v, err := need(i)
			if err != nil {
				return r, err
			}
			i++
			if v == "inet" || v == "inet6" { // "via inet6 ADDR"
				if v, err = need(i); err != nil {
					return r, err
				}
				i++
			}
			a, err := addr(w, v)
			if err != nil {
				return r, err
			}
			if nh != nil {
				nh.Via = a
			} else {
				r.Via = a
			}
		case w == "or":
			v, err := need(i)
			if err != nil {
				return r, err
			}
			i++
			a, err := addr("or", v)
			if err != nil {
				return r, err
			}
			orVias = append(orVias, a)
			r.deprecatedOr = true
		case w == "dev" || w == "oif":
			v, err := need(i)
			if err != nil {
				return r, err
			}
			i++
			if nh != nil {
				nh.Dev = v
			} else {
				r.Dev = v
			}
		case w == "onlink":
			if nh != nil {
				nh.Onlink = true
			} else {
				r.Onlink = true
			}
		case w == "weight" && nh != nil:
			v, err := need(i)
			if err != nil {
				return r, err
			}
			i++
			n, ok := parseUint(v, 16)
			if !ok || n < 1 || n > 256 {
				return r, fmt.Errorf("nexthop weight %q is not in 1-256", v)
			}
			nh.Weight = int(n)
		case w == "nexthop":
			r.Nexthops = append(r.Nexthops, Nexthop{})
			nh = &r.Nexthops[len(r.Nexthops)-1]
		case w == "table":
			v, err := need(i)
			if err != nil {
				return r, err
			}
			i++
			if r.Table, err = tableNumber(v); err != nil {
				return r, err
			}
		case w == "metric" || w == "priority" || w == "preference":
			v, err := need(i)
			if err != nil {
				return r, err
			}
			i++
			n, ok := parseUint(v, 32)
			if !ok {
				return r, fmt.Errorf("%s %q is not a number", w, v)
			}
			r.Metric = uint32(n)
		case w == "scope":
			v, err := need(i)
			if err != nil {
				return r, err
			}
			i++
			if _, ok := parseUint(v, 8); !ok && !slices.Contains([]string{"host", "link", "site", "global", "nowhere"}, v) {
				return r, fmt.Errorf("scope %q is not host, link, site, global, nowhere or a number", v)
			}
			r.Scope = v
		case w == "proto" || w == "protocol":
			v, err := need(i)
			if err != nil {
				return r, err
			}
			i++
			r.Protocol = v
		case w == "tos" || w == "dsfield":
			v, err := need(i)
			if err != nil {
				return r, err
			}
			i++
			n, ok := parseUint(v, 8)
			if !ok {
				return r, fmt.Errorf("%s %q is not a number 0-255", w, v)
			}
			r.Tos = uint8(n)
		case slices.Contains(routeMetrics, w):
			m := RouteMetric{Name: w}
			v, err := need(i)
			if err != nil {
				return r, err
			}
			i++
			if v == "lock" {
				m.Lock = true
				if v, err = need(i); err != nil {
					return r, err
				}
				i++
			}
			n, ok := parseUint(v, 32)
			if !ok {
				return r, fmt.Errorf("%s %q is not a number", w, v)
			}
			m.Value = uint32(n)
			r.Metrics = append(r.Metrics, m)
		case w == "append":
			r.Append = true
		case w == "no_track":
			r.NoTrack = true
		case w == "track_group":
			return r, fmt.Errorf("not supported: track_group (%s)", refusedAnywhere["track_group"])
		case dst == nil:
			p, ok := parsePrefixOrAddr(w)
			if w == "default" || w == "all" {
				p, ok = netip.PrefixFrom(netip.IPv4Unspecified(), 0), true
				if family == FamilyInet6 {
					p = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
				}
			}
			if !ok {
				return r, fmt.Errorf("unknown route option or destination %q", w)
			}
			dst = &p
		default:
			return r, fmt.Errorf("unknown route option %q", w)
		}
	}
	if dst == nil {
		return r, fmt.Errorf("no destination")
	}
	r.Dst = *dst
	if len(orVias) > 0 {
		if len(r.Nexthops) > 0 || !r.Via.IsValid() {
			return r, fmt.Errorf("\"or\" needs a via before it and no nexthop")
		}
		for _, a := range append([]netip.Addr{r.Via}, orVias...) {
			r.Nexthops = append(r.Nexthops, Nexthop{Via: a, Dev: r.Dev, Onlink: r.Onlink})
		}
		r.Via, r.Dev, r.Onlink = netip.Addr{}, "", false
	}
	if len(r.Nexthops) > 0 && (r.Via.IsValid() || r.Dev != "") {
		return r, fmt.Errorf("via and dev go in each nexthop of a multipath route")
	}
	r.Family = familyOf(r.Dst.Addr())
	if family != "" && family != r.Family && r.Dst.Bits() != 0 {
		return r, fmt.Errorf("%s is not %s", r.Dst, family)
	}
	if family == FamilyInet6 && r.Dst.Bits() == 0 {
		r.Dst, r.Family = netip.PrefixFrom(netip.IPv6Unspecified(), 0), FamilyInet6
	}
	for _, a := range []struct {
		what string
		a    netip.Addr
	}{{"src", r.Src}, {"via", r.Via}} {
		if a.a.IsValid() && familyOf(a.a) != r.Family {
			return r, fmt.Errorf("%s %s is not %s like %s", a.what, a.a, familyName(r.Family), r.Dst)
		}
	}
	for _, n := range r.Nexthops {
		if n.Via.IsValid() && familyOf(n.Via) != r.Family {
			return r, fmt.Errorf("nexthop via %s is not %s like %s", n.Via, familyName(r.Family), r.Dst)
		}
	}
	if r.Type != "" && r.Type != "local" && r.Type != "broadcast" && r.Type != "anycast" && r.Type != "multicast" && (r.Via.IsValid() || len(r.Nexthops) > 0) {
		return r, fmt.Errorf("a %s route has no gateway", r.Type)
	}
	return r, nil
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
		r, err := parseRule(routeWords(s))
		if err != nil {
			d.errorf(s.Pos, "%s: %v", b.Key, err)
			continue
		}
		r.Pos = s.Pos
		if r.Preference == nil {
			// keepalived: "Rule has no preference specified - setting
			// to N. This is probably not what you want."
			d.warnf(s.Pos, "%s: the rule has no preference: the kernel (keepalived: an arbitrary one) picks it, and the order of rules added on state changes is then unpredictable", b.Key)
		}
		out = append(out, r)
	}
	return out
}

// parseRule reads one rule line (keepalived vrrp_iprule.c syntax, the ip
// rule add one).
func parseRule(words []string) (Rule, error) {
	r := Rule{}
	family := ""
	need := func(i int) (string, error) {
		if i+1 >= len(words) {
			return "", fmt.Errorf("%s needs a value", words[i])
		}
		return words[i+1], nil
	}
	prefix := func(what, w string) (netip.Prefix, error) {
		if w == "all" {
			return netip.Prefix{}, nil
		}
		p, ok := parsePrefixOrAddr(w)
		if !ok {
			return p, fmt.Errorf("%s %q is not an address or prefix", what, w)
		}
		return p, nil
	}
	for i := 0; i < len(words); i++ {
		w := words[i]
		var v string
		var err error
		switch w {
		case "from", "to", "table", "lookup", "priority", "preference", "pref", "order", "fwmark", "iif", "iifname",
			"oif", "oifname", "tos", "dsfield", "goto", "suppress_prefixlength", "protocol":
			if v, err = need(i); err != nil {
				return r, err
			}
			i++
		}
		switch w {
		case "inet", "inet6":
			family = w
		case "not":
			r.Not = true
		case "from":
			if r.From, err = prefix("from", v); err != nil {
				return r, err
			}
		case "to":
			if r.To, err = prefix("to", v); err != nil {
				return r, err
			}
		case "table", "lookup":
			if r.Table, err = tableNumber(v); err != nil {
				return r, err
			}
		case "priority", "preference", "pref", "order":
			n, ok := parseUint(v, 32)
			if !ok {
				return r, fmt.Errorf("%s %q is not a number", w, v)
			}
			p := uint32(n)
			r.Preference = &p
		case "fwmark":
			mark, mask, hasMask := strings.Cut(v, "/")
			n, ok := parseUint(mark, 32)
			if !ok {
				return r, fmt.Errorf("fwmark %q is not a number", v)
			}
			r.Fwmark = uint32(n)
			if hasMask {
				m, ok := parseUint(mask, 32)
				if !ok {
					return r, fmt.Errorf("fwmark mask %q is not a number", mask)
				}
				r.FwmarkMask = uint32(m)
			}
		case "iif", "iifname":
			r.IIf = v
		case "oif", "oifname":
			r.OIf = v
		case "tos", "dsfield":
			n, ok := parseUint(v, 8)
			if !ok {
				return r, fmt.Errorf("%s %q is not a number 0-255", w, v)
			}
			r.Tos = uint8(n)
		case "goto":
			n, ok := parseUint(v, 32)
			if !ok {
				return r, fmt.Errorf("goto %q is not a number", v)
			}
			r.Action, r.Goto = "goto", uint32(n)
		case "suppress_prefixlength":
			n, ok := parseUint(v, 8)
			if !ok || n > 128 {
				return r, fmt.Errorf("suppress_prefixlength %q is not in 0-128", v)
			}
			sp := int(n)
			r.SuppressPrefixLength = &sp
		case "protocol":
			r.Protocol = v
		case "blackhole", "unreachable", "prohibit", "nop":
			r.Action = w
		case "l3mdev":
			r.L3mdev = true
		case "no_track":
			r.NoTrack = true
		case "track_group":
			return r, fmt.Errorf("not supported: track_group (%s)", refusedAnywhere["track_group"])
		default:
			return r, fmt.Errorf("unknown rule option %q", w)
		}
	}
	r.Family = FamilyInet
	for _, p := range []netip.Prefix{r.From, r.To} {
		if p.IsValid() {
			if f := familyOf(p.Addr()); r.Family != f && (p == r.To && r.From.IsValid()) {
				return r, fmt.Errorf("from %s and to %s are of different families", r.From, r.To)
			} else {
				r.Family = f
			}
		}
	}
	if family != "" {
		if (r.From.IsValid() || r.To.IsValid()) && family != r.Family {
			return r, fmt.Errorf("the addresses are not %s", family)
		}
		r.Family = family
	}
	if r.Table != 0 && r.Action != "" {
		return r, fmt.Errorf("table and %s exclude each other", r.Action)
	}
	return r, nil
}

// vmac parses "use_vmac [NAME] [MAC]".
func (d *decoder) vmac(s *Stmt, in *VRRPInstance) {
	if !d.nargs(s, 0, 2) {
		return
	}
	v := &VMAC{}
	if in.VMAC != nil {
		v.XmitBase = in.VMAC.XmitBase
	}
	for _, a := range s.ArgStrings() {
		if hw, err := net.ParseMAC(a); err == nil && len(hw) == 6 {
			v.MAC = hw.String()
			continue
		}
		if v.Name != "" {
			d.errorf(s.Pos, "use_vmac: %q is not a MAC address", a)
			return
		}
		v.Name = a
	}
	in.VMAC = v
}
