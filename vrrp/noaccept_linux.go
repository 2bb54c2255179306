package vrrp

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// acceptFilter implements no_accept (RFC 5798 Accept_Mode False): a
// non-owner instance must not accept packets addressed to its virtual
// addresses. Each such instance gets its own input base chain in table
// inet quadrature_vrrp that drops IP packets to its VIPs (neighbour
// solicitations and advertisements excepted, so IPv6 resolution keeps
// working). The rules stay while the instance runs, like keepalived's.
type acceptFilter struct {
	ns    *nsContext
	c     *nftables.Conn
	table *nftables.Table
}

const acceptTable = "quadrature_vrrp"

func (f *acceptFilter) conn() (*nftables.Conn, error) {
	if f.c != nil {
		return f.c, nil
	}
	var opts []nftables.ConnOption
	if f.ns.path != "" {
		opts = append(opts, nftables.WithNetNSFd(int(f.ns.h)))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	f.c = c
	f.table = &nftables.Table{Family: nftables.TableFamilyINet, Name: acceptTable}
	return c, nil
}

func noAcceptChain(c InstanceConfig) string {
	fam := "4"
	if c.IPv6 {
		fam = "6"
	}
	name := fmt.Sprintf("noaccept_%s_%d_%s", c.Interface, c.VRID, fam)
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, name)
}

// set installs (or replaces) the drop rules for an instance's addresses.
func (f *acceptFilter) set(ic InstanceConfig) error {
	c, err := f.conn()
	if err != nil {
		return err
	}
	c.AddTable(f.table)
	accept := nftables.ChainPolicyAccept
	ch := c.AddChain(&nftables.Chain{Name: noAcceptChain(ic), Table: f.table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	c.FlushChain(ch)
	if ic.IPv6 {
		for _, t := range []byte{135, 136} { // neighbour solicitation / advertisement
			c.AddRule(&nftables.Rule{Table: f.table, Chain: ch, Exprs: []expr.Any{
				&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV6}},
				&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_ICMPV6}},
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{t}},
				&expr.Verdict{Kind: expr.VerdictAccept},
			}})
		}
	}
	for _, v := range allVIPs(ic) {
		a := v.Prefix.Addr()
		proto, off := byte(unix.NFPROTO_IPV4), uint32(16)
		if a.Is6() {
			proto, off = unix.NFPROTO_IPV6, 24
		}
		c.AddRule(&nftables.Rule{Table: f.table, Chain: ch, Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: uint32(a.BitLen() / 8)},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a.AsSlice()},
			&expr.Verdict{Kind: expr.VerdictDrop},
		}})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("no_accept rules for %s: %w", ic.Name, err)
	}
	return nil
}

// clear removes an instance's chain (absent is fine).
func (f *acceptFilter) clear(ic InstanceConfig) error {
	c, err := f.conn()
	if err != nil {
		return err
	}
	c.DelChain(&nftables.Chain{Name: noAcceptChain(ic), Table: f.table})
	if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove no_accept rules of %s: %w", ic.Name, err)
	}
	return nil
}

// close deletes the table if it exists and holds no chain any more.
func (f *acceptFilter) close() {
	if f.c == nil {
		return
	}
	if chains, err := f.c.ListChainsOfTableFamily(nftables.TableFamilyINet); err == nil {
		for _, ch := range chains {
			if ch.Table.Name == acceptTable {
				return
			}
		}
	}
	f.c.DelTable(f.table)
	_ = f.c.Flush()
}
