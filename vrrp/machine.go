package vrrp

import (
	"crypto/subtle"
	"fmt"
	"net/netip"
	"time"
)

// Machine is the I/O-free state machine of one VRRP instance (RFC 5798
// §6.4 / RFC 3768 §6.4 with keepalived's extensions: FAULT, sync-group
// following, preempt_delay, GARP bursts). Feed it events with Step and
// execute the returned actions in order. It is not safe for concurrent
// use; the driver calls it from one goroutine.
type Machine struct {
	cfg  InstanceConfig
	self netip.Addr // our primary address: tie-break and own-packet check

	state          State
	base, eff      int
	ownFault       bool
	syncFault      bool
	faultReason    string
	masterAdverInt time.Duration
	masterAddr     netip.Addr
	preemptUntil   time.Time
	releaseSeen    bool // a priority-0 advert shortened the down timer
	deadlines      [numTimers]time.Time

	counters Counters
	last     ActTransition
}

// NewMachine returns a machine in INIT for cfg (defaults applied).
// self is the address adverts are sent from (unicast_src_ip, mcast_src_ip
// or the interface's primary address); it breaks priority ties and
// identifies our own packets.
func NewMachine(cfg InstanceConfig, self netip.Addr) (*Machine, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Machine{cfg: cfg, self: self.Unmap(), base: cfg.Priority, eff: cfg.Priority}
	m.masterAdverInt = cfg.AdvertInterval
	m.counters.Drops = map[DropReason]uint64{}
	return m, nil
}

// State returns the current state.
func (m *Machine) State() State { return m.state }

// Priority returns the effective priority.
func (m *Machine) Priority() int { return m.eff }

// BasePriority returns the base priority.
func (m *Machine) BasePriority() int { return m.base }

// MasterAddr returns the address of the current master (ours when
// master; zero when unknown).
func (m *Machine) MasterAddr() netip.Addr { return m.masterAddr }

// MasterAdverInterval returns Master_Adver_Interval (v3 backups adopt the
// master's value).
func (m *Machine) MasterAdverInterval() time.Duration { return m.masterAdverInt }

// Counters returns a copy of the counters.
func (m *Machine) Counters() Counters { return m.counters.clone() }

// LastTransition returns the most recent transition (zero before start).
func (m *Machine) LastTransition() ActTransition { return m.last }

// Config returns the configuration with defaults applied.
func (m *Machine) Config() InstanceConfig { return m.cfg }

// Self returns the address the machine sends from.
func (m *Machine) Self() netip.Addr { return m.self }

// Deadline returns when a timer fires (zero when disarmed).
func (m *Machine) Deadline(k TimerKind) time.Time { return m.deadlines[k] }

func (m *Machine) skew() time.Duration {
	return SkewTime(m.cfg.Version, m.eff, m.masterAdverInt)
}

func (m *Machine) masterDown() time.Duration {
	return MasterDownInterval(m.cfg.Version, m.eff, m.masterAdverInt)
}

// Step feeds one event and returns the actions to execute, in order.
func (m *Machine) Step(ev Event) []Action {
	switch e := ev.(type) {
	case EvStart:
		if m.state != StateInit {
			return nil
		}
		return m.enterRunning(e.Now, CauseStartup, "startup")
	case EvPacket:
		return m.packet(e)
	case EvTimer:
		return m.timer(e)
	case EvPriority:
		return m.priority(e)
	case EvFault:
		return m.fault(e)
	case EvSync:
		return m.sync(e)
	case EvShutdown:
		return m.shutdown(e.Now)
	}
	return nil
}

// enterRunning leaves INIT or FAULT: FAULT if still faulty, MASTER at
// once for the address owner, else BACKUP with a full down timer. Leaving
// INIT for BACKUP or FAULT removes the instance's addresses: a process
// killed while master leaves them on the interface, and the restarted
// one must not hold them beside the real master (keepalived does the
// same at startup).
func (m *Machine) enterRunning(now time.Time, cause Cause, reason string) []Action {
	if m.ownFault || m.syncFault {
		var acts []Action
		if m.state == StateInit {
			acts = append(acts, ActRemoveVIPs{})
		}
		return m.transition(acts, now, StateFault, cause, reason+": "+m.faultReason)
	}
	if m.eff == PriorityOwner {
		return m.becomeMaster(nil, now, cause, reason+": priority 255 (address owner)")
	}
	m.masterAdverInt = m.cfg.AdvertInterval
	return m.becomeBackup(nil, now, m.masterDown(), cause, reason)
}

