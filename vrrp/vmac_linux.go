package vrrp

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The VMAC links of a node and the sysctls they need, as keepalived
// (vrrp_vmac.c, vrrp_if_config.c) sets them:
//
//	macvlan (IPv4 instance)  arp_ignore=1 accept_local=1 rp_filter=0 promote_secondaries=1
//	macvlan (IPv6 instance)  arp_ignore=1
//	base (IPv4 instance)     arp_ignore=1 arp_filter=1 (and arp_announce=2, see
//	                         baseSettings), restored when its last VMAC goes
//	all.rp_filter            if not 0: default.rp_filter and every interface's rp_filter
//	                         raised to it, then all.rp_filter=0 (the effective value is
//	                         the maximum of all and the interface's); restored at shutdown
//	                         where nobody changed them since
//
// IPv6 is disabled on the VMAC of an IPv4 instance (unless it carries
// IPv6 excluded VIPs) and the VMAC generates no link-local address of its
// own (IFLA_INET6_ADDR_GEN_MODE none): an IPv6 instance adds the base
// interface's link-local address to it, so adverts leave from the usual
// address with the virtual MAC.
type vmacState struct {
	// links are the VMACs this node created or adopted: name → base.
	links map[string]string
	// base holds the arp settings saved per base interface.
	base map[string]*baseSaved
	// rp is set once all.rp_filter has been cleared.
	rp *rpSaved
}

type baseSaved struct {
	refs  int
	saved map[string]int // parameter → value before (only those changed)
}

// baseSettings are set on the base interface of an IPv4 VMAC. keepalived
// sets arp_ignore and arp_filter; quadrature also sets arp_announce=2:
// without it a reply from the VIP that the kernel routes out of the base
// makes the base ask ARP with the VIP as sender address and its own MAC,
// and the neighbours learn the VIP at the base's MAC instead of the
// virtual one.
var baseSettings = []struct {
	param string
	val   int
}{{"arp_ignore", 1}, {"arp_filter", 1}, {"arp_announce", 2}}

type rpSaved struct {
	all, def int            // def -1 = left alone
	ifaces   map[string]int // interface → rp_filter before
}

func (r *runtimeIO) vmacs() *vmacState {
	if r.vm.links == nil {
		r.vm.links = map[string]string{}
		r.vm.base = map[string]*baseSaved{}
	}
	return &r.vm
}

// sysctl reads an integer under /proc/sys in the node's namespace.
func (r *runtimeIO) sysctl(path string) (int, error) {
	var v int
	err := r.ns.do(func() error {
		b, err := os.ReadFile("/proc/sys/" + path)
		if err != nil {
			return err
		}
		v, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err
	})
	return v, err
}

func (r *runtimeIO) setSysctl(path string, v int) error {
	return r.ns.do(func() error {
		return os.WriteFile("/proc/sys/"+path, []byte(strconv.Itoa(v)), 0o644)
	})
}

func confPath(fam, ifname, param string) string {
	return "net/" + fam + "/conf/" + ifname + "/" + param
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV)
}

// vmacMatches reports whether an existing link is the VMAC c wants.
func vmacMatches(c InstanceConfig, base, l netlink.Link) bool {
	if l.Attrs().ParentIndex != base.Attrs().Index {
		return false
	}
	if c.VMAC.IPVLAN {
		iv, ok := l.(*netlink.IPVlan)
		return ok && iv.Mode == netlink.IPVLAN_MODE_L2 && iv.Flag == ipvlanFlag(c.VMAC.IPVLANMode)
	}
	mv, ok := l.(*netlink.Macvlan)
	return ok && mv.Mode == netlink.MACVLAN_MODE_PRIVATE && bytes.Equal(mv.HardwareAddr, c.vmacAddr())
}

func ipvlanFlag(mode string) netlink.IPVlanFlag {
	switch ipvlanMode(mode) {
	case "private":
		return netlink.IPVLAN_FLAG_PRIVATE
	case "vepa":
		return netlink.IPVLAN_FLAG_VEPA
	}
	return netlink.IPVLAN_FLAG_BRIDGE
}

