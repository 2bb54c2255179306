package loopguard

import (
	"bytes"
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"quadrature/lvs"
)

// Target is one virtual service that this node serves itself as a DR real
// server: packets to VIP:Port (Protocol) that a peer director forwarded
// are rewritten to Local:LocalPort and delivered to the local application.
type Target struct {
	Protocol lvs.Protocol // TCP, UDP or SCTP
	VIP      netip.Addr   // the virtual address; its family is the target's
	// Port is the virtual port; 0 matches every port of Protocol (a
	// keepalived "port 0" persistent service) and then LocalPort must be 0.
	Port  uint16
	Local netip.Addr // this node's real-server address, same family as VIP
	// LocalPort is the port the packet is rewritten to; 0 means Port (the
	// DR case: a DR real server always sees the virtual port).
	LocalPort uint16
}

// Family is the target's address family (that of VIP).
func (t Target) Family() lvs.Family { return lvs.FamilyOf(t.VIP) }

// String renders the target as "TCP 203.0.113.10:3128 -> 203.0.113.11:3128".
func (t Target) String() string {
	return fmt.Sprintf("%s %s -> %s", t.Protocol, netip.AddrPortFrom(t.VIP, t.Port), netip.AddrPortFrom(t.Local, t.LocalPort))
}

// match is the part of a target that selects packets.
type match struct {
	Protocol lvs.Protocol
	VIP      netip.Addr
	Port     uint16
}

func (t Target) match() match { return match{t.Protocol, t.VIP, t.Port} }

// compareTargets orders targets by family, protocol, VIP, then port with
// port 0 (every port) after the specific ports of the same VIP, so that
// a specific service's rule is evaluated before the catch-all one.
func compareTargets(a, b Target) int {
	if c := cmp.Compare(a.Family(), b.Family()); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Protocol, b.Protocol); c != 0 {
		return c
	}
	if c := a.VIP.Compare(b.VIP); c != 0 {
		return c
	}
	if (a.Port == 0) != (b.Port == 0) {
		if a.Port == 0 {
			return 1
		}
		return -1
	}
	if c := cmp.Compare(a.Port, b.Port); c != 0 {
		return c
	}
	if c := a.Local.Compare(b.Local); c != 0 {
		return c
	}
	return cmp.Compare(a.LocalPort, b.LocalPort)
}

func validAddr(a netip.Addr) bool {
	return a.IsValid() && a.Zone() == "" && !a.Is4In6() && !a.IsUnspecified() && !a.IsMulticast()
}

// check reports what is wrong with a target, in words an operator reads.
func (t Target) check() error {
	switch t.Protocol {
	case lvs.TCP, lvs.UDP, lvs.SCTP:
	default:
		return fmt.Errorf("loopguard: target %s: protocol %s not supported (TCP, UDP, SCTP)", t, t.Protocol)
	}
	if !validAddr(t.VIP) {
		return fmt.Errorf("loopguard: target %s: invalid virtual address", t)
	}
	if !validAddr(t.Local) {
		return fmt.Errorf("loopguard: target %s: invalid local address", t)
	}
	if lvs.FamilyOf(t.Local) != t.Family() {
		return fmt.Errorf("loopguard: target %s: local address family differs from the virtual address", t)
	}
	if t.Port == 0 && t.LocalPort != 0 {
		return fmt.Errorf("loopguard: target %s: a port-0 (all ports) target cannot change the port", t)
	}
	return nil
}

// Desired is the complete state of the guard on one node.
type Desired struct {
	// Peers are the MAC addresses of the other directors' interfaces:
	// packets with one of these source addresses were forwarded by a peer.
	Peers []net.HardwareAddr
	// Targets are the services this node serves as a DR real server.
	Targets []Target
}

// Empty reports whether d needs no rules (no peer or no target): the guard
// then removes its table, so that the node pays no connection tracking.
func (d Desired) Empty() bool { return len(d.Peers) == 0 || len(d.Targets) == 0 }

