package ipvs

// The IPVS generic netlink codec (include/uapi/linux/ip_vs.h). It is plain
// byte handling without system calls so that it builds and is fuzzed on
// every platform; ipvs_linux.go sends what it encodes.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"quadrature/lvs"
	"time"
)

// IPVS generic netlink commands and attributes.
const (
	ipvsCmdNewService = 1
	ipvsCmdSetService = 2
	ipvsCmdDelService = 3
	ipvsCmdGetService = 4
	ipvsCmdNewDest    = 5
	ipvsCmdSetDest    = 6
	ipvsCmdDelDest    = 7
	ipvsCmdGetDest    = 8
	ipvsCmdSetConfig  = 12
	ipvsCmdGetConfig  = 13
	ipvsCmdGetInfo    = 15

	ipvsCmdAttrService       = 1
	ipvsCmdAttrDest          = 2
	ipvsCmdAttrTimeoutTCP    = 4
	ipvsCmdAttrTimeoutTCPFin = 5
	ipvsCmdAttrTimeoutUDP    = 6

	ipvsSvcAttrAF        = 1
	ipvsSvcAttrProtocol  = 2
	ipvsSvcAttrAddr      = 3
	ipvsSvcAttrPort      = 4
	ipvsSvcAttrFWMark    = 5
	ipvsSvcAttrSchedName = 6
	ipvsSvcAttrFlags     = 7
	ipvsSvcAttrTimeout   = 8
	ipvsSvcAttrNetmask   = 9
	ipvsSvcAttrStats     = 10
	ipvsSvcAttrStats64   = 12

	ipvsDestAttrAddr         = 1
	ipvsDestAttrPort         = 2
	ipvsDestAttrFwdMethod    = 3
	ipvsDestAttrWeight       = 4
	ipvsDestAttrUThresh      = 5
	ipvsDestAttrLThresh      = 6
	ipvsDestAttrActiveConns  = 7
	ipvsDestAttrInactConns   = 8
	ipvsDestAttrPersistConns = 9
	ipvsDestAttrStats        = 10
	ipvsDestAttrAddrFamily   = 11
	ipvsDestAttrStats64      = 12
	ipvsDestAttrTunType      = 13
	ipvsDestAttrTunPort      = 14
	ipvsDestAttrTunFlags     = 15

	ipvsStatsConns    = 1
	ipvsStatsInPkts   = 2
	ipvsStatsOutPkts  = 3
	ipvsStatsInBytes  = 4
	ipvsStatsOutBytes = 5
	ipvsStatsCPS      = 6
	ipvsStatsInPPS    = 7
	ipvsStatsOutPPS   = 8
	ipvsStatsInBPS    = 9
	ipvsStatsOutBPS   = 10

	ipvsSvcFPersistent = 0x0001
	ipvsSvcFHashed     = 0x0002
	ipvsSvcFOnePacket  = 0x0004

	ipvsFwdMasq   = 0
	ipvsFwdLocal  = 1
	ipvsFwdTunnel = 2
	ipvsFwdDroute = 3
	ipvsFwdMask   = 7

	afINET  = 2
	afINET6 = 10

	nlaFNested   = 1 << 15
	nlmsgHdrLen  = 16
	nlmFRequest  = 0x1
	nlmFAck      = 0x4
	nlmFDump     = 0x300
	nlmsgError   = 2
	nlmsgDone    = 3
	genlHdrLen   = 4
	nlaTypeMask  = ^uint16(3 << 14)
	ipvsGenlVers = 1
)

// attrEncoder appends netlink attributes to a buffer.
type attrEncoder struct{ b []byte }

func (e *attrEncoder) put(typ uint16, data []byte) {
	l := 4 + len(data)
	e.b = binary.NativeEndian.AppendUint16(e.b, uint16(l))
	e.b = binary.NativeEndian.AppendUint16(e.b, typ)
	e.b = append(e.b, data...)
	for len(e.b)%4 != 0 {
		e.b = append(e.b, 0)
	}
}

func (e *attrEncoder) u8(typ uint16, v uint8) { e.put(typ, []byte{v}) }
func (e *attrEncoder) u16(typ uint16, v uint16) {
	e.put(typ, binary.NativeEndian.AppendUint16(nil, v))
}
func (e *attrEncoder) be16(typ uint16, v uint16) { e.put(typ, binary.BigEndian.AppendUint16(nil, v)) }
func (e *attrEncoder) u32(typ uint16, v uint32) {
	e.put(typ, binary.NativeEndian.AppendUint32(nil, v))
}

