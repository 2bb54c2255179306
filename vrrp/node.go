package vrrp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"quadrature/internal/scriptexec"
)

// Option configures a Node.
type Option func(*options)

type options struct {
	log      *slog.Logger
	netns    string
	onChange func(StateChange)
	now      func() time.Time
	track    trackOptions
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithNetNS makes the node open its sockets and netlink handles in the
// network namespace at path (e.g. /var/run/netns/NAME) instead of the
// caller's. Notify and track scripts still run in the caller's namespace.
func WithNetNS(path string) Option { return func(o *options) { o.netns = path } }

// WithStateChange registers a callback for every transition. It runs on
// the node's event goroutine: it must not block and must not call back
// into the Node.
func WithStateChange(fn func(StateChange)) Option { return func(o *options) { o.onChange = fn } }

// StateChange describes one transition of one instance.
type StateChange struct {
	Instance string
	Group    string
	VRID     int
	From, To State
	Cause    Cause
	Reason   string
	Priority int
	At       time.Time
}

// InstanceStatus is a snapshot of one instance.
type InstanceStatus struct {
	Name         string
	Group        string
	VRID         int
	Version      int
	IPv6         bool
	Interface    string
	State        State
	Priority     int // effective
	BasePriority int
	// Self is the address adverts are sent from.
	Self netip.Addr
	// MasterAddr is the current master (ours when MASTER).
	MasterAddr     netip.Addr
	MasterAdverInt time.Duration
	VIPs           []netip.Prefix
	// Fault is the fault reason while in FAULT.
	Fault          string
	LastTransition time.Time
	LastFrom       State
	LastReason     string
	Counters       Counters
	// ForeignMaster is the master this instance follows when that master
	// is not a member of the group (SetKnownPeers), not one of this
	// node's addresses and not a configured unicast peer: a host outside
	// the group holds the VIPs. Zero otherwise, and while the members are
	// unknown.
	ForeignMaster netip.Addr
}

// Node runs every VRRP instance of one host. All protocol work happens
// on one event goroutine (Run); the methods are safe for concurrent use
// from other goroutines.
type Node struct {
	opts         options
	log          *slog.Logger
	runner       atomic.Pointer[scriptexec.Runner] // vrrp_script checks
	notifyRunner atomic.Pointer[scriptexec.Runner] // notify scripts

	ev chan func()

	mu      sync.Mutex // held by the event goroutine while it handles an event
	cfg     NodeConfig
	running bool
	stopped bool
	insts   map[string]*instance
	groups  map[string]*syncGroup
	order   []string

	// Owned by the event goroutine.
	rt       *runtimeIO
	links    map[string]bool
	scriptOK map[string]bool
	scripts  map[string]*scriptHandle
	trk      trackers // track_file and track_process (track_node.go)
	queue    []stepReq
	stepping bool
	runCtx   context.Context

	// Guarded by mu.
	known   map[netip.Addr]bool // group members' addresses; nil = unknown
	limiter *logLimiter         // rate limit of the security warnings
}

type stepReq struct {
	inst *instance
	ev   Event
}

type scriptHandle struct {
	cfg    ScriptConfig
	cancel context.CancelFunc
	done   chan struct{}
}

type syncGroup struct {
	cfg       GroupConfig
	members   []*instance
	fault     bool
	lastState State
	notify    *notifier
}

type instance struct {
	cfg      InstanceConfig // defaults applied
	m        *Machine
	group    *syncGroup
	base     int
	io       *instanceIO
	timers   [numTimers]*time.Timer
	notify   *notifier
	closed   bool
	setupErr string
	// fenced is set by SetFenced: the group's quorum fence holds the
	// instance in FAULT.
	fenced bool
	// foreign is the followed master when it is outside the group.
	foreign netip.Addr
}

// NewNode validates cfg and returns a node that does nothing until Run.
func NewNode(cfg NodeConfig, opts ...Option) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Instances = resolveVMACNames(cfg.Instances)
	o := options{log: slog.Default(), now: time.Now}
	for _, f := range opts {
		f(&o)
	}
	n := &Node{opts: o, log: o.log, ev: make(chan func(), 1024), cfg: cfg, limiter: newLogLimiter(time.Minute, 20)}
	if err := n.storeRunners(cfg); err != nil {
		return nil, err
	}
	if err := n.build(cfg); err != nil {
		return nil, err
	}
	return n, nil
}

