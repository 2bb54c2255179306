package vrrp

import (
	"net/netip"
	"time"
)

// State is the protocol state of one VRRP instance.
type State int

// States of RFC 5798 §6.4 plus keepalived's FAULT and STOP.
const (
	StateInit State = iota
	StateBackup
	StateMaster
	StateFault
	StateStopped
)

var stateNames = [...]string{"INIT", "BACKUP", "MASTER", "FAULT", "STOP"}

func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "UNKNOWN"
}

// Cause is why a transition happened, typed: the sync-group policy and
// the tests decide on it, never on the reason text.
type Cause int

// Causes of transitions.
const (
	CauseNone           Cause = iota
	CauseStartup              // EvStart: INIT → BACKUP, MASTER (owner) or FAULT
	CauseMasterDown           // BACKUP → MASTER: Master_Down_Interval without an advert
	CauseReleased             // BACKUP → MASTER: Skew_Time after a priority-0 advert
	CauseHigherPriority       // MASTER → BACKUP: an advert of higher priority
	CauseHigherAddress        // MASTER → BACKUP: equal priority from a higher primary address
	CausePriority             // BACKUP → MASTER: priority raised to 255 (address owner)
	CauseFault                // → FAULT: the instance's own fault (link, tracker, socket)
	CauseFence                // → FAULT: the quorum fence
	CauseFaultCleared         // FAULT → BACKUP/MASTER: the instance's own fault cleared
	CauseSync                 // following a sync-group member (EvSync)
	CauseShutdown             // → STOP
)

var causeNames = [...]string{"none", "startup", "master-down", "released", "higher-priority", "higher-address",
	"priority", "fault", "fence", "fault-cleared", "sync", "shutdown"}

func (c Cause) String() string {
	if c >= 0 && int(c) < len(causeNames) {
		return causeNames[c]
	}
	return "unknown"
}

// ParseCause is the inverse of Cause.String.
func ParseCause(s string) (Cause, bool) {
	for i, n := range causeNames {
		if n == s {
			return Cause(i), true
		}
	}
	return CauseNone, false
}

// DropReason names why a received packet was discarded. The values are
// the "reason" label of quadrature_vrrp_packets_dropped_total.
type DropReason string

// Drop reasons, in roughly the order the checks run.
const (
	DropTooShort    DropReason = "too_short"   // fewer than 8 bytes of VRRP
	DropMalformed   DropReason = "malformed"   // bad IP header or unparseable
	DropTTL         DropReason = "ttl"         // multicast TTL / hop limit not 255
	DropVersion     DropReason = "version"     // not the configured version
	DropType        DropReason = "type"        // type other than ADVERTISEMENT
	DropLength      DropReason = "length"      // shorter than its address count needs
	DropVRID        DropReason = "vrid"        // another virtual router
	DropChecksum    DropReason = "checksum"    // checksum wrong
	DropOwn         DropReason = "own"         // sent by this node
	DropDestination DropReason = "destination" // multicast advert in unicast mode or vice versa
	DropUnicastSrc  DropReason = "unicast_src" // unicast sender not a configured peer
	DropAuth        DropReason = "auth"        // v2 authentication type or password mismatch
	DropInterval    DropReason = "interval"    // v2 interval mismatch, or interval 0
	DropState       DropReason = "not_running" // received in FAULT, INIT or STOP
)

// AllDropReasons lists every reason (for metrics initialisation).
var AllDropReasons = []DropReason{
	DropTooShort, DropMalformed, DropTTL, DropVersion, DropType, DropLength, DropVRID,
	DropChecksum, DropOwn, DropDestination, DropUnicastSrc, DropAuth, DropInterval, DropState,
}

// Counters are per-instance protocol counters. Drops are keyed by reason.
type Counters struct {
	AdvertsSent          uint64
	AdvertsReceived      uint64 // valid adverts (after every check)
	PriorityZeroSent     uint64
	PriorityZeroReceived uint64
	Transitions          uint64
	BecameMaster         uint64
	MasterChanges        uint64 // times the observed master address changed
	// AddrListMismatch counts valid adverts whose address list differs
	// from ours; they are accepted (see doc.go).
	AddrListMismatch uint64
	// IntervalMismatch counts v3 adverts with another interval (accepted,
	// RFC 5798 §6.4.2 has backups adopt it).
	IntervalMismatch uint64
	// OwnerAdverts counts valid adverts of priority 255 (address owner)
	// from another node. They win every election (RFC 5798 §6.4), so
	// outside a planned owner they are a takeover, possibly forged.
	OwnerAdverts uint64
	Drops        map[DropReason]uint64
}

func (c Counters) clone() Counters {
	d := make(map[DropReason]uint64, len(c.Drops))
	for k, v := range c.Drops {
		d[k] = v
	}
	c.Drops = d
	return c
}

