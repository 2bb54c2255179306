package config

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// BGP is quadrature's own "bgp" block: the node announces virtual addresses
// to upstream routers, so that a router spreads flows over every director
// (ECMP) instead of one VRRP master taking them all. See docs/bgp.md.
//
//	bgp {
//	  local_as 64512
//	  router_id 192.0.2.11
//	  hold_time 3
//	  neighbor 192.0.2.1 {
//	    remote_as 64500
//	    password "s3cret"
//	  }
//	  announce {
//	    192.0.2.100 community 64512:100 med 10
//	    2001:db8::100
//	  }
//	}
type BGP struct {
	Pos     Pos    `json:"-"`
	LocalAS uint32 `json:"local_as"`
	// RouterID defaults to the cluster block's bind address when it is
	// IPv4.
	RouterID netip.Addr `json:"router_id"`
	// ListenPort is the port the node accepts sessions on; 0 (the default)
	// does not listen: the node opens every session itself.
	ListenPort uint16 `json:"listen_port,omitempty"`
	// HoldTime is the default of every neighbor's hold_time (default 90 s,
	// RFC 4271's suggestion; 0 means no keepalives).
	HoldTime  time.Duration `json:"hold_time"`
	Neighbors []BGPNeighbor `json:"neighbors"`
	Announce  []BGPAnnounce `json:"announce"`
}

// BGPNeighbor is one neighbor block of bgp.
type BGPNeighbor struct {
	Pos      Pos        `json:"-"`
	Address  netip.Addr `json:"address"`
	RemoteAS uint32     `json:"remote_as"`
	// Password is the TCP MD5 signature key (RFC 2385); "" = none.
	Password string        `json:"password,omitempty"`
	HoldTime time.Duration `json:"hold_time"` // default: bgp's hold_time
	Port     uint16        `json:"port"`      // default 179
	// LocalAddress is the source address of the session; unset lets the
	// kernel choose.
	LocalAddress netip.Addr `json:"local_address,omitzero"`
	// Multihop is the TTL of an eBGP session to a neighbor that is not
	// directly connected; 0 = directly connected (TTL 1 for eBGP).
	Multihop int `json:"multihop,omitempty"`
	// BFD is parsed and not applied: GoBGP has no BFD, a dead peer is found
	// by the hold timer (a warning says so).
	BFD bool `json:"bfd,omitempty"`
}

// BGPAnnounce is one line of an announce block: a virtual address or a
// prefix, with the attributes its routes carry.
type BGPAnnounce struct {
	Pos Pos `json:"-"`
	// Prefix is what was written; a bare address is a /32 or /128.
	Prefix netip.Prefix `json:"prefix"`
	// Communities are RFC 1997 communities as ASN:VALUE.
	Communities []string `json:"communities,omitempty"`
	// MED is the MULTI_EXIT_DISC attribute; nil = not sent.
	MED *uint32 `json:"med,omitempty"`
}

// DefaultBGPHoldTime is RFC 4271's suggested hold time.
const DefaultBGPHoldTime = 90 * time.Second

// DefaultBGPPort is the BGP port.
const DefaultBGPPort = 179

// wellKnownCommunities are RFC 1997's named communities.
var wellKnownCommunities = map[string]uint32{
	"no_export":           0xFFFFFF01,
	"no_advertise":        0xFFFFFF02,
	"no_export_subconfed": 0xFFFFFF03,
}

// CommunityValue returns the 32-bit value of a community as the model
// keeps it (ASN:VALUE or a well-known name).
func CommunityValue(s string) (uint32, bool) {
	if v, ok := wellKnownCommunities[s]; ok {
		return v, true
	}
	hi, lo, ok := strings.Cut(s, ":")
	if !ok {
		return 0, false
	}
	h, err1 := strconv.ParseUint(hi, 10, 16)
	l, err2 := strconv.ParseUint(lo, 10, 16)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return uint32(h)<<16 | uint32(l), true
}