// Normalize validates d and returns it in canonical form: MACs lowercase
// 6-byte Ethernet addresses, sorted and deduplicated; targets with
// LocalPort explicit, sorted (see compareTargets) and deduplicated. Two
// targets that select the same packets but rewrite them differently are
// an error, as is a MAC that is not a unicast Ethernet address.
func (d Desired) Normalize() (Desired, error) {
	var out Desired
	for _, m := range d.Peers {
		if len(m) != 6 {
			return Desired{}, fmt.Errorf("loopguard: peer MAC %q: not a 6-byte Ethernet address", m.String())
		}
		if m[0]&1 != 0 {
			return Desired{}, fmt.Errorf("loopguard: peer MAC %s: multicast or broadcast address", m)
		}
		if bytes.Equal(m, make([]byte, 6)) {
			return Desired{}, fmt.Errorf("loopguard: peer MAC %s: all-zero address", m)
		}
		out.Peers = append(out.Peers, slices.Clone(m))
	}
	slices.SortFunc(out.Peers, func(a, b net.HardwareAddr) int { return bytes.Compare(a, b) })
	out.Peers = slices.CompactFunc(out.Peers, func(a, b net.HardwareAddr) bool { return bytes.Equal(a, b) })
	for _, t := range d.Targets {
		if t.LocalPort == 0 {
			t.LocalPort = t.Port
		}
		if err := t.check(); err != nil {
			return Desired{}, err
		}
		out.Targets = append(out.Targets, t)
	}
	slices.SortFunc(out.Targets, compareTargets)
	out.Targets = slices.Compact(out.Targets)
	for i := 1; i < len(out.Targets); i++ {
		if a, b := out.Targets[i-1], out.Targets[i]; a.match() == b.match() {
			return Desired{}, fmt.Errorf("loopguard: targets %s and %s select the same packets", a, b)
		}
	}
	return out, nil
}

// Equal reports whether two normalized Desired values are the same.
func (d Desired) Equal(o Desired) bool {
	return slices.EqualFunc(d.Peers, o.Peers, func(a, b net.HardwareAddr) bool { return bytes.Equal(a, b) }) &&
		slices.Equal(d.Targets, o.Targets)
}

// String renders d on one line for logs.
func (d Desired) String() string {
	var b strings.Builder
	b.WriteString("peers=[")
	b.WriteString(FormatMACs(d.Peers))
	b.WriteString("] targets=[")
	for i, t := range d.Targets {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(t.String())
	}
	b.WriteString("]")
	return b.String()
}

// Skipped is a service of the table that could have needed a rule but
// cannot get one, with the reason (for a log line or the status page).
type Skipped struct {
	Service lvs.ServiceKey
	Reason  string
}

// TargetsFor derives this node's targets from the desired IPVS table and
// the node's own addresses: every address-keyed service with a DR
// destination whose address is one of self (whatever its weight: a
// draining destination still receives its established connections)
// yields one target VIP:port → that address:port. It is pure and
// deterministic; the result is sorted like Desired.Normalize sorts.
//
// Services it cannot guard are returned in skipped: fwmark services (the
// virtual address and port are not in the key; use address-keyed
// services for active-active), and services with several local DR
// destinations (the lowest address is used). NAT and TUN destinations
// need no guard (a NAT packet is addressed to the real server already; a
// TUN packet arrives encapsulated) and are ignored.
func TargetsFor(t lvs.Table, self []netip.Addr) (targets []Target, skipped []Skipped) {
	local := map[netip.Addr]bool{}
	for _, a := range self {
		if a.IsValid() {
			local[a.Unmap()] = true
		}
	}
	for _, s := range t.Normalize().Services {
		var mine []lvs.Destination
		for _, d := range s.Destinations {
			if d.Method == lvs.DR && local[d.Addr.Unmap()] {
				mine = append(mine, d)
			}
		}
		if len(mine) == 0 {
			continue
		}
		if s.Key.IsFWMark() {
			skipped = append(skipped, Skipped{s.Key, "fwmark service: its virtual address and port are not known; peers' forwarded packets would be balanced again"})
			continue
		}
		slices.SortFunc(mine, func(a, b lvs.Destination) int { return a.Addr.Compare(b.Addr) })
		if len(mine) > 1 {
			skipped = append(skipped, Skipped{s.Key, fmt.Sprintf("%d local DR destinations: serving on %s only", len(mine), mine[0].Addr)})
		}
		tg := Target{Protocol: s.Key.Protocol, VIP: s.Key.Addr.Unmap(), Port: s.Key.Port, Local: mine[0].Addr.Unmap(), LocalPort: s.Key.Port}
		if err := tg.check(); err != nil {
			skipped = append(skipped, Skipped{s.Key, err.Error()})
			continue
		}
		targets = append(targets, tg)
	}
	slices.SortFunc(targets, compareTargets)
	targets = slices.Compact(targets)
	// Two services cannot share a match (the table keys are unique), but
	// keep the invariant Normalize checks explicit.
	out := targets[:0]
	for i, tg := range targets {
		if i > 0 && targets[i-1].match() == tg.match() {
			skipped = append(skipped, Skipped{lvs.ServiceKey{Family: tg.Family(), Protocol: tg.Protocol, Addr: tg.VIP, Port: tg.Port}, "duplicate target"})
			continue
		}
		out = append(out, tg)
	}
	return out, skipped
}

