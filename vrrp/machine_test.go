package vrrp

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const ms = time.Millisecond

func v3cfg(prio int, interval time.Duration) InstanceConfig {
	return InstanceConfig{
		Name: "VI_1", Interface: "eth0", VRID: 7, Version: 3, Priority: prio, AdvertInterval: interval,
		VIPs: []VIP{{Prefix: netip.MustParsePrefix("192.0.2.100/32")}},
		GARP: &GARPConfig{MasterDelay: 5 * time.Second, MasterRepeat: 5, MasterRefreshRepeat: 1},
	}
}

func v2cfg(prio int) InstanceConfig {
	c := v3cfg(prio, time.Second)
	c.Version = 2
	return c
}

// rig drives one Machine whose own address is 192.0.2.2.
type rig struct {
	t    testing.TB
	m    *Machine
	self netip.Addr
}

func newRig(t testing.TB, cfg InstanceConfig) *rig {
	t.Helper()
	self := netip.MustParseAddr("192.0.2.2")
	if cfg.withDefaults().IPv6 {
		self = netip.MustParseAddr("fe80::2")
	}
	m, err := NewMachine(cfg, self)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, m: m, self: self}
}

func at(d time.Duration) time.Time { return t0.Add(d) }

func (r *rig) start() []Action { return r.m.Step(EvStart{Now: t0}) }

// toBackup starts the rig (priority < 255) and checks it is in BACKUP.
func (r *rig) toBackup() {
	r.t.Helper()
	r.start()
	if r.m.State() != StateBackup {
		r.t.Fatalf("state %v after start, want BACKUP", r.m.State())
	}
}

// toMaster starts the rig and lets the down timer expire.
func (r *rig) toMaster() time.Time {
	r.t.Helper()
	r.toBackup()
	dl := r.m.Deadline(TimerMasterDown)
	r.m.Step(EvTimer{Now: dl, Kind: TimerMasterDown})
	if r.m.State() != StateMaster {
		r.t.Fatalf("state %v after down timer, want MASTER", r.m.State())
	}
	return dl
}

type advOpt func(*Advert, *EvPacket)

func withInterval(d time.Duration) advOpt { return func(a *Advert, _ *EvPacket) { a.Interval = d } }
func withTTL(ttl int) advOpt              { return func(_ *Advert, e *EvPacket) { e.TTL = ttl } }
func withDst(d string) advOpt {
	return func(_ *Advert, e *EvPacket) { e.Dst = netip.MustParseAddr(d) }
}
func withVRID(v uint8) advOpt  { return func(a *Advert, _ *EvPacket) { a.VRID = v } }
func withVersion(v int) advOpt { return func(a *Advert, _ *EvPacket) { a.Version = v } }
func withAddrs(s ...string) advOpt {
	return func(a *Advert, _ *EvPacket) {
		a.Addrs = nil
		for _, x := range s {
			a.Addrs = append(a.Addrs, netip.MustParseAddr(x))
		}
	}
}
func withAuth(pass string) advOpt {
	return func(a *Advert, _ *EvPacket) { a.AuthType = AuthPass; copy(a.AuthData[:], pass) }
}

// advert builds a well-formed advert for the rig's instance from src.
func (r *rig) advert(now time.Time, src string, prio int, opts ...advOpt) EvPacket {
	r.t.Helper()
	c := r.m.Config()
	a := Advert{Version: c.Version, VRID: uint8(c.VRID), Priority: uint8(prio), Interval: c.AdvertInterval}
	for _, v := range c.VIPs {
		a.Addrs = append(a.Addrs, v.Prefix.Addr())
	}
	e := EvPacket{Now: now, Src: netip.MustParseAddr(src), Dst: r.m.group(), TTL: TTL}
	if c.Unicast() {
		e.Dst = r.self
	}
	for _, o := range opts {
		o(&a, &e)
	}
	b, err := a.Marshal(c.IPv6, e.Src, e.Dst, c.V3ChecksumAsV2)
	if err != nil {
		r.t.Fatal(err)
	}
	e.Data = b
	return e
}

func find[T Action](acts []Action) (T, bool) {
	for _, a := range acts {
		if x, ok := a.(T); ok {
			return x, true
		}
	}
	var z T
	return z, false
}

