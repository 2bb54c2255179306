package lvs

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// MaxGroupExpansion bounds the number of addresses one group entry may
// expand to, so a typo such as 2001:db8::/64 is an error, not an OOM.
const MaxGroupExpansion = 65536

// GroupEntry is one line of a keepalived virtual_server_group: an address
// range with an optional port, or a firewall mark.
//
//	192.0.2.10 80            First = Last = 192.0.2.10
//	192.0.2.10-20 80         last octet 10..20
//	192.0.2.10-192.0.2.20 80 full start and end addresses
//	192.0.2.0/28 80          every address of the prefix
//	2001:db8::10-1f 443      last 16-bit group 0x10..0x1f
//	fwmark 7 [inet|inet6]    a firewall-mark service
type GroupEntry struct {
	First, Last netip.Addr // inclusive range; invalid for fwmark entries
	Port        uint16     // 0: all ports (persistent services)
	FWMark      uint32
	Family      Family // for fwmark entries (default IPv4)
}

// String renders the entry in keepalived syntax.
func (e GroupEntry) String() string {
	if e.FWMark != 0 {
		if e.Family == IPv6 {
			return fmt.Sprintf("fwmark %d inet6", e.FWMark)
		}
		return fmt.Sprintf("fwmark %d", e.FWMark)
	}
	s := e.First.String()
	if e.Last != e.First {
		s += "-" + e.Last.String()
	}
	if e.Port != 0 {
		s += " " + strconv.Itoa(int(e.Port))
	}
	return s
}

// ParseGroupEntry parses one virtual_server_group line (already split into
// words by the config lexer), e.g. ["192.0.2.10-20", "80"] or
// ["fwmark", "7", "inet6"].
func ParseGroupEntry(words []string) (GroupEntry, error) {
	if len(words) == 0 {
		return GroupEntry{}, fmt.Errorf("lvs: empty virtual_server_group entry")
	}
	if strings.EqualFold(words[0], "fwmark") {
		if len(words) < 2 || len(words) > 3 {
			return GroupEntry{}, fmt.Errorf("lvs: group entry %q: want \"fwmark N [inet|inet6]\"", strings.Join(words, " "))
		}
		m, err := strconv.ParseUint(words[1], 10, 32)
		if err != nil || m == 0 {
			return GroupEntry{}, fmt.Errorf("lvs: group entry: fwmark %q: want 1-4294967295", words[1])
		}
		e := GroupEntry{FWMark: uint32(m), Family: IPv4}
		if len(words) == 3 {
			switch strings.ToLower(words[2]) {
			case "inet":
			case "inet6":
				e.Family = IPv6
			default:
				return GroupEntry{}, fmt.Errorf("lvs: group entry: fwmark family %q: want inet or inet6", words[2])
			}
		}
		return e, nil
	}
	if len(words) > 2 {
		return GroupEntry{}, fmt.Errorf("lvs: group entry %q: want \"ADDRESS[-RANGE] [PORT]\"", strings.Join(words, " "))
	}
	first, last, err := ParseAddrRange(words[0])
	if err != nil {
		return GroupEntry{}, err
	}
	e := GroupEntry{First: first, Last: last}
	if len(words) == 2 {
		p, err := parsePort(words[1])
		if err != nil {
			return GroupEntry{}, err
		}
		e.Port = p
	}
	return e, nil
}

