package agent

import (
	"fmt"
	"net"
	"strings"

	"quadrature/config"
	"quadrature/vrrp"
)

// VRRPConfig converts the VRRP part of a node's evaluated configuration
// into the vrrp package's model. Priorities are the configured ones; the
// caller overrides them with the committed placement (SetPriority).
func VRRPConfig(c *config.Config) vrrp.NodeConfig {
	out := vrrp.NodeConfig{ScriptUser: c.Global.ScriptUser, ScriptSecurity: c.Global.EnableScriptSecurity}
	// static_ipaddress without dev goes on default_interface, as in
	// keepalived.
	for _, v := range vips(c.StaticAddresses) {
		if v.Dev == "" {
			v.Dev = c.Global.DefaultInterface
		}
		out.StaticAddresses = append(out.StaticAddresses, v)
	}
	out.StaticRoutes = Routes(c.StaticRoutes)
	out.StaticRules = Rules(c.StaticRules)
	for _, s := range c.Scripts {
		out.Scripts = append(out.Scripts, vrrp.ScriptConfig{
			Name:     s.Name,
			Command:  s.Script,
			Interval: s.Interval,
			Timeout:  s.Timeout,
			Weight:   s.Weight,
			Reverse:  s.Reverse,
			Rise:     s.Rise,
			Fall:     s.Fall,
			InitFail: s.InitFail,
			User:     s.User,
		})
	}
	for _, in := range c.Instances {
		out.Instances = append(out.Instances, vrrpInstance(c, in))
	}
	for _, g := range c.SyncGroups {
		out.Groups = append(out.Groups, vrrp.GroupConfig{
			Name:            g.Name,
			Instances:       append([]string(nil), g.Group...),
			TrackInterfaces: trackInterfaces(g.TrackInterfaces),
			TrackScripts:    trackScripts(g.TrackScripts),
			TrackFiles:      trackRefs(g.TrackFileRefs),
			TrackProcesses:  trackRefs(g.TrackProcesses),
			Notify:          notifyConfig(g.Notify),
		})
	}
	out.Files, out.Processes = vrrpTrackers(c)
	return out
}

func vrrpInstance(c *config.Config, in config.VRRPInstance) vrrp.InstanceConfig {
	ic := vrrp.InstanceConfig{
		Name:             in.Name,
		Interface:        in.Interface,
		VRID:             in.VRID,
		Version:          in.Version,
		IPv6:             in.Family == config.FamilyInet6,
		Priority:         in.Priority,
		AdvertInterval:   in.AdvertInt,
		WantMaster:       in.State == "MASTER",
		NoPreempt:        in.NoPreempt,
		PreemptDelay:     in.PreemptDelay,
		VIPs:             vips(in.VIPs),
		ExcludedVIPs:     vips(in.ExcludedVIPs),
		V3ChecksumAsV2:   in.V3ChecksumAsV2 || c.Global.V3ChecksumAsV2,
		McastSrc:         in.McastSrcIP,
		UnicastSrc:       in.UnicastSrcIP,
		CheckUnicastSrc:  in.CheckUnicastSrc || c.Global.VRRPCheckUnicastSrc,
		DontTrackPrimary: in.DontTrackPrimary,
		NoAccept:         !in.Accept,
		TrackInterfaces:  trackInterfaces(in.TrackInterfaces),
		TrackScripts:     trackScripts(in.TrackScripts),
		TrackFiles:       trackRefs(in.TrackFileRefs),
		TrackProcesses:   trackRefs(in.TrackProcesses),
		Notify:           notifyConfig(in.Notify),
		GARP: &vrrp.GARPConfig{
			MasterDelay:         in.GarpMasterDelay,
			MasterRepeat:        in.GarpMasterRepeat,
			MasterRefresh:       in.GarpMasterRefresh,
			MasterRefreshRepeat: in.GarpMasterRefreshRepeat,
			Interval:            c.Global.VRRPGarpInterval,
		},
	}
	if in.Family == config.FamilyInet6 && c.Global.VRRPGnaInterval > 0 {
		ic.GARP.Interval = c.Global.VRRPGnaInterval
	}
	ic.VirtualRoutes = Routes(in.VirtualRoutes)
	ic.VirtualRules = Rules(in.VirtualRules)
	if in.Auth != nil && in.Auth.Type == "PASS" {
		ic.AuthPass = in.Auth.Pass
	}
	for _, p := range in.UnicastPeers {
		ic.UnicastPeers = append(ic.UnicastPeers, p.Addr)
	}
	ic.VMAC = vmacConfig(in)
	return ic
}