func kinds(acts []Action) string {
	var s []string
	for _, a := range acts {
		switch a := a.(type) {
		case ActSendAdvert:
			s = append(s, fmt.Sprintf("advert(%d)", a.Advert.Priority))
		case ActSetTimer:
			s = append(s, "set("+a.Kind.String()+")")
		case ActStopTimer:
			s = append(s, "stop("+a.Kind.String()+")")
		case ActTransition:
			s = append(s, "->"+a.To.String())
		case ActGratuitous:
			s = append(s, fmt.Sprintf("garp(%d)", a.Repeat))
		case ActDrop:
			s = append(s, "drop("+string(a.Reason)+")")
		default:
			s = append(s, strings.TrimPrefix(reflect.TypeOf(a).Name(), "Act"))
		}
	}
	return strings.Join(s, " ")
}

// RFC 5798 §6.1 / RFC 3768 §6.1 timer definitions.
func TestMasterDownInterval(t *testing.T) {
	cases := []struct {
		version  int
		prio     int
		interval time.Duration
		skew     time.Duration
		down     time.Duration
	}{
		{2, 100, time.Second, 609375 * time.Microsecond, 3609375 * time.Microsecond},
		{2, 200, time.Second, 218750 * time.Microsecond, 3218750 * time.Microsecond},
		{2, 254, time.Second, 7812500 * time.Nanosecond, 3007812500 * time.Nanosecond},
		{2, 1, time.Second, 996093750 * time.Nanosecond, 3996093750 * time.Nanosecond},
		{2, 100, 3 * time.Second, 609375 * time.Microsecond, 9609375 * time.Microsecond}, // v2 skew ignores the interval
		{3, 100, 100 * ms, 60937500 * time.Nanosecond, 360937500 * time.Nanosecond},
		{3, 100, time.Second, 609375 * time.Microsecond, 3609375 * time.Microsecond},
		{3, 200, 100 * ms, 21875 * time.Microsecond, 321875 * time.Microsecond},
		{3, 255, 100 * ms, 390625 * time.Nanosecond, 300390625 * time.Nanosecond},
		{3, 1, 20 * ms, 19921875 * time.Nanosecond, 79921875 * time.Nanosecond},
	}
	for _, c := range cases {
		name := fmt.Sprintf("v%d prio %d interval %v", c.version, c.prio, c.interval)
		if got := SkewTime(c.version, c.prio, c.interval); got != c.skew {
			t.Errorf("%s: Skew_Time = %v, want %v", name, got, c.skew)
		}
		if got := MasterDownInterval(c.version, c.prio, c.interval); got != c.down {
			t.Errorf("%s: Master_Down_Interval = %v, want %v", name, got, c.down)
		}
	}
}

func TestEffectivePriority(t *testing.T) {
	cases := []struct {
		base    int
		weights []int
		want    int
	}{
		{100, nil, 100},
		{100, []int{20}, 120},
		{100, []int{-30, 10}, 80},
		{250, []int{20}, 254},   // never reaches 255
		{10, []int{-50}, 1},     // never below 1
		{255, []int{-100}, 255}, // owner untouched
		{254, []int{0}, 254},
	}
	for _, c := range cases {
		if got := EffectivePriority(c.base, c.weights...); got != c.want {
			t.Errorf("EffectivePriority(%d, %v) = %d, want %d", c.base, c.weights, got, c.want)
		}
	}
}

// §6.4.1 Initialize.
func TestStartup(t *testing.T) {
	t.Run("owner (255) becomes master at once: advert first, then VIPs, then GARP", func(t *testing.T) {
		r := newRig(t, v3cfg(255, 100*ms))
		acts := r.start()
		if got, want := kinds(acts), "advert(255) AddVIPs garp(5) set(advert) set(garp_delay) ->MASTER"; got != want {
			t.Errorf("actions %q, want %q", got, want)
		}
		if r.m.Deadline(TimerAdvert) != at(100*ms) {
			t.Errorf("advert timer %v", r.m.Deadline(TimerAdvert))
		}
	})
	t.Run("non-owner enters backup with Master_Down_Interval, removing addresses a killed process left", func(t *testing.T) {
		r := newRig(t, v3cfg(100, 100*ms))
		acts := r.start()
		if got, want := kinds(acts), "RemoveVIPs set(master_down) ->BACKUP"; got != want {
			t.Errorf("actions %q, want %q", got, want)
		}
		if got := r.m.Deadline(TimerMasterDown); got != at(360937500) {
			t.Errorf("down timer at %v, want t0+360.9375ms", got.Sub(t0))
		}
	})
	t.Run("state MASTER below 255 still starts in backup", func(t *testing.T) {
		c := v2cfg(150)
		c.WantMaster = true
		r := newRig(t, c)
		r.start()
		if r.m.State() != StateBackup {
			t.Errorf("state %v", r.m.State())
		}
	})
	t.Run("faulty at start enters FAULT", func(t *testing.T) {
		r := newRig(t, v3cfg(255, 100*ms))
		r.m.Step(EvFault{Now: t0, Fault: true, Reason: "interface eth0 down"})
		acts := r.start()
		if got := kinds(acts); got != "RemoveVIPs ->FAULT" {
			t.Errorf("actions %q", got)
		}
	})
}

