package lvs

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// canonicalize clears what IPVS does not store or ignores, so that a
// desired service and the same service read back from the kernel are equal:
// a fwmark key has no protocol, address or port; persistence is kept in
// whole seconds; tunnel fields belong to TUN destinations only, ipip has
// no port or checksum flags and gre no port.
func canonicalize(s *Service) {
	if s.Key.IsFWMark() {
		s.Key.Protocol, s.Key.Addr, s.Key.Port = 0, netip.Addr{}, 0
		if s.Key.Family == 0 {
			s.Key.Family = IPv4
		}
	} else {
		s.Key.Addr = s.Key.Addr.Unmap()
	}
	if s.Persistence > 0 {
		s.Persistence = s.Persistence.Truncate(time.Second)
	}
	for i := range s.Destinations {
		d := &s.Destinations[i]
		d.Addr = d.Addr.Unmap()
		switch {
		case d.Method != TUN:
			d.Tunnel, d.TunnelPort, d.TunnelFlags = 0, 0, 0
		case d.Tunnel == TunnelIPIP:
			d.TunnelPort, d.TunnelFlags = 0, 0
		case d.Tunnel == TunnelGRE:
			d.TunnelPort = 0
		}
	}
}

// canonicalDest reports whether canonicalize would leave d as it is.
func canonicalDest(d *Destination) bool {
	if d.Addr.Is4In6() {
		return false
	}
	switch {
	case d.Method != TUN:
		return d.Tunnel == 0 && d.TunnelPort == 0 && d.TunnelFlags == 0
	case d.Tunnel == TunnelIPIP:
		return d.TunnelPort == 0 && d.TunnelFlags == 0
	case d.Tunnel == TunnelGRE:
		return d.TunnelPort == 0
	}
	return true
}

// Validate reports every reason the kernel would refuse the service, with
// the service named.
func (s Service) Validate() error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("lvs: service %s: "+format, append([]any{s.Key}, a...)...))
	}
	k := s.Key
	if k.IsFWMark() {
		if k.Family != 0 && k.Family != IPv4 && k.Family != IPv6 {
			bad("bad family %d", k.Family)
		}
	} else {
		if !k.Addr.IsValid() {
			bad("no address")
		} else if k.Family != 0 && FamilyOf(k.Addr) != k.Family {
			bad("family %d does not match address", k.Family)
		}
		switch k.Protocol {
		case TCP, UDP, SCTP:
		default:
			bad("protocol %s: want TCP, UDP or SCTP", k.Protocol)
		}
	}
	if _, err := ParseScheduler(s.Scheduler); err != nil || s.Scheduler == "" {
		bad("scheduler %q unknown", s.Scheduler)
	}
	if s.Flags&^(SchedFlag1|SchedFlag2|SchedFlag3) != 0 {
		bad("unknown scheduler flags %#x", uint32(s.Flags))
	}
	if s.Persistence < 0 || s.Persistence > (1<<31)*time.Second {
		bad("persistence %s out of range", s.Persistence)
	} else if s.Persistence > 0 && s.Persistence < time.Second {
		bad("persistence %s is below one second", s.Persistence)
	}
	fam := k.Family
	if fam == 0 && k.Addr.IsValid() {
		fam = FamilyOf(k.Addr)
	}
	maxMask := 32
	if fam == IPv6 {
		maxMask = 128
	}
	if s.Netmask < 0 || s.Netmask > maxMask {
		bad("netmask /%d out of range", s.Netmask)
	}
	if s.OnePacket && k.Protocol != UDP && !k.IsFWMark() {
		bad("one-packet scheduling needs UDP")
	}
	// Duplicates: adjacent when sorted (the normal case), else a map.
	var seen map[DestKey]bool
	if !slices.IsSortedFunc(s.Destinations, compareDest) {
		seen = make(map[DestKey]bool, len(s.Destinations))
	}
	for i, d := range s.Destinations {
		if !d.Addr.IsValid() {
			bad("destination without address")
			continue
		}
		if seen != nil {
			if seen[d.Key()] {
				bad("destination %s listed twice", d.Key())
			}
			seen[d.Key()] = true
		} else if i > 0 && s.Destinations[i-1].Key() == d.Key() {
			bad("destination %s listed twice", d.Key())
		}
		if d.Weight < 0 {
			bad("destination %s: negative weight %d", d.Key(), d.Weight)
		}
		if d.Method > TUN {
			bad("destination %s: unknown method %s", d.Key(), d.Method)
		}
		if fam != 0 && FamilyOf(d.Addr) != fam && d.Method != TUN {
			bad("destination %s: only TUN may cross address families", d.Key())
		}
		if d.LowerThreshold > d.UpperThreshold && d.UpperThreshold != 0 {
			bad("destination %s: lower threshold %d above upper %d", d.Key(), d.LowerThreshold, d.UpperThreshold)
		}
		if d.Method == TUN {
			switch d.Tunnel {
			case TunnelIPIP, TunnelGRE:
			case TunnelGUE:
				if d.TunnelPort == 0 {
					bad("destination %s: gue tunnel needs a port", d.Key())
				}
			default:
				bad("destination %s: unknown tunnel %s", d.Key(), d.Tunnel)
			}
			if d.TunnelFlags&^(TunnelCsum|TunnelRemCsum) != 0 {
				bad("destination %s: unknown tunnel flags %#x", d.Key(), uint16(d.TunnelFlags))
			}
			if d.TunnelFlags&TunnelRemCsum != 0 && d.Tunnel != TunnelGUE {
				bad("destination %s: remcsum needs a gue tunnel", d.Key())
			}
		}
	}
	return errors.Join(errs...)
}

// Validate checks every service and that no key appears twice.
func (t Table) Validate() error {
	var errs []error
	seen := make(map[ServiceKey]bool, len(t.Services))
	for _, s := range t.Services {
		k := s.Key
		if k.Family == 0 && k.Addr.IsValid() {
			k.Family = FamilyOf(k.Addr)
		}
		if k.IsFWMark() {
			k.Protocol, k.Addr, k.Port = 0, netip.Addr{}, 0
			if k.Family == 0 {
				k.Family = IPv4
			}
		}
		if seen[k] {
			errs = append(errs, fmt.Errorf("lvs: service %s listed twice", k))
		}
		seen[k] = true
		if err := s.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