func (m *Machine) transition(acts []Action, now time.Time, to State, cause Cause, reason string) []Action {
	t := ActTransition{From: m.state, To: to, Cause: cause, Reason: reason, At: now}
	m.state = to
	m.last = t
	m.counters.Transitions++
	if to == StateMaster {
		m.counters.BecameMaster++
	}
	return append(acts, t)
}

func (m *Machine) setTimer(acts []Action, k TimerKind, at time.Time) []Action {
	m.deadlines[k] = at
	return append(acts, ActSetTimer{Kind: k, At: at})
}

func (m *Machine) stopTimer(acts []Action, k TimerKind) []Action {
	if m.deadlines[k].IsZero() {
		return acts
	}
	m.deadlines[k] = time.Time{}
	return append(acts, ActStopTimer{Kind: k})
}

func (m *Machine) stopAll(acts []Action) []Action {
	for k := range numTimers {
		acts = m.stopTimer(acts, k)
	}
	return acts
}

// advert builds an advert at priority prio.
func (m *Machine) advert(prio int) ActSendAdvert {
	a := Advert{Version: m.cfg.Version, VRID: uint8(m.cfg.VRID), Priority: uint8(prio), Interval: m.cfg.AdvertInterval}
	for _, v := range m.cfg.VIPs {
		a.Addrs = append(a.Addrs, v.Prefix.Addr())
	}
	if m.cfg.AuthPass != "" {
		a.AuthType = AuthPass
		copy(a.AuthData[:], m.cfg.AuthPass)
	}
	m.counters.AdvertsSent++
	if prio == PriorityStop {
		m.counters.PriorityZeroSent++
	}
	return ActSendAdvert{Advert: a}
}

func (m *Machine) becomeMaster(acts []Action, now time.Time, cause Cause, reason string) []Action {
	acts = m.stopTimer(acts, TimerMasterDown)
	m.masterAdverInt = m.cfg.AdvertInterval
	m.preemptUntil = time.Time{}
	m.releaseSeen = false
	if m.masterAddr != m.self {
		m.counters.MasterChanges++
	}
	m.masterAddr = m.self
	g := m.cfg.GARP
	acts = append(acts, m.advert(m.eff), ActAddVIPs{}, ActGratuitous{Repeat: g.MasterRepeat})
	acts = m.setTimer(acts, TimerAdvert, now.Add(m.cfg.AdvertInterval))
	if g.MasterDelay > 0 {
		acts = m.setTimer(acts, TimerGARPDelay, now.Add(g.MasterDelay))
	}
	if g.MasterRefresh > 0 {
		acts = m.setTimer(acts, TimerGARPRefresh, now.Add(g.MasterRefresh))
	}
	return m.transition(acts, now, StateMaster, cause, reason)
}

// becomeBackup enters BACKUP with the down timer at now+down. A master
// releases its addresses without sending priority 0 (it lost to a
// better master).
func (m *Machine) becomeBackup(acts []Action, now time.Time, down time.Duration, cause Cause, reason string) []Action {
	wasMaster := m.state == StateMaster
	acts = m.stopTimer(acts, TimerAdvert)
	acts = m.stopTimer(acts, TimerGARPDelay)
	acts = m.stopTimer(acts, TimerGARPRefresh)
	if wasMaster || m.state == StateInit {
		acts = append(acts, ActRemoveVIPs{})
		if m.masterAddr == m.self {
			m.masterAddr = netip.Addr{}
		}
	}
	m.releaseSeen = false
	acts = m.setTimer(acts, TimerMasterDown, now.Add(down))
	return m.transition(acts, now, StateBackup, cause, reason)
}

// leaveMaster sends priority 0 and releases the addresses.
func (m *Machine) leaveMaster(acts []Action) []Action {
	if m.state != StateMaster {
		return acts
	}
	m.masterAddr = netip.Addr{}
	return append(acts, m.advert(PriorityStop), ActRemoveVIPs{})
}

func (m *Machine) drop(r DropReason, src netip.Addr, format string, args ...any) []Action {
	m.counters.Drops[r]++
	return []Action{ActDrop{Reason: r, Detail: fmt.Sprintf(format, args...), Src: src}}
}