// §6.4.2 Backup.
func TestBackupReceivesAdvert(t *testing.T) {
	const peer = "192.0.2.9"
	cases := []struct {
		name      string
		cfg       func(*InstanceConfig)
		prio      int
		opts      []advOpt
		wantDown  time.Duration // new down deadline relative to the advert; 0 = unchanged
		wantState State
	}{
		{name: "higher priority: accept, reset down timer", prio: 200, wantDown: 360937500},
		{name: "equal priority: accept", prio: 100, wantDown: 360937500},
		{name: "lower priority with preempt: discard, timer keeps running", prio: 50},
		{name: "lower priority with nopreempt: accept", cfg: func(c *InstanceConfig) { c.NoPreempt = true }, prio: 50, wantDown: 360937500},
		{name: "priority 0: down timer = Skew_Time", prio: 0, wantDown: 60937500},
		{name: "v3 adopts the master's interval", prio: 200, opts: []advOpt{withInterval(200 * ms)}, wantDown: 600*ms + 121875*time.Microsecond},
		{name: "v3 priority 0 skew uses the adopted interval", prio: 0, opts: []advOpt{withInterval(100 * ms)}, wantDown: 60937500},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := v3cfg(100, 100*ms)
			if c.cfg != nil {
				c.cfg(&cfg)
			}
			r := newRig(t, cfg)
			r.toBackup()
			before := r.m.Deadline(TimerMasterDown)
			now := at(100 * ms)
			acts := r.m.Step(r.advert(now, peer, c.prio, c.opts...))
			if _, ok := find[ActDrop](acts); ok {
				t.Fatalf("dropped: %s", kinds(acts))
			}
			got := r.m.Deadline(TimerMasterDown)
			if c.wantDown == 0 {
				if got != before || len(acts) != 0 {
					t.Errorf("down timer %v (was %v), actions %q; want unchanged", got.Sub(t0), before.Sub(t0), kinds(acts))
				}
			} else if got != now.Add(c.wantDown) {
				t.Errorf("down timer in %v, want %v", got.Sub(now), c.wantDown)
			}
			if r.m.State() != StateBackup {
				t.Errorf("state %v", r.m.State())
			}
			if c.wantDown != 0 && c.prio != 0 && r.m.MasterAddr() != netip.MustParseAddr(peer) {
				t.Errorf("master address %v", r.m.MasterAddr())
			}
		})
	}
}

