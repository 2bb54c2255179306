package fsm

import (
	"slices"
	"strings"

	"quadrature/config"
)

// Priorities used by the placement rules.
const (
	// MaintenancePriority is what every instance of a node in maintenance
	// gets, so its VIPs move away before it is stopped.
	MaintenancePriority = 1
	// MaxTransferPriority caps a transfer target (255 is reserved for the
	// address owner).
	MaxTransferPriority = 254
	// AutoTopPriority is the priority of an instance on the node that
	// auto placement chooses for it; the next nodes in the rotation get
	// AutoTopPriority - k*step.
	AutoTopPriority = 200
	// AutoOfflinePriority is what auto placement gives a node that is not
	// eligible (not live, or in maintenance before that rule applies).
	AutoOfflinePriority = 10
)

// Reasons attached to a derived priority (which rule decided it).
const (
	ReasonConfigured  = "configured"
	ReasonAuto        = "auto"
	ReasonPlacement   = "placement"
	ReasonTransfer    = "transfer"
	ReasonMaintenance = "maintenance"
)

// InstancePriority is the derived priority of one instance on one node.
type InstancePriority struct {
	Instance string `json:"instance"`
	Priority int    `json:"priority"`
	Reason   string `json:"reason"`
}

// NodeAssignment is one node's derived priority for an instance.
type NodeAssignment struct {
	Node     string `json:"node"`
	Priority int    `json:"priority"`
	Reason   string `json:"reason"`
}

// InstancePlacement is the derived placement of one instance: every known
// node that runs it, with its priority.
type InstancePlacement struct {
	Instance string           `json:"instance"`
	Nodes    []NodeAssignment `json:"nodes"`
}

// buildUnits computes the instances and the auto-placement units of the
// canonical config: every vrrp_sync_group is one unit (its members move
// together), every other instance is a unit of its own; units are ordered
// by name (group name or instance name).
func buildUnits(m *tableModel, cfg *config.Config) {
	in := map[string]bool{}
	for _, inst := range cfg.Instances {
		if !in[inst.Name] {
			in[inst.Name] = true
			m.instances = append(m.instances, inst.Name)
		}
	}
	slices.Sort(m.instances)
	type unit struct {
		name    string
		members []string
	}
	var units []unit
	grouped := map[string]bool{}
	groups := slices.Clone(cfg.SyncGroups)
	slices.SortFunc(groups, func(a, b config.SyncGroup) int { return strings.Compare(a.Name, b.Name) })
	for _, g := range groups {
		u := unit{name: g.Name}
		for _, name := range g.Group {
			if in[name] && !grouped[name] {
				grouped[name] = true
				u.members = append(u.members, name)
			}
		}
		if len(u.members) > 0 {
			slices.Sort(u.members)
			units = append(units, u)
		}
	}
	for _, name := range m.instances {
		if !grouped[name] {
			units = append(units, unit{name: name, members: []string{name}})
		}
	}
	slices.SortStableFunc(units, func(a, b unit) int { return strings.Compare(a.name, b.name) })
	for i, u := range units {
		m.units = append(m.units, u.members)
		for _, name := range u.members {
			m.unitOf[name] = i
		}
	}
}

// syncMembers returns the instances that move together with inst.
func (m *tableModel) syncMembers(inst string) []string {
	if i, ok := m.unitOf[inst]; ok {
		return m.units[i]
	}
	return []string{inst}
}

// isWitness reports whether node's evaluated config makes it a witness
// (raft + memberlist only: never a VRRP instance).
func (s *State) isWitness(node string) bool {
	cfg, err := s.Config(node)
	return err == nil && cfg.Cluster != nil && strings.EqualFold(cfg.Cluster.Role, "witness")
}

// autoEligible returns the nodes auto placement spreads instances over:
// live, not witnesses, not in maintenance; sorted.
func (s *State) autoEligible() []string {
	var out []string
	for _, n := range s.live {
		if !s.maintenance[n] && !s.isWitness(n) {
			out = append(out, n)
		}
	}
	return out
}

// autoPriority is the priority of rank k (0 = chosen node) among n nodes.
func autoPriority(rank, n int) int {
	step := max(1, min(10, (AutoTopPriority-AutoOfflinePriority-1)/max(n, 1)))
	return AutoTopPriority - rank*step
}

