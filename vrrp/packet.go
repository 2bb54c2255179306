package vrrp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Protocol constants (RFC 5798 §5, RFC 3768 §5).
const (
	// IPProtocol is the IP protocol number of VRRP.
	IPProtocol = 112
	// TTL is the IPv4 TTL / IPv6 hop limit every multicast advert carries.
	TTL = 255
	// PriorityOwner is the priority of the address owner.
	PriorityOwner = 255
	// PriorityStop is the priority a master sends when it stops.
	PriorityStop = 0
	// MaxAddrs is the maximum number of addresses in one advert.
	MaxAddrs   = 255
	typeAdvert = 1
	headerLen  = 8
	authLen    = 8
)

// Group addresses adverts are sent to in multicast mode.
var (
	GroupIPv4 = netip.MustParseAddr("224.0.0.18")
	GroupIPv6 = netip.MustParseAddr("ff02::12")
)

// Authentication types of VRRPv2 (RFC 3768 §5.3.6; AH is not supported).
const (
	AuthNone = 0
	AuthPass = 1
	AuthAH   = 2
)

// Advert is a decoded VRRP advertisement.
type Advert struct {
	Version  int // 2 or 3
	VRID     uint8
	Priority uint8
	// Interval is the advertisement interval: whole seconds in v2,
	// centiseconds (12 bits) in v3.
	Interval time.Duration
	// AuthType and AuthData are carried by v2 only.
	AuthType uint8
	AuthData [authLen]byte
	Addrs    []netip.Addr
	// Checksum is the value found in (Decode) or written to (Marshal)
	// the packet.
	Checksum uint16
}

// DecodeError is a packet rejected by Decode or by validation; Reason is
// the counter it is accounted under.
type DecodeError struct {
	Reason DropReason
	Detail string
}

func (e *DecodeError) Error() string { return "vrrp: " + string(e.Reason) + ": " + e.Detail }

func dropf(r DropReason, format string, args ...any) error {
	return &DecodeError{Reason: r, Detail: fmt.Sprintf(format, args...)}
}

// ReasonOf returns the drop reason of an error from Decode (DropMalformed
// for any other error).
func ReasonOf(err error) DropReason {
	var de *DecodeError
	if errors.As(err, &de) {
		return de.Reason
	}
	return DropMalformed
}

func addrLen(v6 bool) int {
	if v6 {
		return 16
	}
	return 4
}

// PacketLen returns the length of an advert PDU with n addresses.
func PacketLen(version int, v6 bool, n int) int {
	l := headerLen + n*addrLen(v6)
	if version == 2 {
		l += authLen
	}
	return l
}

// Decode parses a VRRP PDU (the IP payload). v6 tells the address family
// of the carrying packet. Trailing bytes (Ethernet padding) are ignored.
// It checks the format only, not the checksum (see VerifyChecksum).
func Decode(b []byte, v6 bool) (Advert, error) {
	var a Advert
	if len(b) < headerLen {
		return a, dropf(DropTooShort, "%d bytes", len(b))
	}
	a.Version = int(b[0] >> 4)
	if a.Version != 2 && a.Version != 3 {
		return a, dropf(DropVersion, "version %d", a.Version)
	}
	if a.Version == 2 && v6 {
		return a, dropf(DropVersion, "VRRPv2 over IPv6")
	}
	if t := b[0] & 0x0f; t != typeAdvert {
		return a, dropf(DropType, "type %d", t)
	}
	a.VRID = b[1]
	a.Priority = b[2]
	n := int(b[3])
	if a.Version == 2 {
		a.AuthType = b[4]
		a.Interval = time.Duration(b[5]) * time.Second
	} else {
		a.Interval = time.Duration(binary.BigEndian.Uint16(b[4:6])&0x0fff) * 10 * time.Millisecond
	}
	a.Checksum = binary.BigEndian.Uint16(b[6:8])
	if want := PacketLen(a.Version, v6, n); len(b) < want {
		return a, dropf(DropLength, "%d bytes for %d addresses, need %d", len(b), n, want)
	}
	if a.VRID == 0 {
		return a, dropf(DropVRID, "vrid 0")
	}
	if a.Interval == 0 {
		return a, dropf(DropInterval, "advert interval 0")
	}
	al := addrLen(v6)
	a.Addrs = make([]netip.Addr, n)
	for i := range n {
		off := headerLen + i*al
		if v6 {
			a.Addrs[i] = netip.AddrFrom16([16]byte(b[off : off+16]))
		} else {
			a.Addrs[i] = netip.AddrFrom4([4]byte(b[off : off+4]))
		}
	}
	if a.Version == 2 {
		copy(a.AuthData[:], b[headerLen+n*al:])
	}
	return a, nil
}