func TestBackupTakesOver(t *testing.T) {
	t.Run("down timer expiry: advert, VIPs, GARP, MASTER", func(t *testing.T) {
		r := newRig(t, v2cfg(100))
		r.toBackup()
		acts := r.m.Step(EvTimer{Now: at(3609375 * time.Microsecond), Kind: TimerMasterDown})
		if got, want := kinds(acts), "advert(100) AddVIPs garp(5) set(advert) set(garp_delay) ->MASTER"; got != want {
			t.Errorf("actions %q, want %q", got, want)
		}
		tr, _ := find[ActTransition](acts)
		if !strings.Contains(tr.Reason, "Master_Down_Interval") {
			t.Errorf("reason %q", tr.Reason)
		}
	})
	t.Run("release: takeover after skew time only", func(t *testing.T) {
		r := newRig(t, v2cfg(100))
		r.toBackup()
		r.m.Step(r.advert(at(time.Second), "192.0.2.9", 0))
		dl := r.m.Deadline(TimerMasterDown)
		if dl != at(time.Second+609375*time.Microsecond) {
			t.Fatalf("down timer %v", dl.Sub(t0))
		}
		acts := r.m.Step(EvTimer{Now: dl, Kind: TimerMasterDown})
		tr, _ := find[ActTransition](acts)
		if tr.To != StateMaster || !strings.Contains(tr.Reason, "priority 0") {
			t.Errorf("transition %+v", tr)
		}
	})
	t.Run("stale (early) timer event is ignored", func(t *testing.T) {
		r := newRig(t, v2cfg(100))
		r.toBackup()
		r.m.Step(r.advert(at(2*time.Second), "192.0.2.9", 200))
		if acts := r.m.Step(EvTimer{Now: at(3609375 * time.Microsecond), Kind: TimerMasterDown}); len(acts) != 0 || r.m.State() != StateBackup {
			t.Errorf("early timer acted: %q", kinds(acts))
		}
	})
	t.Run("higher-priority backup preempts a lower master by timing out", func(t *testing.T) {
		r := newRig(t, v3cfg(200, 100*ms))
		r.toBackup()
		for i := 1; i <= 3; i++ {
			r.m.Step(r.advert(at(time.Duration(i)*100*ms), "192.0.2.9", 100))
		}
		if dl := r.m.Deadline(TimerMasterDown); dl != at(321875*time.Microsecond) {
			t.Errorf("down timer %v, want the initial one", dl.Sub(t0))
		}
	})
}

func TestPreemptDelay(t *testing.T) {
	cfg := v3cfg(200, 100*ms)
	cfg.PreemptDelay = time.Second
	r := newRig(t, cfg)
	r.toBackup()
	// Lower-priority adverts are accepted for preempt_delay after the first one.
	for _, d := range []time.Duration{100 * ms, 500 * ms, 1050 * ms} {
		now := at(d)
		r.m.Step(r.advert(now, "192.0.2.9", 100))
		if dl := r.m.Deadline(TimerMasterDown); dl != now.Add(MasterDownInterval(3, 200, 100*ms)) {
			t.Fatalf("at %v: down timer not reset (%v)", d, dl.Sub(t0))
		}
	}
	// After it, they are discarded and the down timer takes us to MASTER.
	r.m.Step(r.advert(at(1150*ms), "192.0.2.9", 100))
	dl := r.m.Deadline(TimerMasterDown)
	if dl != at(1050*ms).Add(MasterDownInterval(3, 200, 100*ms)) {
		t.Fatalf("down timer reset after preempt_delay: %v", dl.Sub(t0))
	}
	r.m.Step(EvTimer{Now: dl, Kind: TimerMasterDown})
	if r.m.State() != StateMaster {
		t.Fatalf("state %v", r.m.State())
	}
}

// §6.4.3 Master.
func TestMasterReceivesAdvert(t *testing.T) {
	cases := []struct {
		name      string
		src       string
		prio      int
		wantState State
		want      string
	}{
		{"priority 0: send an advert now, stay master", "192.0.2.9", 0, StateMaster, "advert(100) set(advert)"},
		{"higher priority: backup, release VIPs without priority 0", "192.0.2.9", 150, StateBackup, "stop(advert) stop(garp_delay) RemoveVIPs set(master_down) ->BACKUP"},
		{"equal priority from a higher address: backup", "192.0.2.9", 100, StateBackup, "stop(advert) stop(garp_delay) RemoveVIPs set(master_down) ->BACKUP"},
		{"equal priority from a lower address: stay master, force election", "192.0.2.1", 100, StateMaster, "advert(100)"},
		{"lower priority: stay master, force election", "192.0.2.9", 50, StateMaster, "advert(100)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, v3cfg(100, 100*ms))
			became := r.toMaster()
			now := became.Add(50 * ms)
			acts := r.m.Step(r.advert(now, c.src, c.prio, withInterval(200*ms)))
			if got := kinds(acts); got != c.want {
				t.Errorf("actions %q, want %q", got, c.want)
			}
			if r.m.State() != c.wantState {
				t.Errorf("state %v, want %v", r.m.State(), c.wantState)
			}
			if c.wantState == StateBackup {
				// v3: Master_Adver_Interval adopted from the new master.
				if dl := r.m.Deadline(TimerMasterDown); dl != now.Add(MasterDownInterval(3, 100, 200*ms)) {
					t.Errorf("down timer in %v", dl.Sub(now))
				}
				if r.m.MasterAddr() != netip.MustParseAddr(c.src) {
					t.Errorf("master %v", r.m.MasterAddr())
				}
			}
			if c.prio == 0 && r.m.Deadline(TimerAdvert) != now.Add(100*ms) {
				t.Errorf("advert timer not reset")
			}
		})
	}
}

