package nftables

import (
	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"quadrature/lvs"
)

// Chains of the skeleton. Service chains are named s<id>, destination
// chains s<id>d<id>, per-destination counter chains t<id>.
const (
	chainPrerouting  = "prerouting"  // nat, hook prerouting: → services
	chainOutput      = "output"      // nat, hook output: → services (local clients)
	chainPostrouting = "postrouting" // nat, hook postrouting: masquerade
	chainStatsPre    = "stats_pre"   // filter, hook prerouting: counters
	chainStatsOut    = "stats_out"   // filter, hook output: counters
	chainServices    = "services"    // one dispatch rule per service
	statsIn          = "stats_in"    // marks of destinations, counting client → server
	statsOut         = "stats_out"   // the same, counting replies
)

// ctMarkFlag marks connections this backend DNATed; the low 31 bits carry
// the destination ID. The backend owns the conntrack mark of connections
// it schedules.
const ctMarkFlag = 0x80000000

// hashSeed is fixed so every director hashes a client to the same slot.
const hashSeed = 0x71756164 // "quad"

// ipsDstNAT is the conntrack status bit IPS_DST_NAT.
const ipsDstNAT = 1 << 5

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

// matchFamily matches the service's address family.
func matchFamily(f lvs.Family) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{nfproto(f)}},
	}
}

// loadSaddr loads the client address, masked to the persistence netmask,
// into reg.
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

// dispatchExprs: match the virtual service, jump to its chain.
func dispatchExprs(k lvs.ServiceKey, svcID uint32) []expr.Any {
	e := matchFamily(k.Family)
	if k.IsFWMark() {
		e = append(e,
			&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: native32(k.FWMark)})
	} else {
		e = append(e,
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{byte(k.Protocol)}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: daddrOffset(k.Family), Len: addrLen(k.Family)},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: k.Addr.AsSlice()},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(k.Port)})
	}
	return append(e, &expr.Verdict{Kind: expr.VerdictJump, Chain: svcChainName(svcID)})
}

// weightExprs are the rule that records a destination's weight. For a
// persistent service it also sends a client found in the destination's
// persistence set (a dynamic set of client addresses, masked by the
// netmask, with the persistence timeout) back to that destination; weight
// 0 included, as IPVS keeps persistent clients on a quiesced server. One
// set per destination keeps every element a plain address, so nft prints
// and re-reads it exactly, and removing a destination drops only its
// clients' persistence. Otherwise the rule is a no-op (continue).
func weightExprs(f lvs.Family, mask int, persistSet string, svcID, destID uint32) []expr.Any {
	if persistSet == "" {
		return []expr.Any{&expr.Verdict{Kind: expr.VerdictContinue}}
	}
	e := append(matchFamily(f), loadSaddr(f, mask, 1)...)
	return append(e,
		&expr.Lookup{SourceRegister: 1, SetName: persistSet},
		&expr.Verdict{Kind: expr.VerdictJump, Chain: destChainName(svcID, destID)})
}

// schedExprs picks a slot (numgen inc for rr/wrr, jhash of the client or
// destination address for sh/dh) and jumps through the interval map of
// slots to a destination chain. The slot number is converted to network
// byte order because interval maps compare keys as big-endian bytes.
func schedExprs(s lvs.Service, slots uint32, vmap *nftables.Set) []expr.Any {
	if slots == 0 {
		return []expr.Any{&expr.Counter{}}
	}
	var e []expr.Any
	switch s.Scheduler {
	case "sh", "dh":
		off := saddrOffset(s.Key.Family)
		if s.Scheduler == "dh" {
			off = daddrOffset(s.Key.Family)
		}
		e = append(matchFamily(s.Key.Family),
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: addrLen(s.Key.Family)},
			&expr.Hash{SourceRegister: 1, DestRegister: 1, Length: addrLen(s.Key.Family), Modulus: slots, Seed: hashSeed, Type: expr.HashTypeJenkins})
	default:
		e = append(e, &expr.Numgen{Register: 1, Modulus: slots, Type: unix.NFT_NG_INCREMENTAL})
	}
	return append(e,
		&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
		&expr.Lookup{SourceRegister: 1, DestRegister: 0, IsDestRegSet: true, SetName: vmap.Name, SetID: vmap.ID})
}

// slotElements are the interval-map elements of a slot table: each range
// [First, First+Count) jumps to its destination chain.
func slotElements(svcID uint32, slots []slot) []nftables.SetElement {
	var out []nftables.SetElement
	for _, s := range slots {
		out = append(out,
			nftables.SetElement{
				Key:         binaryutil.BigEndian.PutUint32(s.First),
				VerdictData: &expr.Verdict{Kind: expr.VerdictJump, Chain: destChainName(svcID, s.DestID)},
			},
			nftables.SetElement{Key: binaryutil.BigEndian.PutUint32(s.First + s.Count), IntervalEnd: true})
	}
	return out
}

// destExprs: refresh persistence, count the connection, mark it as ours
// and DNAT it to the real server (port 0 keeps the original port). A DNAT
// to a port follows a transport protocol match (nft refuses to load it
// otherwise): the service's protocol, or l4set ({tcp, udp}) for a fwmark
// service.
func destExprs(k lvs.ServiceKey, mask int, persistSet string, destID uint32, d lvs.Destination, l4set *nftables.Set) []expr.Any {
	f := k.Family
	e := matchFamily(f)
	if d.Port != 0 {
		e = append(e, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1})
		if k.IsFWMark() {
			e = append(e, &expr.Lookup{SourceRegister: 1, SetName: l4set.Name, SetID: l4set.ID})
		} else {
			e = append(e, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{byte(k.Protocol)}})
		}
	}
	if persistSet != "" {
		e = append(e, loadSaddr(f, mask, 1)...)
		e = append(e, &expr.Dynset{SrcRegKey: 1, SetName: persistSet, Operation: unix.NFT_DYNSET_OP_UPDATE})
	}
	e = append(e,
		&expr.Counter{},
		&expr.Immediate{Register: 1, Data: native32(markOf(destID))},
		&expr.Ct{Key: expr.CtKeyMARK, Register: 1, SourceRegister: true},
		&expr.Immediate{Register: 1, Data: d.Addr.AsSlice()})
	nat := &expr.NAT{Type: expr.NATTypeDestNAT, Family: uint32(nfproto(f)), RegAddrMin: 1}
	if d.Port != 0 {
		e = append(e, &expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(d.Port)})
		nat.RegProtoMin = 2
		nat.Specified = true
	}
	return append(e, nat)
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
		&expr.Ct{Key: expr.CtKeyDIRECTION, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{dir}},
		&expr.Ct{Key: expr.CtKeyMARK, Register: 1},
		&expr.Lookup{SourceRegister: 1, SetName: set},
	}
}

// masqExprs masquerades connections that this backend DNATed.
func masqExprs() []expr.Any {
	return []expr.Any{
		&expr.Ct{Key: expr.CtKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: native32(ctMarkFlag), Xor: native32(0)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: native32(ctMarkFlag)},
		&expr.Ct{Key: expr.CtKeySTATUS, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: native32(ipsDstNAT), Xor: native32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: native32(0)},
		&expr.Masq{},
	}
}

func endExprs() []expr.Any {
	return []expr.Any{&expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop}}
}