// ParseAddrRange parses the address forms of a virtual_server_group entry:
// a single address, "a.b.c.d-e" (last IPv4 octet), "a.b.c.d-e.f.g.h",
// "2001:db8::a-f" (last IPv6 16-bit group, hexadecimal),
// "2001:db8::a-2001:db8::f", or a CIDR prefix (every address in it). The
// range must be ascending and expand to at most MaxGroupExpansion
// addresses.
func ParseAddrRange(s string) (first, last netip.Addr, err error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Addr{}, netip.Addr{}, fmt.Errorf("lvs: address range %q: %v", s, err)
		}
		p = p.Masked()
		host := p.Addr().BitLen() - p.Bits()
		if host > 16 {
			return netip.Addr{}, netip.Addr{}, fmt.Errorf("lvs: address range %q: more than %d addresses", s, MaxGroupExpansion)
		}
		first = p.Addr()
		last = first
		for range (1 << host) - 1 {
			last = last.Next()
		}
		return first, last, nil
	}
	lo, hi, isRange := strings.Cut(s, "-")
	first, err = netip.ParseAddr(lo)
	if err != nil || first.Zone() != "" {
		return netip.Addr{}, netip.Addr{}, fmt.Errorf("lvs: address range %q: bad address %q", s, lo)
	}
	first = first.Unmap()
	if !isRange {
		return first, first, nil
	}
	if a, err := netip.ParseAddr(hi); err == nil {
		last = a.Unmap()
		if last.Zone() != "" || last.Is4() != first.Is4() {
			return netip.Addr{}, netip.Addr{}, fmt.Errorf("lvs: address range %q: mixed families", s)
		}
	} else if first.Is4() {
		n, err := strconv.ParseUint(hi, 10, 8)
		if err != nil {
			return netip.Addr{}, netip.Addr{}, fmt.Errorf("lvs: address range %q: end %q: want 0-255 or an address", s, hi)
		}
		b := first.As4()
		b[3] = byte(n)
		last = netip.AddrFrom4(b)
	} else {
		n, err := strconv.ParseUint(hi, 16, 16)
		if err != nil {
			return netip.Addr{}, netip.Addr{}, fmt.Errorf("lvs: address range %q: end %q: want hex 0-ffff or an address", s, hi)
		}
		b := first.As16()
		b[14], b[15] = byte(n>>8), byte(n)
		last = netip.AddrFrom16(b)
	}
	if last.Less(first) {
		return netip.Addr{}, netip.Addr{}, fmt.Errorf("lvs: address range %q: end before start", s)
	}
	if rangeSize(first, last) > MaxGroupExpansion {
		return netip.Addr{}, netip.Addr{}, fmt.Errorf("lvs: address range %q: more than %d addresses", s, MaxGroupExpansion)
	}
	return first, last, nil
}

// rangeSize returns last-first+1, saturated at MaxGroupExpansion+1.
func rangeSize(first, last netip.Addr) int {
	a, b := first.As16(), last.As16()
	for i := range 12 {
		if a[i] != b[i] {
			return MaxGroupExpansion + 1
		}
	}
	x := uint64(a[12])<<24 | uint64(a[13])<<16 | uint64(a[14])<<8 | uint64(a[15])
	y := uint64(b[12])<<24 | uint64(b[13])<<16 | uint64(b[14])<<8 | uint64(b[15])
	if y-x >= MaxGroupExpansion {
		return MaxGroupExpansion + 1
	}
	return int(y-x) + 1
}

// ExpandGroup turns a virtual_server_group into IPVS services, the way
// keepalived programs a "virtual_server group NAME": one service per
// address of each range entry (protocol taken from tmpl.Key.Protocol,
// port from the entry) and one per fwmark entry, each with tmpl's
// scheduler, flags, persistence, netmask, one-packet setting and a copy of
// its destinations. A real server without a port (0) takes the service's
// port, as in keepalived. Duplicate services are an error, so are a range
// entry without a protocol and a destination whose family cannot serve
// the service (only TUN crosses families).
func ExpandGroup(entries []GroupEntry, tmpl Service) ([]Service, error) {
	var out []Service
	seen := make(map[ServiceKey]bool)
	add := func(k ServiceKey) error {
		if seen[k] {
			return fmt.Errorf("lvs: group: service %s listed twice", k)
		}
		seen[k] = true
		s := tmpl
		s.Key = k
		s.Destinations = make([]Destination, len(tmpl.Destinations))
		for i, d := range tmpl.Destinations {
			if d.Port == 0 && !k.IsFWMark() {
				d.Port = k.Port
			}
			if FamilyOf(d.Addr) != k.Family && d.Method != TUN {
				return fmt.Errorf("lvs: group: destination %s cannot serve %s (only TUN crosses address families)", d.Key(), k)
			}
			s.Destinations[i] = d
		}
		out = append(out, s)
		return nil
	}
	total := 0
	for _, e := range entries {
		if e.FWMark != 0 {
			fam := e.Family
			if fam == 0 {
				fam = IPv4
			}
			if err := add(ServiceKey{Family: fam, FWMark: e.FWMark}); err != nil {
				return nil, err
			}
			continue
		}
		if !e.First.IsValid() || !e.Last.IsValid() || e.Last.Less(e.First) || e.First.Is4() != e.Last.Is4() {
			return nil, fmt.Errorf("lvs: group: bad range %s", e)
		}
		if tmpl.Key.Protocol == 0 {
			return nil, fmt.Errorf("lvs: group: entry %s needs a protocol", e)
		}
		n := rangeSize(e.First, e.Last)
		total += n
		if n > MaxGroupExpansion || total > 16*MaxGroupExpansion {
			return nil, fmt.Errorf("lvs: group: entry %s expands to too many services", e)
		}
		for a := e.First; ; a = a.Next() {
			if err := add(ServiceKey{Family: FamilyOf(a), Protocol: tmpl.Key.Protocol, Addr: a, Port: e.Port}); err != nil {
				return nil, err
			}
			if a == e.Last {
				break
			}
		}
	}
	return out, nil
}
