package agent

import (
	"fmt"
	"net/netip"
	"time"

	"quadrature/config"
	"quadrature/lvs"
	"quadrature/lvs/nftables"
)

// CheckBackend reports every virtual server that the named backend
// ("nftables") cannot program exactly, as file:line errors naming the
// backend and the keyword; IPVS (and "auto" on a kernel with IPVS) can
// program everything the config model expresses. Called before a config
// is run or proposed, so nothing is silently degraded.
func CheckBackend(c *config.Config, backend string) config.ErrorList {
	if backend != "nftables" {
		return nil
	}
	var errs config.ErrorList
	for i := range c.VirtualServers {
		vs := &c.VirtualServers[i]
		s, err := serviceShape(vs)
		if err == nil {
			err = nftables.CheckService(s)
		}
		if err != nil {
			errs = append(errs, config.Diagnostic{Pos: vs.Pos, Msg: fmt.Sprintf("virtual_server %s: %v", vs.Ident(), err)})
		}
	}
	return errs
}

// serviceShape is the lvs service a virtual server becomes, with every real
// server present (what the backend must be able to express).
func serviceShape(vs *config.VirtualServer) (lvs.Service, error) {
	s := lvs.Service{
		Scheduler:   vs.Scheduler,
		Persistence: vs.PersistenceTimeout,
		Netmask:     vs.PersistenceGranularity,
		OnePacket:   vs.OPS,
	}
	fam := lvs.IPv4
	if vs.Family == config.FamilyInet6 {
		fam = lvs.IPv6
	}
	s.Key.Family = fam
	switch {
	case vs.Fwmark != 0:
		s.Key.FWMark = vs.Fwmark
	case vs.Group != "":
		// Group entries become address services of the same shape; check
		// the shape with a placeholder address of the family.
		s.Key.Addr = netip.IPv4Unspecified()
		if fam == lvs.IPv6 {
			s.Key.Addr = netip.IPv6Unspecified()
		}
	default:
		s.Key.Addr, s.Key.Port = vs.Addr, vs.Port
	}
	if s.Key.FWMark == 0 {
		p, err := lvs.ParseProtocol(vs.Protocol)
		if err != nil {
			return s, err
		}
		s.Key.Protocol = p
	}
	for _, f := range vs.SchedFlags {
		fl, err := lvs.ParseSchedFlag(vs.Scheduler, f)
		if err != nil {
			return s, err
		}
		s.Flags |= fl
	}
	if s.Persistence > 0 && s.Persistence < time.Second {
		s.Persistence = time.Second
	}
	for _, rs := range vs.RealServers {
		m, err := lvs.ParseMethod(rs.Method)
		if err != nil {
			return s, err
		}
		s.Destinations = append(s.Destinations, lvs.Destination{
			Addr: rs.Addr, Port: rs.Port, Weight: int32(max(rs.Weight, 0)), Method: m,
			UpperThreshold: uint32(max(rs.UThreshold, 0)), LowerThreshold: uint32(max(rs.LThreshold, 0)),
		})
	}
	return s, nil
}