// build creates instances and groups (not started) from cfg.
func (n *Node) build(cfg NodeConfig) error {
	n.insts = map[string]*instance{}
	n.groups = map[string]*syncGroup{}
	n.order = nil
	for _, ic := range cfg.Instances {
		inst, err := n.newInstance(ic)
		if err != nil {
			return err
		}
		n.insts[ic.Name] = inst
		n.order = append(n.order, ic.Name)
	}
	n.buildGroups(cfg)
	return nil
}

// newRunner makes a script runner of a configuration; keep lets what a
// script starts outlive it.
func newRunner(cfg NodeConfig, log *slog.Logger, keep bool) (*scriptexec.Runner, error) {
	r, err := scriptexec.NewRunner(scriptexec.Options{User: cfg.ScriptUser, Insecure: !cfg.ScriptSecurity, Logger: log, KeepDescendants: keep})
	if err != nil {
		return nil, fmt.Errorf("vrrp: %w", err)
	}
	return r, nil
}

// storeRunners makes the script runners of a configuration: vrrp_script
// checks lose whatever they leave running when they exit (like MISC_CHECK),
// notify scripts keep it (keepalived users start daemons from them, e.g.
// notify_master "/etc/init.d/haproxy start").
func (n *Node) storeRunners(cfg NodeConfig) error {
	r, err := newRunner(cfg, n.log, false)
	if err != nil {
		return err
	}
	nr, err := newRunner(cfg, n.log, true)
	if err != nil {
		return err
	}
	n.runner.Store(r)
	n.notifyRunner.Store(nr)
	return nil
}

// scriptRunner returns the runner of the current configuration (scripts
// and notifiers look it up at each run, so a reload's script_user applies
// at once).
func (n *Node) scriptRunner() *scriptexec.Runner { return n.runner.Load() }

// notifyScriptRunner is scriptRunner for notify scripts.
func (n *Node) notifyScriptRunner() *scriptexec.Runner { return n.notifyRunner.Load() }

func (n *Node) notifyTimeout() time.Duration {
	if n.cfg.NotifyTimeout > 0 {
		return n.cfg.NotifyTimeout
	}
	return 10 * time.Second
}

func (n *Node) newInstance(ic InstanceConfig) (*instance, error) {
	ic = ic.withDefaults()
	m, err := NewMachine(ic, ic.UnicastSrc)
	if err != nil {
		return nil, err
	}
	log := n.log.With("instance", ic.Name, "vrid", ic.VRID)
	return &instance{cfg: ic, m: m, base: ic.Priority, notify: newNotifier(log, n.notifyTimeout(), n.notifyScriptRunner)}, nil
}

func (n *Node) buildGroups(cfg NodeConfig) {
	old := n.groups
	n.groups = map[string]*syncGroup{}
	for _, inst := range n.insts {
		inst.group = nil
	}
	for _, gc := range cfg.Groups {
		g := &syncGroup{cfg: gc, lastState: StateInit}
		if o, ok := old[gc.Name]; ok {
			g.notify, g.lastState, g.fault = o.notify, o.lastState, o.fault
		} else {
			g.notify = newNotifier(n.log.With("group", gc.Name), n.notifyTimeout(), n.notifyScriptRunner)
		}
		for _, name := range gc.Instances {
			if inst := n.insts[name]; inst != nil {
				inst.group = g
				g.members = append(g.members, inst)
			}
		}
		n.groups[gc.Name] = g
	}
}

// post runs f on the event goroutine.
func (n *Node) post(f func()) { n.ev <- f }

// run runs f now on the calling goroutine under the node lock (the same
// exclusion the event goroutine holds), saving a goroutine hand-off on
// the latency-critical paths: received packets and timers.
func (n *Node) run(f func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopped {
		return
	}
	f()
}

// call runs f on the event goroutine and waits for it; before Run (or
// after it ended) it runs f directly under the lock.
func (n *Node) call(f func() error) error {
	n.mu.Lock()
	if !n.running || n.stopped {
		defer n.mu.Unlock()
		return f()
	}
	n.mu.Unlock()
	res := make(chan error, 1)
	n.post(func() { res <- f() })
	return <-res
}

