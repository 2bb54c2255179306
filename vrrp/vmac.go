package vrrp

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"unicode"
)

// VMACConfig is keepalived's use_vmac (a macvlan carrying the VRRP
// virtual MAC) or use_ipvlan (an L2 ipvlan, which has no MAC of its own)
// on the instance's interface.
//
// The link is created when the instance starts (or found, when a previous
// run left it), the instance's VIPs without a "dev" go on it, and adverts
// are sent and received on it unless XmitBase (or unicast peers, which
// keepalived forces to the base). It is deleted when the instance stops
// and when a reload removes the instance or changes its VMAC.
type VMACConfig struct {
	// IPVLAN selects use_ipvlan instead of use_vmac.
	IPVLAN bool `json:",omitempty"`
	// Name is the interface name; "" is keepalived's "vrrp.VRID" (another
	// free name when that one is taken by another instance).
	Name string `json:",omitempty"`
	// MAC replaces the RFC 5798 address 00:00:5e:00:01:VRID
	// (00:00:5e:00:02:VRID for IPv6); macvlan only.
	MAC net.HardwareAddr `json:",omitempty"`
	// XmitBase is vmac_xmit_base: adverts go through the base interface
	// (with its MAC); the VIPs stay on the VMAC.
	XmitBase bool `json:",omitempty"`
	// IPVLANAddr is the address use_ipvlan puts on the ipvlan interface;
	// adverts are sent from it unless a source is configured.
	IPVLANAddr netip.Prefix `json:",omitzero"`
	// IPVLANMode is the ipvlan flag: "bridge" (default), "private" or
	// "vepa"; the ipvlan mode itself is always L2, as in keepalived.
	IPVLANMode string `json:",omitempty"`
}

// VirtualMAC returns the RFC 5798 §7.3 virtual router MAC address:
// 00-00-5E-00-01-{VRID} for IPv4, 00-00-5E-00-02-{VRID} for IPv6.
func VirtualMAC(vrid int, ipv6 bool) net.HardwareAddr {
	fam := byte(1)
	if ipv6 {
		fam = 2
	}
	return net.HardwareAddr{0, 0, 0x5e, 0, fam, byte(vrid)}
}

// vmacAddr is the MAC the instance's macvlan carries.
func (c InstanceConfig) vmacAddr() net.HardwareAddr {
	if c.VMAC != nil && len(c.VMAC.MAC) == 6 {
		return c.VMAC.MAC
	}
	return VirtualMAC(c.VRID, c.isV6())
}

// xmitBase reports whether adverts use the base interface: vmac_xmit_base,
// or unicast peers (keepalived sets vmac_xmit_base for them).
func (c InstanceConfig) xmitBase() bool {
	return c.VMAC != nil && (c.VMAC.XmitBase || c.Unicast())
}

// ioInterface is the interface adverts are sent and received on.
func (c InstanceConfig) ioInterface() string {
	if c.VMAC != nil && !c.xmitBase() {
		return c.VMAC.Name
	}
	return c.Interface
}

// vipInterface is where a VIP without "dev" goes: the VMAC when there is
// one (keepalived puts the excluded VIPs of the other family there too).
func (c InstanceConfig) vipInterface() string {
	if c.VMAC != nil {
		return c.VMAC.Name
	}
	return c.Interface
}

// vmacLinkSame reports whether two instance configurations describe the
// same VMAC link (a reload keeps it).
func vmacLinkSame(a, b InstanceConfig) bool {
	if (a.VMAC == nil) != (b.VMAC == nil) {
		return false
	}
	if a.VMAC == nil {
		return true
	}
	x, y := *a.VMAC, *b.VMAC
	return x.IPVLAN == y.IPVLAN && x.Name == y.Name && a.vmacAddr().String() == b.vmacAddr().String() &&
		x.IPVLANAddr == y.IPVLANAddr && ipvlanMode(x.IPVLANMode) == ipvlanMode(y.IPVLANMode)
}

func ipvlanMode(s string) string {
	if s == "" {
		return "bridge"
	}
	return strings.ToLower(s)
}