// Marshal encodes the advert. For v3 over IPv4 the checksum covers the
// IPv4 pseudo-header (src, dst, 0, 112, length) unless noPseudo is set
// (keepalived's v3_checksum_as_v2); v2 never uses a pseudo-header. For
// IPv6 the checksum field is left zero when src is invalid (the kernel
// fills it via IPV6_CHECKSUM), otherwise computed with the IPv6
// pseudo-header.
func (a *Advert) Marshal(v6 bool, src, dst netip.Addr, noPseudo bool) ([]byte, error) {
	if a.Version != 2 && a.Version != 3 {
		return nil, fmt.Errorf("vrrp: marshal: version %d", a.Version)
	}
	if a.Version == 2 && v6 {
		return nil, errors.New("vrrp: marshal: VRRPv2 does not support IPv6")
	}
	if len(a.Addrs) > MaxAddrs {
		return nil, fmt.Errorf("vrrp: marshal: %d addresses, at most %d", len(a.Addrs), MaxAddrs)
	}
	b := make([]byte, PacketLen(a.Version, v6, len(a.Addrs)))
	b[0] = byte(a.Version<<4 | typeAdvert)
	b[1] = a.VRID
	b[2] = a.Priority
	b[3] = byte(len(a.Addrs))
	if a.Version == 2 {
		secs := a.Interval / time.Second
		if secs < 1 || secs > 255 {
			return nil, fmt.Errorf("vrrp: marshal: v2 interval %v out of 1..255 s", a.Interval)
		}
		b[4] = a.AuthType
		b[5] = byte(secs)
	} else {
		cs := a.Interval / (10 * time.Millisecond)
		if cs < 1 || cs > 0xfff {
			return nil, fmt.Errorf("vrrp: marshal: v3 interval %v out of 0.01..40.95 s", a.Interval)
		}
		binary.BigEndian.PutUint16(b[4:6], uint16(cs))
	}
	al := addrLen(v6)
	for i, ad := range a.Addrs {
		if ad.Is6() != v6 {
			return nil, fmt.Errorf("vrrp: marshal: address %v does not match the family", ad)
		}
		copy(b[headerLen+i*al:], ad.AsSlice())
	}
	if a.Version == 2 {
		copy(b[headerLen+len(a.Addrs)*al:], a.AuthData[:])
	}
	switch {
	case v6 && !src.IsValid():
		a.Checksum = 0
	default:
		a.Checksum = Checksum(b, a.Version, v6, src, dst, noPseudo)
	}
	binary.BigEndian.PutUint16(b[6:8], a.Checksum)
	return b, nil
}

// Checksum computes the checksum of PDU b (its checksum field treated
// as zero) as the given version and family define it.
func Checksum(b []byte, version int, v6 bool, src, dst netip.Addr, noPseudo bool) uint16 {
	var sum uint32
	if version == 3 && (v6 || !noPseudo) {
		s, d := src.AsSlice(), dst.AsSlice()
		sum = sumBytes(sum, s)
		sum = sumBytes(sum, d)
		if v6 {
			var l [8]byte
			binary.BigEndian.PutUint32(l[0:4], uint32(len(b)))
			l[7] = IPProtocol
			sum = sumBytes(sum, l[:])
		} else {
			var l [4]byte
			l[1] = IPProtocol
			binary.BigEndian.PutUint16(l[2:4], uint16(len(b)))
			sum = sumBytes(sum, l[:])
		}
	}
	sum = sumBytes(sum, b[:6])
	sum = sumBytes(sum, b[8:])
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

func sumBytes(sum uint32, b []byte) uint32 {
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return sum
}

// VerifyChecksum reports whether the checksum in PDU b (exactly the PDU
// length, padding removed) is right for the version and family.
func VerifyChecksum(b []byte, version int, v6 bool, src, dst netip.Addr, noPseudo bool) bool {
	if len(b) < headerLen {
		return false
	}
	return binary.BigEndian.Uint16(b[6:8]) == Checksum(b, version, v6, src, dst, noPseudo)
}