// Run starts every instance and serves until ctx is done; then every
// master sends priority 0 and removes its addresses, notify_stop runs,
// and Run returns. A Node runs once.
func (n *Node) Run(ctx context.Context) error {
	n.mu.Lock()
	if n.running {
		n.mu.Unlock()
		return errors.New("vrrp: node already running")
	}
	n.running = true
	rt, err := openRuntimeIO(n.opts.netns, n.log)
	if err != nil {
		n.stopped = true
		n.mu.Unlock()
		return err
	}
	n.rt = rt
	n.runCtx = ctx
	n.addStatic(n.cfg)
	n.links = rt.linkStates()
	n.scriptOK = map[string]bool{}
	n.scripts = map[string]*scriptHandle{}
	n.startScripts(n.cfg.Scripts)
	n.startTrackers(n.cfg)
	rt.watchLinks(func(name string, up bool) {
		n.post(func() {
			if !n.stopped {
				n.vmacLinkEvent(name, up)
				n.onLink(name, up)
			}
		})
	})
	for _, name := range n.order {
		n.startInstance(n.insts[name])
	}
	n.syncGroupsLevel()
	n.mu.Unlock()

	retry := time.NewTicker(2 * time.Second)
	defer retry.Stop()
	for {
		select {
		case <-retry.C:
			// Instances whose socket could not be opened (interface or
			// source address missing) try again; address changes raise no
			// link event.
			n.mu.Lock()
			for _, name := range n.order {
				if inst := n.insts[name]; !inst.closed && inst.io == nil {
					n.setupIO(inst)
					n.evaluate(inst)
				}
			}
			n.syncGroupsLevel()
			n.mu.Unlock()
		case <-ctx.Done():
			n.mu.Lock()
			n.shutdown()
			n.stopped = true
			n.mu.Unlock()
			n.drainPosted()
			return nil
		case f := <-n.ev:
			n.mu.Lock()
			f()
			n.mu.Unlock()
		}
	}
}

// drainPosted answers calls that raced with shutdown.
func (n *Node) drainPosted() {
	for {
		select {
		case f := <-n.ev:
			n.mu.Lock()
			f()
			n.mu.Unlock()
		default:
			return
		}
	}
}

func (n *Node) shutdown() {
	now := n.opts.now()
	for _, name := range n.order {
		n.stopInstance(n.insts[name], now)
	}
	for _, s := range n.scripts {
		s.cancel()
	}
	n.stopTrackers()
	var notifiers []*notifier
	for _, name := range n.order {
		notifiers = append(notifiers, n.insts[name].notify)
	}
	for _, g := range n.groups {
		notifiers = append(notifiers, g.notify)
	}
	deadline := n.notifyTimeout() + time.Second
	start := time.Now()
	for _, nt := range notifiers {
		nt.wait(max(deadline-time.Since(start), 0))
	}
	// keepalived removes its static entries when it stops, too.
	for _, err := range n.rt.delStatic(n.cfg.StaticAddresses, n.cfg.StaticRoutes, n.cfg.StaticRules) {
		n.log.Error("remove static address, route or rule", "err", err)
	}
	n.rt.restoreRPFilter()
	n.rt.close()
}

// addStatic installs the static addresses, routes and rules of cfg.
func (n *Node) addStatic(cfg NodeConfig) {
	for _, err := range n.rt.addStatic(cfg.StaticAddresses, cfg.StaticRoutes, cfg.StaticRules) {
		n.log.Error("add static address, route or rule", "err", err)
	}
}

// updateStatic removes the static entries old has and cfg has not, then
// installs cfg's (those already there stay as they are).
func (n *Node) updateStatic(old, cfg NodeConfig) {
	gone := n.rt.delStatic(vipsMinusExact(old.StaticAddresses, cfg.StaticAddresses),
		routesMinus(old.StaticRoutes, cfg.StaticRoutes), rulesMinus(old.StaticRules, cfg.StaticRules))
	for _, err := range gone {
		n.log.Error("remove static address, route or rule", "err", err)
	}
	n.addStatic(cfg)
}