// asNumber reads an AS number: a plain number 1-4294967295 or asdot
// (X.Y).
func asNumber(w string) (uint32, bool) {
	if hi, lo, ok := strings.Cut(w, "."); ok {
		h, err1 := strconv.ParseUint(hi, 10, 16)
		l, err2 := strconv.ParseUint(lo, 10, 16)
		if err1 != nil || err2 != nil || h == 0 && l == 0 {
			return 0, false
		}
		return uint32(h)<<16 | uint32(l), true
	}
	v, err := strconv.ParseUint(w, 10, 32)
	if err != nil || v == 0 {
		return 0, false
	}
	return uint32(v), true
}

func (d *decoder) asn(s *Stmt, dst *uint32) {
	if !d.nargs(s, 1, 1) {
		return
	}
	v, ok := asNumber(s.Args[0].Text)
	if !ok {
		d.errorf(s.Pos, "%s: %q is not an AS number (1-4294967295, or asdot X.Y)", s.Key, s.Args[0].Text)
		return
	}
	*dst = v
}

// holdTime reads a BGP hold time in seconds: 0 or 3-65535 (RFC 4271).
func (d *decoder) holdTime(s *Stmt, dst *time.Duration) {
	if !d.nargs(s, 1, 1) {
		return
	}
	v, err := strconv.ParseUint(strings.TrimSuffix(s.Args[0].Text, "s"), 10, 16)
	if err != nil || v == 1 || v == 2 {
		d.errorf(s.Pos, "%s: %q is not a hold time (0, or 3-65535 seconds)", s.Key, s.Args[0].Text)
		return
	}
	*dst = time.Duration(v) * time.Second
}

func (d *decoder) bgp(b *Stmt) *BGP {
	g := &BGP{Pos: b.Pos, HoldTime: DefaultBGPHoldTime}
	if len(b.Args) > 0 {
		d.errorf(b.Pos, "bgp takes no name (write bgp {)")
	}
	holdSet := map[int]bool{}
	seen := map[netip.Addr]Pos{}
	d.run(b.Block, "bgp", table{
		"local_as":  func(s *Stmt) { d.asn(s, &g.LocalAS) },
		"router_id": func(s *Stmt) { d.addr(s, &g.RouterID) },
		"hold_time": func(s *Stmt) { d.holdTime(s, &g.HoldTime) },
		"listen_port": func(s *Stmt) {
			if d.nargs(s, 1, 1) {
				d.port(s, s.Args[0].Text, &g.ListenPort)
			}
		},
		"neighbor": func(s *Stmt) {
			n, ok := d.bgpNeighbor(s, holdSet, len(g.Neighbors))
			if !ok {
				return
			}
			if p, dup := seen[n.Address]; dup {
				d.errorf(s.Pos, "duplicate neighbor %s (first at %s)", n.Address, p)
				return
			}
			seen[n.Address] = s.Pos
			g.Neighbors = append(g.Neighbors, n)
		},
		"announce": func(s *Stmt) {
			if !d.needBlock(s) {
				return
			}
			if len(s.Args) > 0 {
				d.errorf(s.Pos, "announce takes no argument: write the addresses inside the braces")
			}
			for _, it := range s.Block {
				if a, ok := d.bgpAnnounce(it); ok {
					g.Announce = append(g.Announce, a)
				}
			}
		},
	})
	for i := range g.Neighbors {
		if !holdSet[i] {
			g.Neighbors[i].HoldTime = g.HoldTime
		}
	}
	switch {
	case g.LocalAS == 0:
		d.errorf(b.Pos, "bgp: local_as is missing")
	case len(g.Neighbors) == 0:
		d.errorf(b.Pos, "bgp: no neighbor")
	}
	return g
}

