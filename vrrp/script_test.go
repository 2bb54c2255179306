package vrrp

import (
	"bufio"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPolicyScripts runs the scripts of testdata/policy: small programs
// that drive Machines and the policy functions (EvaluateTracking,
// FollowTransition, GroupFault, GroupReached) the way the Node does, on
// a fake clock, without root. A script is a list of commands, one a
// line ('#' starts a comment); times are offsets from the start of the
// script.
//
// Setting up:
//
//	config KEY=VALUE...           the instance "a" (see instance)
//	instance NAME KEY=VALUE...    an instance: vrid=51 prio=100 advert=1s
//	                              version=3 preempt=yes|no preempt_delay=DUR
//	                              self=192.0.2.1 if=eth0 vip=192.0.2.100/32
//	                              dont_track_primary=yes garp_delay=DUR
//	                              garp_repeat=N garp_refresh=DUR unicast=PEER
//	vrrp_script NAME [weight=W] [reverse] [init_fail]
//	track NAME|GROUP interface IF [weight=W] [reverse]
//	track NAME|GROUP script S [weight=W] [reverse]
//	sync group G NAME...
//
// Events (each one first forgets the actions of the previous command):
//
//	start [NAME...]               evaluate the trackers, EvStart, group level
//	at DUR / after DUR            advance the clock, firing every timer due
//	                              in order, each at its own deadline
//	recv [NAME] prio=N from=ADDR [interval=DUR] [vrid=N] [version=N] [ttl=N] [to=ADDR]
//	link IF up|down               then every instance is evaluated (once
//	script S ok|fail              started) and the group levels applied
//	fault NAME [REASON...]        a fault of the instance (its socket)
//	clear NAME                    the fault gone
//	fence NAME on|off             the quorum fence
//	priority NAME N               SetPriority
//	shutdown [NAME...]            EvShutdown
//
// Checks:
//
//	expect state [NAME] STATE
//	expect NAME STATE [NAME STATE...]
//	expect send [NAME] prio=N     an advert of priority N among the actions
//	expect nosend [NAME]          no advert among them
//	expect actions [NAME] KINDS...|none   exactly these actions (see kinds)
//	expect transition [NAME] FROM->TO [cause=C]   among the actions
//	expect notransition [NAME]
//	expect reason [NAME] TEXT...  the last transition's reason contains TEXT
//	expect timer [NAME] KIND=DUR|off...   deadlines (master_down, advert,
//	                              garp_delay, garp_refresh)
//	expect prio [NAME] N / expect base [NAME] N
//	expect fault [NAME] TEXT...   the fault reason contains TEXT
//	expect master [NAME] ADDR|none
//	expect adver_int [NAME] DUR
//	expect counter [NAME] transitions=N became_master=N sent=N prio0_sent=N received=N
//	expect group G STATE...       the group's notifications so far, in order
//
// NAME may be left out while the script has one instance.
func TestPolicyScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/policy/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts in testdata/policy (%v)", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			t.Parallel()
			runPolicyScript(t, f)
		})
	}
}

// world is what a Node holds, minus the I/O.
type world struct {
	t      testing.TB
	file   string
	line   int
	now    time.Duration
	insts  []*sinst
	groups []*sgroup

	links    map[string]bool
	scripts  []ScriptConfig
	scriptOK map[string]bool

	queue    []sreq
	stepping bool
	started  bool
	trace    []string
}

type sinst struct {
	name     string
	cfg      InstanceConfig
	m        *Machine
	base     int
	group    *sgroup
	setupErr string
	fenced   bool
	out      []Action // actions of the last command
}

type sgroup struct {
	cfg      GroupConfig
	members  []*sinst
	fault    bool
	last     State
	notified []State
}

type sreq struct {
	inst *sinst
	ev   Event
}