// nest starts a nested attribute; end finishes it.
func (e *attrEncoder) nest(typ uint16) int {
	off := len(e.b)
	e.b = append(e.b, 0, 0, 0, 0)
	binary.NativeEndian.PutUint16(e.b[off+2:], typ|nlaFNested)
	return off
}

func (e *attrEncoder) end(off int) {
	binary.NativeEndian.PutUint16(e.b[off:], uint16(len(e.b)-off))
}

func ipvsAF(f lvs.Family) uint16 {
	if f == lvs.IPv6 {
		return afINET6
	}
	return afINET
}

func addr16(a netip.Addr) []byte {
	b := a.As16()
	if a.Is4() {
		var v [16]byte
		copy(v[:], a.AsSlice())
		return v[:]
	}
	return b[:]
}

// encodeServiceKey writes the identifying attributes of a service.
func (e *attrEncoder) serviceKey(k lvs.ServiceKey) {
	fam := k.Family
	if fam == 0 && k.Addr.IsValid() {
		fam = lvs.FamilyOf(k.Addr)
	}
	e.u16(ipvsSvcAttrAF, ipvsAF(fam))
	if k.IsFWMark() {
		e.u32(ipvsSvcAttrFWMark, k.FWMark)
		return
	}
	e.u16(ipvsSvcAttrProtocol, uint16(k.Protocol))
	e.put(ipvsSvcAttrAddr, addr16(k.Addr.Unmap()))
	e.be16(ipvsSvcAttrPort, k.Port)
}

// service writes a nested IPVS_CMD_ATTR_SERVICE; full adds the settings.
func (e *attrEncoder) service(s *lvs.Service, full bool) {
	off := e.nest(ipvsCmdAttrService)
	e.serviceKey(s.Key)
	if full {
		e.put(ipvsSvcAttrSchedName, append([]byte(s.Scheduler), 0))
		flags := uint32(s.Flags)
		if s.Persistence > 0 {
			flags |= ipvsSvcFPersistent
		}
		if s.OnePacket {
			flags |= ipvsSvcFOnePacket
		}
		var fl [8]byte
		binary.NativeEndian.PutUint32(fl[:4], flags)
		binary.NativeEndian.PutUint32(fl[4:], ^uint32(ipvsSvcFHashed))
		e.put(ipvsSvcAttrFlags, fl[:])
		e.u32(ipvsSvcAttrTimeout, uint32(s.Persistence/time.Second))
		e.put(ipvsSvcAttrNetmask, netmaskBytes(s.Key.Family, s.Netmask))
	}
	e.end(off)
}

// netmaskBytes encodes the netmask as the kernel expects it: an IPv4 mask
// in network byte order, an IPv6 prefix length as a host-order u32.
func netmaskBytes(f lvs.Family, bits int) []byte {
	if f == lvs.IPv6 {
		if bits <= 0 || bits > 128 {
			bits = 128
		}
		return binary.NativeEndian.AppendUint32(nil, uint32(bits))
	}
	if bits <= 0 || bits > 32 {
		bits = 32
	}
	return binary.BigEndian.AppendUint32(nil, ^uint32(0)<<(32-bits))
}

// dest writes a nested IPVS_CMD_ATTR_DEST; full adds the settings.
func (e *attrEncoder) dest(d *lvs.Destination, full bool) {
	off := e.nest(ipvsCmdAttrDest)
	a := d.Addr.Unmap()
	e.put(ipvsDestAttrAddr, addr16(a))
	e.be16(ipvsDestAttrPort, d.Port)
	e.u16(ipvsDestAttrAddrFamily, ipvsAF(lvs.FamilyOf(a)))
	if full {
		fwd := uint32(ipvsFwdMasq)
		switch d.Method {
		case lvs.DR:
			fwd = ipvsFwdDroute
		case lvs.TUN:
			fwd = ipvsFwdTunnel
		}
		e.u32(ipvsDestAttrFwdMethod, fwd)
		e.u32(ipvsDestAttrWeight, uint32(max(d.Weight, 0)))
		e.u32(ipvsDestAttrUThresh, d.UpperThreshold)
		e.u32(ipvsDestAttrLThresh, d.LowerThreshold)
		if d.Method == lvs.TUN {
			e.u8(ipvsDestAttrTunType, uint8(d.Tunnel))
			e.be16(ipvsDestAttrTunPort, d.TunnelPort)
			e.u16(ipvsDestAttrTunFlags, uint16(d.TunnelFlags))
		}
	}
	e.end(off)
}

// attrs iterates over netlink attributes; it never panics on bad input.
type attrs struct {
	b   []byte
	typ uint16
	val []byte
	err error
}

