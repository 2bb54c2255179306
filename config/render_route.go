package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// String returns the route in the canonical form parseRoute reads back
// (keepalived's syntax: it is also what keepalived 2.2.7 reads).
func (r Route) String() string {
	var b []string
	add := func(s ...string) { b = append(b, s...) }
	if r.Src.IsValid() {
		add("src", r.Src.String())
	}
	if r.Type != "" {
		add(r.Type)
	}
	switch {
	case r.Dst.Bits() == 0 && r.Family == FamilyInet6:
		add("::/0")
	case r.Dst.Bits() == r.Dst.Addr().BitLen():
		add(r.Dst.Addr().String())
	default:
		add(r.Dst.String())
	}
	if r.From.IsValid() {
		add("from", prefixString(r.From))
	}
	if r.Via.IsValid() {
		add("via", r.Via.String())
	}
	if r.Dev != "" {
		add("dev", quote(r.Dev))
	}
	if r.Onlink {
		add("onlink")
	}
	if r.Table != 0 {
		add("table", strconv.FormatUint(uint64(r.Table), 10))
	}
	if r.Metric != 0 {
		add("metric", strconv.FormatUint(uint64(r.Metric), 10))
	}
	if r.Scope != "" {
		add("scope", quote(r.Scope))
	}
	if r.Protocol != "" {
		add("protocol", quote(r.Protocol))
	}
	if r.Tos != 0 {
		add("tos", fmt.Sprintf("0x%02x", r.Tos))
	}
	if r.Realms != 0 {
		add("realms", realmsString(r.Realms))
	}
	if r.FeatureECN {
		add("features", "ecn")
	}
	if r.Congctl != "" {
		add("congctl")
		if r.CongctlLock {
			add("lock")
		}
		add(quote(r.Congctl))
	}
	for _, m := range r.Metrics {
		add(m.Name)
		if m.Lock {
			add("lock")
		}
		add(strconv.FormatUint(uint64(m.Value), 10))
	}
	for _, n := range r.Nexthops {
		add("nexthop")
		if n.Via.IsValid() {
			add("via", n.Via.String())
		}
		if n.Dev != "" {
			add("dev", quote(n.Dev))
		}
		if n.Weight != 0 {
			add("weight", strconv.Itoa(n.Weight))
		}
		if n.Onlink {
			add("onlink")
		}
		if n.Realms != 0 {
			add("realms", realmsString(n.Realms))
		}
	}
	if r.Append {
		add("append")
	}
	if r.Add {
		add("add")
	}
	if r.NoTrack {
		add("no_track")
	}
	return strings.Join(b, " ")
}

// String returns the rule in the canonical form parseRule reads back.
func (r Rule) String() string {
	var b []string
	add := func(s ...string) { b = append(b, s...) }
	if r.Family == FamilyInet6 && !r.From.IsValid() && !r.To.IsValid() {
		add("inet6")
	}
	if r.Not {
		add("not")
	}
	if r.From.IsValid() {
		add("from", prefixString(r.From))
	}
	if r.To.IsValid() {
		add("to", prefixString(r.To))
	}
	if r.Fwmark != 0 || r.FwmarkMask != 0 {
		m := strconv.FormatUint(uint64(r.Fwmark), 10)
		if r.FwmarkMask != 0 {
			m += fmt.Sprintf("/0x%x", r.FwmarkMask)
		}
		add("fwmark", m)
	}
	if r.IIf != "" {
		add("iif", quote(r.IIf))
	}
	if r.OIf != "" {
		add("oif", quote(r.OIf))
	}
	if r.Tos != 0 {
		add("tos", fmt.Sprintf("0x%02x", r.Tos))
	}
	if r.Preference != nil {
		add("preference", strconv.FormatUint(uint64(*r.Preference), 10))
	}
	if r.Table != 0 {
		add("table", strconv.FormatUint(uint64(r.Table), 10))
	}
	switch r.Action {
	case "":
	case "goto":
		add("goto", strconv.FormatUint(uint64(r.Goto), 10))
	default:
		add(r.Action)
	}
	if r.SuppressPrefixLength != nil {
		add("suppress_prefixlength", strconv.Itoa(*r.SuppressPrefixLength))
	}
	if r.SuppressIfgroup != nil {
		add("suppress_ifgroup", strconv.Itoa(*r.SuppressIfgroup))
	}
	if r.Realms != 0 {
		add("realms", realmsString(r.Realms))
	}
	if r.UIDRange != nil {
		add("uidrange", fmt.Sprintf("%d-%d", r.UIDRange.Start, r.UIDRange.End))
	}
	if r.IPProto != 0 {
		add("ipproto", strconv.Itoa(int(r.IPProto)))
	}
	if r.Sport != nil {
		add("sport", selectorRangeString(*r.Sport))
	}
	if r.Dport != nil {
		add("dport", selectorRangeString(*r.Dport))
	}
	if r.Protocol != "" {
		add("protocol", quote(r.Protocol))
	}
	if r.L3mdev {
		add("l3mdev")
	}
	if r.NoTrack {
		add("no_track")
	}
	return strings.Join(b, " ")
}

func realmsString(v uint32) string {
	if v>>16 == 0 {
		return strconv.FormatUint(uint64(v), 10)
	}
	return fmt.Sprintf("%d/%d", v>>16, v&0xffff)
}

func selectorRangeString(r Range) string {
	if r.Start == r.End {
		return strconv.FormatUint(uint64(r.Start), 10)
	}
	return fmt.Sprintf("%d-%d", r.Start, r.End)
}

func prefixString(p netip.Prefix) string {
	if p.Bits() == p.Addr().BitLen() {
		return p.Addr().String()
	}
	return p.String()
}

// writeList writes a block of one line per item (routes, rules), nothing
// when there are none.
func writeList[T fmt.Stringer](w *writer, key string, xs []T) {
	if len(xs) == 0 {
		return
	}
	w.open("%s", key)
	for _, x := range xs {
		w.line("%s", x)
	}
	w.close()
}

func (w *writer) fifo(key string, f *FIFO) {
	if f == nil {
		return
	}
	user := func(u string) string {
		if u == "" {
			return ""
		}
		a, g, _ := strings.Cut(u, ":")
		s := " " + quote(a)
		if g != "" {
			s += " " + quote(g)
		}
		return s
	}
	w.line("%s %s%s", key, quote(f.Path), user(f.User))
	if f.Script != "" {
		w.line("%s_script %s%s", key, quote(f.Script), user(f.ScriptUser))
	}
}
