package config

import (
	"fmt"
	"net/netip"
	"strings"
)

// validate checks the decoded model as a whole: ranges that depend on other
// values, references between blocks, duplicates and address families.
// Errors and warnings are appended to the decoder's lists.
func (d *decoder) validate() {
	d.validateInstances()
	d.validateSyncGroups()
	d.validateVSGroups()
	d.validateVirtualServers()
	d.validateCluster()
	d.validateBGP()
}

func (d *decoder) validateInstances() {
	c := d.cfg
	names := map[string]Pos{}
	type vridKey struct {
		iface, family string
		vrid          int
	}
	vrids := map[vridKey]*VRRPInstance{}
	for i := range c.Instances {
		in := &c.Instances[i]
		where := "vrrp_instance " + in.Name
		if p, dup := names[in.Name]; dup {
			d.errorf(in.Pos, "duplicate vrrp_instance %s (first at %s)", in.Name, p)
		} else {
			names[in.Name] = in.Pos
		}
		if in.VRID == 0 {
			d.errorf(in.Pos, "%s has no virtual_router_id", where)
		}
		switch {
		case len(in.VIPs) == 0 && in.StrictMode:
			d.errorf(in.Pos, "%s has no virtual_ipaddress: strict mode requires at least one (as keepalived does)", where)
		case in.NoVirtualIPAddress && len(in.VIPs) > 0:
			d.errorf(in.kwPos("no_virtual_ipaddress"), "%s: no_virtual_ipaddress with a virtual_ipaddress block", where)
		case len(in.VIPs) == 0 && !in.NoVirtualIPAddress:
			// keepalived: "No VIP specified; at least one is sensible".
			d.warnf(in.Pos, "%s has no virtual_ipaddress: it runs VRRP (state, notify scripts) but adds no address "+
				"(write no_virtual_ipaddress to say it is on purpose)", where)
		}
		if len(in.VIPs) > 255 {
			d.errorf(in.Pos, "%s has %d VIPs; a VRRP advert carries at most 255", where, len(in.VIPs))
		}
		seen := map[netip.Addr]Pos{}
		for _, list := range [][]VIP{in.VIPs, in.ExcludedVIPs} {
			for _, v := range list {
				if p, dup := seen[v.Prefix.Addr()]; dup {
					// keepalived 2.2.7 accepts it silently (its sample
					// keepalived.conf.vrrp lists one address twice).
					d.warnf(v.Pos, "%s: VIP %s is listed twice (first at %s); adding it again has no effect", where, v.Prefix.Addr(), p)
					continue
				}
				seen[v.Prefix.Addr()] = v.Pos
			}
		}
		if in.VRID != 0 {
			k := vridKey{in.Interface, in.Family, in.VRID}
			if o, dup := vrids[k]; dup && !disjointUnicast(o, in) {
				d.errorf(in.Pos, "%s: virtual_router_id %d on %s (%s) is already used by vrrp_instance %s (%s)",
					where, in.VRID, ifaceName(in.Interface), familyName(in.Family), o.Name, o.Pos)
			} else if !dup {
				vrids[k] = in
			}
		}
		if in.NoPreempt && in.Priority == 255 {
			d.errorf(in.Pos, "%s: nopreempt is incompatible with priority 255 (the address owner always preempts)", where)
		}
		if in.NoPreempt && in.State == "MASTER" {
			d.warnf(in.Pos, "%s: nopreempt only works with state BACKUP", where)
		}
		if in.NoPreempt && in.PreemptDelay > 0 {
			d.warnf(in.Pos, "%s: preempt_delay has no effect with nopreempt", where)
		}
		if in.State == "MASTER" && in.Priority != 255 {
			d.warnf(in.Pos, "%s: state MASTER with priority %d starts as BACKUP and waits for the master-down timer", where, in.Priority)
		}
		if in.Auth != nil && (in.Version != 2 || in.Family != FamilyInet) {
			d.errorf(in.Pos, "%s: authentication is only for VRRPv2 over IPv4", where)
		}
		d.checkInstanceAddrs(in, where)
		if in.StrictMode {
			d.strict(in, where)
		}
	}
}

func ifaceName(s string) string {
	if s == "" {
		return "no interface"
	}
	return s
}

