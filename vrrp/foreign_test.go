package vrrp

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// RFC 5798 §6.4.2 / §6.4.3 with an advert of priority 255 (the address
// owner) from another host: it wins whatever our state and priority (the
// RFC's behaviour, kept), and it is counted and reported first.
func TestOwnerAdvertTakesOverAndIsCounted(t *testing.T) {
	const forger = "192.0.2.66"
	v2pass := func(c *InstanceConfig) { c.Version, c.AdvertInterval, c.AuthPass = 2, time.Second, "secret" }
	cases := []struct {
		name      string
		cfg       func(*InstanceConfig)
		prio      int // ours
		master    bool
		opts      []advOpt
		wantState State
		wantOwner uint64
		wantDrop  DropReason
		want      string // actions
	}{
		{name: "§6.4.2 backup: priority 255 is accepted, down timer reset", prio: 100, wantState: StateBackup, wantOwner: 1,
			want: "OwnerAdvert set(master_down)"},
		{name: "§6.4.2 backup with nopreempt: accepted alike", prio: 100, cfg: func(c *InstanceConfig) { c.NoPreempt = true },
			wantState: StateBackup, wantOwner: 1, want: "OwnerAdvert set(master_down)"},
		{name: "§6.4.3 master: priority 255 > ours, become backup and release the VIPs", prio: 254, master: true,
			wantState: StateBackup, wantOwner: 1,
			want: "OwnerAdvert stop(advert) stop(garp_delay) RemoveVIPs set(master_down) ->BACKUP"},
		{name: "§6.4.3 owner against owner: the higher address wins", prio: 255, master: true,
			wantState: StateBackup, wantOwner: 1,
			want: "OwnerAdvert stop(advert) stop(garp_delay) RemoveVIPs set(master_down) ->BACKUP"},
		{name: "v2 PASS with the right password: accepted", prio: 254, master: true, cfg: v2pass,
			opts: []advOpt{withAuth("secret")}, wantState: StateBackup, wantOwner: 1,
			want: "OwnerAdvert stop(advert) stop(garp_delay) RemoveVIPs set(master_down) ->BACKUP"},
		{name: "v2 PASS with a wrong password: dropped (reason auth), master stays", prio: 100, master: true, cfg: v2pass,
			opts: []advOpt{withAuth("guess")}, wantState: StateMaster, wantDrop: DropAuth, want: "drop(auth)"},
		{name: "v2 PASS without authentication: dropped (reason auth), backup stays", prio: 100, cfg: v2pass,
			opts:      []advOpt{func(a *Advert, _ *EvPacket) { a.AuthType, a.AuthData = AuthNone, [8]byte{} }},
			wantState: StateBackup, wantDrop: DropAuth, want: "drop(auth)"},
		{name: "v2 PASS with a wrong password to a backup: dropped, down timer untouched", prio: 100, cfg: v2pass,
			opts: []advOpt{withAuth("secreT")}, wantState: StateBackup, wantDrop: DropAuth, want: "drop(auth)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := v3cfg(c.prio, 100*ms)
			if c.cfg != nil {
				c.cfg(&cfg)
			}
			r := newRig(t, cfg)
			now := at(50 * ms)
			switch {
			case c.master && c.prio == PriorityOwner:
				r.start()
			case c.master:
				now = r.toMaster().Add(50 * ms)
			default:
				r.toBackup()
			}
			before := r.m.Deadline(TimerMasterDown)
			acts := r.m.Step(r.advert(now, forger, 255, c.opts...))
			if got := kinds(acts); got != c.want {
				t.Errorf("actions %q, want %q", got, c.want)
			}
			if r.m.State() != c.wantState {
				t.Errorf("state %v, want %v", r.m.State(), c.wantState)
			}
			cnt := r.m.Counters()
			if cnt.OwnerAdverts != c.wantOwner {
				t.Errorf("OwnerAdverts %d, want %d", cnt.OwnerAdverts, c.wantOwner)
			}
			if c.wantDrop != "" {
				d, _ := find[ActDrop](acts)
				if cnt.Drops[c.wantDrop] != 1 || cnt.AdvertsReceived != 0 || d.Src != netip.MustParseAddr(forger) {
					t.Errorf("counters %+v, drop %+v", cnt, d)
				}
				if r.m.Deadline(TimerMasterDown) != before {
					t.Errorf("a dropped advert moved the down timer")
				}
				return
			}
			if o, _ := find[ActOwnerAdvert](acts); o.Src != netip.MustParseAddr(forger) {
				t.Errorf("owner advert action %+v", o)
			}
			if r.m.MasterAddr() != netip.MustParseAddr(forger) {
				t.Errorf("master %v, want the forger", r.m.MasterAddr())
			}
		})
	}
	t.Run("priority 255 in FAULT: counted, then dropped as not running", func(t *testing.T) {
		r := newRig(t, v3cfg(100, 100*ms))
		r.toBackup()
		r.m.Step(EvFault{Now: at(ms), Fault: true, Reason: "link down"})
		acts := r.m.Step(r.advert(at(2*ms), forger, 255))
		if got := kinds(acts); got != "OwnerAdvert drop(not_running)" || r.m.Counters().OwnerAdverts != 1 {
			t.Errorf("actions %q, counters %+v", got, r.m.Counters())
		}
	})
	t.Run("our own priority 255 advert is not counted", func(t *testing.T) {
		r := newRig(t, v3cfg(255, 100*ms))
		r.start()
		acts := r.m.Step(r.advert(at(ms), "192.0.2.2", 255))
		if got := kinds(acts); got != "drop(own)" || r.m.Counters().OwnerAdverts != 0 {
			t.Errorf("actions %q, counters %+v", got, r.m.Counters())
		}
	})
}