func runPolicyScript(t *testing.T, file string) {
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := &world{t: t, file: file, links: map[string]bool{}, scriptOK: map[string]bool{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		w.line++
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		args := strings.Fields(line)
		if len(args) == 0 {
			continue
		}
		if args[0] != "expect" {
			for _, in := range w.insts {
				in.out = nil
			}
		}
		w.command(args)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}

func (w *world) fatalf(format string, args ...any) {
	w.t.Helper()
	w.t.Fatalf("%s:%d: %s\ntransitions so far:\n\t%s", w.file, w.line, fmt.Sprintf(format, args...), strings.Join(w.trace, "\n\t"))
}

func (w *world) at() time.Time { return t0.Add(w.now) }

func (w *world) inst(name string) *sinst {
	for _, in := range w.insts {
		if in.name == name {
			return in
		}
	}
	return nil
}

func (w *world) group(name string) *sgroup {
	for _, g := range w.groups {
		if g.cfg.Name == name {
			return g
		}
	}
	return nil
}

// target takes an instance name off the front of args, or the only
// instance when there is one.
func (w *world) target(args []string) (*sinst, []string) {
	w.t.Helper()
	if len(args) > 0 {
		if in := w.inst(args[0]); in != nil {
			return in, args[1:]
		}
	}
	if len(w.insts) != 1 {
		w.fatalf("name the instance (%d defined)", len(w.insts))
	}
	return w.insts[0], args
}

func (w *world) dur(s string) time.Duration {
	w.t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		w.fatalf("duration %q: %v", s, err)
	}
	return d
}

func (w *world) int(s string) int {
	w.t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		w.fatalf("number %q: %v", s, err)
	}
	return n
}

func (w *world) addr(s string) netip.Addr {
	w.t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		w.fatalf("address %q: %v", s, err)
	}
	return a
}

func (w *world) state(s string) State {
	w.t.Helper()
	for i, n := range stateNames {
		if n == s {
			return State(i)
		}
	}
	w.fatalf("no state %q", s)
	return 0
}

// kv splits KEY=VALUE words; bare words map to "yes".
func (w *world) kv(args []string) map[string]string {
	m := map[string]string{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			v = "yes"
		}
		m[k] = v
	}
	return m
}

func (w *world) command(args []string) {
	w.t.Helper()
	switch args[0] {
	case "config":
		w.instance(append([]string{"a"}, args[1:]...))
	case "instance":
		if len(args) < 2 {
			w.fatalf("instance NAME ...")
		}
		w.instance(args[1:])
	case "vrrp_script":
		if len(args) < 2 {
			w.fatalf("vrrp_script NAME ...")
		}
		o := w.kv(args[2:])
		s := ScriptConfig{Name: args[1], Reverse: o["reverse"] == "yes", InitFail: o["init_fail"] == "yes"}
		if v, ok := o["weight"]; ok {
			s.Weight = w.int(v)
		}
		w.scripts = append(w.scripts, s)
	case "track":
		w.track(args[1:])
	case "sync":
		if len(args) < 4 || args[1] != "group" {
			w.fatalf("sync group G NAME...")
		}
		g := &sgroup{cfg: GroupConfig{Name: args[2], Instances: args[3:]}, last: StateInit}
		for _, name := range args[3:] {
			in := w.inst(name)
			if in == nil {
				w.fatalf("no instance %q", name)
			}
			in.group = g
			g.members = append(g.members, in)
		}
		w.groups = append(w.groups, g)
	case "start":
		for _, in := range w.named(args[1:]) {
			w.evaluate(in)
			w.step(in, EvStart{Now: w.at()})
		}
		w.started = true
		w.groupsLevel()
	case "at":
		if len(args) != 2 {
			w.fatalf("at DUR")
		}
		w.advance(w.dur(args[1]))
	case "after":
		if len(args) != 2 {
			w.fatalf("after DUR")
		}
		w.advance(w.now + w.dur(args[1]))
	case "recv":
		w.recv(args[1:])
	case "link":
		if len(args) != 3 || (args[2] != "up" && args[2] != "down") {
			w.fatalf("link IF up|down")
		}
		w.links[args[1]] = args[2] == "up"
		w.evaluateAll()
	case "script":
		if len(args) != 3 || (args[2] != "ok" && args[2] != "fail") {
			w.fatalf("script S ok|fail")
		}
		w.scriptOK[args[1]] = args[2] == "ok"
		w.evaluateAll()
	case "fault":
		in, rest := w.target(args[1:])
		in.setupErr = strings.Join(rest, " ")
		if in.setupErr == "" {
			in.setupErr = "injected fault"
		}
		w.evaluateAll()
	case "clear":
		in, _ := w.target(args[1:])
		in.setupErr = ""
		w.evaluateAll()
	case "fence":
		in, rest := w.target(args[1:])
		if len(rest) != 1 || (rest[0] != "on" && rest[0] != "off") {
			w.fatalf("fence NAME on|off")
		}
		in.fenced = rest[0] == "on"
		w.evaluateAll()
	case "priority":
		in, rest := w.target(args[1:])
		if len(rest) != 1 {
			w.fatalf("priority NAME N")
		}
		in.base = w.int(rest[0])
		w.evaluateAll()
	case "shutdown":
		for _, in := range w.named(args[1:]) {
			w.step(in, EvShutdown{Now: w.at()})
		}
	case "expect":
		if len(args) < 2 {
			w.fatalf("expect what?")
		}
		w.expect(args[1], args[2:])
	default:
		w.fatalf("unknown command %q", args[0])
	}
}

