package vrrp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// parseScope maps keepalived's scope names to rtnetlink scopes.
func parseScope(s string) (netlink.Scope, error) {
	switch strings.ToLower(s) {
	case "", "global", "universe":
		return netlink.SCOPE_UNIVERSE, nil
	case "site":
		return netlink.SCOPE_SITE, nil
	case "link":
		return netlink.SCOPE_LINK, nil
	case "host":
		return netlink.SCOPE_HOST, nil
	case "nowhere":
		return netlink.SCOPE_NOWHERE, nil
	}
	return 0, fmt.Errorf("unknown scope %q", s)
}

func vipAddr(v VIP) (*netlink.Addr, error) {
	scope, err := parseScope(v.Scope)
	if err != nil {
		return nil, err
	}
	p := v.Prefix
	a := &netlink.Addr{
		IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())},
		Label: v.Label,
		Scope: int(scope),
	}
	if p.Addr().Is6() && v.NoDAD {
		a.Flags |= unix.IFA_F_NODAD
	}
	if v.Broadcast.IsValid() {
		a.Broadcast = v.Broadcast.AsSlice()
	}
	if v.Peer.IsValid() {
		a.Peer = &net.IPNet{IP: v.Peer.Addr().AsSlice(), Mask: net.CIDRMask(v.Peer.Bits(), v.Peer.Addr().BitLen())}
	}
	for _, f := range []struct {
		on   bool
		flag int
	}{{v.NoPrefixRoute, unix.IFA_F_NOPREFIXROUTE}, {v.Home, unix.IFA_F_HOMEADDRESS}, {v.MngTmpAddr, unix.IFA_F_MANAGETEMPADDR}, {v.AutoJoin, unix.IFA_F_MCAUTOJOIN}} {
		if f.on {
			a.Flags |= f.flag
		}
	}
	return a, nil
}

// addVIP adds (or refreshes) one address; an existing identical address
// is not an error.
func addVIP(h *netlink.Handle, link netlink.Link, v VIP) error {
	a, err := vipAddr(v)
	if err != nil {
		return err
	}
	if err := h.AddrAdd(link, a); err != nil && !errors.Is(err, os.ErrExist) && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("add %v to %s: %w", v.Prefix, link.Attrs().Name, err)
	}
	return nil
}

// delVIP removes one address; a missing address is not an error.
func delVIP(h *netlink.Handle, link netlink.Link, v VIP) error {
	a, err := vipAddr(v)
	if err != nil {
		return err
	}
	if err := h.AddrDel(link, a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("remove %v from %s: %w", v.Prefix, link.Attrs().Name, err)
	}
	return nil
}

// linkUp reports whether a link is administratively up with carrier.
func linkUp(l netlink.Link) bool {
	a := l.Attrs()
	if a.Flags&net.FlagUp == 0 {
		return false
	}
	if a.RawFlags&unix.IFF_RUNNING == 0 {
		return false
	}
	return a.OperState == netlink.OperUp || a.OperState == netlink.OperUnknown
}

// primaryAddr returns the address adverts are sent from when none is
// configured: the first IPv4 address, or the first IPv6 link-local one.
func primaryAddr(h *netlink.Handle, link netlink.Link, v6 bool, vips []VIP) (netip.Addr, error) {
	fam := netlink.FAMILY_V4
	if v6 {
		fam = netlink.FAMILY_V6
	}
	addrs, err := h.AddrList(link, fam)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("list addresses of %s: %w", link.Attrs().Name, err)
	}
	isVIP := func(a netip.Addr) bool {
		for _, v := range vips {
			if v.Prefix.Addr() == a {
				return true
			}
		}
		return false
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if isVIP(ip) {
			continue
		}
		if v6 && !ip.IsLinkLocalUnicast() {
			continue
		}
		return ip, nil
	}
	return netip.Addr{}, fmt.Errorf("no usable %s address on %s", map[bool]string{false: "IPv4", true: "IPv6 link-local"}[v6], link.Attrs().Name)
}

// forwarding reports whether IPv6 forwarding is on for an interface (the
// Router flag of unsolicited NAs).
func forwarding(ifname string) bool {
	b, err := os.ReadFile("/proc/sys/net/ipv6/conf/" + ifname + "/forwarding")
	return err == nil && strings.TrimSpace(string(b)) == "1"
}
