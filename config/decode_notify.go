package config

import "strings"

// globalScriptKeywords adds startup_script, shutdown_script (with their
// _timeout) and vrrp_notify_priority_changes to the global_defs table.
func (d *decoder) globalScriptKeywords(t table, g *GlobalScripts) {
	script := func(line, user *string) func(*Stmt) {
		return func(s *Stmt) {
			// keepalived: SCRIPT [username [groupname]]; a command line
			// with arguments is quoted.
			if !d.nargs(s, 1, 3) {
				return
			}
			if strings.TrimSpace(s.Args[0].Text) == "" {
				d.errorf(s.Pos, "%s: empty command line", s.Key)
				return
			}
			*line = s.Args[0].Text
			*user = strings.Join(s.ArgStrings()[1:], ":")
		}
	}
	t["startup_script"] = script(&g.StartupScript, &g.StartupScriptUser)
	t["shutdown_script"] = script(&g.ShutdownScript, &g.ShutdownScriptUser)
	// keepalived takes 1..1000 seconds.
	t["startup_script_timeout"] = func(s *Stmt) { d.seconds(s, &g.StartupScriptTimeout, 1, 1000) }
	t["shutdown_script_timeout"] = func(s *Stmt) { d.seconds(s, &g.ShutdownScriptTimeout, 1, 1000) }
	t["vrrp_notify_priority_changes"] = func(s *Stmt) { d.flag(s, &g.VRRPNotifyPriorityChanges) }
}

// finishNotify resolves notify_priority_changes: an instance that does not
// write it takes it from a sync group it is a member of that sets it, else
// from global_defs vrrp_notify_priority_changes.
func (d *decoder) finishNotify() {
	c := d.cfg
	groupSets := map[string]bool{}
	for _, g := range c.SyncGroups {
		if g.PriorityChanges {
			for _, m := range g.Group {
				groupSets[m] = true
			}
		}
	}
	for i := range c.Instances {
		in := &c.Instances[i]
		if _, written := in.KeywordPos["notify_priority_changes"]; written {
			continue
		}
		in.PriorityChanges = c.Global.VRRPNotifyPriorityChanges || groupSets[in.Name]
	}
	for _, s := range []struct {
		kw, user string
	}{{"startup_script", c.Global.StartupScriptUser}, {"shutdown_script", c.Global.ShutdownScriptUser}} {
		if s.user == "" {
			continue
		}
		if u, g, _ := strings.Cut(s.user, ":"); u == "" || strings.Contains(g, ":") {
			d.errorf(c.Global.KeywordPos[s.kw], "%s: bad user %q", s.kw, s.user)
		}
	}
}