func TestMasterTimers(t *testing.T) {
	cfg := v3cfg(100, 100*ms)
	cfg.GARP = &GARPConfig{MasterDelay: 5 * time.Second, MasterRepeat: 5, MasterRefresh: 30 * time.Second, MasterRefreshRepeat: 2}
	r := newRig(t, cfg)
	became := r.toMaster()
	acts := r.m.Step(EvTimer{Now: became.Add(100 * ms), Kind: TimerAdvert})
	if got := kinds(acts); got != "advert(100) set(advert)" {
		t.Errorf("advert timer: %q", got)
	}
	if got := kinds(r.m.Step(EvTimer{Now: became.Add(5 * time.Second), Kind: TimerGARPDelay})); got != "garp(5)" {
		t.Errorf("garp delay: %q", got)
	}
	if got := kinds(r.m.Step(EvTimer{Now: became.Add(30 * time.Second), Kind: TimerGARPRefresh})); got != "garp(2) set(garp_refresh)" {
		t.Errorf("garp refresh: %q", got)
	}
}

func TestShutdown(t *testing.T) {
	t.Run("master sends priority 0 and removes VIPs", func(t *testing.T) {
		r := newRig(t, v3cfg(100, 100*ms))
		became := r.toMaster()
		acts := r.m.Step(EvShutdown{Now: became.Add(time.Second)})
		if got, want := kinds(acts), "advert(0) RemoveVIPs stop(advert) stop(garp_delay) ->STOP"; got != want {
			t.Errorf("actions %q, want %q", got, want)
		}
		if c := r.m.Counters(); c.PriorityZeroSent != 1 {
			t.Errorf("priority-0 sent %d", c.PriorityZeroSent)
		}
	})
	t.Run("backup just stops", func(t *testing.T) {
		r := newRig(t, v3cfg(100, 100*ms))
		r.toBackup()
		if got := kinds(r.m.Step(EvShutdown{Now: at(time.Second)})); got != "stop(master_down) ->STOP" {
			t.Errorf("actions %q", got)
		}
	})
}

func TestFault(t *testing.T) {
	r := newRig(t, v3cfg(100, 100*ms))
	became := r.toMaster()
	acts := r.m.Step(EvFault{Now: became.Add(time.Second), Fault: true, Reason: "interface eth0 down"})
	if got, want := kinds(acts), "advert(0) RemoveVIPs stop(advert) stop(garp_delay) ->FAULT"; got != want {
		t.Errorf("to fault: %q, want %q", got, want)
	}
	// Adverts are ignored in FAULT.
	if acts := r.m.Step(r.advert(became.Add(1500*ms), "192.0.2.9", 200)); kinds(acts) != "drop(not_running)" {
		t.Errorf("advert in FAULT: %q", kinds(acts))
	}
	acts = r.m.Step(EvFault{Now: became.Add(2 * time.Second), Fault: false, Reason: "fault cleared"})
	if got := kinds(acts); got != "set(master_down) ->BACKUP" {
		t.Errorf("fault cleared: %q", got)
	}
}

func TestSyncGroupFollow(t *testing.T) {
	r := newRig(t, v3cfg(100, 100*ms))
	r.toBackup()
	if got := kinds(r.m.Step(EvSync{Now: at(time.Second), To: StateMaster, Reason: "VI_2 MASTER"})); !strings.HasSuffix(got, "->MASTER") {
		t.Errorf("follow master: %q", got)
	}
	if got := kinds(r.m.Step(EvSync{Now: at(2 * time.Second), To: StateBackup, Reason: "VI_2 BACKUP"})); !strings.HasSuffix(got, "->BACKUP") || !strings.Contains(got, "RemoveVIPs") {
		t.Errorf("follow backup: %q", got)
	}
	if got := kinds(r.m.Step(EvSync{Now: at(3 * time.Second), To: StateFault, Reason: "VI_2 down"})); got != "stop(master_down) ->FAULT" {
		t.Errorf("follow fault: %q", got)
	}
	// A member's own fault keeps it in FAULT when the group recovers.
	r.m.Step(EvFault{Now: at(4 * time.Second), Fault: true, Reason: "own"})
	if got := kinds(r.m.Step(EvSync{Now: at(5 * time.Second), To: StateBackup, Reason: "healthy"})); got != "" || r.m.State() != StateFault {
		t.Errorf("own fault overridden: %q %v", got, r.m.State())
	}
	if got := kinds(r.m.Step(EvFault{Now: at(6 * time.Second), Fault: false})); got != "set(master_down) ->BACKUP" {
		t.Errorf("recovery: %q", got)
	}
}