// stopInstance sends the STOP event (priority 0 + VIP removal when
// master) and closes the instance's sockets.
func (n *Node) stopInstance(inst *instance, now time.Time) {
	if inst.closed {
		return
	}
	n.step(inst, EvShutdown{Now: now})
	inst.closed = true
	if inst.cfg.NoAccept {
		if err := n.rt.noAccept(inst.cfg, false); err != nil {
			n.log.Error("no_accept", "instance", inst.cfg.Name, "err", err)
		}
	}
	for k, t := range inst.timers {
		if t != nil {
			t.Stop()
			inst.timers[k] = nil
		}
	}
	if inst.io != nil {
		inst.io.close()
		inst.io = nil
	}
	if inst.cfg.VMAC != nil {
		if err := n.rt.removeVMAC(inst.cfg); err != nil {
			n.log.Error("remove VMAC", "instance", inst.cfg.Name, "err", err)
		}
	}
}

func (n *Node) startInstance(inst *instance) {
	if inst.cfg.NoAccept {
		if err := n.rt.noAccept(inst.cfg, true); err != nil {
			n.log.Error("no_accept", "instance", inst.cfg.Name, "err", err)
		}
	}
	n.setupIO(inst)
	n.evaluate(inst)
	n.step(inst, EvStart{Now: n.opts.now()})
}

// setupIO (re)opens the instance's socket; failures leave the instance
// in FAULT with the error as reason until the next link event.
func (n *Node) setupIO(inst *instance) {
	if inst.io != nil {
		inst.io.close()
		inst.io = nil
	}
	if inst.cfg.VMAC != nil {
		if err := n.rt.ensureVMAC(inst.cfg); err != nil {
			inst.setupErr = err.Error()
			n.log.Warn("vrrp instance not ready", "instance", inst.cfg.Name, "vrid", inst.cfg.VRID, "err", err)
			return
		}
	}
	io, self, err := n.rt.openInstance(inst.cfg)
	if err != nil {
		inst.setupErr = err.Error()
		n.log.Warn("vrrp instance not ready", "instance", inst.cfg.Name, "vrid", inst.cfg.VRID, "err", err)
		return
	}
	inst.setupErr = ""
	inst.m.SetSelf(self)
	inst.io = io
	go n.receive(inst, io)
}

func (n *Node) receive(inst *instance, io *instanceIO) {
	buf := make([]byte, 65536)
	for {
		ev, err := io.conn.recv(buf, n.opts.now)
		if err != nil {
			if io.isClosed() {
				return
			}
			n.log.Debug("vrrp receive error", "instance", inst.cfg.Name, "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		n.run(func() {
			if inst.io == io && !inst.closed {
				n.step(inst, ev)
			}
		})
	}
}

// step feeds an event to an instance and executes the actions; events
// generated while executing (sync-group followers) are queued and run
// after, so actions of one step are never interleaved.
func (n *Node) step(inst *instance, ev Event) {
	n.queue = append(n.queue, stepReq{inst, ev})
	if n.stepping {
		return
	}
	n.stepping = true
	for len(n.queue) > 0 {
		r := n.queue[0]
		n.queue = n.queue[1:]
		if r.inst.closed {
			continue
		}
		n.exec(r.inst, r.inst.m.Step(r.ev))
		n.observeMaster(r.inst)
	}
	n.stepping = false
}