func isVLANKind(l netlink.Link) bool {
	t := l.Type()
	return t == "macvlan" || t == "ipvlan"
}

// ensureVMAC creates (or adopts, or repairs) the instance's VMAC link,
// sets its sysctls and brings it up. It is cheap when the link is already
// there as wanted.
func (r *runtimeIO) ensureVMAC(c InstanceConfig) error {
	v := c.VMAC
	vs := r.vmacs()
	base, err := r.h.LinkByName(c.Interface)
	if err != nil {
		return fmt.Errorf("interface %s: %w", c.Interface, err)
	}
	l, err := r.h.LinkByName(v.Name)
	switch {
	case err == nil && vmacMatches(c, base, l):
		if _, mine := vs.links[v.Name]; mine && l.Attrs().Flags&net.FlagUp != 0 {
			return nil
		}
	case err == nil && isVLANKind(l):
		r.log.Info("vrrp: replacing VMAC interface with the wrong parent, MAC or mode", "instance", c.Name, "interface", v.Name)
		if err := r.h.LinkDel(l); err != nil {
			return fmt.Errorf("remove old VMAC %s: %w", v.Name, err)
		}
		l = nil
	case err == nil:
		return fmt.Errorf("VMAC: interface %s exists and is not a %s", v.Name, map[bool]string{false: "macvlan", true: "ipvlan"}[v.IPVLAN])
	case isNotFound(err):
		l = nil
	default:
		return fmt.Errorf("VMAC %s: %w", v.Name, err)
	}
	created := l == nil
	if created {
		la := netlink.NewLinkAttrs()
		la.Name = v.Name
		la.ParentIndex = base.Attrs().Index
		la.Group = base.Attrs().Group // firewall rules on the group keep matching
		var nl netlink.Link
		if v.IPVLAN {
			nl = &netlink.IPVlan{LinkAttrs: la, Mode: netlink.IPVLAN_MODE_L2, Flag: ipvlanFlag(v.IPVLANMode)}
		} else {
			la.HardwareAddr = c.vmacAddr()
			nl = &netlink.Macvlan{LinkAttrs: la, Mode: netlink.MACVLAN_MODE_PRIVATE}
		}
		if err := r.h.LinkAdd(nl); err != nil {
			return fmt.Errorf("create VMAC %s on %s: %w", v.Name, c.Interface, err)
		}
		if l, err = r.h.LinkByName(v.Name); err != nil {
			return fmt.Errorf("VMAC %s: %w", v.Name, err)
		}
		r.log.Info("vrrp: VMAC interface created", "instance", c.Name, "interface", v.Name, "base", c.Interface,
			"kind", l.Type(), "mac", l.Attrs().HardwareAddr.String())
	}
	_, registered := vs.links[v.Name]
	if created || !registered {
		if err := r.configureVMAC(c, l); err != nil {
			return err
		}
	}
	if !registered {
		vs.links[v.Name] = c.Interface
		if !v.IPVLAN && !c.isV6() {
			if err := r.holdBase(c.Interface); err != nil {
				r.log.Warn("vrrp: VMAC base interface settings", "interface", c.Interface, "err", err)
			}
		}
	}
	if err := r.h.LinkSetUp(l); err != nil {
		return fmt.Errorf("set VMAC %s up: %w", v.Name, err)
	}
	if v.IPVLAN && v.IPVLANAddr.IsValid() {
		if err := addVIP(r.h, l, VIP{Prefix: v.IPVLANAddr, NoDAD: true}); err != nil {
			return fmt.Errorf("use_ipvlan: %w", err)
		}
	}
	return nil
}