// validate runs the receive checks in keepalived's order and returns the
// decoded advert or the drop actions.
func (m *Machine) validate(e EvPacket) (Advert, []Action) {
	v6 := m.cfg.IPv6
	if !e.Src.IsValid() || e.Src.Unmap().Is6() != v6 {
		return Advert{}, m.drop(DropMalformed, e.Src.Unmap(), "unparseable IP header or source %v of the wrong family", e.Src)
	}
	if len(e.Data) < headerLen {
		return Advert{}, m.drop(DropTooShort, e.Src.Unmap(), "%d bytes from %v", len(e.Data), e.Src)
	}
	src, dst := e.Src.Unmap(), e.Dst.Unmap()
	if dst.IsMulticast() && e.TTL != TTL {
		return Advert{}, m.drop(DropTTL, src, "ttl %d from %v", e.TTL, src)
	}
	a, err := Decode(e.Data, v6)
	if err != nil {
		return a, m.drop(ReasonOf(err), src, "from %v: %v", src, err)
	}
	if int(a.VRID) != m.cfg.VRID {
		return a, m.drop(DropVRID, src, "vrid %d from %v", a.VRID, src)
	}
	if a.Version != m.cfg.Version {
		return a, m.drop(DropVersion, src, "version %d from %v, configured %d", a.Version, src, m.cfg.Version)
	}
	pdu := e.Data[:PacketLen(a.Version, v6, len(a.Addrs))]
	if !e.ChecksumVerified && !VerifyChecksum(pdu, a.Version, v6, src, dst, m.cfg.V3ChecksumAsV2) {
		return a, m.drop(DropChecksum, src, "checksum %#04x from %v", a.Checksum, src)
	}
	if src == m.self {
		return a, m.drop(DropOwn, src, "own advert")
	}
	if m.cfg.Unicast() == dst.IsMulticast() || (dst.IsMulticast() && dst != m.group()) {
		return a, m.drop(DropDestination, src, "destination %v from %v", dst, src)
	}
	if m.cfg.Unicast() && m.cfg.CheckUnicastSrc && !m.isPeer(src) {
		return a, m.drop(DropUnicastSrc, src, "%v is not a unicast peer", src)
	}
	if a.Version == 2 {
		want := uint8(AuthNone)
		if m.cfg.AuthPass != "" {
			want = AuthPass
		}
		if a.AuthType != want {
			return a, m.drop(DropAuth, src, "auth type %d from %v, configured %d", a.AuthType, src, want)
		}
		if want == AuthPass {
			var pw [authLen]byte
			copy(pw[:], m.cfg.AuthPass)
			if subtle.ConstantTimeCompare(pw[:], a.AuthData[:]) != 1 {
				return a, m.drop(DropAuth, src, "password mismatch from %v", src)
			}
		}
		if a.Interval != m.cfg.AdvertInterval {
			return a, m.drop(DropInterval, src, "interval %v from %v, configured %v", a.Interval, src, m.cfg.AdvertInterval)
		}
	} else if a.Interval != m.cfg.AdvertInterval {
		m.counters.IntervalMismatch++
	}
	if !m.sameAddrs(a.Addrs) {
		m.counters.AddrListMismatch++
	}
	return a, nil
}

func (m *Machine) group() netip.Addr {
	if m.cfg.IPv6 {
		return GroupIPv6
	}
	return GroupIPv4
}

func (m *Machine) isPeer(a netip.Addr) bool {
	for _, p := range m.cfg.UnicastPeers {
		if p.Unmap() == a {
			return true
		}
	}
	return false
}

// sameAddrs compares address lists as sets.
func (m *Machine) sameAddrs(got []netip.Addr) bool {
	if len(got) != len(m.cfg.VIPs) {
		return false
	}
	want := make(map[netip.Addr]bool, len(got))
	for _, v := range m.cfg.VIPs {
		want[v.Prefix.Addr()] = true
	}
	for _, a := range got {
		if !want[a] {
			return false
		}
	}
	return true
}