func (n *Node) exec(inst *instance, acts []Action) {
	log := n.log.With("instance", inst.cfg.Name, "vrid", inst.cfg.VRID)
	for _, a := range acts {
		switch a := a.(type) {
		case ActSendAdvert:
			if inst.io == nil {
				continue
			}
			if err := inst.io.sendAdvert(inst.cfg, inst.m.Self(), a.Advert); err != nil {
				log.Warn("send advert", "priority", a.Advert.Priority, "err", err)
			}
		case ActAddVIPs:
			for _, err := range n.rt.addVIPs(inst.cfg) {
				log.Error("add virtual address", "err", err)
			}
		case ActRemoveVIPs:
			for _, err := range n.rt.delVIPs(inst.cfg) {
				log.Error("remove virtual address", "err", err)
			}
		case ActGratuitous:
			n.rt.gratuitous(inst.cfg, a.Repeat, log)
		case ActSetTimer:
			n.setTimer(inst, a.Kind, a.At)
		case ActStopTimer:
			if t := inst.timers[a.Kind]; t != nil {
				t.Stop()
				inst.timers[a.Kind] = nil
			}
		case ActTransition:
			n.transitioned(inst, a)
		case ActDrop:
			if a.Reason == DropAuth && n.limiter.allow("auth|"+inst.cfg.Name+"|"+a.Src.String(), n.opts.now()) {
				log.Warn("VRRP advert with wrong authentication dropped (logged once a minute per source)",
					"source", a.Src.String(), "detail", a.Detail)
				continue
			}
			log.Debug("dropped VRRP packet", "reason", a.Reason, "detail", a.Detail)
		case ActOwnerAdvert:
			if n.limiter.allow("owner|"+inst.cfg.Name+"|"+a.Src.String(), n.opts.now()) {
				log.Warn("VRRP advert with priority 255 (address owner) from another node: it takes the virtual addresses "+
					"(RFC 5798); if no host of the group owns them, it is forged (logged once a minute per source)",
					"source", a.Src.String(), "state", inst.m.State().String(), "member", n.isKnown(a.Src))
			}
		}
	}
}

func (n *Node) setTimer(inst *instance, k TimerKind, at time.Time) {
	if t := inst.timers[k]; t != nil {
		t.Stop()
	}
	var t *time.Timer
	var fire func(attempt int)
	fire = func(attempt int) {
		n.run(func() {
			if inst.timers[k] != t || inst.closed {
				return
			}
			// A process that was not scheduled for a while (host load,
			// SIGSTOP) wakes with adverts still queued in the socket: let
			// the receiver deliver them before declaring the master down.
			if k == TimerMasterDown && attempt < 5 && inst.io != nil && inst.io.conn.pending() {
				time.AfterFunc(time.Millisecond, func() { fire(attempt + 1) })
				return
			}
			inst.timers[k] = nil
			n.step(inst, EvTimer{Now: n.opts.now(), Kind: k})
		})
	}
	t = time.AfterFunc(time.Until(at), func() { fire(0) })
	inst.timers[k] = t
}

func (n *Node) transitioned(inst *instance, t ActTransition) {
	gname := ""
	if inst.group != nil {
		gname = inst.group.cfg.Name
	}
	n.log.Info("vrrp transition", "instance", inst.cfg.Name, "vrid", inst.cfg.VRID,
		"from", t.From.String(), "to", t.To.String(), "reason", t.Reason, "priority", inst.m.Priority())
	inst.notify.enqueue(notifyJobs(inst.cfg.Notify, "INSTANCE", inst.cfg.Name, t.To, inst.m.Priority())...)
	if n.opts.onChange != nil {
		n.opts.onChange(StateChange{Instance: inst.cfg.Name, Group: gname, VRID: inst.cfg.VRID, From: t.From, To: t.To,
			Cause: t.Cause, Reason: t.Reason, Priority: inst.m.Priority(), At: t.At})
	}
	g := inst.group
	if g == nil {
		return
	}
	view := g.view()
	if i := slices.Index(g.members, inst); i >= 0 {
		for _, s := range FollowTransition(view, i, t) {
			n.step(g.members[s.Member], EvSync{Now: t.At, To: s.To, Reason: s.Reason})
		}
	}
	// Group notify once every member has reached the same state.
	if GroupReached(view, g.lastState, t.To) {
		g.lastState = t.To
		n.log.Info("vrrp sync group transition", "group", g.cfg.Name, "to", t.To.String())
		g.notify.enqueue(notifyJobs(g.cfg.Notify, "GROUP", g.cfg.Name, t.To, inst.m.Priority())...)
	}
}