func TestPriorityChange(t *testing.T) {
	r := newRig(t, v3cfg(100, 100*ms))
	became := r.toMaster()
	r.m.Step(EvPriority{Now: became, Base: 100, Effective: 300})
	if r.m.Priority() != 254 {
		t.Errorf("effective %d, want clamped 254", r.m.Priority())
	}
	acts := r.m.Step(EvTimer{Now: became.Add(100 * ms), Kind: TimerAdvert})
	if a, _ := find[ActSendAdvert](acts); a.Advert.Priority != 254 {
		t.Errorf("advert priority %d", a.Advert.Priority)
	}
	// A backup raised to 255 becomes master at once.
	b := newRig(t, v3cfg(100, 100*ms))
	b.toBackup()
	b.m.Step(EvPriority{Now: at(time.Second), Base: 255, Effective: 255})
	if b.m.State() != StateMaster {
		t.Errorf("state %v", b.m.State())
	}
}

// Receive validation: every bad packet is dropped, counted under its
// reason, and changes nothing.
func TestValidationDrops(t *testing.T) {
	const peer = "192.0.2.9"
	cases := []struct {
		name string
		cfg  func(*InstanceConfig)
		pkt  func(r *rig) EvPacket
		want DropReason
	}{
		{"too short", nil, func(r *rig) EvPacket { e := r.advert(at(ms), peer, 200); e.Data = e.Data[:7]; return e }, DropTooShort},
		{"wrong family source", nil, func(r *rig) EvPacket { e := r.advert(at(ms), peer, 200); e.Src = src6; return e }, DropMalformed},
		{"multicast TTL 254", nil, func(r *rig) EvPacket { return r.advert(at(ms), peer, 200, withTTL(254)) }, DropTTL},
		{"multicast TTL 1", nil, func(r *rig) EvPacket { return r.advert(at(ms), peer, 200, withTTL(1)) }, DropTTL},
		{"version 2 to a v3 instance", nil, func(r *rig) EvPacket {
			return r.advert(at(ms), peer, 200, withVersion(2), withInterval(time.Second))
		}, DropVersion},
		{"other VRID", nil, func(r *rig) EvPacket { return r.advert(at(ms), peer, 200, withVRID(8)) }, DropVRID},
		{"bad checksum", nil, func(r *rig) EvPacket { e := r.advert(at(ms), peer, 200); e.Data[7] ^= 0xff; return e }, DropChecksum},
		{"checksum without pseudo-header when it is expected", nil, func(r *rig) EvPacket {
			e := r.advert(at(ms), peer, 200)
			c := Checksum(e.Data, 3, false, netip.Addr{}, netip.Addr{}, true)
			e.Data[6], e.Data[7] = byte(c>>8), byte(c)
			return e
		}, DropChecksum},
		{"own advert", nil, func(r *rig) EvPacket { return r.advert(at(ms), "192.0.2.2", 200) }, DropOwn},
		{"unicast advert in multicast mode", nil, func(r *rig) EvPacket { return r.advert(at(ms), peer, 200, withDst("192.0.2.2")) }, DropDestination},
		{"other multicast group", nil, func(r *rig) EvPacket { return r.advert(at(ms), peer, 200, withDst("224.0.0.19")) }, DropDestination},
		{"multicast advert in unicast mode", func(c *InstanceConfig) { c.UnicastPeers = []netip.Addr{netip.MustParseAddr(peer)} },
			func(r *rig) EvPacket { return r.advert(at(ms), peer, 200, withDst("224.0.0.18")) }, DropDestination},
		{"unicast from a stranger with check_unicast_src", func(c *InstanceConfig) {
			c.UnicastPeers = []netip.Addr{netip.MustParseAddr(peer)}
			c.CheckUnicastSrc = true
		}, func(r *rig) EvPacket { return r.advert(at(ms), "192.0.2.77", 200) }, DropUnicastSrc},
		{"v2 without auth to a PASS instance", func(c *InstanceConfig) { c.Version, c.AdvertInterval, c.AuthPass = 2, time.Second, "secret" },
			func(r *rig) EvPacket {
				e := r.advert(at(ms), peer, 200)
				a, _ := Decode(e.Data, false)
				a.AuthType, a.AuthData = AuthNone, [8]byte{}
				e.Data, _ = a.Marshal(false, e.Src, e.Dst, false)
				return e
			}, DropAuth},
		{"v2 wrong password", func(c *InstanceConfig) { c.Version, c.AdvertInterval, c.AuthPass = 2, time.Second, "secret" },
			func(r *rig) EvPacket {
				e := r.advert(at(ms), peer, 200)
				a, _ := Decode(e.Data, false)
				copy(a.AuthData[:], "Secret\x00\x00")
				e.Data, _ = a.Marshal(false, e.Src, e.Dst, false)
				return e
			}, DropAuth},
		{"v2 interval mismatch", func(c *InstanceConfig) { c.Version, c.AdvertInterval = 2, time.Second },
			func(r *rig) EvPacket { return r.advert(at(ms), peer, 200, withInterval(2*time.Second)) }, DropInterval},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := v3cfg(100, 100*ms)
			if c.cfg != nil {
				c.cfg(&cfg)
			}
			r := newRig(t, cfg)
			r.toBackup()
			before := r.m.Deadline(TimerMasterDown)
			acts := r.m.Step(c.pkt(r))
			d, ok := find[ActDrop](acts)
			if !ok || d.Reason != c.want || len(acts) != 1 {
				t.Fatalf("actions %q, want drop(%s)", kinds(acts), c.want)
			}
			cnt := r.m.Counters()
			if cnt.Drops[c.want] != 1 || cnt.TotalDrops() != 1 || cnt.AdvertsReceived != 0 {
				t.Errorf("counters %+v", cnt)
			}
			if r.m.Deadline(TimerMasterDown) != before || r.m.State() != StateBackup {
				t.Errorf("state changed by a dropped packet")
			}
		})
	}
}

