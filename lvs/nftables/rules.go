package nftables

import (
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"quadrature/lvs"
)

// Chains of the skeleton; service chains are named s<id>.
const (
	chainPrerouting  = "prerouting"  // nat, hook prerouting: → services
	chainOutput      = "output"      // nat, hook output: → services (local clients)
	chainPostrouting = "postrouting" // nat, hook postrouting: masquerade
	chainStatsPre    = "stats_pre"   // filter, hook prerouting: counters
	chainStatsOut    = "stats_out"   // filter, hook output: counters
	chainServices    = "services"    // dispatch: four vmap lookups
	chainPick        = "pick"        // slot → destination mark
	chainNat4        = "nat4"        // DNAT IPv4 to the destination of the mark
	chainNat6        = "nat6"        // the same for IPv6
)

// Named sets and maps of the skeleton.
const (
	setSvc4     = "svc4"      // tcp/udp . IPv4 address . port → jump s<id>
	setSvc6     = "svc6"      // the same for IPv6
	setFwm4     = "fwm4"      // packet mark (IPv4) → jump s<id>
	setFwm6     = "fwm6"      // packet mark (IPv6) → jump s<id>
	setSlots    = "slots"     // service ID << 16 | slot → destination mark
	setDst4     = "dst4"      // destination mark → IPv4 address . port
	setDst4a    = "dst4a"     // destination mark → IPv4 address (port 0: keep the port)
	setDst6     = "dst6"      // destination mark → IPv6 address . port
	setDst6a    = "dst6a"     // destination mark → IPv6 address (port 0)
	statsIn     = "stats_in"  // destination marks, counting client → server
	statsOut    = "stats_out" // the same, counting replies
	statsNew    = "stats_new" // the same, counting new connections
	numDstMaps  = 4
	numStatSets = 3
)

// dstMaps are the destination maps by index (dstMapIndex).
var dstMaps = [numDstMaps]string{setDst4, setDst4a, setDst6, setDst6a}

// statSets are the counter sets by bit (1, 2, 4).
var statSets = [numStatSets]string{statsIn, statsOut, statsNew}

const allStats = 1<<numStatSets - 1

// dstMapIndex is the map that holds a destination of family f: the one
// with a port, or the address-only one for port 0.
func dstMapIndex(f lvs.Family, port uint16) uint8 {
	i := uint8(0)
	if f == lvs.IPv6 {
		i = 2
	}
	if port == 0 {
		i++
	}
	return i
}

// ctMarkFlag marks connections this backend DNATed; the low 31 bits carry
// the destination ID. The backend owns the conntrack mark of connections
// it schedules.
const ctMarkFlag = 0x80000000

// hashSeed is fixed so every director hashes a client to the same slot.
const hashSeed = 0x71756164 // "quad"

// ipsDstNAT is the conntrack status bit IPS_DST_NAT.
const ipsDstNAT = 1 << 5

// maxSlots bounds the slots of one service (see slotCounts): a slot key
// is the service ID in the high 16 bits and the slot in the low ones, and
// slot 0xffff is never used (it is the key of "no slot yet").
const maxSlots = 1<<16 - 1

// maxServiceID bounds service IDs: bit 31 of a mark is the destination
// flag, the slot key keeps the service ID in bits 16-30.
const maxServiceID = 1<<15 - 1

// noSlot is the mark a service chain starts with: the service's key of
// the unused slot 0xffff.
func noSlot(svc uint32) uint32 { return svc<<16 | 0xffff }

func markOf(destID uint32) uint32 { return ctMarkFlag | destID }

func nfproto(f lvs.Family) byte {
	if f == lvs.IPv6 {
		return unix.NFPROTO_IPV6
	}
	return unix.NFPROTO_IPV4
}

func addrLen(f lvs.Family) uint32 {
	if f == lvs.IPv6 {
		return 16
	}
	return 4
}

// saddrOffset and daddrOffset are the address offsets in the IPv4 and
// IPv6 headers.
func saddrOffset(f lvs.Family) uint32 {
	if f == lvs.IPv6 {
		return 8
	}
	return 12
}

func daddrOffset(f lvs.Family) uint32 {
	if f == lvs.IPv6 {
		return 24
	}
	return 16
}