func (m *Machine) packet(e EvPacket) []Action {
	a, acts := m.validate(e)
	if acts != nil {
		return acts
	}
	src := e.Src.Unmap()
	if int(a.Priority) == PriorityOwner {
		// Another node claims to own the addresses: RFC 5798 lets it win
		// (below); report it first (validate dropped our own adverts).
		m.counters.OwnerAdverts++
		return append([]Action{ActOwnerAdvert{Src: src}}, m.accepted(e, a, src)...)
	}
	return m.accepted(e, a, src)
}

// accepted runs RFC 5798 §6.4.2 (BACKUP) and §6.4.3 (MASTER) for an
// advert that passed validation.
func (m *Machine) accepted(e EvPacket, a Advert, src netip.Addr) []Action {
	if m.state != StateBackup && m.state != StateMaster {
		return m.drop(DropState, src, "advert from %v in %v", src, m.state)
	}
	m.counters.AdvertsReceived++
	prio := int(a.Priority)
	if prio == PriorityStop {
		m.counters.PriorityZeroReceived++
	}
	now := e.Now
	if m.state == StateBackup {
		switch {
		case prio == PriorityStop:
			// RFC 5798 §6.4.2: the master released; take over after skew.
			m.releaseSeen = true
			return m.setTimer(nil, TimerMasterDown, now.Add(m.skew()))
		case m.cfg.NoPreempt || prio >= m.eff || m.preemptDelayRunning(now):
			if prio >= m.eff {
				m.preemptUntil = time.Time{}
			}
			if m.cfg.Version == 3 {
				m.masterAdverInt = a.Interval
			}
			m.setMaster(src)
			m.releaseSeen = false
			return m.setTimer(nil, TimerMasterDown, now.Add(m.masterDown()))
		default:
			// Lower priority and we may preempt: discard; the down timer
			// keeps running and we take over when it expires.
			return nil
		}
	}
	// MASTER (RFC 5798 §6.4.3).
	switch {
	case prio == PriorityStop:
		acts := []Action{m.advert(m.eff)}
		return m.setTimer(acts, TimerAdvert, now.Add(m.cfg.AdvertInterval))
	case prio > m.eff || (prio == m.eff && src.Compare(m.self) > 0):
		if m.cfg.Version == 3 {
			m.masterAdverInt = a.Interval
		}
		cause, reason := CauseHigherPriority, fmt.Sprintf("higher priority advert from %v (%d > %d)", src, prio, m.eff)
		if prio == m.eff {
			cause, reason = CauseHigherAddress, fmt.Sprintf("equal priority %d advert from higher address %v", prio, src)
		}
		acts := m.becomeBackup(nil, now, m.masterDown(), cause, reason)
		m.setMaster(src)
		return acts
	default:
		// A lower-priority master exists: force a new election at once.
		return []Action{m.advert(m.eff)}
	}
}

func (m *Machine) setMaster(a netip.Addr) {
	if m.masterAddr != a {
		m.counters.MasterChanges++
		m.masterAddr = a
	}
}

func (m *Machine) preemptDelayRunning(now time.Time) bool {
	if m.cfg.PreemptDelay <= 0 {
		return false
	}
	if m.preemptUntil.IsZero() {
		m.preemptUntil = now.Add(m.cfg.PreemptDelay)
	}
	return now.Before(m.preemptUntil)
}

func (m *Machine) timer(e EvTimer) []Action {
	if e.Kind < 0 || e.Kind >= numTimers {
		return nil
	}
	dl := m.deadlines[e.Kind]
	if dl.IsZero() || e.Now.Before(dl) {
		return nil // stale or early
	}
	m.deadlines[e.Kind] = time.Time{}
	now := e.Now
	switch {
	case e.Kind == TimerMasterDown && m.state == StateBackup:
		cause, reason := CauseMasterDown, fmt.Sprintf("no advert for Master_Down_Interval %v", m.masterDown())
		if m.releaseSeen {
			cause, reason = CauseReleased, fmt.Sprintf("master released (priority 0), skew time %v elapsed", m.skew())
		}
		return m.becomeMaster(nil, now, cause, reason)
	case e.Kind == TimerAdvert && m.state == StateMaster:
		acts := []Action{m.advert(m.eff)}
		return m.setTimer(acts, TimerAdvert, now.Add(m.cfg.AdvertInterval))
	case e.Kind == TimerGARPDelay && m.state == StateMaster:
		return []Action{ActGratuitous{Repeat: m.cfg.GARP.MasterRepeat}}
	case e.Kind == TimerGARPRefresh && m.state == StateMaster:
		acts := []Action{ActGratuitous{Repeat: max(m.cfg.GARP.MasterRefreshRepeat, 1)}}
		return m.setTimer(acts, TimerGARPRefresh, now.Add(m.cfg.GARP.MasterRefresh))
	}
	return nil
}