func (w *world) named(names []string) []*sinst {
	if len(names) == 0 {
		return w.insts
	}
	var out []*sinst
	for _, n := range names {
		in := w.inst(n)
		if in == nil {
			w.fatalf("no instance %q", n)
		}
		out = append(out, in)
	}
	return out
}

func (w *world) instance(args []string) {
	name := args[0]
	if w.inst(name) != nil {
		w.fatalf("instance %q defined twice", name)
	}
	o := w.kv(args[1:])
	get := func(k, def string) string {
		if v, ok := o[k]; ok {
			delete(o, k)
			return v
		}
		return def
	}
	c := InstanceConfig{
		Name: name, Interface: get("if", "eth0"), VRID: w.int(get("vrid", "51")), Version: w.int(get("version", "3")),
		Priority: w.int(get("prio", "100")), AdvertInterval: w.dur(get("advert", "1s")),
		NoPreempt: get("preempt", "yes") == "no", PreemptDelay: w.dur(get("preempt_delay", "0s")),
		DontTrackPrimary: get("dont_track_primary", "no") == "yes",
	}
	vip, err := netip.ParsePrefix(get("vip", "192.0.2.100/32"))
	if err != nil {
		w.fatalf("vip: %v", err)
	}
	c.VIPs = []VIP{{Prefix: vip}}
	g := DefaultGARP()
	g.MasterDelay = w.dur(get("garp_delay", g.MasterDelay.String()))
	g.MasterRepeat = w.int(get("garp_repeat", strconv.Itoa(g.MasterRepeat)))
	g.MasterRefresh = w.dur(get("garp_refresh", "0s"))
	c.GARP = &g
	if p, ok := o["unicast"]; ok {
		delete(o, "unicast")
		c.UnicastPeers = []netip.Addr{w.addr(p)}
	}
	self := w.addr(get("self", "192.0.2.1"))
	if len(o) > 0 {
		w.fatalf("unknown keys %v", o)
	}
	m, err := NewMachine(c, self)
	if err != nil {
		w.fatalf("%v", err)
	}
	if _, ok := w.links[c.Interface]; !ok {
		w.links[c.Interface] = true
	}
	w.insts = append(w.insts, &sinst{name: name, cfg: m.Config(), m: m, base: m.BasePriority()})
}