func TestIsForeignMaster(t *testing.T) {
	a := netip.MustParseAddr
	members := map[netip.Addr]bool{a("192.0.2.1"): true, a("192.0.2.2"): true, a("2001:db8::1"): true}
	own := []netip.Addr{a("192.0.2.2"), a("198.51.100.2")}
	peers := []netip.Addr{a("203.0.113.9")}
	cases := []struct {
		name   string
		master netip.Addr
		known  map[netip.Addr]bool
		want   bool
	}{
		{"members unknown: detection off", a("192.0.2.66"), nil, false},
		{"no master yet", netip.Addr{}, members, false},
		{"a member", a("192.0.2.1"), members, false},
		{"a member, v4-mapped", a("::ffff:192.0.2.1"), members, false},
		{"an IPv6 member", a("2001:db8::1"), members, false},
		{"one of our addresses", a("198.51.100.2"), members, false},
		{"a configured unicast peer", a("203.0.113.9"), members, false},
		{"a stranger", a("192.0.2.66"), members, true},
		{"a stranger with an empty member list", a("192.0.2.66"), map[netip.Addr]bool{}, true},
		{"an IPv6 stranger", a("2001:db8::66"), members, true},
	}
	for _, c := range cases {
		if got := isForeignMaster(c.master, c.known, own, peers); got != c.want {
			t.Errorf("%s: isForeignMaster(%v) = %v, want %v", c.name, c.master, got, c.want)
		}
	}
	self := a("192.0.2.2")
	for _, c := range []struct {
		st   State
		m    netip.Addr
		want netip.Addr
	}{
		{StateBackup, a("192.0.2.66"), a("192.0.2.66")},
		{StateBackup, netip.Addr{}, netip.Addr{}},
		{StateMaster, self, netip.Addr{}},
		{StateFault, netip.Addr{}, netip.Addr{}},
		{StateInit, a("192.0.2.66"), netip.Addr{}},
	} {
		if got := followedMaster(c.st, c.m, self); got != c.want {
			t.Errorf("followedMaster(%v, %v) = %v, want %v", c.st, c.m, got, c.want)
		}
	}
}

func TestLogLimiter(t *testing.T) {
	l := newLogLimiter(time.Minute, 3)
	steps := []struct {
		key  string
		at   time.Duration
		want bool
	}{
		{"a", 0, true},
		{"a", time.Second, false},
		{"b", time.Second, true},
		{"a", 59 * time.Second, false},
		{"a", 61 * time.Second, true}, // a new minute
		{"c", 62 * time.Second, true},
		{"d", 63 * time.Second, true},
		{"e", 64 * time.Second, false}, // burst of 3 in this window used up
		{"e", 122 * time.Second, true},
	}
	for i, s := range steps {
		if got := l.allow(s.key, at(s.at)); got != s.want {
			t.Errorf("step %d: allow(%s, +%v) = %v, want %v", i, s.key, s.at, got, s.want)
		}
	}
}