func TestAcceptedDespiteMismatch(t *testing.T) {
	t.Run("v3 interval mismatch is counted and adopted", func(t *testing.T) {
		r := newRig(t, v3cfg(100, 100*ms))
		r.toBackup()
		r.m.Step(r.advert(at(ms), "192.0.2.9", 200, withInterval(300*ms)))
		if c := r.m.Counters(); c.IntervalMismatch != 1 || c.AdvertsReceived != 1 || r.m.MasterAdverInterval() != 300*ms {
			t.Errorf("counters %+v, interval %v", c, r.m.MasterAdverInterval())
		}
	})
	t.Run("address list mismatch is counted and accepted", func(t *testing.T) {
		r := newRig(t, v3cfg(100, 100*ms))
		r.toBackup()
		r.m.Step(r.advert(at(ms), "192.0.2.9", 200, withAddrs("192.0.2.100", "192.0.2.101")))
		if c := r.m.Counters(); c.AddrListMismatch != 1 || c.AdvertsReceived != 1 {
			t.Errorf("counters %+v", c)
		}
		if r.m.MasterAddr() != netip.MustParseAddr("192.0.2.9") {
			t.Errorf("advert not accepted")
		}
	})
	t.Run("v2 PASS accepted", func(t *testing.T) {
		c := v2cfg(100)
		c.AuthPass = "secret123" // only 8 characters count
		r := newRig(t, c)
		r.toBackup()
		acts := r.m.Step(r.advert(at(ms), "192.0.2.9", 200, withAuth("secret12")))
		if _, ok := find[ActDrop](acts); ok {
			t.Errorf("dropped: %q", kinds(acts))
		}
	})
	t.Run("unicast advert without TTL check", func(t *testing.T) {
		c := v3cfg(100, 100*ms)
		c.UnicastPeers = []netip.Addr{netip.MustParseAddr("192.0.2.9")}
		r := newRig(t, c)
		r.toBackup()
		acts := r.m.Step(r.advert(at(ms), "192.0.2.9", 200, withTTL(63)))
		if _, ok := find[ActDrop](acts); ok {
			t.Errorf("dropped: %q", kinds(acts))
		}
	})
	t.Run("IPv6 advert verified by the kernel", func(t *testing.T) {
		c := v3cfg(100, 100*ms)
		c.VIPs = []VIP{{Prefix: netip.MustParsePrefix("fe80::100/128")}}
		r := newRig(t, c)
		r.toBackup()
		e := r.advert(at(ms), "fe80::9", 200)
		e.ChecksumVerified = true
		e.Data[6], e.Data[7] = 0, 0 // whatever the kernel left there
		if acts := r.m.Step(e); len(acts) == 0 || r.m.MasterAddr() != netip.MustParseAddr("fe80::9") {
			t.Errorf("actions %q", kinds(acts))
		}
	})
}