func (w *world) track(args []string) {
	if len(args) < 3 {
		w.fatalf("track NAME|GROUP interface|script WHAT ...")
	}
	var ifs *[]TrackInterface
	var scripts *[]TrackScript
	if in := w.inst(args[0]); in != nil {
		ifs, scripts = &in.cfg.TrackInterfaces, &in.cfg.TrackScripts
	} else if g := w.group(args[0]); g != nil {
		ifs, scripts = &g.cfg.TrackInterfaces, &g.cfg.TrackScripts
	} else {
		w.fatalf("no instance or group %q", args[0])
	}
	o := w.kv(args[3:])
	weight, hasWeight := 0, false
	if v, ok := o["weight"]; ok {
		weight, hasWeight = w.int(v), true
	}
	rev := o["reverse"] == "yes"
	switch args[1] {
	case "interface":
		*ifs = append(*ifs, TrackInterface{Name: args[2], Weight: weight, Reverse: rev})
		if _, ok := w.links[args[2]]; !ok {
			w.links[args[2]] = true
		}
	case "script":
		*scripts = append(*scripts, TrackScript{Name: args[2], Weight: weight, OverrideWeight: hasWeight, Reverse: rev})
	default:
		w.fatalf("track %s: interface or script", args[1])
	}
}

// advance moves the clock to to, firing every timer due on the way at
// its deadline (earliest first; ties in instance, then timer order).
func (w *world) advance(to time.Duration) {
	if to < w.now {
		w.fatalf("time goes back: %v after %v", to, w.now)
	}
	for {
		var next *sinst
		var kind TimerKind
		var when time.Duration
		for _, in := range w.insts {
			for k := range numTimers {
				dl := in.m.Deadline(k)
				if dl.IsZero() {
					continue
				}
				if d := dl.Sub(t0); d <= to && (next == nil || d < when) {
					next, kind, when = in, k, d
				}
			}
		}
		if next == nil {
			break
		}
		w.now = when
		w.step(next, EvTimer{Now: w.at(), Kind: kind})
	}
	w.now = to
}

func (w *world) recv(args []string) {
	in, rest := w.target(args)
	o := w.kv(rest)
	c := in.cfg
	a := Advert{Version: c.Version, VRID: uint8(c.VRID), Interval: c.AdvertInterval}
	for _, v := range c.VIPs {
		a.Addrs = append(a.Addrs, v.Prefix.Addr())
	}
	ev := EvPacket{Now: w.at(), Dst: in.m.group(), TTL: TTL}
	if c.Unicast() {
		ev.Dst = in.m.Self()
	}
	for k, v := range o {
		switch k {
		case "prio":
			a.Priority = uint8(w.int(v))
		case "from":
			ev.Src = w.addr(v)
		case "interval":
			a.Interval = w.dur(v)
		case "vrid":
			a.VRID = uint8(w.int(v))
		case "version":
			a.Version = w.int(v)
		case "ttl":
			ev.TTL = w.int(v)
		case "to":
			ev.Dst = w.addr(v)
		default:
			w.fatalf("recv: unknown key %q", k)
		}
	}
	if _, ok := o["prio"]; !ok || !ev.Src.IsValid() {
		w.fatalf("recv needs prio= and from=")
	}
	b, err := a.Marshal(c.IPv6, ev.Src, ev.Dst, c.V3ChecksumAsV2)
	if err != nil {
		w.fatalf("marshal: %v", err)
	}
	ev.Data = b
	w.step(in, ev)
}

// step is Node.step: events raised while executing (sync followers)
// queue behind the current one.
func (w *world) step(in *sinst, ev Event) {
	w.queue = append(w.queue, sreq{in, ev})
	if w.stepping {
		return
	}
	w.stepping = true
	for len(w.queue) > 0 {
		r := w.queue[0]
		w.queue = w.queue[1:]
		acts := r.inst.m.Step(r.ev)
		r.inst.out = append(r.inst.out, acts...)
		for _, a := range acts {
			if t, ok := a.(ActTransition); ok {
				w.transitioned(r.inst, t)
			}
		}
	}
	w.stepping = false
}

func view(g *sgroup) []GroupMember {
	v := make([]GroupMember, len(g.members))
	for i, m := range g.members {
		v[i] = GroupMember{Name: m.name, State: m.m.State(), OwnFault: m.m.OwnFault(), FaultReason: m.m.FaultReason()}
	}
	return v
}

