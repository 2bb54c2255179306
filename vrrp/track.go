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
		ScriptOK: n.scriptOK, SetupErr: inst.setupErr, Fenced: inst.fenced,
		Files: n.cfg.Files, FileValues: n.trk.fileVals, Processes: n.cfg.Processes, ProcessUp: n.trk.procUp}
	if inst.group != nil {
		in.Group = &inst.group.cfg
	}
	r := EvaluateTracking(in)
	for _, ev := range r.Events(n.opts.now(), inst.base, inst.m) {
		switch ev := ev.(type) {
		case EvPriority:
			n.log.Info("vrrp priority changed", "instance", inst.cfg.Name, "vrid", inst.cfg.VRID, "base", inst.base, "effective", r.Priority, "trackers", weightsText(r.Weights))
		case EvFault:
			if ev.Fault {
				n.log.Warn("vrrp instance fault", "instance", inst.cfg.Name, "vrid", inst.cfg.VRID, "reason", r.Reason, "trackers", faultsText(r.Faults))
			}
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

// TrackRef is one track_file or track_process entry of an instance or a
// sync group: the name of the definition and the weight that applies
// (keepalived: the definition's unless the entry gives its own; the
// config layer resolves that).
type TrackRef struct {
	Name    string
	Weight  int
	Reverse bool
}

// Tracker is the kind of tracker behind a fault or a priority change:
// the typed cause the status, the logs and the tests read.
type Tracker int

// Kinds of trackers.
const (
	TrackerNone      Tracker = iota
	TrackerSocket            // the instance's socket could not be opened
	TrackerFence             // the quorum fence
	TrackerLink              // the instance's own interface
	TrackerInterface         // track_interface
	TrackerScript            // track_script
	TrackerFile              // track_file
	TrackerProcess           // track_process
)

var trackerNames = [...]string{"none", "socket", "fence", "link", "interface", "script", "file", "process"}

func (t Tracker) String() string {
	if t >= 0 && int(t) < len(trackerNames) {
		return trackerNames[t]
	}
	return "unknown"
}

// TrackFault is one reason an instance is in FAULT on its own account.
type TrackFault struct {
	Tracker Tracker
	Name    string // the tracker's name (interface, script, file...)
	Reason  string
}

// TrackWeight is one tracker's contribution to the effective priority.
type TrackWeight struct {
	Tracker Tracker
	Name    string
	Delta   int
}

// trackSum collects the faults and weights of one evaluation.
type trackSum struct {
	faults  []TrackFault
	weights []TrackWeight
}

func (s *trackSum) fault(k Tracker, name, reason string) {
	s.faults = append(s.faults, TrackFault{Tracker: k, Name: name, Reason: reason})
}

func (s *trackSum) weight(k Tracker, name string, delta int) {
	s.weights = append(s.weights, TrackWeight{Tracker: k, Name: name, Delta: delta})
}

func (s *trackSum) deltas() []int {
	out := make([]int, len(s.weights))
	for i, w := range s.weights {
		out[i] = w.Delta
	}
	return out
}