func (d *decoder) bgpNeighbor(s *Stmt, holdSet map[int]bool, idx int) (BGPNeighbor, bool) {
	n := BGPNeighbor{Pos: s.Pos, Port: DefaultBGPPort}
	if !d.needBlock(s) {
		return n, false
	}
	if len(s.Args) != 1 {
		d.errorf(s.Pos, "neighbor needs exactly one address")
		return n, false
	}
	a, ok := d.addrArg(s, s.Args[0].Text)
	if !ok {
		return n, false
	}
	if a.Zone() != "" {
		d.errorf(s.Pos, "neighbor %s: link-local neighbors with a zone are not supported; use a global address", a)
		return n, false
	}
	n.Address = a
	d.run(s.Block, "bgp neighbor", table{
		"remote_as": func(s *Stmt) { d.asn(s, &n.RemoteAS) },
		"password":  func(s *Stmt) { d.str(s, &n.Password) },
		"hold_time": func(s *Stmt) {
			before := len(d.errs)
			d.holdTime(s, &n.HoldTime)
			holdSet[idx] = len(d.errs) == before
		},
		"port": func(s *Stmt) {
			if d.nargs(s, 1, 1) {
				if d.port(s, s.Args[0].Text, &n.Port) && n.Port == 0 {
					d.errorf(s.Pos, "port: 0 is not a port")
				}
			}
		},
		"local_address": func(s *Stmt) { d.addr(s, &n.LocalAddress) },
		"multihop":      func(s *Stmt) { d.integer(s, &n.Multihop, 1, 255) },
		"bfd": func(s *Stmt) {
			d.flag(s, &n.BFD)
			if n.BFD {
				d.warnf(s.Pos, "bfd: not applied (GoBGP has no BFD): a dead director is found by the hold timer; use hold_time 3 for the fastest detection")
			}
		},
	})
	switch {
	case n.RemoteAS == 0:
		d.errorf(s.Pos, "neighbor %s: remote_as is missing", a)
		return n, false
	case n.LocalAddress.IsValid() && n.LocalAddress.Is4() != a.Is4():
		d.errorf(s.Pos, "neighbor %s: local_address %s is of another address family", a, n.LocalAddress)
		return n, false
	}
	return n, true
}

// bgpAnnounce reads "ADDRESS[/LEN] [community A:B ...] [med N]".
func (d *decoder) bgpAnnounce(s *Stmt) (BGPAnnounce, bool) {
	a := BGPAnnounce{Pos: s.Pos}
	if s.HasBlock {
		d.errorf(s.Pos, "unexpected block in announce")
		return a, false
	}
	p, err := netip.ParsePrefix(s.Key)
	if err != nil {
		ad, aerr := netip.ParseAddr(s.Key)
		if aerr != nil || ad.Zone() != "" {
			d.errorf(s.Pos, "announce: %q is not an IP address or prefix", s.Key)
			return a, false
		}
		ad = ad.Unmap()
		p = netip.PrefixFrom(ad, ad.BitLen())
	}
	if p.Addr().Is4In6() {
		d.errorf(s.Pos, "announce: %s: write IPv4 prefixes in IPv4 notation", p)
		return a, false
	}
	if p.Masked() != p {
		d.errorf(s.Pos, "announce: %s has host bits set (did you mean %s?)", p, p.Masked())
		return a, false
	}
	a.Prefix = p
	args := s.Args
	ok := true
	for i := 0; i < len(args); i++ {
		switch w := strings.ToLower(args[i].Text); w {
		case "community", "communities":
			n := 0
			for i+1 < len(args) {
				c := strings.ToLower(args[i+1].Text)
				if c == "med" || c == "community" || c == "communities" {
					break
				}
				if _, valid := CommunityValue(c); !valid {
					d.errorf(s.Pos, "announce %s: community %q is not ASN:VALUE (numbers 0-65535) or no_export, no_advertise, no_export_subconfed", p, args[i+1].Text)
					ok = false
				} else if !slices.Contains(a.Communities, c) {
					a.Communities = append(a.Communities, c)
				}
				n++
				i++
			}
			if n == 0 {
				d.errorf(s.Pos, "announce %s: community needs at least one value", p)
				ok = false
			}
		case "med":
			if i+1 >= len(args) {
				d.errorf(s.Pos, "announce %s: med needs a value", p)
				return a, false
			}
			v, err := strconv.ParseUint(args[i+1].Text, 10, 32)
			if err != nil || v > math.MaxUint32 {
				d.errorf(s.Pos, "announce %s: med %q is not a number 0-4294967295", p, args[i+1].Text)
				ok = false
			} else {
				m := uint32(v)
				a.MED = &m
			}
			i++
		default:
			d.errorf(s.Pos, "announce %s: unknown option %q (community, med)", p, args[i].Text)
			return a, false
		}
	}
	return a, ok
}