// disjointUnicast reports whether two instances with the same VRID can
// coexist because both are unicast with no peer in common.
func disjointUnicast(a, b *VRRPInstance) bool {
	if len(a.UnicastPeers) == 0 || len(b.UnicastPeers) == 0 {
		return false
	}
	for _, p := range a.UnicastPeers {
		for _, q := range b.UnicastPeers {
			if p.Addr == q.Addr {
				return false
			}
		}
	}
	return true
}

func (d *decoder) checkInstanceAddrs(in *VRRPInstance, where string) {
	fam := func(a netip.Addr, what string) {
		if a.IsValid() && familyOf(a) != in.Family {
			d.errorf(in.Pos, "%s: %s %s is not %s like the instance's VIPs", where, what, a, familyName(in.Family))
		}
	}
	fam(in.UnicastSrcIP, "unicast_src_ip")
	if in.UnicastSrcIP.IsValid() && len(in.UnicastPeers) == 0 {
		d.warnf(in.Pos, "%s: unicast_src_ip without unicast_peer; adverts are multicast", where)
	}
	fam(in.McastSrcIP, "mcast_src_ip")
	for _, p := range in.UnicastPeers {
		fam(p.Addr, "unicast_peer")
		if p.MinTTL > 0 && p.MaxTTL > 0 && p.MinTTL > p.MaxTTL {
			d.errorf(p.Pos, "%s: unicast_peer %s has min_ttl above max_ttl", where, p.Addr)
		}
	}
	if len(in.UnicastPeers) == 0 && in.Interface == "" {
		d.errorf(in.Pos, "%s needs an interface (or unicast peers)", where)
	}
}

// strict reports what vrrp_strict / strict_mode refuses, as keepalived
// 2.2.7 does at parse time (checked with keepalived -t). What keepalived
// resets with a warning instead was done by strictResets; no VIP at all is
// checked with the other VIP checks.
func (d *decoder) strict(in *VRRPInstance, where string) {
	if in.State == "MASTER" && in.Priority != 255 {
		d.errorf(in.kwPos("state"), "%s: strict mode: state MASTER requires priority 255, the address owner (keepalived: \"State MASTER must match being address owner\")", where)
	}
	if in.Family == FamilyInet6 && len(in.VIPs) > 0 && !in.VIPs[0].Prefix.Addr().IsLinkLocalUnicast() {
		d.errorf(in.VIPs[0].Pos, "%s: strict mode: the first IPv6 VIP must be link-local (as keepalived requires)", where)
	}
}

func (d *decoder) validateSyncGroups() {
	c := d.cfg
	member := map[string]string{}
	names := map[string]Pos{}
	for _, g := range c.SyncGroups {
		if p, dup := names[g.Name]; dup {
			d.errorf(g.Pos, "duplicate vrrp_sync_group %s (first at %s)", g.Name, p)
		}
		names[g.Name] = g.Pos
		if len(g.Group) == 0 {
			d.errorf(g.Pos, "vrrp_sync_group %s has no group members", g.Name)
		}
		for _, m := range g.Group {
			if !c.hasInstance(m) {
				d.errorf(g.Pos, "vrrp_sync_group %s: no vrrp_instance named %q", g.Name, m)
				continue
			}
			if o, dup := member[m]; dup {
				d.errorf(g.Pos, "vrrp_sync_group %s: vrrp_instance %s is already in vrrp_sync_group %s", g.Name, m, o)
				continue
			}
			member[m] = g.Name
		}
		if len(g.Group) == 1 {
			d.warnf(g.Pos, "vrrp_sync_group %s has only one member", g.Name)
		}
	}
}

func (c *Config) hasInstance(name string) bool {
	for _, in := range c.Instances {
		if in.Name == name {
			return true
		}
	}
	return false
}

func (d *decoder) validateVSGroups() {
	names := map[string]Pos{}
	for _, g := range d.cfg.VSGroups {
		if p, dup := names[g.Name]; dup {
			d.errorf(g.Pos, "duplicate virtual_server_group %s (first at %s)", g.Name, p)
		}
		names[g.Name] = g.Pos
		if len(g.Entries) == 0 {
			d.errorf(g.Pos, "virtual_server_group %s is empty", g.Name)
			continue
		}
		fam := g.Entries[0].Family
		for _, e := range g.Entries {
			if e.Family != fam {
				d.errorf(e.Pos, "virtual_server_group %s mixes inet and inet6 entries", g.Name)
				break
			}
		}
	}
}

