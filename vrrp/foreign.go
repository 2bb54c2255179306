package vrrp

import (
	"net/netip"
	"time"
)

// Detection of masters outside the group and of address-owner adverts.
// RFC 5798 §6.4.2 has a backup follow any valid advert of higher
// priority and §6.4.3 has a master yield to one, and priority 255
// (address owner) wins against everyone: on a LAN without
// authentication (v3 has none; v2 PASS is a clear-text password) any
// host can take the virtual addresses that way. quadrature keeps that
// behaviour (keepalived compatibility) but makes it visible: adverts of
// priority 255 from another node are counted (Counters.OwnerAdverts)
// and logged, and a master that is neither a group member (SetKnownPeers)
// nor one of our addresses nor a configured unicast peer is reported
// (InstanceStatus.ForeignMaster, quadrature_vrrp_foreign_master).
//
// The helpers here are pure; Node calls them under its lock.

// isForeignMaster reports whether master is outside the group: known is
// the set of the group members' addresses (nil: unknown, detection off),
// own are this node's addresses, peers the instance's unicast peers. An
// invalid master (none yet) is not foreign.
func isForeignMaster(master netip.Addr, known map[netip.Addr]bool, own, peers []netip.Addr) bool {
	if known == nil || !master.IsValid() {
		return false
	}
	master = master.Unmap()
	if known[master] {
		return false
	}
	for _, lists := range [][]netip.Addr{own, peers} {
		for _, a := range lists {
			if a.Unmap() == master {
				return false
			}
		}
	}
	return true
}

// followedMaster is the master an instance in state st follows: the
// source of the adverts it accepts as BACKUP, or the winner that
// preempted it. A MASTER follows itself; other states follow nobody.
func followedMaster(st State, master, self netip.Addr) netip.Addr {
	if st != StateBackup || master == self {
		return netip.Addr{}
	}
	return master
}

// logLimiter lets one message through per key per period, and at most
// burst messages per period in all (a forger can vary the source
// address of every packet).
type logLimiter struct {
	period time.Duration
	burst  int

	last        map[string]time.Time
	windowStart time.Time
	inWindow    int
}

func newLogLimiter(period time.Duration, burst int) *logLimiter {
	return &logLimiter{period: period, burst: burst, last: map[string]time.Time{}}
}

// allow reports whether a message for key may be logged at now.
func (l *logLimiter) allow(key string, now time.Time) bool {
	if t, ok := l.last[key]; ok && now.Sub(t) < l.period && !now.Before(t) {
		return false
	}
	if now.Sub(l.windowStart) >= l.period || now.Before(l.windowStart) {
		l.windowStart, l.inWindow = now, 0
		if len(l.last) > 4*l.burst {
			for k, t := range l.last {
				if now.Sub(t) >= l.period {
					delete(l.last, k)
				}
			}
		}
	}
	if l.inWindow >= l.burst {
		return false
	}
	l.inWindow++
	l.last[key] = now
	return true
}