func TestConfigDefaults(t *testing.T) {
	c := InstanceConfig{Name: "x", Interface: "eth0", VRID: 1, VIPs: []VIP{{Prefix: netip.MustParsePrefix("192.0.2.1/32")}}}
	d := c.withDefaults()
	if d.Version != 2 || d.Priority != 100 || d.AdvertInterval != time.Second || d.GARP == nil || *d.GARP != DefaultGARP() || d.IPv6 {
		t.Errorf("defaults %+v", d)
	}
	c.AdvertInterval = 300 * ms
	if d := c.withDefaults(); d.AdvertInterval != time.Second {
		t.Errorf("v2 0.3 s rounds to %v, want 1s", d.AdvertInterval)
	}
	c.Version, c.AdvertInterval = 3, 123456*time.Microsecond
	if d := c.withDefaults(); d.AdvertInterval != 120*ms {
		t.Errorf("v3 0.123456 s rounds to %v, want 120ms", d.AdvertInterval)
	}
	if k := c.withDefaults().Key(); k != (Key{VRID: 1, Interface: "eth0"}) {
		t.Errorf("key %+v", k)
	}
}

func TestConfigValidate(t *testing.T) {
	bad := []struct {
		name string
		mod  func(*InstanceConfig)
		want string
	}{
		{"vrid 0", func(c *InstanceConfig) { c.VRID = 0 }, "virtual_router_id"},
		{"vrid 256", func(c *InstanceConfig) { c.VRID = 256 }, "virtual_router_id"},
		{"v2 IPv6", func(c *InstanceConfig) {
			c.Version = 2
			c.AdvertInterval = time.Second
			c.VIPs = []VIP{{Prefix: netip.MustParsePrefix("2001:db8::1/128")}}
		}, "IPv6"},
		{"v2 interval too long", func(c *InstanceConfig) { c.Version = 2; c.AdvertInterval = 256 * time.Second }, "whole seconds"},
		{"v3 interval too long", func(c *InstanceConfig) { c.AdvertInterval = 41 * time.Second }, "advert_int"},
		{"nopreempt with 255", func(c *InstanceConfig) { c.Priority = 255; c.NoPreempt = true }, "nopreempt"},
		{"mixed families", func(c *InstanceConfig) {
			c.VIPs = append(c.VIPs, VIP{Prefix: netip.MustParsePrefix("2001:db8::1/128")})
		}, "one family"},
		{"auth with v3", func(c *InstanceConfig) { c.AuthPass = "x" }, "authentication"},
		{"bad scope", func(c *InstanceConfig) { c.VIPs[0].Scope = "galaxy" }, "scope"},
		{"track weight", func(c *InstanceConfig) { c.TrackInterfaces = []TrackInterface{{Name: "eth1", Weight: 300}} }, "track_interface"},
		{"no interface", func(c *InstanceConfig) { c.Interface = "" }, "interface"},
	}
	for _, c := range bad {
		cfg := v3cfg(100, 100*ms)
		cfg.VIPs = append([]VIP(nil), cfg.VIPs...)
		c.mod(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Validate = %v, want an error about %q", c.name, err, c.want)
		}
	}
	nc := NodeConfig{
		Instances: []InstanceConfig{v3cfg(100, 100*ms), v3cfg(100, 100*ms)},
		Groups:    []GroupConfig{{Name: "G", Instances: []string{"nope"}}},
	}
	nc.Instances[0].TrackScripts = []TrackScript{{Name: "missing"}}
	err := nc.Validate()
	for _, want := range []string{"defined twice", "same VRID", "unknown instance nope", "track_script missing"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NodeConfig.Validate = %v, want %q", err, want)
		}
	}
}