func native32(v uint32) []byte { return binaryutil.NativeEndian.PutUint32(v) }

// Registers: NFT_REG_1 and the 32-bit registers NFT_REG32_00 + n.
const (
	reg1   = 1
	reg32x = 8
)

func matchFamily(f lvs.Family) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{nfproto(f)}},
	}
}

// loadSaddr loads the client address, masked to the persistence netmask.
func loadSaddr(f lvs.Family, mask int, reg uint32) []expr.Any {
	n := addrLen(f)
	out := []expr.Any{&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: saddrOffset(f), Len: n}}
	if mask > 0 && mask < int(n*8) {
		m := make([]byte, n)
		for i := 0; i < mask; i++ {
			m[i/8] |= 0x80 >> (i % 8)
		}
		out = append(out, &expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: n, Mask: m, Xor: make([]byte, n)})
	}
	return out
}

func ctMarkLoad(reg uint32) expr.Any { return &expr.Ct{Key: expr.CtKeyMARK, Register: reg} }
func ctMarkStore(reg uint32) expr.Any {
	return &expr.Ct{Key: expr.CtKeyMARK, Register: reg, SourceRegister: true}
}

// markFlagIs matches connections whose mark has (set) or lacks the flag.
func markFlagIs(set bool) []expr.Any {
	want := uint32(0)
	if set {
		want = ctMarkFlag
	}
	return []expr.Any{
		ctMarkLoad(reg1),
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: native32(ctMarkFlag), Xor: native32(0)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: native32(want)},
	}
}

// dispatchExprs are the rules of the services chain: the address maps
// (l4proto . daddr . dport) and the mark maps, per family.
func dispatchExprs(which string) []expr.Any {
	switch which {
	case infraDisp4, infraDisp6:
		f := lvs.IPv4
		set := setSvc4
		if which == infraDisp6 {
			f, set = lvs.IPv6, setSvc6
		}
		last := uint32(reg32x + 1 + addrLen(f)/4)
		return append(matchFamily(f),
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
			&expr.Payload{DestRegister: reg32x + 1, Base: expr.PayloadBaseNetworkHeader, Offset: daddrOffset(f), Len: addrLen(f)},
			&expr.Payload{DestRegister: last, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Lookup{SourceRegister: reg1, DestRegister: 0, IsDestRegSet: true, SetName: set})
	default:
		f, set := lvs.IPv4, setFwm4
		if which == infraFwm6 {
			f, set = lvs.IPv6, setFwm6
		}
		return append(matchFamily(f),
			&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
			&expr.Lookup{SourceRegister: reg1, DestRegister: 0, IsDestRegSet: true, SetName: set})
	}
}

// ruleExprs builds the expressions of one rule of service chain s<id>
// from its record and the service header (see doc.go for the chain).
func ruleExprs(r record, h record) []expr.Any {
	f := h.Key.Family
	switch r.Kind {
	case kindService: // no destination, no slot yet
		return []expr.Any{&expr.Immediate{Register: reg1, Data: native32(noSlot(h.SvcID))}, ctMarkStore(reg1)}
	case kindPersistLookup: // ct mark set <client> map @p…
		e := append(matchFamily(f), loadSaddr(f, h.Netmask, reg1)...)
		return append(e,
			&expr.Lookup{SourceRegister: reg1, DestRegister: reg1, IsDestRegSet: true, SetName: persistSetName(h)},
			ctMarkStore(reg1))
	case kindPersistStale: // a persisted destination that is gone: schedule anew
		e := markFlagIs(true)
		return append(e,
			ctMarkLoad(reg1),
			&expr.Lookup{SourceRegister: reg1, SetName: statsNew, Invert: true},
			&expr.Immediate{Register: reg1, Data: native32(noSlot(h.SvcID))}, ctMarkStore(reg1))
	case kindSched: // ct mark set numgen/jhash … offset <id> << 16
		var e []expr.Any
		if h.Persistence > 0 {
			e = markFlagIs(false)
		}
		switch h.Scheduler {
		case "sh", "dh":
			off := saddrOffset(f)
			if h.Scheduler == "dh" {
				off = daddrOffset(f)
			}
			e = append(e, matchFamily(f)...)
			e = append(e,
				&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: addrLen(f)},
				&expr.Hash{SourceRegister: reg1, DestRegister: reg1, Length: addrLen(f), Modulus: r.Slots, Seed: hashSeed, Offset: h.SvcID << 16, Type: expr.HashTypeJenkins})
		default:
			e = append(e, &expr.Numgen{Register: reg1, Modulus: r.Slots, Offset: h.SvcID << 16, Type: unix.NFT_NG_INCREMENTAL})
		}
		return append(e, ctMarkStore(reg1))
	case kindPick:
		return []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: chainPick}}
	case kindCount: // count the new connection; refresh persistence
		e := []expr.Any{ctMarkLoad(reg1), &expr.Lookup{SourceRegister: reg1, SetName: statsNew}}
		if h.Persistence > 0 {
			e = append(e, matchFamily(f)...)
			e = append(e, loadSaddr(f, h.Netmask, reg1)...)
			e = append(e, ctMarkLoad(2),
				&expr.Dynset{SrcRegKey: reg1, SrcRegData: 2, SetName: persistSetName(h), Operation: unix.NFT_DYNSET_OP_UPDATE})
		}
		return e
	case kindNAT:
		c := chainNat4
		if f == lvs.IPv6 {
			c = chainNat6
		}
		return []expr.Any{&expr.Verdict{Kind: expr.VerdictGoto, Chain: c}}
	}
	return nil
}