// TotalDrops sums all drop counters.
func (c Counters) TotalDrops() uint64 {
	var n uint64
	for _, v := range c.Drops {
		n += v
	}
	return n
}

// TimerKind names the timers a Machine arms.
type TimerKind int

// Timers of one instance.
const (
	TimerAdvert      TimerKind = iota // master: send the next advert
	TimerMasterDown                   // backup: master presumed down
	TimerGARPDelay                    // master: second GARP/NA burst
	TimerGARPRefresh                  // master: periodic GARP/NA refresh
	numTimers
)

var timerNames = [...]string{"advert", "master_down", "garp_delay", "garp_refresh"}

func (k TimerKind) String() string {
	if k >= 0 && int(k) < len(timerNames) {
		return timerNames[k]
	}
	return "unknown"
}

// Event is an input of Machine.Step. Every event carries the current
// time; the machine never reads a clock.
type Event interface{ when() time.Time }

// EvStart starts the instance (INIT → BACKUP, MASTER or FAULT).
type EvStart struct{ Now time.Time }

// EvPacket is a received IP packet carrying protocol 112.
type EvPacket struct {
	Now      time.Time
	Src, Dst netip.Addr
	// TTL is the IPv4 TTL or IPv6 hop limit; -1 when unknown.
	TTL int
	// Data is the VRRP PDU (IP payload), possibly with trailing padding.
	Data []byte
	// ChecksumVerified is set when the kernel already verified the
	// checksum (IPv6 with IPV6_CHECKSUM).
	ChecksumVerified bool
}

// EvTimer is the expiry of a timer armed by ActSetTimer.
type EvTimer struct {
	Now  time.Time
	Kind TimerKind
}

// EvPriority changes the base and effective priority (see
// EffectivePriority).
type EvPriority struct {
	Now       time.Time
	Base      int
	Effective int
}

// EvFault sets or clears the instance's own fault (interface or
// unweighted tracker down). Cause is the cause of the transition it may
// make; zero means CauseFault when Fault is set and CauseFaultCleared
// when it is not (CauseFence for the quorum fence).
type EvFault struct {
	Now    time.Time
	Fault  bool
	Reason string
	Cause  Cause
}

// EvSync is a sync-group peer's transition that this instance must
// follow (MASTER, BACKUP or FAULT).
type EvSync struct {
	Now    time.Time
	To     State
	Reason string
}

// EvShutdown stops the instance: a master sends priority 0 and releases
// its addresses.
type EvShutdown struct{ Now time.Time }

func (e EvStart) when() time.Time    { return e.Now }
func (e EvPacket) when() time.Time   { return e.Now }
func (e EvTimer) when() time.Time    { return e.Now }
func (e EvPriority) when() time.Time { return e.Now }
func (e EvFault) when() time.Time    { return e.Now }
func (e EvSync) when() time.Time     { return e.Now }
func (e EvShutdown) when() time.Time { return e.Now }

// Action is an output of Machine.Step that the driver executes in order.
type Action interface{ isAction() }

// ActSendAdvert sends one advert (to the group, or to every unicast peer).
type ActSendAdvert struct{ Advert Advert }

// ActAddVIPs adds the instance's virtual addresses.
type ActAddVIPs struct{}

// ActRemoveVIPs removes the instance's virtual addresses.
type ActRemoveVIPs struct{}

// ActGratuitous sends Repeat gratuitous ARPs / unsolicited NAs per VIP.
type ActGratuitous struct{ Repeat int }

// ActSetTimer arms (or re-arms) a timer.
type ActSetTimer struct {
	Kind TimerKind
	At   time.Time
}

// ActStopTimer disarms a timer.
type ActStopTimer struct{ Kind TimerKind }

// ActTransition reports a state change (log, notify scripts, metrics).
// Cause says what made it (policy decisions read it); Reason says it in
// words (logs, API).
type ActTransition struct {
	From, To State
	Cause    Cause
	Reason   string
	At       time.Time
}

// ActDrop reports a discarded packet (already counted).
type ActDrop struct {
	Reason DropReason
	Detail string
	// Src is the packet's source address (zero when unknown).
	Src netip.Addr
}

// ActOwnerAdvert reports a valid advert of priority 255 (address owner)
// from another node (already counted in Counters.OwnerAdverts). It comes
// before the actions the advert causes; the advert is processed as RFC
// 5798 says.
type ActOwnerAdvert struct {
	Src netip.Addr
}

func (ActSendAdvert) isAction()  {}
func (ActAddVIPs) isAction()     {}
func (ActRemoveVIPs) isAction()  {}
func (ActGratuitous) isAction()  {}
func (ActSetTimer) isAction()    {}
func (ActStopTimer) isAction()   {}
func (ActTransition) isAction()  {}
func (ActDrop) isAction()        {}
func (ActOwnerAdvert) isAction() {}