// vmacConfig converts use_vmac / use_ipvlan; a five-octet MAC takes the
// VRID as its sixth, as in keepalived.
func vmacConfig(in config.VRRPInstance) *vrrp.VMACConfig {
	switch {
	case in.VMAC != nil:
		v := &vrrp.VMACConfig{Name: in.VMAC.Name, XmitBase: in.VMAC.XmitBase}
		if in.VMAC.MAC != "" {
			parts := strings.Split(in.VMAC.MAC, ":")
			if len(parts) == 5 {
				parts = append(parts, fmt.Sprintf("%02x", in.VRID))
			}
			if hw, err := net.ParseMAC(strings.Join(parts, ":")); err == nil {
				v.MAC = hw
			}
		}
		return v
	case in.IPVLAN != nil:
		return &vrrp.VMACConfig{IPVLAN: true, Name: in.IPVLAN.Name, XmitBase: in.IPVLAN.XmitBase,
			IPVLANAddr: in.IPVLAN.Addr, IPVLANMode: in.IPVLAN.Mode}
	}
	return nil
}

func vips(in []config.VIP) []vrrp.VIP {
	var out []vrrp.VIP
	for _, v := range in {
		out = append(out, vrrp.VIP{Prefix: v.Prefix, Dev: v.Dev, Label: v.Label, Scope: v.Scope, NoDAD: v.NoDAD,
			Broadcast: v.Broadcast, Peer: v.Peer, NoPrefixRoute: v.NoPrefixRoute, Home: v.Home, MngTmpAddr: v.MngTmpAddr, AutoJoin: v.AutoJoin})
	}
	return out
}

func trackInterfaces(in []config.TrackInterface) []vrrp.TrackInterface {
	var out []vrrp.TrackInterface
	for _, t := range in {
		out = append(out, vrrp.TrackInterface{Name: t.Name, Weight: t.Weight, Reverse: t.Reverse})
	}
	return out
}

func trackScripts(in []config.TrackScript) []vrrp.TrackScript {
	var out []vrrp.TrackScript
	for _, t := range in {
		// The config model already resolved the effective weight (the
		// line's own, else the script's), so it always overrides.
		out = append(out, vrrp.TrackScript{Name: t.Name, Weight: t.Weight, OverrideWeight: true, Reverse: t.Reverse})
	}
	return out
}

func notifyConfig(n config.Notify) vrrp.NotifyConfig {
	return vrrp.NotifyConfig{Master: n.NotifyMaster, Backup: n.NotifyBackup, Fault: n.NotifyFault, Stop: n.NotifyStop, Generic: n.Notify}
}

// routeTypes are rtm_type numbers of the route types config accepts.
var routeTypes = map[string]uint8{"": 0, "unicast": 1, "local": 2, "broadcast": 3, "anycast": 4, "multicast": 5,
	"blackhole": 6, "unreachable": 7, "prohibit": 8, "throw": 9, "nat": 10}

// ruleActions are the FR_ACT_* numbers of the rule actions config accepts.
var ruleActions = map[string]int{"": vrrp.RuleToTable, "goto": vrrp.RuleGoto, "nop": vrrp.RuleNop,
	"blackhole": vrrp.RuleBlackhole, "unreachable": vrrp.RuleUnreachable, "prohibit": vrrp.RuleProhibit}

