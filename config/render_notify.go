package config

import "strings"

// globalScripts renders startup_script, shutdown_script and
// vrrp_notify_priority_changes.
func (w *writer) globalScripts(g *GlobalScripts) {
	script := func(key, line, user string) {
		if line == "" {
			return
		}
		s := key + " " + quote(line)
		if user != "" {
			u, grp, _ := strings.Cut(user, ":")
			s += " " + quote(u)
			if grp != "" {
				s += " " + quote(grp)
			}
		}
		w.line("%s", s)
	}
	script("startup_script", g.StartupScript, g.StartupScriptUser)
	if g.StartupScriptTimeout > 0 {
		w.sec("startup_script_timeout", g.StartupScriptTimeout)
	}
	script("shutdown_script", g.ShutdownScript, g.ShutdownScriptUser)
	if g.ShutdownScriptTimeout > 0 {
		w.sec("shutdown_script_timeout", g.ShutdownScriptTimeout)
	}
	w.boolKw("vrrp_notify_priority_changes", g.VRRPNotifyPriorityChanges, false)
}

// instancePriorityChanges writes an instance's notify_priority_changes
// when it differs from what it inherits (its sync groups, global_defs).
func (w *writer) instancePriorityChanges(c *Config, in *VRRPInstance) {
	inherited := c.Global.VRRPNotifyPriorityChanges
	for _, g := range c.SyncGroups {
		if g.PriorityChanges {
			for _, m := range g.Group {
				if m == in.Name {
					inherited = true
				}
			}
		}
	}
	w.boolKw("notify_priority_changes", in.PriorityChanges, inherited)
}