// DesiredFor is the whole derivation an agent needs, pure: the targets
// from its desired IPVS table and its own addresses (TargetsFor), and the
// peers from what the cluster's members published (PeerMACs: published is
// node name → MAC strings, selfName is this node's name, own its own
// MACs). Services that cannot be guarded come back in skipped; MAC
// strings that do not parse are skipped and reported in err, which never
// makes the result unusable: hand the Desired to Guard.Set and log err.
func DesiredFor(table lvs.Table, self []netip.Addr, published map[string][]string, selfName string, own []net.HardwareAddr) (d Desired, skipped []Skipped, err error) {
	d.Targets, skipped = TargetsFor(table, self)
	d.Peers, err = PeerMACs(published, selfName, own)
	return d, skipped, err
}

// ruleComment is the comment stored with a target's rule, visible in
// `nft list ruleset`: "q1 aa TCP 203.0.113.10:3128 203.0.113.11:3128".
func ruleComment(t Target) string {
	return "q1 aa " + t.Protocol.String() + " " + netip.AddrPortFrom(t.VIP, t.Port).String() + " " +
		netip.AddrPortFrom(t.Local, t.LocalPort).String()
}

// parseRuleComment is the inverse of ruleComment. The comment is read from
// the kernel and may have been written by anyone: every malformed input
// is an error, never a panic.
func parseRuleComment(s string) (Target, error) {
	f := strings.Fields(s)
	if len(f) != 5 || f[0] != "q1" || f[1] != "aa" || strings.Join(f, " ") != s {
		return Target{}, fmt.Errorf("loopguard: rule comment %q: not a loopguard rule", s)
	}
	var t Target
	switch f[2] {
	case "TCP":
		t.Protocol = lvs.TCP
	case "UDP":
		t.Protocol = lvs.UDP
	case "SCTP":
		t.Protocol = lvs.SCTP
	default:
		return Target{}, fmt.Errorf("loopguard: rule comment %q: unknown protocol %s", s, strconv.Quote(f[2]))
	}
	vip, err := netip.ParseAddrPort(f[3])
	if err != nil {
		return Target{}, fmt.Errorf("loopguard: rule comment %q: virtual address: %w", s, err)
	}
	loc, err := netip.ParseAddrPort(f[4])
	if err != nil {
		return Target{}, fmt.Errorf("loopguard: rule comment %q: local address: %w", s, err)
	}
	t.VIP, t.Port, t.Local, t.LocalPort = vip.Addr(), vip.Port(), loc.Addr(), loc.Port()
	if err := t.check(); err != nil {
		return Target{}, err
	}
	if ruleComment(t) != s {
		return Target{}, fmt.Errorf("loopguard: rule comment %q: not in canonical form", s)
	}
	return t, nil
}