// transitioned is the policy half of Node.transitioned.
func (w *world) transitioned(in *sinst, t ActTransition) {
	w.trace = append(w.trace, fmt.Sprintf("%v %s %v->%v cause=%v: %s", t.At.Sub(t0), in.name, t.From, t.To, t.Cause, t.Reason))
	g := in.group
	if g == nil {
		return
	}
	v := view(g)
	for _, s := range FollowTransition(v, slices.Index(g.members, in), t) {
		w.step(g.members[s.Member], EvSync{Now: t.At, To: s.To, Reason: s.Reason})
	}
	if GroupReached(v, g.last, t.To) {
		g.last = t.To
		g.notified = append(g.notified, t.To)
	}
}

// evaluate is Node.evaluate.
func (w *world) evaluate(in *sinst) {
	ti := TrackInput{Instance: in.cfg, Scripts: w.scripts, Base: in.base, Links: w.links, ScriptOK: w.scriptOK,
		SetupErr: in.setupErr, Fenced: in.fenced}
	if in.group != nil {
		ti.Group = &in.group.cfg
	}
	for _, ev := range EvaluateTracking(ti).Events(w.at(), in.base, in.m) {
		w.step(in, ev)
	}
}

func (w *world) groupsLevel() {
	for _, g := range w.groups {
		var steps []GroupStep
		g.fault, steps = GroupFault(view(g), g.fault)
		for _, s := range steps {
			w.step(g.members[s.Member], EvSync{Now: w.at(), To: s.To, Reason: s.Reason})
		}
	}
}

// evaluateAll is Node.evaluateAll; like the Node before Run, the world
// only records what changes before start.
func (w *world) evaluateAll() {
	if !w.started {
		return
	}
	for _, in := range w.insts {
		w.evaluate(in)
	}
	w.groupsLevel()
}

