package agent

import (
	"time"

	"quadrature/config"
	"quadrature/fsm"
	"quadrature/vrrp"
)

// startupHold bounds how long a starting agent keeps its VRRP instances at
// the lowest priority while it catches up with the group.
const startupHold = 20 * time.Second

// holdPriority is the priority of held instances: never enough to preempt
// a running master, enough to take over when nobody else advertises (a
// node alone still brings its VIPs up after Master_Down_Interval).
const holdPriority = 1

// A restarted agent would otherwise preempt with its configured or last
// placement priority within a Master_Down_Interval, before it has the
// group's state and before its kernel table is programmed: clients of the
// VIP would be refused until replication resumed (seconds, found by the
// chaos suite). So the agent starts every instance (but an address
// owner's, priority 255) at holdPriority and releases the hold once a
// configuration is committed, a Raft leader is known and the reconciler
// has programmed the table of that state (the kernel's digest is the
// desired table's: tableProgrammed; a pass merely having run is not
// enough, a large table takes minutes) — or after startupHold, so a node
// cut off from its group still behaves like keepalived.

// holding reports whether the startup hold is on.
func (a *Agent) holding() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return !a.holdReleased
}

// heldVRRPConfig is VRRPConfig with the hold applied while it is on.
func (a *Agent) heldVRRPConfig(c *config.Config) vrrp.NodeConfig {
	vc := VRRPConfig(c)
	if a.holding() {
		for i := range vc.Instances {
			if vc.Instances[i].Priority < 255 {
				vc.Instances[i].Priority = holdPriority
			}
		}
	}
	return vc
}

// maybeReleaseHold ends the hold when the node is ready (see above) or
// the hold has lasted startupHold, and then sets every instance's
// priority: the placement's, or the configured one before any placement.
// It reports whether it released the hold.
func (a *Agent) maybeReleaseHold(st *fsm.State) bool {
	if !a.holding() {
		return false
	}
	reason := ""
	switch {
	case st.ConfigVersion() != 0 && a.node.LeaderName() != "" && a.tableProgrammed():
		reason = "state and table ready"
	case time.Since(a.startedAt) >= startupHold:
		reason = "hold time over"
	default:
		return false
	}
	a.mu.Lock()
	a.holdReleased = true
	a.mu.Unlock()
	prios := map[string]int{}
	if st.ConfigVersion() != 0 {
		prios = st.PriorityMap(a.name)
	}
	for _, in := range a.currentConfig().Instances {
		p, ok := prios[in.Name]
		if !ok {
			p = in.Priority
		}
		if p >= 255 {
			continue
		}
		if err := a.vrrp.SetPriority(in.Name, p); err != nil {
			a.log.Warn("agent: set priority", "instance", in.Name, "priority", p, "err", err)
		}
	}
	a.markReady(reason)
	a.log.Info("agent: startup hold released", "reason", reason, "after", time.Since(a.startedAt).Round(time.Millisecond).String())
	return true
}