// vsKeyString names a virtual server the way keepalived logs it.
func (vs *VirtualServer) Ident() string {
	switch {
	case vs.Group != "":
		return "group " + vs.Group
	case vs.Fwmark != 0:
		return fmt.Sprintf("fwmark %d", vs.Fwmark)
	default:
		return fmt.Sprintf("%s %d", vs.Addr, vs.Port)
	}
}

func (d *decoder) validateVirtualServers() {
	c := d.cfg
	seen := map[string]Pos{}
	for i := range c.VirtualServers {
		vs := &c.VirtualServers[i]
		where := "virtual_server " + vs.Ident()
		key := vs.Ident() + "/" + vs.Protocol + "/" + vs.Family
		if p, dup := seen[key]; dup {
			d.errorf(vs.Pos, "duplicate %s %s (first at %s)", where, vs.Protocol, p)
		}
		seen[key] = vs.Pos
		if vs.Group != "" && !c.hasVSGroup(vs.Group) {
			d.errorf(vs.Pos, "%s: no virtual_server_group named %q", where, vs.Group)
		}
		if vs.Addr.IsValid() && vs.Port == 0 && vs.PersistenceTimeout == 0 {
			d.errorf(vs.Pos, "%s: port 0 (all ports) needs persistence_timeout", where)
		}
		if vs.Hysteresis >= vs.Quorum {
			d.errorf(vs.Pos, "%s: hysteresis %d must be below quorum %d", where, vs.Hysteresis, vs.Quorum)
		}
		if ss := vs.SorryServer; ss != nil && vs.Fwmark == 0 && familyOf(ss.Addr) != vs.Family {
			d.errorf(vs.Pos, "%s: sorry_server %s is not %s", where, ss.Addr, familyName(vs.Family))
		}
		if len(vs.RealServers) == 0 && vs.SorryServer == nil {
			d.warnf(vs.Pos, "%s has no real servers", where)
		}
		total := 0
		rsSeen := map[netip.AddrPort]Pos{}
		for j := range vs.RealServers {
			rs := &vs.RealServers[j]
			total += rs.Weight
			rsWhere := fmt.Sprintf("%s: real_server %s", where, rsName(rs))
			if familyOf(rs.Addr) != vs.Family && !(vs.Fwmark != 0 && rs.Method == "TUN") {
				d.errorf(rs.Pos, "%s is not %s like the virtual server", rsWhere, familyName(vs.Family))
			}
			ap := netip.AddrPortFrom(rs.Addr, rs.Port)
			if p, dup := rsSeen[ap]; dup {
				d.errorf(rs.Pos, "duplicate %s (first at %s)", rsWhere, p)
			}
			rsSeen[ap] = rs.Pos
			if (rs.Method == "DR" || rs.Method == "TUN") && vs.Port != 0 && rs.Port != vs.Port {
				d.warnf(rs.Pos, "%s: %s cannot map port %d to %d; the port is ignored by IPVS", rsWhere, rs.Method, vs.Port, rs.Port)
			}
			if rs.LThreshold > 0 && rs.UThreshold > 0 && rs.LThreshold > rs.UThreshold {
				d.errorf(rs.Pos, "%s: lthreshold above uthreshold", rsWhere)
			}
			for _, ck := range rs.Checkers {
				if ck.BindTo.IsValid() && ck.ConnectIP.IsValid() && familyOf(ck.BindTo) != familyOf(ck.ConnectIP) {
					d.errorf(ck.Pos, "%s: %s bindto %s and connect_ip %s are of different families", rsWhere, ck.Kind, ck.BindTo, ck.ConnectIP)
				}
				if networkChecker(ck.Kind) && ck.Kind != CheckPing && ck.ConnectPort == 0 {
					d.errorf(ck.Pos, "%s: %s needs connect_port (the real server has no port)", rsWhere, ck.Kind)
				}
				if ck.Misc != nil && ck.Misc.Timeout > ck.DelayLoop && ck.DelayLoop > 0 {
					d.warnf(ck.Pos, "%s: misc_timeout is longer than delay_loop", rsWhere)
				}
			}
		}
		if len(vs.RealServers) > 0 && total < vs.Quorum {
			d.warnf(vs.Pos, "%s: quorum %d is above the total weight %d of its real servers", where, vs.Quorum, total)
		}
	}
}