func (w *world) expect(what string, args []string) {
	w.t.Helper()
	if in := w.inst(what); in != nil {
		args = append([]string{what}, args...)
		if len(args)%2 != 0 {
			w.fatalf("expect NAME STATE [NAME STATE...]")
		}
		for i := 0; i < len(args); i += 2 {
			in := w.inst(args[i])
			if in == nil {
				w.fatalf("no instance %q", args[i])
			}
			if want := w.state(args[i+1]); in.m.State() != want {
				w.fatalf("%s is %v, want %v", in.name, in.m.State(), want)
			}
		}
		return
	}
	if what == "group" {
		if len(args) < 1 || w.group(args[0]) == nil {
			w.fatalf("expect group G STATE...")
		}
		g := w.group(args[0])
		var want []State
		for _, s := range args[1:] {
			want = append(want, w.state(s))
		}
		if !slices.Equal(g.notified, want) {
			w.fatalf("group %s notified %v, want %v", g.cfg.Name, g.notified, want)
		}
		return
	}
	in, rest := w.target(args)
	m := in.m
	one := func() string {
		if len(rest) != 1 {
			w.fatalf("expect %s [NAME] VALUE", what)
		}
		return rest[0]
	}
	switch what {
	case "state":
		if want := w.state(one()); m.State() != want {
			w.fatalf("%s is %v, want %v", in.name, m.State(), want)
		}
	case "send", "nosend":
		var sent []int
		for _, a := range in.out {
			if s, ok := a.(ActSendAdvert); ok {
				sent = append(sent, int(s.Advert.Priority))
			}
		}
		if what == "nosend" {
			if len(rest) != 0 || len(sent) != 0 {
				w.fatalf("%s sent adverts of priority %v, want none", in.name, sent)
			}
			return
		}
		p, ok := strings.CutPrefix(one(), "prio=")
		if !ok {
			w.fatalf("expect send [NAME] prio=N")
		}
		if !slices.Contains(sent, w.int(p)) {
			w.fatalf("%s sent adverts of priority %v, want one of %s (actions %s)", in.name, sent, p, kinds(in.out))
		}
	case "actions":
		want := strings.Join(rest, " ")
		if want == "none" {
			want = ""
		}
		if got := kinds(in.out); got != want {
			w.fatalf("%s actions\n\t%q\nwant\n\t%q", in.name, got, want)
		}
	case "transition", "notransition":
		var trs []ActTransition
		for _, a := range in.out {
			if t, ok := a.(ActTransition); ok {
				trs = append(trs, t)
			}
		}
		if what == "notransition" {
			if len(rest) != 0 || len(trs) != 0 {
				w.fatalf("%s made transitions %+v, want none", in.name, trs)
			}
			return
		}
		if len(rest) < 1 {
			w.fatalf("expect transition [NAME] FROM->TO [cause=C]")
		}
		from, to, ok := strings.Cut(rest[0], "->")
		if !ok {
			w.fatalf("transition %q: FROM->TO", rest[0])
		}
		wantCause := Cause(-1)
		for _, a := range rest[1:] {
			c, ok := strings.CutPrefix(a, "cause=")
			if !ok {
				w.fatalf("transition: unknown %q", a)
			}
			if wantCause, ok = ParseCause(c); !ok {
				w.fatalf("no cause %q", c)
			}
		}
		f, tt := w.state(from), w.state(to)
		for _, t := range trs {
			if t.From == f && t.To == tt && (wantCause < 0 || t.Cause == wantCause) {
				return
			}
		}
		w.fatalf("%s: no transition %v->%v cause %v among %+v", in.name, f, tt, wantCause, trs)
	case "reason":
		want := strings.Join(rest, " ")
		if got := m.LastTransition().Reason; !strings.Contains(got, want) {
			w.fatalf("%s: last reason %q, want it to contain %q", in.name, got, want)
		}
	case "fault":
		want := strings.Join(rest, " ")
		if got := m.FaultReason(); !strings.Contains(got, want) {
			w.fatalf("%s: fault reason %q, want it to contain %q", in.name, got, want)
		}
	case "timer":
		if len(rest) == 0 {
			w.fatalf("expect timer [NAME] KIND=DUR|off...")
		}
		for _, a := range rest {
			k, v, ok := strings.Cut(a, "=")
			kind := slices.Index(timerNames[:], k)
			if !ok || kind < 0 {
				w.fatalf("timer %q: KIND=DUR|off, KIND one of %v", a, timerNames)
			}
			dl := m.Deadline(TimerKind(kind))
			got := "off"
			if !dl.IsZero() {
				got = dl.Sub(t0).String()
			}
			want := v
			if v != "off" {
				want = w.dur(v).String()
			}
			if got != want {
				w.fatalf("%s: timer %s at %s, want %s", in.name, k, got, want)
			}
		}
	case "prio":
		if want := w.int(one()); m.Priority() != want {
			w.fatalf("%s: effective priority %d, want %d", in.name, m.Priority(), want)
		}
	case "base":
		if want := w.int(one()); m.BasePriority() != want {
			w.fatalf("%s: base priority %d, want %d", in.name, m.BasePriority(), want)
		}
	case "master":
		got, want := "none", one()
		if a := m.MasterAddr(); a.IsValid() {
			got = a.String()
		}
		if got != want {
			w.fatalf("%s: master %s, want %s", in.name, got, want)
		}
	case "adver_int":
		if want := w.dur(one()); m.MasterAdverInterval() != want {
			w.fatalf("%s: Master_Adver_Interval %v, want %v", in.name, m.MasterAdverInterval(), want)
		}
	case "counter":
		c := m.Counters()
		vals := map[string]uint64{"transitions": c.Transitions, "became_master": c.BecameMaster, "sent": c.AdvertsSent,
			"prio0_sent": c.PriorityZeroSent, "received": c.AdvertsReceived, "master_changes": c.MasterChanges}
		for _, a := range rest {
			k, v, ok := strings.Cut(a, "=")
			got, known := vals[k]
			if !ok || !known {
				w.fatalf("counter %q: one of %v", a, slices.Sorted(maps.Keys(vals)))
			}
			if want := uint64(w.int(v)); got != want {
				w.fatalf("%s: counter %s = %d, want %d", in.name, k, got, want)
			}
		}
	default:
		w.fatalf("unknown expectation %q", what)
	}
}