// validateBGP checks the bgp block against the rest of the file: duplicate
// announcements, and entries that cover no virtual server (announced as
// written; a warning says so, as it may be a typo).
func (d *decoder) validateBGP() {
	g := d.cfg.BGP
	if g == nil {
		return
	}
	// The cluster block may come after bgp in the file: the router ID's
	// default is taken here, once both are decoded.
	if !g.RouterID.IsValid() && d.cfg.Cluster != nil && d.cfg.Cluster.Bind.Is4() {
		g.RouterID = d.cfg.Cluster.Bind
	}
	switch {
	case !g.RouterID.IsValid():
		d.errorf(g.Pos, "bgp: router_id is missing (it defaults to the cluster bind address only when that is IPv4)")
	case !g.RouterID.Is4():
		d.errorf(g.Pos, "bgp: router_id %s is not an IPv4 address (a BGP identifier is 32 bits)", g.RouterID)
	}
	seen := map[netip.Prefix]Pos{}
	for _, a := range g.Announce {
		if p, dup := seen[a.Prefix]; dup {
			d.errorf(a.Pos, "announce: %s is listed twice (first at %s)", a.Prefix, p)
			continue
		}
		seen[a.Prefix] = a.Pos
		covered := false
		for _, vs := range d.cfg.VirtualServers {
			if vs.Addr.IsValid() && a.Prefix.Contains(vs.Addr) {
				covered = true
				break
			}
		}
		if !covered {
			d.warnf(a.Pos, "announce %s: no virtual_server address is in it: the prefix is announced as written whenever the node is healthy, whatever the real servers' state", a.Prefix)
		}
		fam4 := a.Prefix.Addr().Is4()
		peer := false
		for _, n := range g.Neighbors {
			if n.Address.Is4() == fam4 {
				peer = true
			}
		}
		if !peer && len(g.Neighbors) > 0 {
			d.warnf(a.Pos, "announce %s: no neighbor of that address family: a neighbor is sent the routes of its own family only", a.Prefix)
		}
	}
}

// render writes the bgp block.
func (w *writer) bgp(g *BGP) {
	w.open("bgp")
	w.kv("local_as", g.LocalAS)
	if g.RouterID.IsValid() {
		w.kv("router_id", g.RouterID)
	}
	if g.ListenPort != 0 {
		w.kv("listen_port", g.ListenPort)
	}
	w.kvd("hold_time", int(g.HoldTime/time.Second), int(DefaultBGPHoldTime/time.Second))
	for _, n := range g.Neighbors {
		w.open("neighbor %s", n.Address)
		w.kv("remote_as", n.RemoteAS)
		w.str("password", n.Password)
		w.kvd("hold_time", int(n.HoldTime/time.Second), int(g.HoldTime/time.Second))
		w.kvd("port", n.Port, uint16(DefaultBGPPort))
		if n.LocalAddress.IsValid() {
			w.kv("local_address", n.LocalAddress)
		}
		if n.Multihop != 0 {
			w.kv("multihop", n.Multihop)
		}
		if n.BFD {
			w.line("bfd")
		}
		w.close()
	}
	if len(g.Announce) > 0 {
		w.open("announce")
		for _, a := range g.Announce {
			line := a.Prefix.String()
			if a.Prefix.IsSingleIP() {
				line = a.Prefix.Addr().String()
			}
			if len(a.Communities) > 0 {
				line += " community " + strings.Join(a.Communities, " ")
			}
			if a.MED != nil {
				line += fmt.Sprintf(" med %d", *a.MED)
			}
			w.line("%s", line)
		}
		w.close()
	}
	w.close()
}