func (m *Machine) priority(e EvPriority) []Action {
	if e.Base < 1 || e.Base > PriorityOwner {
		return nil
	}
	m.base = e.Base
	m.eff = EffectivePriority(e.Base, e.Effective-e.Base)
	if m.state == StateBackup && m.eff == PriorityOwner {
		return m.becomeMaster(nil, e.Now, CausePriority, "priority raised to 255 (address owner)")
	}
	return nil
}

func (m *Machine) fault(e EvFault) []Action {
	was := m.ownFault || m.syncFault
	m.ownFault = e.Fault
	if e.Fault {
		m.faultReason = e.Reason
	}
	cause := e.Cause
	if cause == CauseNone {
		cause = CauseFaultCleared
		if e.Fault {
			cause = CauseFault
		}
	}
	return m.applyFault(e.Now, was, cause, e.Reason)
}

func (m *Machine) applyFault(now time.Time, was bool, cause Cause, reason string) []Action {
	is := m.ownFault || m.syncFault
	switch {
	case m.state == StateInit || m.state == StateStopped:
		return nil
	case is && m.state != StateFault:
		acts := m.leaveMaster(nil)
		acts = m.stopAll(acts)
		m.masterAddr = netip.Addr{}
		return m.transition(acts, now, StateFault, cause, reason)
	case !is && was && m.state == StateFault:
		return m.enterRunning(now, cause, reason)
	}
	return nil
}

func (m *Machine) sync(e EvSync) []Action {
	if m.state == StateInit || m.state == StateStopped {
		return nil
	}
	reason := "sync group: " + e.Reason
	switch e.To {
	case StateFault:
		was := m.ownFault || m.syncFault
		m.syncFault = true
		m.faultReason = e.Reason
		return m.applyFault(e.Now, was, CauseSync, reason)
	case StateBackup, StateMaster:
		was := m.ownFault || m.syncFault
		m.syncFault = false
		if m.state == StateFault {
			return m.applyFault(e.Now, was, CauseSync, reason)
		}
		if e.To == StateMaster && m.state == StateBackup {
			return m.becomeMaster(nil, e.Now, CauseSync, reason)
		}
		if e.To == StateBackup && m.state == StateMaster {
			m.masterAdverInt = m.cfg.AdvertInterval
			return m.becomeBackup(nil, e.Now, m.masterDown(), CauseSync, reason)
		}
	}
	return nil
}

func (m *Machine) shutdown(now time.Time) []Action {
	if m.state == StateStopped {
		return nil
	}
	acts := m.leaveMaster(nil)
	acts = m.stopAll(acts)
	return m.transition(acts, now, StateStopped, CauseShutdown, "shutdown")
}

// OwnFault reports whether the instance's own fault (not a sync-group
// peer's) is set.
func (m *Machine) OwnFault() bool { return m.ownFault }

// FaultReason returns the reason of the current or last fault.
func (m *Machine) FaultReason() string { return m.faultReason }

// SetSelf changes the address adverts are sent from (the driver learns
// it when the interface gets an address).
func (m *Machine) SetSelf(a netip.Addr) {
	if m.masterAddr == m.self && m.self.IsValid() {
		m.masterAddr = a.Unmap()
	}
	m.self = a.Unmap()
}

// Reconfigure replaces the configuration of a running instance whose
// identity (VRID, family, interface) is unchanged, keeping its state
// (keepalived's reload). The base priority becomes the configured one;
// the caller follows with EvPriority for trackers.
func (m *Machine) Reconfigure(cfg InstanceConfig) error {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.Key() != m.cfg.Key() {
		return fmt.Errorf("vrrp_instance %s: identity changed from %+v to %+v", cfg.Name, m.cfg.Key(), cfg.Key())
	}
	m.cfg = cfg
	m.base = cfg.Priority
	m.eff = EffectivePriority(cfg.Priority)
	if m.state == StateMaster || m.cfg.Version == 2 {
		m.masterAdverInt = cfg.AdvertInterval
	}
	return nil
}
