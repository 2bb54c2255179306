// Package ids is quadrature's one spelling of virtual and real servers.
//
// Every package that names a virtual service or a real server — the
// replicated state (fsm), the checkers, the data planes (lvs), the API, the
// metrics, the logs and the SNMP tables — uses these forms, so a value
// copied from one place finds the same thing in every other, and PromQL
// joins need no label_replace:
//
//	virtual service  tcp/192.0.2.10:80        (protocol in lower case: tcp, udp, sctp)
//	                 udp/[2001:db8::1]:53
//	                 fwmark/7                 (an IPv4 firewall-mark service)
//	                 fwmark/7/ipv6            (an IPv6 one)
//	                 group/web/tcp            (a virtual_server_group, with its protocol)
//	real server      198.51.100.21:8080       (address and port, within its virtual service)
//	                 [2001:db8::21]:8080
//
// In metrics the two are the labels vs and rs. A kernel service (an
// lvs.ServiceKey) is spelled like an address or fwmark virtual service: for
// every virtual_server that is not a group the kernel service's ID and the
// virtual service's ID are the same string.
//
// Normalize also reads the spellings of earlier builds ("TCP 192.0.2.10:80",
// "FWM 7", "FWM 7 IPv6", "GROUP web TCP"), which replicated logs and
// snapshots written before this scheme still hold.
package ids

import (
	"net/netip"
	"strconv"
	"strings"
)

// Service is the ID of an address virtual service: "tcp/192.0.2.10:80".
// An empty protocol is TCP (keepalived's default).
func Service(protocol string, addr netip.AddrPort) string {
	return proto(protocol) + "/" + RealServer(addr)
}

// FWMark is the ID of a firewall-mark virtual service: "fwmark/7", or
// "fwmark/7/ipv6" for an IPv6 one.
func FWMark(mark uint32, ipv6 bool) string {
	s := "fwmark/" + strconv.FormatUint(uint64(mark), 10)
	if ipv6 {
		s += "/ipv6"
	}
	return s
}

// Group is the ID of a virtual service over a virtual_server_group:
// "group/web/tcp".
func Group(name, protocol string) string {
	return "group/" + name + "/" + proto(protocol)
}

// RealServer is the ID of a real server (or a kernel destination) within
// its virtual service: its address and port, an IPv4-mapped address
// unmapped.
func RealServer(addr netip.AddrPort) string {
	return netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port()).String()
}

func proto(p string) string {
	if p == "" {
		return "tcp"
	}
	return strings.ToLower(p)
}

// Normalize returns the canonical spelling of a virtual service ID given in
// this scheme or in the legacy one, and false for anything else. The
// result of a canonical ID is the ID itself.
func Normalize(id string) (string, bool) {
	if id == "" || len(id) > 512 {
		return "", false
	}
	if strings.Contains(id, "/") {
		return normalizeSlash(id)
	}
	return normalizeLegacy(id)
}

func normalizeSlash(id string) (string, bool) {
	kind, rest, _ := strings.Cut(id, "/")
	switch kind {
	case "fwmark":
		num, fam, hasFam := strings.Cut(rest, "/")
		mark, ok := parseMark(num)
		if !ok || (hasFam && fam != "ipv6") {
			return "", false
		}
		return FWMark(mark, hasFam), true
	case "group":
		i := strings.LastIndexByte(rest, '/')
		if i <= 0 {
			return "", false
		}
		name, p := rest[:i], rest[i+1:]
		if !validProto(p) || !validGroupName(name) {
			return "", false
		}
		return Group(name, p), true
	}
	if !validProto(kind) {
		return "", false
	}
	ap, err := netip.ParseAddrPort(rest)
	if err != nil {
		return "", false
	}
	return Service(kind, ap), true
}

func normalizeLegacy(id string) (string, bool) {
	f := strings.Fields(id)
	if strings.Join(f, " ") != id { // the legacy forms had single spaces
		return "", false
	}
	switch {
	case len(f) == 2 && f[0] == "FWM", len(f) == 3 && f[0] == "FWM" && f[2] == "IPv6":
		mark, ok := parseMark(f[1])
		if !ok {
			return "", false
		}
		return FWMark(mark, len(f) == 3), true
	case len(f) == 3 && f[0] == "GROUP":
		if !validProto(f[2]) || !validGroupName(f[1]) {
			return "", false
		}
		return Group(f[1], f[2]), true
	case len(f) == 2:
		if !validProto(f[0]) {
			return "", false
		}
		ap, err := netip.ParseAddrPort(f[1])
		if err != nil {
			return "", false
		}
		return Service(f[0], ap), true
	}
	return "", false
}

func parseMark(s string) (uint32, bool) {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0 {
		return 0, false
	}
	return uint32(n), true
}

func validProto(p string) bool {
	switch strings.ToLower(p) {
	case "tcp", "udp", "sctp":
		return true
	}
	return false
}

// validGroupName accepts what the config parser can produce as a group
// name: one non-empty word without white space.
func validGroupName(s string) bool {
	return s != "" && !strings.ContainsAny(s, " \t\r\n\"")
}