func (a *attrs) next() bool {
	if a.err != nil || len(a.b) == 0 {
		return false
	}
	if len(a.b) < 4 {
		a.err = errors.New("truncated attribute header")
		return false
	}
	l := int(binary.NativeEndian.Uint16(a.b))
	if l < 4 || l > len(a.b) {
		a.err = fmt.Errorf("bad attribute length %d (have %d bytes)", l, len(a.b))
		return false
	}
	a.typ = binary.NativeEndian.Uint16(a.b[2:]) & nlaTypeMask
	a.val = a.b[4:l]
	adv := (l + 3) &^ 3
	if adv > len(a.b) {
		adv = len(a.b)
	}
	a.b = a.b[adv:]
	return true
}

func (a *attrs) u16() (uint16, error) {
	if len(a.val) != 2 {
		return 0, fmt.Errorf("attribute %d: want 2 bytes, have %d", a.typ, len(a.val))
	}
	return binary.NativeEndian.Uint16(a.val), nil
}

func (a *attrs) be16() (uint16, error) {
	if len(a.val) != 2 {
		return 0, fmt.Errorf("attribute %d: want 2 bytes, have %d", a.typ, len(a.val))
	}
	return binary.BigEndian.Uint16(a.val), nil
}

func (a *attrs) u32() (uint32, error) {
	if len(a.val) != 4 {
		return 0, fmt.Errorf("attribute %d: want 4 bytes, have %d", a.typ, len(a.val))
	}
	return binary.NativeEndian.Uint32(a.val), nil
}

func (a *attrs) u64() (uint64, error) {
	switch len(a.val) {
	case 8:
		return binary.NativeEndian.Uint64(a.val), nil
	case 4:
		return uint64(binary.NativeEndian.Uint32(a.val)), nil
	}
	return 0, fmt.Errorf("attribute %d: want 4 or 8 bytes, have %d", a.typ, len(a.val))
}

func addrFrom(f uint16, b []byte) (netip.Addr, error) {
	switch {
	case f == afINET && len(b) >= 4:
		return netip.AddrFrom4([4]byte(b[:4])), nil
	case f == afINET6 && len(b) >= 16:
		return netip.AddrFrom16([16]byte(b[:16])), nil
	}
	return netip.Addr{}, fmt.Errorf("address of family %d with %d bytes", f, len(b))
}

func famFrom(af uint16) (lvs.Family, error) {
	switch af {
	case afINET:
		return lvs.IPv4, nil
	case afINET6:
		return lvs.IPv6, nil
	}
	return 0, fmt.Errorf("unknown address family %d", af)
}

// decodeStats reads a nested stats attribute (32- or 64-bit).
func decodeStats(b []byte, c *lvs.Counters) error {
	a := attrs{b: b}
	for a.next() {
		v, err := a.u64()
		if err != nil {
			if a.typ > ipvsStatsOutBPS {
				continue // padding and future attributes
			}
			return err
		}
		switch a.typ {
		case ipvsStatsConns:
			c.Connections = v
		case ipvsStatsInPkts:
			c.PacketsIn = v
		case ipvsStatsOutPkts:
			c.PacketsOut = v
		case ipvsStatsInBytes:
			c.BytesIn = v
		case ipvsStatsOutBytes:
			c.BytesOut = v
		case ipvsStatsCPS:
			c.CPS = v
		case ipvsStatsInPPS:
			c.PPSIn = v
		case ipvsStatsOutPPS:
			c.PPSOut = v
		case ipvsStatsInBPS:
			c.BPSIn = v
		case ipvsStatsOutBPS:
			c.BPSOut = v
		}
	}
	return a.err
}

// decodeServiceMsg decodes the payload of an IPVS_CMD_NEW_SERVICE dump
// message (after the genetlink header).
func decodeServiceMsg(b []byte) (lvs.Service, lvs.Counters, error) {
	return decodeServiceMsgStats(b, true)
}

// decodeServiceMsgStats is decodeServiceMsg; without withStats the
// statistics attributes are skipped (a resync reads settings only).
func decodeServiceMsgStats(b []byte, withStats bool) (lvs.Service, lvs.Counters, error) {
	a := attrs{b: b}
	for a.next() {
		if a.typ == ipvsCmdAttrService {
			return decodeService(a.val, withStats)
		}
	}
	if a.err != nil {
		return lvs.Service{}, lvs.Counters{}, fmt.Errorf("ipvs service message: %w", a.err)
	}
	return lvs.Service{}, lvs.Counters{}, errors.New("ipvs service message without service attribute")
}