// SetPriority sets the base priority (1..255) of an instance at run time
// (the cluster's placement); trackers still apply on top. A reload
// (Update) resets it to the configured value.
func (n *Node) SetPriority(instance string, prio int) error {
	if prio < 1 || prio > PriorityOwner {
		return fmt.Errorf("vrrp: priority %d out of 1..255", prio)
	}
	return n.call(func() error {
		inst := n.insts[instance]
		if inst == nil || inst.closed {
			return fmt.Errorf("vrrp: no instance %q", instance)
		}
		inst.base = prio
		if n.running && !n.stopped {
			n.evaluate(inst)
			n.syncGroupsLevel()
		} else {
			inst.cfg.Priority = prio
			inst.m.Step(EvPriority{Now: n.opts.now(), Base: prio, Effective: prio})
		}
		return nil
	})
}

// Update applies a reloaded configuration (SIGHUP). Instances whose
// name and identity (VRID, family, interface) are unchanged keep their
// state; VIP changes of a master are applied at once. Removed instances
// stop (priority 0, VIPs removed); new ones start. Runtime SetPriority
// overrides are reset to the configured priority.
func (n *Node) Update(cfg NodeConfig) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg.Instances = resolveVMACNames(cfg.Instances)
	if err := n.storeRunners(cfg); err != nil {
		return err
	}
	return n.call(func() error {
		if !n.running || n.stopped {
			n.cfg = cfg
			return n.build(cfg)
		}
		return n.reconfigure(cfg)
	})
}

func (n *Node) reconfigure(cfg NodeConfig) error {
	now := n.opts.now()
	old := n.cfg
	n.cfg = cfg
	n.updateStatic(old, cfg)
	n.startScripts(cfg.Scripts)
	n.startTrackers(cfg)
	keep := map[string]InstanceConfig{}
	for _, ic := range cfg.Instances {
		d := ic.withDefaults()
		if old := n.insts[ic.Name]; old != nil && !old.closed && old.cfg.Key() == d.Key() && vmacLinkSame(old.cfg, d) {
			keep[ic.Name] = d
		}
	}
	// Stop removed (or re-identified) instances first, so an address that
	// moves to a kept instance is not removed after that one added it.
	for _, name := range n.order {
		if _, ok := keep[name]; !ok {
			n.log.Info("vrrp instance removed by reload", "instance", name)
			n.stopInstance(n.insts[name], now)
		}
	}
	newInsts := map[string]*instance{}
	var order, started []string
	for _, ic := range cfg.Instances {
		if d, ok := keep[ic.Name]; ok {
			n.reconfigureInstance(n.insts[ic.Name], d)
			newInsts[ic.Name] = n.insts[ic.Name]
		} else {
			inst, err := n.newInstance(ic)
			if err != nil {
				return err // cannot happen after Validate
			}
			newInsts[ic.Name] = inst
			started = append(started, ic.Name)
		}
		order = append(order, ic.Name)
	}
	n.insts, n.order = newInsts, order
	n.buildGroups(cfg)
	for _, name := range started {
		n.startInstance(n.insts[name])
	}
	n.evaluateAll()
	return nil
}

func (n *Node) reconfigureInstance(inst *instance, d InstanceConfig) {
	old := inst.cfg
	if inst.m.State() == StateMaster {
		gone := InstanceConfig{Interface: old.Interface, VIPs: vipsMinus(old.VIPs, d.VIPs), ExcludedVIPs: vipsMinus(old.ExcludedVIPs, d.ExcludedVIPs),
			VirtualRoutes: routesMinus(old.VirtualRoutes, d.VirtualRoutes), VirtualRules: rulesMinus(old.VirtualRules, d.VirtualRules)}
		for _, err := range n.rt.delVIPs(gone) {
			n.log.Error("remove virtual address", "instance", d.Name, "err", err)
		}
	}
	if err := inst.m.Reconfigure(d); err != nil {
		n.log.Error("reconfigure", "instance", d.Name, "err", err)
		return
	}
	inst.cfg = d
	inst.base = d.Priority
	if d.NoAccept || old.NoAccept {
		if err := n.rt.noAccept(d, d.NoAccept); err != nil {
			n.log.Error("no_accept", "instance", d.Name, "err", err)
		}
	}
	if old.UnicastSrc != d.UnicastSrc || old.McastSrc != d.McastSrc || old.Unicast() != d.Unicast() || old.xmitBase() != d.xmitBase() {
		n.setupIO(inst)
	}
	if inst.m.State() == StateMaster {
		for _, err := range n.rt.addVIPs(d) {
			n.log.Error("add virtual address", "instance", d.Name, "err", err)
		}
		n.rt.gratuitous(d, d.GARP.MasterRepeat, n.log)
	}
}

