package config

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// VMAC is use_vmac: the instance's VIPs on a macvlan interface (mode
// private) with the VRRP virtual MAC 00:00:5e:00:01:VRID (IPv6
// 00:00:5e:00:02:VRID), adverts sent from it unless vmac_xmit_base.
type VMAC struct {
	// Name is the interface name; "" = keepalived's vrrp.VRID.
	Name string `json:"name,omitempty"`
	// MAC is the address when not the standard one, canonical form; five
	// octets mean "the VRID is the sixth", as in keepalived.
	MAC string `json:"mac,omitempty"`
	// XmitBase is vmac_xmit_base: adverts go out on the base interface.
	XmitBase bool `json:"vmac_xmit_base,omitempty"`
}

// IPVLAN is use_ipvlan: an L2 ipvlan on the instance's interface instead
// of a macvlan. It has no MAC of its own (the base's is used).
type IPVLAN struct {
	Name string `json:"name,omitempty"`
	// Addr is put on the ipvlan and used as the adverts' source.
	Addr netip.Prefix `json:"address,omitzero"`
	// Mode is "bridge" (default), "private" or "vepa".
	Mode     string `json:"mode,omitempty"`
	XmitBase bool   `json:"vmac_xmit_base,omitempty"`
}

// validIfName is the kernel's dev_valid_name.
func validIfName(s string) bool {
	return s != "" && len(s) < 16 && s != "." && s != ".." && !strings.ContainsAny(s, "/: \t\n\r\v\f")
}

// vmac parses "use_vmac [[name] NAME] [MAC] [netlink_notify_msg] [group G]".
func (d *decoder) vmac(s *Stmt, in *VRRPInstance) {
	v := &VMAC{}
	if in.VMAC != nil {
		d.errorf(s.Pos, "use_vmac given twice")
		return
	}
	args := s.ArgStrings()
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case strings.Contains(a, ":"):
			if v.MAC != "" {
				d.errorf(s.Pos, "use_vmac: MAC address given twice (%s)", a)
				return
			}
			mac, ok := parseVMACAddr(a)
			if !ok {
				d.errorf(s.Pos, "use_vmac: %q is not a MAC address (6 octets, or 5 and the VRID as the sixth)", a)
				return
			}
			if mac[0]&1 != 0 {
				d.errorf(s.Pos, "use_vmac: %s is a multicast address", a)
				return
			}
			if len(mac) >= 5 && mac[0] == 0 && mac[1] == 0 && mac[2] == 0x5e && mac[3] == 0 && (mac[4] == 1 || mac[4] == 2) {
				d.warnf(s.Pos, "use_vmac: %s is an RFC 5798 address; ignored, the standard one for the VRID and family is used (as keepalived does)", a)
				continue
			}
			v.MAC = mac.String()
		case a == "netlink_notify_msg":
			d.warnf(s.Pos, "use_vmac: netlink_notify_msg ignored (a workaround for other programs watching the base interface)")
		case a == "group":
			if i+1 >= len(args) {
				d.errorf(s.Pos, "use_vmac: group needs a value")
				return
			}
			i++
			d.warnf(s.Pos, "use_vmac: group %s ignored: the VMAC takes the base interface's group", args[i])
		default:
			if !d.linkName(s, "use_vmac", args, &i, &v.Name, "is not a valid interface name (1-15 characters, no '/', ':' or spaces)") {
				return
			}
		}
	}
	in.VMAC = v
}

// linkName takes the interface name at args[*i] ("name NAME" or a bare
// NAME) into *name for keyword kw; false after an error (given twice,
// missing, or invalid, which invalid describes).
func (d *decoder) linkName(s *Stmt, kw string, args []string, i *int, name *string, invalid string) bool {
	a := args[*i]
	if a == "name" {
		if *i+1 >= len(args) {
			d.errorf(s.Pos, "%s: name needs a value", kw)
			return false
		}
		*i++
		a = args[*i]
	}
	if *name != "" {
		d.errorf(s.Pos, "%s: interface name given twice (%s and %s)", kw, *name, a)
		return false
	}
	if !validIfName(a) {
		d.errorf(s.Pos, "%s: %q %s", kw, a, invalid)
		return false
	}
	*name = a
	return true
}

