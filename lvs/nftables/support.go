package nftables

import (
	"fmt"
	"math"
	"time"

	"quadrature/lvs"
)

// schedulers are the lb_algo values this backend implements.
var schedulers = map[string]bool{"rr": true, "wrr": true, "sh": true, "dh": true}

const supportedSchedulers = "rr, wrr, sh, dh"

// CheckService reports whether the nftables backend can program s exactly.
// The error names the backend and the unsupported keyword, for config
// validation (`quadrature config check`) and for the reconciler, which
// must never silently degrade a service. It is the same check as
// (*DataPlane).Supports.
func CheckService(s lvs.Service) error {
	k := s.Key
	fam := k.Family
	if fam == 0 && k.Addr.IsValid() {
		fam = lvs.FamilyOf(k.Addr)
	}
	if fam != lvs.IPv4 && fam != lvs.IPv6 {
		return fmt.Errorf("nftables backend: service %s: unknown address family %d", k, fam)
	}
	if !k.IsFWMark() {
		if !k.Addr.IsValid() || k.Addr.Zone() != "" || k.Addr.Is4In6() {
			return fmt.Errorf("nftables backend: service %s: invalid virtual address", k)
		}
		if lvs.FamilyOf(k.Addr) != fam {
			return fmt.Errorf("nftables backend: service %s: address is not of family IPv%d", k, fam)
		}
		switch k.Protocol {
		case lvs.TCP, lvs.UDP:
		default:
			return fmt.Errorf("nftables backend: service %s: protocol %s not supported (use TCP, UDP)", k, k.Protocol)
		}
	}
	if !schedulers[s.Scheduler] {
		return fmt.Errorf("nftables backend: service %s: lb_algo %s not supported (use %s)", k, s.Scheduler, supportedSchedulers)
	}
	if s.Flags != 0 {
		return fmt.Errorf("nftables backend: service %s: scheduler flags %#x (sh-port, sh-fallback, mh-*, flag-N) not supported", k, uint32(s.Flags))
	}
	if s.OnePacket {
		return fmt.Errorf("nftables backend: service %s: ops (one-packet scheduling) not supported", k)
	}
	if s.Persistence < 0 || s.Persistence%time.Second != 0 || s.Persistence/time.Second > math.MaxUint32 {
		return fmt.Errorf("nftables backend: service %s: persistence_timeout %s must be whole seconds", k, s.Persistence)
	}
	if s.Netmask != 0 && (s.Netmask < 1 || s.Netmask > addrBits(fam)) {
		return fmt.Errorf("nftables backend: service %s: persistence_granularity /%d invalid for IPv%d", k, s.Netmask, fam)
	}
	var total int64
	live := 0
	seen := map[lvs.DestKey]bool{}
	for _, d := range s.Destinations {
		if !d.Addr.IsValid() || d.Addr.Zone() != "" || d.Addr.Is4In6() {
			return fmt.Errorf("nftables backend: service %s: real_server %s: invalid address", k, d.Key())
		}
		if lvs.FamilyOf(d.Addr) != fam {
			return fmt.Errorf("nftables backend: service %s: real_server %s: family differs from the service (IPv%d)", k, d.Key(), fam)
		}
		if seen[d.Key()] {
			return fmt.Errorf("nftables backend: service %s: real_server %s listed twice", k, d.Key())
		}
		seen[d.Key()] = true
		if d.Method != lvs.NAT {
			return fmt.Errorf("nftables backend: service %s: real_server %s: lb_kind %s not supported (use NAT)", k, d.Key(), d.Method)
		}
		if d.UpperThreshold != 0 {
			return fmt.Errorf("nftables backend: service %s: real_server %s: uthreshold not supported", k, d.Key())
		}
		if d.LowerThreshold != 0 {
			return fmt.Errorf("nftables backend: service %s: real_server %s: lthreshold not supported", k, d.Key())
		}
		if d.Weight < 0 {
			return fmt.Errorf("nftables backend: service %s: real_server %s: negative weight %d", k, d.Key(), d.Weight)
		}
		total += int64(d.Weight)
		if d.Weight > 0 {
			live++
		}
	}
	if live > maxSlots {
		return fmt.Errorf("nftables backend: service %s: %d real servers with a weight; at most %d supported", k, live, maxSlots)
	}
	if total > math.MaxInt32 {
		return fmt.Errorf("nftables backend: service %s: total weight %d exceeds %d", k, total, math.MaxInt32)
	}
	return nil
}
