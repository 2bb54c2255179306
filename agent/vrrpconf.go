package agent

import (
	"quadrature/config"
	"quadrature/vrrp"
)

// VRRPConfig converts the VRRP part of a node's evaluated configuration
// into the vrrp package's model. Priorities are the configured ones; the
// caller overrides them with the committed placement (SetPriority).
func VRRPConfig(c *config.Config) vrrp.NodeConfig {
	out := vrrp.NodeConfig{ScriptUser: c.Global.ScriptUser, ScriptSecurity: c.Global.EnableScriptSecurity}
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
			Notify:          notifyConfig(g.Notify),
		})
	}
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
	if in.Auth != nil && in.Auth.Type == "PASS" {
		ic.AuthPass = in.Auth.Pass
	}
	for _, p := range in.UnicastPeers {
		ic.UnicastPeers = append(ic.UnicastPeers, p.Addr)
	}
	return ic
}

func vips(in []config.VIP) []vrrp.VIP {
	var out []vrrp.VIP
	for _, v := range in {
		out = append(out, vrrp.VIP{Prefix: v.Prefix, Dev: v.Dev, Label: v.Label, Scope: v.Scope, NoDAD: v.NoDAD})
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