// The node's glue without root: a forged owner advert taken by a backup
// makes the instance report the forger as a foreign master (status,
// gauge, counter, one warning a minute), and knowing the forger as a
// member clears it.
func TestNodeForeignMasterStatus(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	now := t0
	n, err := NewNode(lanConfig(100, 100*ms, "192.0.2.100/32", func(c *InstanceConfig) { c.UnicastSrc = netip.MustParseAddr("192.0.2.2") }),
		WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	n.opts.now = func() time.Time { return now }
	reg := prometheus.NewRegistry()
	if err := n.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	inst := n.insts["VI_1"]
	r := &rig{t: t, m: inst.m, self: netip.MustParseAddr("192.0.2.2")}
	feed := func(ev Event) {
		n.mu.Lock()
		defer n.mu.Unlock()
		// The machine's actions, minus the I/O (no sockets before Run).
		for _, a := range inst.m.Step(ev) {
			switch a.(type) {
			case ActOwnerAdvert, ActDrop:
				n.exec(inst, []Action{a})
			}
		}
		n.observeMaster(inst)
	}
	n.SetKnownPeers([]netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")})
	feed(EvStart{Now: now})
	feed(r.advert(now.Add(ms), "192.0.2.1", 150)) // a member is master
	if s := n.Status()[0]; s.ForeignMaster.IsValid() || s.MasterAddr != netip.MustParseAddr("192.0.2.1") {
		t.Fatalf("member master reported foreign: %+v", s)
	}
	for i := range 5 {
		now = t0.Add(time.Duration(i+2) * 100 * ms)
		feed(r.advert(now, "192.0.2.66", 255))
	}
	s := n.Status()[0]
	if s.ForeignMaster != netip.MustParseAddr("192.0.2.66") || s.Counters.OwnerAdverts != 5 {
		t.Fatalf("status %+v", s)
	}
	if got := metricValue(t, reg, "quadrature_vrrp_foreign_master"); got != 1 {
		t.Errorf("foreign_master gauge %v", got)
	}
	if got := metricValue(t, reg, "quadrature_vrrp_owner_adverts_total"); got != 5 {
		t.Errorf("owner_adverts_total %v", got)
	}
	out := logs.String()
	if c := strings.Count(out, "VRRP master is not a member of the group"); c != 1 {
		t.Errorf("%d foreign master warnings in a minute, want 1:\n%s", c, out)
	}
	if c := strings.Count(out, "priority 255"); c != 1 || !strings.Contains(out, "source=192.0.2.66") || !strings.Contains(out, "vrid=42") {
		t.Errorf("owner advert warnings:\n%s", out)
	}
	now = now.Add(time.Minute)
	feed(r.advert(now, "192.0.2.66", 255))
	if c := strings.Count(logs.String(), "VRRP master is not a member of the group"); c != 2 {
		t.Errorf("%d foreign master warnings after a minute, want 2", c)
	}
	// The forger turns out to be a member (e.g. a node joining): cleared.
	n.SetKnownPeers([]netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.66")})
	if s := n.Status()[0]; s.ForeignMaster.IsValid() {
		t.Errorf("still foreign after membership: %+v", s)
	}
	if got := metricValue(t, reg, "quadrature_vrrp_foreign_master"); got != 0 {
		t.Errorf("foreign_master gauge %v after membership", got)
	}
	// Unknown membership: detection off.
	n.SetKnownPeers([]netip.Addr{netip.MustParseAddr("192.0.2.1")})
	if !n.Status()[0].ForeignMaster.IsValid() {
		t.Fatal("not foreign again")
	}
	n.SetKnownPeers(nil)
	if s := n.Status()[0]; s.ForeignMaster.IsValid() {
		t.Errorf("foreign with unknown membership: %+v", s)
	}
}

// A wrong v2 password is dropped, counted under reason "auth" and
// warned about once a minute per source.
func TestNodeAuthDropMetric(t *testing.T) {
	var logs bytes.Buffer
	cfg := lanConfig(100, time.Second, "192.0.2.100/32", func(c *InstanceConfig) { c.Version, c.AuthPass = 2, "secret" })
	n, err := NewNode(cfg, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	n.opts.now = func() time.Time { return t0 }
	reg := prometheus.NewRegistry()
	if err := n.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	inst := n.insts["VI_1"]
	inst.m.SetSelf(netip.MustParseAddr("192.0.2.2"))
	r := &rig{t: t, m: inst.m, self: netip.MustParseAddr("192.0.2.2")}
	n.mu.Lock()
	inst.m.Step(EvStart{Now: t0})
	for range 3 {
		n.exec(inst, inst.m.Step(r.advert(t0.Add(ms), "192.0.2.66", 255, withAuth("guess"))))
	}
	n.mu.Unlock()
	if got := metricValue(t, reg, "quadrature_vrrp_packets_dropped_total", "reason", "auth"); got != 3 {
		t.Errorf("packets_dropped_total{reason=auth} = %v", got)
	}
	if got := metricValue(t, reg, "quadrature_vrrp_owner_adverts_total"); got != 0 {
		t.Errorf("owner_adverts_total %v for unauthenticated adverts", got)
	}
	if c := strings.Count(logs.String(), "wrong authentication"); c != 1 || !strings.Contains(logs.String(), "source=192.0.2.66") {
		t.Errorf("auth warnings:\n%s", logs.String())
	}
	if s := n.Status()[0]; s.State != StateBackup || s.MasterAddr.IsValid() {
		t.Errorf("status after forged adverts: %+v", s)
	}
}

// metricValue returns the value of the one sample of name whose labels
// include the given pairs.
func metricValue(t *testing.T, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if !hasLabel(m, labels[i], labels[i+1]) {
					continue next
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s%v", name, labels)
	return 0
}

func hasLabel(m *dto.Metric, k, v string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == k && l.GetValue() == v {
			return true
		}
	}
	return false
}
