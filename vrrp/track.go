package vrrp

import (
	"context"
)

// Tracking: link state, vrrp_script results and sync-group fault levels
// turned into priority and fault events. Everything here runs under the
// node lock.

// evaluate recomputes an instance's effective priority and fault from
// its interface, tracked interfaces and scripts (EvaluateTracking) and
// feeds the machine what changed.
func (n *Node) evaluate(inst *instance) {
	if inst.closed {
		return
	}
	in := TrackInput{Instance: inst.cfg, Scripts: n.cfg.Scripts, Base: inst.base, Links: n.links,
		ScriptOK: n.scriptOK, SetupErr: inst.setupErr, Fenced: inst.fenced}
	if inst.group != nil {
		in.Group = &inst.group.cfg
	}
	r := EvaluateTracking(in)
	for _, ev := range r.Events(n.opts.now(), inst.base, inst.m) {
		if _, ok := ev.(EvPriority); ok {
			n.log.Info("vrrp priority changed", "instance", inst.cfg.Name, "vrid", inst.cfg.VRID, "base", inst.base, "effective", r.Priority)
		}
		n.step(inst, ev)
	}
}

// view returns the group policy's view of a sync group.
func (g *syncGroup) view() []GroupMember {
	v := make([]GroupMember, len(g.members))
	for i, m := range g.members {
		v[i] = GroupMember{Name: m.cfg.Name, State: m.m.State(), OwnFault: m.m.OwnFault(), FaultReason: m.m.FaultReason(), Closed: m.closed}
	}
	return v
}

// syncGroupsLevel puts every member of a group with a faulty member in
// FAULT and releases them when no member is faulty (GroupFault).
func (n *Node) syncGroupsLevel() {
	now := n.opts.now()
	for _, g := range n.groups {
		var steps []GroupStep
		g.fault, steps = GroupFault(g.view(), g.fault)
		for _, s := range steps {
			n.step(g.members[s.Member], EvSync{Now: now, To: s.To, Reason: s.Reason})
		}
	}
}

func (n *Node) evaluateAll() {
	for _, name := range n.order {
		n.evaluate(n.insts[name])
	}
	n.syncGroupsLevel()
}

func (n *Node) onLink(name string, up bool) {
	prev := n.links[name]
	n.links[name] = up
	for _, iname := range n.order {
		inst := n.insts[iname]
		if inst.closed || inst.cfg.Interface != name {
			continue
		}
		// Reopen on every link-up edge: re-joins the multicast group and
		// follows an interface that was deleted and re-created.
		if up && (!prev || inst.io == nil) {
			n.setupIO(inst)
		}
	}
	if up != prev {
		n.log.Info("vrrp link state", "interface", name, "up", up)
	}
	n.evaluateAll()
}

func (n *Node) startScripts(cfgs []ScriptConfig) {
	keep := map[string]bool{}
	for _, sc := range cfgs {
		if h, ok := n.scripts[sc.Name]; ok && h.cfg == sc {
			keep[sc.Name] = true
		}
	}
	for name, h := range n.scripts {
		if !keep[name] {
			h.cancel()
			delete(n.scripts, name)
			delete(n.scriptOK, name)
		}
	}
	for _, sc := range cfgs {
		if keep[sc.Name] {
			continue
		}
		ctx, cancel := context.WithCancel(n.runCtx)
		h := &scriptHandle{cfg: sc, cancel: cancel, done: make(chan struct{})}
		n.scripts[sc.Name] = h
		r := newScriptRunner(sc, n.scriptRunner, n.log, func(name string, ok bool) {
			n.post(func() {
				if n.scripts[name] == h && !n.stopped {
					n.scriptOK[name] = ok
					n.evaluateAll()
				}
			})
		})
		go func() { defer close(h.done); r.run(ctx) }()
	}
}