func decodeService(b []byte, withStats bool) (lvs.Service, lvs.Counters, error) {
	var s lvs.Service
	var c, c64 lvs.Counters
	var af uint16
	var addr, mask []byte
	var flags uint32
	var timeout uint32
	have64, haveFlags := false, false
	a := attrs{b: b}
	var err error
	for a.next() && err == nil {
		switch a.typ {
		case ipvsSvcAttrAF:
			af, err = a.u16()
		case ipvsSvcAttrProtocol:
			var p uint16
			p, err = a.u16()
			s.Key.Protocol = lvs.Protocol(p)
		case ipvsSvcAttrAddr:
			addr = a.val
		case ipvsSvcAttrPort:
			s.Key.Port, err = a.be16()
		case ipvsSvcAttrFWMark:
			s.Key.FWMark, err = a.u32()
		case ipvsSvcAttrSchedName:
			n := a.val
			for len(n) > 0 && n[len(n)-1] == 0 {
				n = n[:len(n)-1]
			}
			s.Scheduler = schedName(n)
		case ipvsSvcAttrFlags:
			if len(a.val) < 4 {
				err = fmt.Errorf("flags attribute of %d bytes", len(a.val))
			} else {
				flags, haveFlags = binary.NativeEndian.Uint32(a.val), true
			}
		case ipvsSvcAttrTimeout:
			timeout, err = a.u32()
		case ipvsSvcAttrNetmask:
			mask = a.val
		case ipvsSvcAttrStats:
			if withStats {
				err = decodeStats(a.val, &c)
			}
		case ipvsSvcAttrStats64:
			if withStats {
				err, have64 = decodeStats(a.val, &c64), true
			}
		}
	}
	if err == nil {
		err = a.err
	}
	if err != nil {
		return lvs.Service{}, lvs.Counters{}, fmt.Errorf("ipvs service: %w", err)
	}
	fam, err := famFrom(af)
	if err != nil {
		return lvs.Service{}, lvs.Counters{}, fmt.Errorf("ipvs service: %w", err)
	}
	s.Key.Family = fam
	if s.Key.FWMark == 0 {
		if s.Key.Addr, err = addrFrom(af, addr); err != nil {
			return lvs.Service{}, lvs.Counters{}, fmt.Errorf("ipvs service: %w", err)
		}
	} else {
		s.Key.Protocol = 0
	}
	if !haveFlags {
		return lvs.Service{}, lvs.Counters{}, fmt.Errorf("ipvs service %s: no flags", s.Key)
	}
	if flags&ipvsSvcFPersistent != 0 {
		s.Persistence = time.Duration(timeout) * time.Second
	}
	s.OnePacket = flags&ipvsSvcFOnePacket != 0
	s.Flags = lvs.SchedFlags(flags) & (lvs.SchedFlag1 | lvs.SchedFlag2 | lvs.SchedFlag3)
	switch {
	case len(mask) != 4:
		s.Netmask = 0 // Normalize makes the default explicit
	case fam == lvs.IPv6:
		s.Netmask = int(binary.NativeEndian.Uint32(mask))
	default:
		m := binary.BigEndian.Uint32(mask)
		ones := 0
		for m&(1<<31) != 0 {
			ones++
			m <<= 1
		}
		if m != 0 {
			return lvs.Service{}, lvs.Counters{}, fmt.Errorf("ipvs service %s: non-contiguous netmask % x", s.Key, mask)
		}
		s.Netmask = ones
	}
	if have64 {
		c = c64
	}
	return s, c, nil
}

// schedNames are the kernel's schedulers, so decoding a dump of thousands
// of services does not allocate a string for each.
var schedNames = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh", "fo", "ovf", "twos"}

func schedName(b []byte) string {
	for _, n := range schedNames {
		if string(b) == n {
			return n
		}
	}
	return string(b)
}

// decodeDestMsg decodes the payload of an IPVS_CMD_NEW_DEST dump message;
// svcFam is the service's family (older kernels omit the destination's).
func decodeDestMsg(b []byte, svcFam lvs.Family) (lvs.Destination, lvs.DestStats, error) {
	return decodeDestMsgStats(b, svcFam, true)
}

// decodeDestMsgStats is decodeDestMsg; without withStats the statistics
// attributes (two thirds of a destination message) are skipped.
func decodeDestMsgStats(b []byte, svcFam lvs.Family, withStats bool) (lvs.Destination, lvs.DestStats, error) {
	a := attrs{b: b}
	for a.next() {
		if a.typ == ipvsCmdAttrDest {
			return decodeDest(a.val, svcFam, withStats)
		}
	}
	if a.err != nil {
		return lvs.Destination{}, lvs.DestStats{}, fmt.Errorf("ipvs destination message: %w", a.err)
	}
	return lvs.Destination{}, lvs.DestStats{}, errors.New("ipvs destination message without destination attribute")
}

