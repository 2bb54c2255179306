package loopguard

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
)

// maxMACs bounds what ParseMACs accepts (a node has a handful of
// interfaces; gossip metadata is small).
const maxMACs = 64

// FormatMACs renders MAC addresses as a comma-separated list of
// lowercase colon-separated Ethernet addresses, the form ParseMACs reads
// (for a node's gossip metadata).
func FormatMACs(macs []net.HardwareAddr) string {
	s := make([]string, len(macs))
	for i, m := range macs {
		s[i] = m.String()
	}
	return strings.Join(s, ",")
}

// ParseMACs parses the list FormatMACs writes (for logs, and a
// configuration keyword listing extra peers such as a keepalived
// director): comma-separated unicast 6-byte Ethernet addresses ("02:00:00:00:00:01,02:00:00:00:00:02"),
// sorted and without duplicates in the result. The empty string is an
// empty list. It reads data a peer sent and fails on anything else.
func ParseMACs(s string) ([]net.HardwareAddr, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) > maxMACs {
		return nil, fmt.Errorf("loopguard: %d MAC addresses: at most %d", len(parts), maxMACs)
	}
	var out []net.HardwareAddr
	for _, p := range parts {
		m, err := ParseMAC(p)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b net.HardwareAddr) int { return bytes.Compare(a, b) })
	return slices.CompactFunc(out, func(a, b net.HardwareAddr) bool { return bytes.Equal(a, b) }), nil
}

// LocalMACs returns the MAC addresses of all this network namespace's
// Ethernet interfaces that are up, except loopback (sorted, deduplicated:
// bond slaves and VLANs share their parent's address). Prefer
// InterfaceMACs(LocalAddrs()) for what a node publishes.
func LocalMACs() ([]net.HardwareAddr, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("loopguard: list interfaces: %w", err)
	}
	return macsOf(ifs), nil
}

// InterfaceMACs returns the MAC addresses of the Ethernet interfaces
// (up, not loopback) that carry one of addrs: the interfaces whose MAC
// a peer sees on the frames this node's IPVS forwards to it (a DR real
// server is on-link, so the frames leave through the interface that holds
// this node's address in that subnet). InterfaceMACs(LocalAddrs()) is
// what a node should publish: unlike LocalMACs it leaves out the
// address-less interfaces (container veths, bridge ports), so the list
// stays small enough for gossip metadata.
func InterfaceMACs(addrs []netip.Addr) ([]net.HardwareAddr, error) {
	want := map[netip.Addr]bool{}
	for _, a := range addrs {
		want[a.Unmap()] = true
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("loopguard: list interfaces: %w", err)
	}
	var keep []net.Interface
	for _, i := range ifs {
		as, err := i.Addrs()
		if err != nil {
			return nil, fmt.Errorf("loopguard: addresses of %s: %w", i.Name, err)
		}
		for _, a := range as {
			p, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			if ip, ok := netip.AddrFromSlice(p.IP); ok && want[ip.Unmap()] {
				keep = append(keep, i)
				break
			}
		}
	}
	return macsOf(keep), nil
}

func macsOf(ifs []net.Interface) []net.HardwareAddr {
	var out []net.HardwareAddr
	for _, i := range ifs {
		m := i.HardwareAddr
		if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagLoopback != 0 || len(m) != 6 || m[0]&1 != 0 || bytes.Equal(m, make([]byte, 6)) {
			continue
		}
		out = append(out, slices.Clone(m))
	}
	slices.SortFunc(out, func(a, b net.HardwareAddr) int { return bytes.Compare(a, b) })
	return slices.CompactFunc(out, func(a, b net.HardwareAddr) bool { return bytes.Equal(a, b) })
}

// LocalAddrs returns the unicast addresses configured in this network
// namespace (loopback and link-local excluded): "this node's addresses"
// for TargetsFor.
func LocalAddrs() ([]netip.Addr, error) {
	as, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("loopguard: list addresses: %w", err)
	}
	var out []netip.Addr
	for _, a := range as {
		p, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(p.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsMulticast() || ip.IsUnspecified() {
			continue
		}
		out = append(out, ip)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out), nil
}

// ParseMAC parses one MAC address as a peer published it: a unicast
// 6-byte Ethernet address in colon form ("02:00:00:00:00:0a", either
// case). It reads data a peer sent and fails on anything else.
func ParseMAC(s string) (net.HardwareAddr, error) {
	// net.ParseMAC also takes 20-byte InfiniBand and dotted forms;
	// insist on the colon form of an Ethernet address.
	if len(s) != 17 {
		return nil, fmt.Errorf("loopguard: MAC %q: want xx:xx:xx:xx:xx:xx", s)
	}
	m, err := net.ParseMAC(s)
	if err != nil || len(m) != 6 || strings.ToLower(s) != m.String() {
		return nil, fmt.Errorf("loopguard: MAC %q: want xx:xx:xx:xx:xx:xx", s)
	}
	if m[0]&1 != 0 {
		return nil, fmt.Errorf("loopguard: MAC %s: multicast or broadcast address", m)
	}
	if bytes.Equal(m, make([]byte, 6)) {
		return nil, fmt.Errorf("loopguard: MAC %s: all-zero address", m)
	}
	return m, nil
}

// PeerMACs merges the MAC addresses the other directors published (for
// example cluster.Meta.MACs of every member, keyed by node name) into one
// sorted list, leaving out the node named self and this node's own MACs
// (own): a node must never treat its own frames as a peer's. An address
// that does not parse is skipped and reported in the joined error; the
// result still holds every valid one, so one bad peer cannot disable the
// guard for the others.
func PeerMACs(published map[string][]string, self string, own []net.HardwareAddr) ([]net.HardwareAddr, error) {
	names := make([]string, 0, len(published))
	for n := range published {
		names = append(names, n)
	}
	slices.Sort(names)
	var out []net.HardwareAddr
	var errs []error
	for _, n := range names {
		if n == self {
			continue
		}
		if len(published[n]) > maxMACs {
			errs = append(errs, fmt.Errorf("node %s: %d MAC addresses, at most %d", n, len(published[n]), maxMACs))
			continue
		}
		for _, s := range published[n] {
			m, err := ParseMAC(s)
			if err != nil {
				errs = append(errs, fmt.Errorf("node %s: %w", n, err))
				continue
			}
			if !slices.ContainsFunc(own, func(o net.HardwareAddr) bool { return bytes.Equal(o, m) }) {
				out = append(out, m)
			}
		}
	}
	slices.SortFunc(out, func(a, b net.HardwareAddr) int { return bytes.Compare(a, b) })
	return slices.CompactFunc(out, func(a, b net.HardwareAddr) bool { return bytes.Equal(a, b) }), errors.Join(errs...)
}
