package vrrp

import (
	"context"
	"slices"
	"strings"
)

// Tracking: link state, vrrp_script results and sync-group fault levels
// turned into priority and fault events. Everything here runs under the
// node lock.

// evaluate recomputes an instance's effective priority and fault from
// its interface, tracked interfaces and scripts.
func (n *Node) evaluate(inst *instance) {
	if inst.closed {
		return
	}
	c := inst.cfg
	var weights []int
	var faults []string
	if inst.setupErr != "" {
		faults = append(faults, inst.setupErr)
	}
	if inst.fenced {
		faults = append(faults, "quorum fence: no contact with a quorum of the group")
	}
	if !c.DontTrackPrimary && !n.links[c.Interface] {
		faults = append(faults, "interface "+c.Interface+" down")
	}
	ifs, scripts := c.TrackInterfaces, c.TrackScripts
	if inst.group != nil {
		ifs = append(slices.Clip(ifs), inst.group.cfg.TrackInterfaces...)
		scripts = append(slices.Clip(scripts), inst.group.cfg.TrackScripts...)
	}
	for _, t := range ifs {
		up := n.links[t.Name] != t.Reverse
		switch {
		case t.Weight == 0 && !up:
			faults = append(faults, "tracked interface "+t.Name+" down")
		case t.Weight > 0 && up, t.Weight < 0 && !up:
			weights = append(weights, t.Weight)
		}
	}
	for _, t := range scripts {
		sc := n.scriptConfig(t.Name)
		ok, known := n.scriptOK[t.Name]
		if !known {
			ok = !sc.InitFail
		}
		w, rev := sc.Weight, sc.Reverse
		if t.OverrideWeight {
			w, rev = t.Weight, t.Reverse
		}
		ok = ok != rev
		switch {
		case w == 0 && !ok:
			faults = append(faults, "tracked script "+t.Name+" failed")
		case w > 0 && ok, w < 0 && !ok:
			weights = append(weights, w)
		}
	}
	now := n.opts.now()
	eff := EffectivePriority(inst.base, weights...)
	if eff != inst.m.Priority() || inst.base != inst.m.BasePriority() {
		n.log.Info("vrrp priority changed", "instance", c.Name, "vrid", c.VRID, "base", inst.base, "effective", eff)
		n.step(inst, EvPriority{Now: now, Base: inst.base, Effective: eff})
	}
	fault := len(faults) > 0
	if fault != inst.m.OwnFault() || (fault && strings.Join(faults, "; ") != inst.m.FaultReason()) {
		reason := strings.Join(faults, "; ")
		if !fault {
			reason = "fault cleared"
		}
		n.step(inst, EvFault{Now: now, Fault: fault, Reason: reason})
	}
}

func (n *Node) scriptConfig(name string) ScriptConfig {
	for _, s := range n.cfg.Scripts {
		if s.Name == name {
			return s
		}
	}
	return ScriptConfig{Name: name}
}

// syncGroupsLevel puts every member of a group with a faulty member in
// FAULT and releases them when no member is faulty.
func (n *Node) syncGroupsLevel() {
	now := n.opts.now()
	for _, g := range n.groups {
		any := ""
		for _, m := range g.members {
			if m.m.OwnFault() && !m.closed {
				any = m.cfg.Name + ": " + m.m.FaultReason()
			}
		}
		if (any != "") == g.fault {
			continue
		}
		g.fault = any != ""
		for _, m := range g.members {
			if g.fault {
				n.step(m, EvSync{Now: now, To: StateFault, Reason: any})
			} else {
				n.step(m, EvSync{Now: now, To: StateBackup, Reason: "all members healthy"})
			}
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