// pickExprs: a mark without the destination flag is a slot key (or the
// key of no slot, which is not in the map): replace it by the slot's
// destination mark.
func pickExprs() []expr.Any {
	return append(markFlagIs(false), ctMarkLoad(reg1),
		&expr.Lookup{SourceRegister: reg1, DestRegister: reg1, IsDestRegSet: true, SetName: setSlots},
		ctMarkStore(reg1))
}

// natExprs are the rules of nat4/nat6: DNAT to the destination of the
// mark, with its port (after a transport protocol match: nft refuses a
// port NAT without one) or, for port 0, keeping the port; drop what has
// no destination.
func natExprs(which string) []expr.Any {
	f := lvs.IPv4
	if which[1] == '6' {
		f = lvs.IPv6
	}
	withPort := dstMaps[dstMapIndex(f, 1)]
	noPort := dstMaps[dstMapIndex(f, 0)]
	nat := &expr.NAT{Type: expr.NATTypeDestNAT, Family: uint32(nfproto(f)), RegAddrMin: reg1}
	switch which[2] {
	case 't', 'u':
		proto := byte(lvs.TCP)
		if which[2] == 'u' {
			proto = byte(lvs.UDP)
		}
		nat.RegProtoMin = reg32x + addrLen(f)/4
		nat.Specified = true
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{proto}},
			ctMarkLoad(reg1),
			&expr.Lookup{SourceRegister: reg1, DestRegister: reg1, IsDestRegSet: true, SetName: withPort},
			nat}
	case 'a':
		return []expr.Any{ctMarkLoad(reg1),
			&expr.Lookup{SourceRegister: reg1, DestRegister: reg1, IsDestRegSet: true, SetName: noPort},
			nat}
	}
	return []expr.Any{&expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop}}
}

// statsExprs counts one direction of our connections: looking the
// connection's mark up in a set with per-element counters counts the
// packet on its destination's element.
func statsExprs(reply bool) []expr.Any {
	dir, set := byte(0), statsIn // IP_CT_DIR_ORIGINAL
	if reply {
		dir, set = 1, statsOut // IP_CT_DIR_REPLY
	}
	return []expr.Any{
		&expr.Ct{Key: expr.CtKeyDIRECTION, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{dir}},
		ctMarkLoad(reg1),
		&expr.Lookup{SourceRegister: reg1, SetName: set},
	}
}

// masqExprs masquerades connections that this backend DNATed.
func masqExprs() []expr.Any {
	return []expr.Any{
		ctMarkLoad(reg1),
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: native32(ctMarkFlag), Xor: native32(0)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: native32(ctMarkFlag)},
		&expr.Ct{Key: expr.CtKeySTATUS, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: native32(ipsDstNAT), Xor: native32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: native32(0)},
		&expr.Masq{},
	}
}