// parseVMACAddr parses 6 octets, or 5 (the VRID completes them).
func parseVMACAddr(a string) (net.HardwareAddr, bool) {
	if hw, err := net.ParseMAC(a); err == nil && len(hw) == 6 {
		return hw, true
	}
	parts := strings.Split(strings.TrimSuffix(a, ":"), ":")
	if len(parts) != 5 {
		return nil, false
	}
	hw, err := net.ParseMAC(strings.Join(append(parts, "00"), ":"))
	if err != nil || len(hw) != 6 {
		return nil, false
	}
	return hw[:5], true
}

// ipvlan parses "use_ipvlan [[name] NAME] [ADDRESS[/LEN]] [bridge|private|vepa] [group G]".
func (d *decoder) ipvlan(s *Stmt, in *VRRPInstance) {
	if in.IPVLAN != nil {
		d.errorf(s.Pos, "use_ipvlan given twice")
		return
	}
	v := &IPVLAN{}
	args := s.ArgStrings()
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "bridge" || a == "private" || a == "vepa":
			if v.Mode != "" {
				d.errorf(s.Pos, "use_ipvlan: mode given twice (%s and %s)", v.Mode, a)
				return
			}
			v.Mode = a
		case a == "group":
			if i+1 >= len(args) {
				d.errorf(s.Pos, "use_ipvlan: group needs a value")
				return
			}
			i++
			d.warnf(s.Pos, "use_ipvlan: group %s ignored: the ipvlan takes the base interface's group", args[i])
		default:
			if p, ok := parsePrefixOrAddr(a); ok {
				if v.Addr.IsValid() {
					d.errorf(s.Pos, "use_ipvlan: address given twice (%s)", a)
					return
				}
				v.Addr = p
				continue
			}
			if !d.linkName(s, "use_ipvlan", args, &i, &v.Name, "is neither an address, a mode nor a valid interface name") {
				return
			}
		}
	}
	in.IPVLAN = v
}

// finishVMAC applies vmac_xmit_base and checks the VMAC against the rest
// of the instance (after its family is known).
func (d *decoder) finishVMAC(in *VRRPInstance, xmitBase bool) {
	switch {
	case in.VMAC != nil && in.IPVLAN != nil:
		d.errorf(in.kwPos("use_ipvlan"), "vrrp_instance %s: use_vmac and use_ipvlan exclude each other", in.Name)
		return
	case xmitBase && in.VMAC == nil && in.IPVLAN == nil:
		d.errorf(in.kwPos("vmac_xmit_base"), "vrrp_instance %s: vmac_xmit_base without use_vmac", in.Name)
		return
	}
	var name string
	var xb *bool
	switch {
	case in.VMAC != nil:
		name, xb = in.VMAC.Name, &in.VMAC.XmitBase
	case in.IPVLAN != nil:
		name, xb = in.IPVLAN.Name, &in.IPVLAN.XmitBase
		if a := in.IPVLAN.Addr; a.IsValid() && familyOf(a.Addr()) != in.Family {
			d.errorf(in.kwPos("use_ipvlan"), "vrrp_instance %s: use_ipvlan address %s is not of the instance's family", in.Name, a)
		}
		if !in.IPVLAN.Addr.IsValid() && in.Family == FamilyInet {
			d.warnf(in.kwPos("use_ipvlan"), "vrrp_instance %s: use_ipvlan without an address: adverts leave the ipvlan from the base interface's address (keepalived's man page asks for one with IPv4)", in.Name)
		}
	default:
		return
	}
	*xb = xmitBase
	if name != "" && name == in.Interface {
		d.errorf(in.kwPos("interface"), "vrrp_instance %s: the VMAC interface %s is the instance's interface", in.Name, name)
	}
	if len(in.UnicastPeers) > 0 && !*xb {
		d.warnf(in.kwPos("unicast_peer"), "vrrp_instance %s: unicast with a VMAC needs vmac_xmit_base; set (as keepalived does)", in.Name)
		*xb = true
	}
}

func renderVMAC(w *writer, in *VRRPInstance) {
	xb := false
	if v := in.VMAC; v != nil {
		line := "use_vmac"
		if v.Name != "" {
			line += " " + quote(v.Name)
		}
		if v.MAC != "" {
			line += " " + v.MAC
		}
		w.line("%s", line)
		xb = v.XmitBase
	}
	if v := in.IPVLAN; v != nil {
		line := "use_ipvlan"
		if v.Name != "" {
			line += " " + quote(v.Name)
		}
		if v.Addr.IsValid() {
			line += " " + fmt.Sprint(v.Addr)
		}
		if v.Mode != "" {
			line += " " + v.Mode
		}
		w.line("%s", line)
		xb = v.XmitBase
	}
	if xb {
		w.line("vmac_xmit_base")
	}
}