// configureVMAC sets a new (or adopted) VMAC's sysctls, before it is up.
func (r *runtimeIO) configureVMAC(c InstanceConfig, l netlink.Link) error {
	name := l.Attrs().Name
	v6Wanted := c.isV6()
	for _, e := range c.ExcludedVIPs {
		if e.Prefix.Addr().Is6() && (e.Dev == "" || e.Dev == name) {
			v6Wanted = true
		}
	}
	disable := 1
	if v6Wanted {
		disable = 0
	}
	var errs []error
	if err := r.setSysctl(confPath("ipv6", name, "disable_ipv6"), disable); err != nil && v6Wanted {
		errs = append(errs, err)
	}
	if v6Wanted {
		// No EUI-64 link-local of the virtual MAC (RFC 5798 §7.4).
		if err := r.h.LinkSetIP6AddrGenMode(l, 1 /* IN6_ADDR_GEN_MODE_NONE */); err != nil {
			errs = append(errs, fmt.Errorf("addr_gen_mode none on %s: %w", name, err))
		}
	}
	if c.VMAC.IPVLAN {
		return errors.Join(errs...)
	}
	type setting struct {
		param string
		val   int
	}
	set := []setting{{"arp_ignore", 1}}
	if !c.isV6() {
		if err := r.clearAllRPFilter(); err != nil {
			errs = append(errs, err)
		}
		set = append(set, setting{"accept_local", 1}, setting{"rp_filter", 0}, setting{"promote_secondaries", 1})
	}
	for _, s := range set {
		if err := r.setSysctl(confPath("ipv4", name, s.param), s.val); err != nil {
			errs = append(errs, fmt.Errorf("VMAC %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// holdBase sets arp_ignore=1 and arp_filter=1 on a base interface for
// its first VMAC, saving what was there.
func (r *runtimeIO) holdBase(base string) error {
	vs := r.vmacs()
	if b := vs.base[base]; b != nil {
		b.refs++
		return nil
	}
	b := &baseSaved{refs: 1, saved: map[string]int{}}
	vs.base[base] = b
	var errs []error
	for _, p := range baseSettings {
		cur, err := r.sysctl(confPath("ipv4", base, p.param))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if cur != p.val {
			if err := r.setSysctl(confPath("ipv4", base, p.param), p.val); err != nil {
				errs = append(errs, err)
				continue
			}
			b.saved[p.param] = cur
		}
	}
	return errors.Join(errs...)
}

// releaseBase restores a base interface's arp settings when its last
// VMAC goes.
func (r *runtimeIO) releaseBase(base string) error {
	vs := r.vmacs()
	b := vs.base[base]
	if b == nil {
		return nil
	}
	if b.refs--; b.refs > 0 {
		return nil
	}
	delete(vs.base, base)
	var errs []error
	for param, v := range b.saved {
		errs = append(errs, r.setSysctl(confPath("ipv4", base, param), v))
	}
	if err := errors.Join(errs...); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// clearAllRPFilter lets a VMAC's rp_filter=0 take effect: the kernel uses
// the larger of all.rp_filter and the interface's. Like keepalived it
// raises default.rp_filter and every interface's rp_filter to the value
// of all.rp_filter, then sets all.rp_filter to 0, so no other interface
// changes behaviour. Once per node run.
func (r *runtimeIO) clearAllRPFilter() error {
	vs := r.vmacs()
	if vs.rp != nil {
		return nil
	}
	all, err := r.sysctl("net/ipv4/conf/all/rp_filter")
	if err != nil {
		return err
	}
	if all == 0 {
		return nil
	}
	rp := &rpSaved{all: all, def: -1, ifaces: map[string]int{}}
	vs.rp = rp
	if def, err := r.sysctl("net/ipv4/conf/default/rp_filter"); err == nil && def < all {
		if err := r.setSysctl("net/ipv4/conf/default/rp_filter", all); err == nil {
			rp.def = def
		}
	}
	links, err := r.h.LinkList()
	if err != nil {
		return err
	}
	for _, l := range links {
		name := l.Attrs().Name
		cur, err := r.sysctl(confPath("ipv4", name, "rp_filter"))
		if err != nil || cur >= all {
			continue
		}
		if err := r.setSysctl(confPath("ipv4", name, "rp_filter"), all); err == nil {
			rp.ifaces[name] = cur
		}
	}
	r.log.Info("vrrp: VMAC needs rp_filter 0: net.ipv4.conf.all.rp_filter set from its value to 0, "+
		"the interfaces' rp_filter raised to it (restored at shutdown)", "all.rp_filter", all)
	return r.setSysctl("net/ipv4/conf/all/rp_filter", 0)
}

// restoreRPFilter undoes clearAllRPFilter where nobody changed the
// values since.
func (r *runtimeIO) restoreRPFilter() {
	vs := r.vmacs()
	rp := vs.rp
	if rp == nil {
		return
	}
	vs.rp = nil
	if cur, err := r.sysctl("net/ipv4/conf/all/rp_filter"); err == nil && cur == 0 {
		_ = r.setSysctl("net/ipv4/conf/all/rp_filter", rp.all)
	}
	if rp.def >= 0 {
		if cur, err := r.sysctl("net/ipv4/conf/default/rp_filter"); err == nil && cur == rp.all {
			_ = r.setSysctl("net/ipv4/conf/default/rp_filter", rp.def)
		}
	}
	for name, old := range rp.ifaces {
		if cur, err := r.sysctl(confPath("ipv4", name, "rp_filter")); err == nil && cur == rp.all {
			_ = r.setSysctl(confPath("ipv4", name, "rp_filter"), old)
		}
	}
}

// removeVMAC deletes the instance's VMAC link (if this node made or
// adopted it) and releases its base interface's settings.
func (r *runtimeIO) removeVMAC(c InstanceConfig) error {
	vs := r.vmacs()
	name := c.VMAC.Name
	base, ok := vs.links[name]
	if !ok {
		return nil
	}
	delete(vs.links, name)
	var errs []error
	if l, err := r.h.LinkByName(name); err == nil && isVLANKind(l) {
		if err := r.h.LinkDel(l); err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("delete VMAC %s: %w", name, err))
		} else {
			r.log.Info("vrrp: VMAC interface deleted", "instance", c.Name, "interface", name)
		}
	}
	if !c.VMAC.IPVLAN && !c.isV6() {
		if err := r.releaseBase(base); err != nil {
			errs = append(errs, fmt.Errorf("restore arp settings of %s: %w", base, err))
		}
	}
	return errors.Join(errs...)
}

// vmacLinkLocal gives an IPv6 instance's VMAC the address adverts leave
// from (keepalived: the base interface's link-local address), so the
// kernel sends them on the VMAC with the virtual MAC.
func (r *runtimeIO) vmacLinkLocal(c InstanceConfig, self netip.Addr) error {
	l, err := r.h.LinkByName(c.VMAC.Name)
	if err != nil {
		return err
	}
	return addVIP(r.h, l, VIP{Prefix: netip.PrefixFrom(self, 64), NoDAD: true, Scope: "link"})
}

// vmacLinkEvent re-creates an instance's VMAC deleted behind its back
// (keepalived does the same), with the VIPs when the instance is master.
func (n *Node) vmacLinkEvent(name string, up bool) {
	if up {
		return
	}
	for _, iname := range n.order {
		inst := n.insts[iname]
		if inst.closed || inst.cfg.VMAC == nil || inst.cfg.VMAC.Name != name {
			continue
		}
		if _, err := n.rt.h.LinkByName(name); err == nil || !isNotFound(err) {
			continue // down with its base: link tracking decides
		}
		n.log.Warn("vrrp: VMAC interface deleted; re-creating it", "instance", inst.cfg.Name, "interface", name)
		n.setupIO(inst)
		if inst.io != nil && inst.m.State() == StateMaster {
			for _, err := range n.rt.addVIPs(inst.cfg) {
				n.log.Error("add virtual address", "instance", inst.cfg.Name, "err", err)
			}
			n.rt.gratuitous(inst.cfg, inst.cfg.GARP.MasterRepeat, n.log)
		}
		n.evaluate(inst)
	}
}