func vipsMinus(a, b []VIP) []VIP {
	var out []VIP
	for _, v := range a {
		if !slices.ContainsFunc(b, func(w VIP) bool { return w.Prefix == v.Prefix && w.Dev == v.Dev }) {
			out = append(out, v)
		}
	}
	return out
}

// Status returns a snapshot of every instance in configuration order.
func (n *Node) Status() []InstanceStatus {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]InstanceStatus, 0, len(n.order))
	for _, name := range n.order {
		inst := n.insts[name]
		m := inst.m
		lt := m.LastTransition()
		s := InstanceStatus{
			Name: name, VRID: inst.cfg.VRID, Version: inst.cfg.Version, IPv6: inst.cfg.IPv6, Interface: inst.cfg.Interface,
			State: m.State(), Priority: m.Priority(), BasePriority: m.BasePriority(), Self: m.Self(),
			MasterAddr: m.MasterAddr(), MasterAdverInt: m.MasterAdverInterval(),
			LastTransition: lt.At, LastFrom: lt.From, LastReason: lt.Reason, Counters: m.Counters(),
			ForeignMaster: inst.foreign,
		}
		if inst.group != nil {
			s.Group = inst.group.cfg.Name
		}
		if m.State() == StateFault {
			s.Fault = m.FaultReason()
		}
		for _, v := range inst.cfg.VIPs {
			s.VIPs = append(s.VIPs, v.Prefix)
		}
		out = append(out, s)
	}
	return out
}

// SetKnownPeers tells the node the addresses of its group's members (the
// agent calls it whenever membership changes); nil means unknown and
// turns foreign master detection off. An instance whose master is none
// of these, none of this node's addresses and none of its unicast peers
// reports it in InstanceStatus.ForeignMaster and
// quadrature_vrrp_foreign_master, and logs a warning.
func (n *Node) SetKnownPeers(addrs []netip.Addr) {
	var known map[netip.Addr]bool
	if addrs != nil {
		known = make(map[netip.Addr]bool, len(addrs))
		for _, a := range addrs {
			if a.IsValid() {
				known[a.Unmap()] = true
			}
		}
	}
	_ = n.call(func() error {
		n.known = known
		for _, name := range n.order {
			n.observeMaster(n.insts[name])
		}
		return nil
	})
}

func (n *Node) isKnown(a netip.Addr) bool { return n.known[a.Unmap()] }

// ownAddrs returns the addresses this node sends adverts from.
func (n *Node) ownAddrs() []netip.Addr {
	var own []netip.Addr
	for _, name := range n.order {
		inst := n.insts[name]
		for _, a := range []netip.Addr{inst.m.Self(), inst.cfg.UnicastSrc, inst.cfg.McastSrc} {
			if a.IsValid() {
				own = append(own, a.Unmap())
			}
		}
	}
	return own
}

// observeMaster updates the instance's foreign master after a step (or a
// membership change) and warns while it is set, once a minute.
func (n *Node) observeMaster(inst *instance) {
	m := inst.m
	master := followedMaster(m.State(), m.MasterAddr(), m.Self())
	var foreign netip.Addr
	if isForeignMaster(master, n.known, n.ownAddrs(), inst.cfg.UnicastPeers) {
		foreign = master
	}
	prev := inst.foreign
	inst.foreign = foreign
	switch {
	case foreign.IsValid() && n.limiter.allow("foreign|"+inst.cfg.Name+"|"+foreign.String(), n.opts.now()):
		n.log.Warn("VRRP master is not a member of the group: a host outside the cluster holds the virtual addresses "+
			"(logged once a minute)", "instance", inst.cfg.Name, "vrid", inst.cfg.VRID, "master", foreign.String(),
			"state", m.State().String())
	case prev.IsValid() && !foreign.IsValid():
		n.log.Info("VRRP instance no longer follows a master outside the group", "instance", inst.cfg.Name,
			"vrid", inst.cfg.VRID, "was", prev.String(), "master", m.MasterAddr().String())
	}
}
