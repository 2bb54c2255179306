package lvs

import (
	"quadrature/internal/ids"

	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Protocol is the IP protocol of an address-keyed virtual service.
type Protocol uint8

// Protocols IPVS balances.
const (
	TCP  Protocol = 6
	UDP  Protocol = 17
	SCTP Protocol = 132
)

func (p Protocol) String() string {
	switch p {
	case TCP:
		return "TCP"
	case UDP:
		return "UDP"
	case SCTP:
		return "SCTP"
	}
	return fmt.Sprintf("proto-%d", uint8(p))
}

// Family is the address family of a service or destination.
type Family uint8

// Address families.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

// FamilyOf returns the family of a.
func FamilyOf(a netip.Addr) Family {
	if a.Is4() || a.Is4In6() {
		return IPv4
	}
	return IPv6
}

// Method is the forwarding method of a destination.
type Method uint8

// Forwarding methods, as keepalived names them (lb_kind / lvs_method).
const (
	NAT Method = iota // masquerading
	DR                // direct routing (gatewaying)
	TUN               // tunnelling
	// LocalNode is what the kernel reports for a destination whose address
	// is local to the director, whatever method was requested (it delivers
	// such packets locally). It is never a valid desired method; Diff
	// treats an observed LocalNode as equal to any desired method, and the
	// IPVS backend reports the method it programmed instead when it knows.
	LocalNode
)

func (m Method) String() string {
	switch m {
	case NAT:
		return "NAT"
	case DR:
		return "DR"
	case TUN:
		return "TUN"
	case LocalNode:
		return "Local"
	}
	return fmt.Sprintf("method-%d", uint8(m))
}

// TunnelType is the encapsulation of a TUN destination.
type TunnelType uint8

// Tunnel encapsulations.
const (
	TunnelIPIP TunnelType = iota
	TunnelGUE
	TunnelGRE
)

func (t TunnelType) String() string {
	switch t {
	case TunnelIPIP:
		return "ipip"
	case TunnelGUE:
		return "gue"
	case TunnelGRE:
		return "gre"
	}
	return fmt.Sprintf("tunnel-%d", uint8(t))
}

// TunnelFlags are the checksum options of GUE/GRE tunnels.
type TunnelFlags uint16

// Tunnel checksum flags (keepalived: nocsum | csum | remcsum).
const (
	TunnelCsum    TunnelFlags = 1 << 0
	TunnelRemCsum TunnelFlags = 1 << 1
)

// SchedFlags are scheduler flags (flag-1/2/3 and their names).
type SchedFlags uint32

// Scheduler flags; the values are IPVS's IP_VS_SVC_F_SCHED1..3.
const (
	SchedFlag1 SchedFlags = 0x0008 // sh-fallback, mh-fallback
	SchedFlag2 SchedFlags = 0x0010 // sh-port, mh-port
	SchedFlag3 SchedFlags = 0x0020
)

// ServiceKey identifies a virtual service: protocol, address and port, or
// a firewall mark (Addr invalid, Port 0) with a family.
type ServiceKey struct {
	Family   Family
	Protocol Protocol
	Addr     netip.Addr
	Port     uint16
	FWMark   uint32
}

// IsFWMark reports whether the service is keyed by firewall mark.
func (k ServiceKey) IsFWMark() bool { return k.FWMark != 0 }

// String renders the key as its ID. The form is quadrature's one ID scheme (package internal/ids):
// "tcp/192.0.2.10:80", "udp/[2001:db8::1]:53", "fwmark/7", "fwmark/7/ipv6",
// the same string as the ID of the virtual_server it comes from.
func (k ServiceKey) String() string {
	if k.IsFWMark() {
		return ids.FWMark(k.FWMark, k.Family == IPv6)
	}
	return ids.Service(k.Protocol.String(), netip.AddrPortFrom(k.Addr, k.Port))
}

// Compare orders keys: address-keyed services before fwmark ones, then by
// family, protocol, address, port and mark.
func (k ServiceKey) Compare(o ServiceKey) int {
	if c := cmp.Compare(k.FWMark, o.FWMark); c != 0 {
		return c
	}
	if c := cmp.Compare(k.Family, o.Family); c != 0 {
		return c
	}
	if c := cmp.Compare(k.Protocol, o.Protocol); c != 0 {
		return c
	}
	if c := k.Addr.Compare(o.Addr); c != 0 {
		return c
	}
	return cmp.Compare(k.Port, o.Port)
}

// Service is one virtual service with its destinations.
type Service struct {
	Key       ServiceKey
	Scheduler string     // rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, mh, fo, ovf, twos
	Flags     SchedFlags // scheduler flags
	// Persistence is the persistence timeout; zero means not persistent.
	Persistence time.Duration
	// Netmask is the persistence granularity as a prefix length (32 or
	// 128 when unset, following IPVS).
	Netmask   int
	OnePacket bool // one-packet scheduling (ops)
	// Destinations are the real servers, in Compare order after Normalize.
	Destinations []Destination
}

// DestKey identifies a destination within a service.
type DestKey struct {
	Addr netip.Addr
	Port uint16
}

func (k DestKey) String() string { return netip.AddrPortFrom(k.Addr, k.Port).String() }

// Compare orders destination keys by address then port.
func (k DestKey) Compare(o DestKey) int {
	if c := k.Addr.Compare(o.Addr); c != 0 {
		return c
	}
	return cmp.Compare(k.Port, o.Port)
}

// Destination is one real server of a service.
type Destination struct {
	Addr        netip.Addr
	Port        uint16
	Weight      int32 // 0 = quiesced: no new connections
	Method      Method
	Tunnel      TunnelType // TUN only
	TunnelPort  uint16     // GUE only
	TunnelFlags TunnelFlags
	// UpperThreshold and LowerThreshold are the connection thresholds
	// (keepalived uthreshold / lthreshold); zero means none.
	UpperThreshold uint32
	LowerThreshold uint32
}

// Key returns the destination's identity within its service.
func (d Destination) Key() DestKey { return DestKey{d.Addr, d.Port} }

// Timeouts are the global IPVS connection timeouts (lvs_timeouts); a zero
// field leaves the kernel's value unchanged.
type Timeouts struct {
	TCP    time.Duration
	TCPFin time.Duration
	UDP    time.Duration
}

// Table is the whole desired (or observed) IPVS table.
type Table struct {
	Services []Service
	// Timeouts, when non-nil, are applied globally.
	Timeouts *Timeouts
}

// Normalize returns a copy of t with services and destinations sorted and
// defaults made explicit (netmask), so equal tables compare and digest equal.
// It also applies the kernel's canonical form (see canonicalize): fields the
// kernel does not keep are cleared, so a desired table and the table read
// back from the kernel digest equal.
func (t Table) Normalize() Table {
	return t.normalize(true)
}

// NormalizeInPlace is Normalize for a table whose storage the caller owns
// and hands over (a table just built, such as fsm.State.DesiredTable's):
// it sorts and canonicalizes t's own slices instead of copying them, so t
// must not be used afterwards except through the result.
func (t Table) NormalizeInPlace() Table {
	return t.normalize(false)
}

// isNormal reports whether t is already in Normalize form (sorted, netmask
// explicit, canonical fields), without copying anything: a table that is
// can be hashed, compared or kept as it is.
func (t Table) isNormal() bool {
	for i := range t.Services {
		s := &t.Services[i]
		if i > 0 && compareService(t.Services[i-1], *s) > 0 {
			return false
		}
		if s.Key.Family == 0 && s.Key.Addr.IsValid() || s.Netmask == 0 {
			return false
		}
		if s.Key.IsFWMark() {
			if s.Key.Protocol != 0 || s.Key.Addr.IsValid() || s.Key.Port != 0 || s.Key.Family == 0 {
				return false
			}
		} else if s.Key.Addr.Is4In6() {
			return false
		}
		if s.Persistence > 0 && s.Persistence%time.Second != 0 {
			return false
		}
		for j := range s.Destinations {
			d := &s.Destinations[j]
			if j > 0 && compareDest(s.Destinations[j-1], *d) > 0 {
				return false
			}
			if !canonicalDest(d) {
				return false
			}
		}
	}
	return true
}

// normalize is Normalize; without clone it rewrites t's own storage (for
// tables nobody else holds, such as a fresh kernel dump).
func (t Table) normalize(clone bool) Table {
	out := Table{Services: t.Services}
	if clone {
		out.Services = make([]Service, len(t.Services))
	}
	if t.Timeouts != nil {
		to := *t.Timeouts
		out.Timeouts = &to
	}
	for i, s := range t.Services {
		if clone {
			s.Destinations = slices.Clone(s.Destinations)
		}
		if s.Key.Family == 0 && s.Key.Addr.IsValid() {
			s.Key.Family = FamilyOf(s.Key.Addr)
		}
		if s.Netmask == 0 {
			if s.Key.Family == IPv6 {
				s.Netmask = 128
			} else {
				s.Netmask = 32
			}
		}
		canonicalize(&s)
		if !slices.IsSortedFunc(s.Destinations, compareDest) {
			slices.SortFunc(s.Destinations, compareDest)
		}
		out.Services[i] = s
	}
	if !slices.IsSortedFunc(out.Services, compareService) {
		slices.SortFunc(out.Services, compareService)
	}
	return out
}

// Lookup returns the service with key k, if present.
func (t Table) Lookup(k ServiceKey) (Service, bool) {
	for _, s := range t.Services {
		if s.Key == k {
			return s, true
		}
	}
	return Service{}, false
}

// CanonicalText renders the normalized table one line per service and
// destination; it is the input of Digest and a readable diff format.
func (t Table) CanonicalText() string {
	var b strings.Builder
	t.Normalize().canonical(func(line []byte) { b.Write(line) })
	return b.String()
}

// canonical renders a normalized table service by service (the text of a
// service and its destinations per call); append-based, since Digest runs
// on every full resync of tables with tens of thousands of destinations.
func (t Table) canonical(emit func([]byte)) {
	var b []byte
	for i := range t.Services {
		s := &t.Services[i]
		b = b[:0]
		b = s.Key.appendText(b)
		b = append(b, " sched="...)
		b = append(b, s.Scheduler...)
		b = append(b, " flags=0x"...)
		b = strconv.AppendUint(b, uint64(s.Flags), 16)
		b = append(b, " persist="...)
		b = append(b, s.Persistence.String()...)
		b = append(b, " mask="...)
		b = strconv.AppendInt(b, int64(s.Netmask), 10)
		b = append(b, " ops="...)
		b = strconv.AppendBool(b, s.OnePacket)
		b = append(b, '\n')
		for j := range s.Destinations {
			d := &s.Destinations[j]
			b = append(b, "  -> "...)
			b = netip.AddrPortFrom(d.Addr, d.Port).AppendTo(b)
			b = append(b, ' ')
			b = append(b, d.Method.String()...)
			b = append(b, " w="...)
			b = strconv.AppendInt(b, int64(d.Weight), 10)
			if d.Method == TUN {
				b = append(b, " tun="...)
				b = append(b, d.Tunnel.String()...)
				b = append(b, " port="...)
				b = strconv.AppendUint(b, uint64(d.TunnelPort), 10)
				b = append(b, " tflags=0x"...)
				b = strconv.AppendUint(b, uint64(d.TunnelFlags), 16)
			}
			b = append(b, " u="...)
			b = strconv.AppendUint(b, uint64(d.UpperThreshold), 10)
			b = append(b, " l="...)
			b = strconv.AppendUint(b, uint64(d.LowerThreshold), 10)
			b = append(b, '\n')
		}
		emit(b)
	}
}

// appendText appends the digest's rendering of k: "TCP 192.0.2.1:80",
// "FWM 7 IPv6". It is not an ID (String is); it stays as earlier builds
// wrote it so that a table's digest is the same across builds and the
// digests of a group in a rolling upgrade stay comparable.
func (k ServiceKey) appendText(b []byte) []byte {
	if k.IsFWMark() {
		b = append(b, "FWM "...)
		b = strconv.AppendUint(b, uint64(k.FWMark), 10)
		if k.Family == IPv6 {
			b = append(b, " IPv6"...)
		}
		return b
	}
	b = append(b, k.Protocol.String()...)
	b = append(b, ' ')
	return netip.AddrPortFrom(k.Addr, k.Port).AppendTo(b)
}

// Digest is a stable hash of the table (hex SHA-256 of CanonicalText), so
// nodes can prove that their tables are identical. Timeouts are not part of
// the digest (they are global kernel settings, not table entries).
func (t Table) Digest() string {
	h := sha256.New()
	if !t.isNormal() { // a normalized table (the usual case) is hashed as it is
		t = t.Normalize()
	}
	t.canonical(func(b []byte) { h.Write(b) })
	return hex.EncodeToString(h.Sum(nil))
}

func compareDest(a, b Destination) int { return a.Key().Compare(b.Key()) }

func compareService(a, b Service) int { return a.Key.Compare(b.Key) }