// basePriority is an instance's priority on a node before maintenance and
// transfers: the configured one (config evaluated for that node, so
// "@iwash1 priority 150" works), replaced by the auto-placement one with
// "placement auto", replaced by an explicit SetPlacement entry. ok is
// false when the node does not run the instance (or is a witness).
func (s *State) basePriority(inst, node string, eligible []string) (prio int, reason string, ok bool) {
	cfg, err := s.Config(node)
	if err != nil || (cfg.Cluster != nil && strings.EqualFold(cfg.Cluster.Role, "witness")) {
		return 0, "", false
	}
	i := slices.IndexFunc(cfg.Instances, func(v config.VRRPInstance) bool { return v.Name == inst })
	if i < 0 {
		return 0, "", false
	}
	prio, reason = cfg.Instances[i].Priority, ReasonConfigured
	if m := s.model(); m != nil && m.auto {
		if u, inCanon := m.unitOf[inst]; inCanon {
			reason = ReasonAuto
			if idx := slices.Index(eligible, node); idx >= 0 {
				n := len(eligible)
				rank := ((idx-u)%n + n) % n
				prio = autoPriority(rank, n)
			} else {
				prio = AutoOfflinePriority
			}
		}
	}
	if p, set := s.placement[inst][node]; set {
		prio, reason = p, ReasonPlacement
	}
	return prio, reason, true
}

// priorityFor applies maintenance and transfer on top of basePriority.
//
//   - a node in maintenance gets MaintenancePriority on every instance
//     (even an address owner), whatever else applies;
//   - the target of a TransferVIP gets max(other nodes' priorities)+1,
//     capped at MaxTransferPriority (so it cannot outbid an address owner
//     at 255), and never less than its own base priority.
func (s *State) priorityFor(inst, node string, nodes, eligible []string) (int, string, bool) {
	prio, reason, ok := s.basePriority(inst, node, eligible)
	if !ok {
		return 0, "", false
	}
	if s.maintenance[node] {
		return MaintenancePriority, ReasonMaintenance, true
	}
	if s.transfers[inst] == node {
		best := 0
		for _, other := range nodes {
			if other == node {
				continue
			}
			p, _, ok := s.basePriority(inst, other, eligible)
			if !ok {
				continue
			}
			if s.maintenance[other] {
				p = MaintenancePriority
			}
			best = max(best, p)
		}
		return max(prio, min(MaxTransferPriority, best+1)), ReasonTransfer, true
	}
	return prio, reason, true
}

// Priorities derives node's VRRP priority for every instance its config
// evaluation defines, sorted by instance. A witness gets none.
func (s *State) Priorities(node string) []InstancePriority {
	cfg, err := s.Config(node)
	if err != nil || s.model() == nil {
		return nil
	}
	names := make([]string, 0, len(cfg.Instances))
	for _, v := range cfg.Instances {
		names = append(names, v.Name)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	nodes, eligible := s.Nodes(), s.autoEligible()
	var out []InstancePriority
	for _, inst := range names {
		if p, r, ok := s.priorityFor(inst, node, nodes, eligible); ok {
			out = append(out, InstancePriority{inst, p, r})
		}
	}
	return out
}

// PriorityMap is Priorities as a map from instance name to priority.
func (s *State) PriorityMap(node string) map[string]int {
	out := map[string]int{}
	for _, p := range s.Priorities(node) {
		out[p.Instance] = p.Priority
	}
	return out
}

// Placement derives, for every instance of the canonical config, each
// known node's priority (see Nodes), sorted by instance then node.
func (s *State) Placement() []InstancePlacement {
	m := s.model()
	if m == nil {
		return nil
	}
	nodes, eligible := s.Nodes(), s.autoEligible()
	out := make([]InstancePlacement, 0, len(m.instances))
	for _, inst := range m.instances {
		ip := InstancePlacement{Instance: inst}
		for _, n := range nodes {
			if p, r, ok := s.priorityFor(inst, n, nodes, eligible); ok {
				ip.Nodes = append(ip.Nodes, NodeAssignment{n, p, r})
			}
		}
		out = append(out, ip)
	}
	return out
}
