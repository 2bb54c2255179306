package config

import (
	"fmt"
	"sort"
)

// CheckSupport reports keepalived keywords that parse into the model but
// that quadrature's runtime does not implement yet. Each is an error
// naming the keyword ("not supported"), never a silent no-op: a
// configuration relying on it would not behave as its author expects.
// Load keeps the dialect (so `config show` and `merge` keep a file's
// meaning); `config check`, the agent and the API run this on top.
func CheckSupport(c *Config) ErrorList {
	var errs ErrorList
	g := c.Global
	unsupported := func(p Pos, kw, why string) {
		errs = append(errs, Diagnostic{Pos: p, Msg: fmt.Sprintf("not supported: %s (%s)", kw, why)})
	}
	if g.VRRPStrict {
		unsupported(g.Pos, "vrrp_strict", "strict RFC mode is not implemented")
	}
	if g.SMTPAlert {
		unsupported(g.Pos, "smtp_alert", "quadrature sends no email alerts; use the API, metrics or notify scripts")
	}
	for i := range c.Instances {
		in := &c.Instances[i]
		switch {
		case in.LowerPrioNoAdvert:
			unsupported(in.Pos, "lower_prio_no_advert", "the master always answers a lower-priority advert")
		case in.HigherPrioSendAdvert:
			unsupported(in.Pos, "higher_prio_send_advert", "not implemented by the VRRP engine")
		}
		if in.StrictMode && !g.VRRPStrict {
			unsupported(in.Pos, "strict_mode", "strict RFC mode is not implemented")
		}
		if in.Auth != nil && in.Auth.Type == "AH" {
			unsupported(in.Pos, "auth_type AH", "only PASS authentication is implemented")
		}
		if in.DownTimerAdverts != 0 && in.DownTimerAdverts != 3 {
			unsupported(in.Pos, "down_timer_adverts", "Master_Down_Interval is always 3 adverts, as RFC 5798 says")
		}
		for _, p := range in.UnicastPeers {
			if p.MinTTL != 0 || p.MaxTTL != 0 {
				unsupported(p.Pos, "unicast_peer min_ttl/max_ttl", "unicast TTL checks are not implemented")
			}
		}
		if in.SMTPAlert && !g.SMTPAlert {
			unsupported(in.Pos, "smtp_alert", "quadrature sends no email alerts")
		}
	}
	for i := range c.SyncGroups {
		if sg := &c.SyncGroups[i]; sg.SMTPAlert && !g.SMTPAlert {
			unsupported(sg.Pos, "smtp_alert", "quadrature sends no email alerts")
		}
	}
	for i := range c.VirtualServers {
		vs := &c.VirtualServers[i]
		if vs.SMTPAlert && !g.SMTPAlert {
			unsupported(vs.Pos, "smtp_alert", "quadrature sends no email alerts")
		}
		for j := range vs.RealServers {
			if rs := &vs.RealServers[j]; rs.SMTPAlert && !vs.SMTPAlert && !g.SMTPAlert {
				unsupported(rs.Pos, "smtp_alert", "quadrature sends no email alerts")
			}
		}
	}
	sort.SliceStable(errs, func(i, j int) bool {
		if errs[i].Pos.File != errs[j].Pos.File {
			return errs[i].Pos.File < errs[j].Pos.File
		}
		return errs[i].Pos.Line < errs[j].Pos.Line
	})
	return errs
}