func rsName(rs *RealServer) string {
	n := rs.Addr.String()
	if rs.Name != "" {
		n = rs.Name
	}
	return fmt.Sprintf("%s %d", n, rs.Port)
}

func (c *Config) hasVSGroup(name string) bool {
	for _, g := range c.VSGroups {
		if g.Name == name {
			return true
		}
	}
	return false
}

func (d *decoder) validateCluster() {
	cl := d.cfg.Cluster
	if cl == nil {
		return
	}
	if !cl.Bind.IsValid() {
		d.errorf(cl.Pos, "cluster: bind is required (the address raft, gossip and the API use)")
	}
	if cl.NodeName == "" {
		d.errorf(cl.Pos, "cluster: node_name is required when the host name is unknown")
	}
	if cl.RaftPort == cl.GossipPort || cl.API.Listen.IsValid() && cl.API.Listen.Port() == cl.RaftPort && cl.API.Listen.Addr() == cl.Bind {
		d.errorf(cl.Pos, "cluster: raft, gossip and api ports must differ")
	}
	for i, p := range cl.Peers {
		for _, q := range cl.Peers[:i] {
			if p == q {
				d.errorf(cl.Pos, "cluster: peer %s listed twice", p)
			}
		}
	}
	if cl.BootstrapExpect > cl.ListedNodes() {
		d.warnf(cl.Pos, "cluster: bootstrap_expect %d is more than the %d nodes listed", cl.BootstrapExpect, cl.ListedNodes())
	}
	if cl.TLS != nil && (cl.TLS.CertFile == "" || cl.TLS.KeyFile == "" || cl.TLS.CAFile == "") {
		d.errorf(cl.Pos, "cluster: tls needs cert_file, key_file and ca_file")
	}
	if strings.TrimSpace(cl.DataDir) == "" {
		d.errorf(cl.Pos, "cluster: data_dir is empty")
	}
	if (cl.API.CertFile == "") != (cl.API.KeyFile == "") {
		d.errorf(cl.Pos, "cluster: api cert_file and key_file go together")
	}
	d.validateClusterSecurity(cl)
}

// validateClusterSecurity makes groups secure by default: a group of more
// than one node needs mutual TLS for raft and a gossip key (credentials,
// or tls and gossip_key_file) unless insecure says otherwise. The files
// are not opened: config check may run on another machine.
func (d *decoder) validateClusterSecurity(cl *Cluster) {
	tls, key := cl.Secured()
	n := cl.GroupSize()
	switch {
	case tls && key:
		if cl.Insecure {
			d.warnf(cl.Pos, "cluster: insecure is ignored: %s secure the group", securedBy(cl))
		}
	case n <= 1:
		// A one-node group has no peer to authenticate.
	case !cl.Insecure:
		d.errorf(cl.Pos, "cluster: a group of %d nodes needs credentials (it has %s): "+
			"add `credentials DIR` (written by `quadrature cluster init`), or tls { } and gossip_key_file; "+
			"`insecure yes` runs without them (anyone on the LAN can then join and reprogram the group)",
			n, missingSecurity(tls, key))
	default:
		d.warnf(cl.Pos, "cluster: insecure: the group of %d nodes runs unauthenticated (it has %s): "+
			"anyone on the LAN can join and reprogram it; `quadrature cluster init` writes credentials",
			n, missingSecurity(tls, key))
	}
}

func securedBy(cl *Cluster) string {
	if cl.Credentials != "" {
		return "credentials"
	}
	return "tls and gossip_key_file"
}

func missingSecurity(tls, key bool) string {
	switch {
	case !tls && !key:
		return "no mutual TLS and no gossip key"
	case !tls:
		return "no mutual TLS"
	default:
		return "no gossip key"
	}
}