// trackedProtocol is the protocol keepalived installs a route or rule
// with: keepalived (18) unless it has no_track, then the one written.
func trackedProtocol(noTrack bool, written string) uint8 {
	if !noTrack {
		return config.ProtocolKeepalived
	}
	n, _ := config.ProtocolNumber(written)
	return n
}

// Routes converts static_routes / virtual_routes lines.
func Routes(in []config.Route) []vrrp.Route {
	var out []vrrp.Route
	for _, r := range in {
		vr := vrrp.Route{
			Dst: r.Dst, Src: r.Src, Via: r.Via, Dev: r.Dev, Onlink: r.Onlink, Table: r.Table, Metric: r.Metric,
			Protocol: trackedProtocol(r.NoTrack, r.Protocol), Type: routeTypes[r.Type], Tos: r.Tos, Realms: r.Realms,
			Append: r.Append, Add: r.Add,
		}
		if r.Scope != "" {
			vr.Scope, _ = config.ScopeNumber(r.Scope)
		}
		for _, n := range r.Nexthops {
			vr.Nexthops = append(vr.Nexthops, vrrp.Nexthop{Via: n.Via, Dev: n.Dev, Weight: n.Weight, Onlink: n.Onlink})
		}
		m := &vr.Metrics
		for _, x := range r.Metrics {
			switch x.Name {
			case "mtu":
				m.MTU, m.MTULock = x.Value, x.Lock
			case "advmss":
				m.AdvMSS = x.Value
			case "hoplimit":
				m.Hoplimit = x.Value
			case "window":
				m.Window = x.Value
			case "cwnd":
				m.Cwnd = x.Value
			case "initcwnd":
				m.InitCwnd = x.Value
			case "initrwnd":
				m.InitRwnd = x.Value
			case "rtt":
				m.RTT = x.Value
			case "rttvar":
				m.RTTVar = x.Value
			case "rto_min":
				m.RtoMin, m.RtoMinLock = x.Value, x.Lock
			case "ssthresh":
				m.Ssthresh = x.Value
			case "reordering":
				m.Reordering = x.Value
			case "quickack":
				m.QuickACK = x.Value
			case "fastopen_no_cookie":
				m.FastOpenNoCookie = x.Value
			}
		}
		m.FeatureECN, m.Congctl = r.FeatureECN, r.Congctl
		out = append(out, vr)
	}
	return out
}

// Rules converts static_rules / virtual_rules lines.
func Rules(in []config.Rule) []vrrp.Rule {
	var out []vrrp.Rule
	for _, r := range in {
		vr := vrrp.Rule{
			IPv6: r.Family == config.FamilyInet6, Not: r.Not, From: r.From, To: r.To, Action: ruleActions[r.Action],
			Table: r.Table, Goto: r.Goto, Fwmark: r.Fwmark, FwmarkMask: r.FwmarkMask, HasMask: r.FwmarkMask != 0,
			IIf: r.IIf, OIf: r.OIf, Tos: r.Tos, Realms: r.Realms, IPProto: r.IPProto,
			SuppressPrefixLength: r.SuppressPrefixLength, SuppressIfgroup: r.SuppressIfgroup,
			Protocol: trackedProtocol(r.NoTrack, r.Protocol),
		}
		if r.Preference != nil {
			vr.Priority = *r.Preference
		}
		for _, p := range []struct {
			from *config.Range
			to   **vrrp.PortRange
		}{{r.Sport, &vr.Sport}, {r.Dport, &vr.Dport}, {r.UIDRange, &vr.UIDRange}} {
			if p.from != nil {
				*p.to = &vrrp.PortRange{Start: p.from.Start, End: p.from.End}
			}
		}
		out = append(out, vr)
	}
	return out
}
