package loopguard

import (
	"bytes"
	"fmt"
	"net"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"

	"quadrature/lvs"
)

// The owned table holds exactly:
//
//	set peers { type ether_addr }           the other directors' MACs
//	chain prerouting { type nat hook prerouting priority dstnat; policy accept }
//	  one rule per target, in Desired.Normalize order:
//	  meta nfproto ipv4 meta l4proto tcp ip daddr VIP tcp dport PORT
//	  meta iiftype ether ether saddr @peers counter dnat ip to LOCAL:LPORT
//	  comment "q1 aa TCP VIP:PORT LOCAL:LPORT"
const (
	chainName = "prerouting"
	setName   = "peers"
)

// natPriority is the chain's priority: nft's "dstnat" (-100), like every
// destination NAT. IPVS hooks LOCAL_IN, after routing, so any prerouting
// priority runs before it.
var natPriority = nftables.ChainPriorityNATDest

// arphrdEther is ARPHRD_ETHER, what meta iiftype reports for Ethernet
// (veth, bridge, bond, VLAN) interfaces: only there is the link-layer
// source address the 6 bytes the rule reads.
const arphrdEther = 1

func nfproto(f lvs.Family) byte {
	if f == lvs.IPv6 {
		return unix.NFPROTO_IPV6
	}
	return unix.NFPROTO_IPV4
}

// targetExprs builds the rule of one target. setID refers to the peers
// set created in the same batch (0 when comparing with a rule read back,
// which names the set only).
func targetExprs(t Target, setID uint32) []expr.Any {
	daddrOff, alen := uint32(16), uint32(4) // IPv4 header: destination at 16
	if t.Family() == lvs.IPv6 {
		daddrOff, alen = 24, 16 // IPv6 header: destination at 24
	}
	e := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{nfproto(t.Family())}},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{byte(t.Protocol)}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: daddrOff, Len: alen},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: t.VIP.AsSlice()},
	}
	if t.Port != 0 {
		// TCP, UDP and SCTP all carry the destination port at offset 2.
		e = append(e,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(t.Port)},
		)
	}
	e = append(e,
		&expr.Meta{Key: expr.MetaKeyIIFTYPE, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint16(arphrdEther)},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseLLHeader, Offset: 6, Len: 6},
		&expr.Lookup{SourceRegister: 1, SetName: setName, SetID: setID},
		&expr.Counter{},
		&expr.Immediate{Register: 1, Data: t.Local.AsSlice()},
	)
	// One address and one port: max = min, as the kernel reports it back.
	nat := &expr.NAT{Type: expr.NATTypeDestNAT, Family: uint32(nfproto(t.Family())), RegAddrMin: 1, RegAddrMax: 1}
	if t.Port != 0 {
		e = append(e, &expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(t.LocalPort)})
		nat.RegProtoMin, nat.RegProtoMax, nat.Specified = 2, 2, true
	}
	return append(e, nat)
}

// canonicalExprs marshals a rule's expressions for comparison, ignoring
// what legitimately differs between a rule built here and the same rule
// read back: counter values and the batch-local set ID.
func canonicalExprs(es []expr.Any) ([]byte, error) {
	var out []byte
	for _, e := range es {
		switch v := e.(type) {
		case *expr.Counter:
			e = &expr.Counter{}
		case *expr.Lookup:
			c := *v
			c.SetID = 0
			e = &c
		}
		b, err := expr.Marshal(byte(nftables.TableFamilyINet), e)
		if err != nil {
			return nil, fmt.Errorf("marshal %T: %w", e, err)
		}
		out = append(out, b...)
	}
	return out, nil
}

// counterOf returns the packet count of a rule's counter expression.
func counterOf(es []expr.Any) (packets, bytes uint64) {
	for _, e := range es {
		if c, ok := e.(*expr.Counter); ok {
			return c.Packets, c.Bytes
		}
	}
	return 0, 0
}

// commentOf returns the comment in a rule's user data (type-length-value
// records, as nft writes them). The bytes come from the kernel and anyone
// may have written them: unlike userdata.GetString, a truncated record is
// "no comment", never a panic.
func commentOf(udata []byte) (string, bool) {
	for len(udata) >= 2 {
		typ, n := userdata.Type(udata[0]), int(udata[1])
		if len(udata) < 2+n {
			return "", false
		}
		if typ == userdata.TypeComment {
			v, _ := bytes.CutSuffix(udata[2:2+n], []byte{0})
			return string(v), true
		}
		udata = udata[2+n:]
	}
	return "", false
}

func ruleUserData(t Target) []byte {
	return userdata.AppendString(nil, userdata.TypeComment, ruleComment(t))
}

// decodeRule returns the target a rule read back implements, checking
// that its expressions are exactly those the target needs.
func decodeRule(r *nftables.Rule) (Target, error) {
	c, ok := commentOf(r.UserData)
	if !ok {
		return Target{}, fmt.Errorf("loopguard: rule handle %d has no comment", r.Handle)
	}
	t, err := parseRuleComment(c)
	if err != nil {
		return Target{}, err
	}
	got, err := canonicalExprs(r.Exprs)
	if err != nil {
		return Target{}, fmt.Errorf("loopguard: rule %q: %w", c, err)
	}
	want, err := canonicalExprs(targetExprs(t, 0))
	if err != nil {
		return Target{}, fmt.Errorf("loopguard: rule %q: %w", c, err)
	}
	if !bytes.Equal(got, want) {
		return Target{}, fmt.Errorf("loopguard: rule %q: expressions differ from what it says", c)
	}
	return t, nil
}

func peerSet(table *nftables.Table) *nftables.Set {
	return &nftables.Set{Table: table, Name: setName, KeyType: nftables.TypeEtherAddr}
}

func setElements(macs []net.HardwareAddr) []nftables.SetElement {
	els := make([]nftables.SetElement, len(macs))
	for i, m := range macs {
		els[i] = nftables.SetElement{Key: []byte(m)}
	}
	return els
}

// program queues, on c, the whole table for d (already normalized): the
// caller sends it as one batch, which the kernel applies atomically.
func program(c *nftables.Conn, table *nftables.Table, d Desired, replace bool) error {
	c.AddTable(table)
	if replace {
		c.DelTable(table)
		c.AddTable(table)
	}
	set := peerSet(table)
	if err := c.AddSet(set, setElements(d.Peers)); err != nil {
		return fmt.Errorf("loopguard: peers set: %w", err)
	}
	policy := nftables.ChainPolicyAccept
	ch := c.AddChain(&nftables.Chain{Name: chainName, Table: table, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPrerouting, Priority: natPriority, Policy: &policy})
	for _, t := range d.Targets {
		c.AddRule(&nftables.Rule{Table: table, Chain: ch, Exprs: targetExprs(t, set.ID), UserData: ruleUserData(t)})
	}
	return nil
}