// ValidIfName reports whether the kernel accepts s as an interface name
// (net/core/dev.c dev_valid_name): 1..15 bytes, not "." or "..", no '/',
// ':' or white space.
func ValidIfName(s string) bool {
	if s == "" || len(s) >= 16 || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		if r == '/' || r == ':' || unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

// vmacProblems lists what is wrong with the instance's VMAC settings.
func (c InstanceConfig) vmacProblems() []string {
	v := c.VMAC
	if v == nil {
		return nil
	}
	kw := "use_vmac"
	if v.IPVLAN {
		kw = "use_ipvlan"
	}
	var out []string
	if v.Name != "" && !ValidIfName(v.Name) {
		out = append(out, fmt.Sprintf("%s: %q is not a valid interface name", kw, v.Name))
	}
	if v.Name != "" && v.Name == c.Interface {
		out = append(out, fmt.Sprintf("%s: the VMAC cannot be the instance's interface %s", kw, v.Name))
	}
	if len(v.MAC) != 0 {
		switch {
		case v.IPVLAN:
			out = append(out, "use_ipvlan: an ipvlan has no MAC address of its own")
		case len(v.MAC) != 6:
			out = append(out, fmt.Sprintf("use_vmac: MAC %v is not an Ethernet address", v.MAC))
		case v.MAC[0]&1 != 0:
			out = append(out, fmt.Sprintf("use_vmac: MAC %v is a multicast address", v.MAC))
		}
	}
	if v.IPVLANAddr.IsValid() {
		if !v.IPVLAN {
			out = append(out, "use_vmac: an address is only for use_ipvlan")
		} else if v.IPVLANAddr.Addr().Is6() != c.isV6() {
			out = append(out, fmt.Sprintf("use_ipvlan: address %v is not of the instance's family", v.IPVLANAddr))
		}
	}
	switch ipvlanMode(v.IPVLANMode) {
	case "bridge", "private", "vepa":
		if v.IPVLANMode != "" && !v.IPVLAN {
			out = append(out, "use_vmac: the mode is only for use_ipvlan")
		}
	default:
		out = append(out, fmt.Sprintf("use_ipvlan: mode %q, want bridge, private or vepa", v.IPVLANMode))
	}
	return out
}

// resolveVMACNames gives every VMAC without a name keepalived's default
// (vrrp.VRID; when another instance already has that name vrrp6.VRID for
// IPv6, then vrrp1.VRID, vrrp2.VRID, ...). Explicit names are taken
// first. The instances are copied, never modified in place.
func resolveVMACNames(insts []InstanceConfig) []InstanceConfig {
	out := make([]InstanceConfig, len(insts))
	copy(out, insts)
	used := map[string]bool{}
	for _, ic := range out {
		if ic.VMAC != nil && ic.VMAC.Name != "" {
			used[ic.VMAC.Name] = true
		}
	}
	for i, ic := range out {
		if ic.VMAC == nil || ic.VMAC.Name != "" {
			continue
		}
		v := *ic.VMAC
		name := fmt.Sprintf("vrrp.%d", ic.VRID)
		for num := 0; used[name]; {
			switch {
			case ic.isV6() && num == 0:
				num = 6
			case ic.isV6() && num == 6:
				num = 1
			default:
				num++
				if ic.isV6() && num == 6 {
					num++
				}
			}
			name = fmt.Sprintf("vrrp%d.%d", num, ic.VRID)
		}
		used[name] = true
		v.Name = name
		out[i].VMAC = &v
	}
	return out
}

// vmacConflicts reports VMAC names used twice and VMAC names that are
// another instance's interface.
func vmacConflicts(insts []InstanceConfig) []error {
	var errs []error
	byName := map[string]string{}
	ifaces := map[string]string{}
	for _, ic := range insts {
		ifaces[ic.Interface] = ic.Name
	}
	for _, ic := range resolveVMACNames(insts) {
		if ic.VMAC == nil {
			continue
		}
		if other, dup := byName[ic.VMAC.Name]; dup {
			errs = append(errs, fmt.Errorf("vrrp_instance %s: VMAC interface %s is already used by %s", ic.Name, ic.VMAC.Name, other))
		}
		byName[ic.VMAC.Name] = ic.Name
		if other, ok := ifaces[ic.VMAC.Name]; ok && other != ic.Name {
			errs = append(errs, fmt.Errorf("vrrp_instance %s: VMAC interface %s is the interface of %s", ic.Name, ic.VMAC.Name, other))
		}
	}
	return errs
}
