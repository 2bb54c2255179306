package config

import "time"

// DefaultScriptTimeout is keepalived's startup_script_timeout and
// shutdown_script_timeout when not written.
const DefaultScriptTimeout = 10 * time.Second

// GlobalScripts are the global_defs keywords for the scripts the agent
// runs once, when it starts and when it stops, and the global default of
// notify_priority_changes.
type GlobalScripts struct {
	// StartupScript runs before VRRP and the checkers start; the agent
	// waits for it (at most StartupScriptTimeout, then its process group
	// is killed). StartupScriptUser is "user" or "user:group", "" =
	// script_user.
	StartupScript        string        `json:"startup_script,omitempty"`
	StartupScriptUser    string        `json:"startup_script_user,omitempty"`
	StartupScriptTimeout time.Duration `json:"startup_script_timeout,omitempty"` // 0 = 10s
	// ShutdownScript runs once VRRP and the checkers have stopped, before
	// the agent exits, bounded like the startup script.
	ShutdownScript        string        `json:"shutdown_script,omitempty"`
	ShutdownScriptUser    string        `json:"shutdown_script_user,omitempty"`
	ShutdownScriptTimeout time.Duration `json:"shutdown_script_timeout,omitempty"` // 0 = 10s
	// VRRPNotifyPriorityChanges is vrrp_notify_priority_changes: the
	// default of every instance's notify_priority_changes.
	VRRPNotifyPriorityChanges bool `json:"vrrp_notify_priority_changes,omitempty"`
}

// Timeout returns t, or DefaultScriptTimeout when t is 0.
func scriptTimeout(t time.Duration) time.Duration {
	if t <= 0 {
		return DefaultScriptTimeout
	}
	return t
}

// StartupTimeout is the effective startup_script_timeout.
func (g *GlobalScripts) StartupTimeout() time.Duration { return scriptTimeout(g.StartupScriptTimeout) }

// ShutdownTimeout is the effective shutdown_script_timeout.
func (g *GlobalScripts) ShutdownTimeout() time.Duration {
	return scriptTimeout(g.ShutdownScriptTimeout)
}