func decodeDest(b []byte, svcFam lvs.Family, withStats bool) (lvs.Destination, lvs.DestStats, error) {
	var d lvs.Destination
	var st lvs.DestStats
	var c64 lvs.Counters
	have64 := false
	af := ipvsAF(svcFam)
	var addr []byte
	var fwd, weight uint32
	a := attrs{b: b}
	var err error
	for a.next() && err == nil {
		switch a.typ {
		case ipvsDestAttrAddr:
			addr = a.val
		case ipvsDestAttrPort:
			d.Port, err = a.be16()
		case ipvsDestAttrFwdMethod:
			fwd, err = a.u32()
		case ipvsDestAttrWeight:
			weight, err = a.u32()
		case ipvsDestAttrUThresh:
			d.UpperThreshold, err = a.u32()
		case ipvsDestAttrLThresh:
			d.LowerThreshold, err = a.u32()
		case ipvsDestAttrActiveConns:
			st.ActiveConns, err = a.u32()
		case ipvsDestAttrInactConns:
			st.InactiveConns, err = a.u32()
		case ipvsDestAttrPersistConns:
			st.PersistConns, err = a.u32()
		case ipvsDestAttrAddrFamily:
			af, err = a.u16()
		case ipvsDestAttrTunType:
			if len(a.val) != 1 {
				err = fmt.Errorf("tunnel type of %d bytes", len(a.val))
			} else {
				d.Tunnel = lvs.TunnelType(a.val[0])
			}
		case ipvsDestAttrTunPort:
			d.TunnelPort, err = a.be16()
		case ipvsDestAttrTunFlags:
			var f uint16
			f, err = a.u16()
			d.TunnelFlags = lvs.TunnelFlags(f)
		case ipvsDestAttrStats:
			if withStats {
				err = decodeStats(a.val, &st.Counters)
			}
		case ipvsDestAttrStats64:
			if withStats {
				err, have64 = decodeStats(a.val, &c64), true
			}
		}
	}
	if err == nil {
		err = a.err
	}
	if err == nil {
		d.Addr, err = addrFrom(af, addr)
	}
	if err != nil {
		return lvs.Destination{}, lvs.DestStats{}, fmt.Errorf("ipvs destination: %w", err)
	}
	switch fwd & ipvsFwdMask {
	case ipvsFwdMasq:
		d.Method = lvs.NAT
	case ipvsFwdDroute:
		d.Method = lvs.DR
	case ipvsFwdTunnel:
		d.Method = lvs.TUN
	case ipvsFwdLocal:
		d.Method = lvs.LocalNode
	default:
		return lvs.Destination{}, lvs.DestStats{}, fmt.Errorf("ipvs destination %s: forwarding method %d not modelled", d.Key(), fwd&ipvsFwdMask)
	}
	if weight > 1<<31-1 {
		weight = 1<<31 - 1
	}
	d.Weight = int32(weight)
	if have64 {
		st.Counters = c64
	}
	return d, st, nil
}

func appendMsg(b []byte, typ, flags uint16, seq uint32, cmd, ver uint8, attr []byte) []byte {
	l := nlmsgHdrLen + genlHdrLen + len(attr)
	b = binary.NativeEndian.AppendUint32(b, uint32(l))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = binary.NativeEndian.AppendUint16(b, flags)
	b = binary.NativeEndian.AppendUint32(b, seq)
	b = binary.NativeEndian.AppendUint32(b, 0)
	b = append(b, cmd, ver, 0, 0)
	return append(b, attr...)
}

// walkMsgs iterates over the netlink messages of a datagram.
func walkMsgs(b []byte, fn func(typ uint16, seq uint32, payload []byte) error) error {
	for len(b) >= nlmsgHdrLen {
		l := int(binary.NativeEndian.Uint32(b))
		if l < nlmsgHdrLen || l > len(b) {
			return fmt.Errorf("netlink message length %d of %d bytes", l, len(b))
		}
		typ := binary.NativeEndian.Uint16(b[4:])
		seq := binary.NativeEndian.Uint32(b[8:])
		if err := fn(typ, seq, b[nlmsgHdrLen:l]); err != nil {
			return err
		}
		adv := (l + 3) &^ 3
		if adv > len(b) {
			adv = len(b)
		}
		b = b[adv:]
	}
	return nil
}

func errCode(p []byte) (int32, error) {
	if len(p) < 4 {
		return 0, errors.New("short netlink error message")
	}
	return int32(binary.NativeEndian.Uint32(p)), nil
}
