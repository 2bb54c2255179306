package fsm

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"quadrature/config"
	"quadrature/lvs"
)

// Expansion limits, so that a typo in a virtual_server_group (a /64) is a
// config error and not an out-of-memory on every replica.
const (
	MaxGroupEntryAddrs = 65536
	MaxServices        = 65536
)

// tableModel is the part of the canonical config the derivations use,
// checked and converted once per config version.
type tableModel struct {
	vss      []vsModel // sorted by id
	rsIndex  map[RSID]rsRef
	policy   string // any | majority | all
	auto     bool   // placement auto
	timeouts *lvs.Timeouts
	// instances are the canonical instance names, sorted; units are the
	// placement units (a sync group's members, or one instance), sorted
	// by unit name; unitOf maps an instance to its unit index.
	instances []string
	units     [][]string
	unitOf    map[string]int
}

type rsRef struct{ vs, rs int }

type vsModel struct {
	id         string
	keys       []lvs.ServiceKey
	tmpl       lvs.Service // no destinations
	rs         []rsModel   // sorted by address:port
	sorry      *lvs.Destination
	sorryInhib bool
	quorum     int
	hysteresis int
}

type rsModel struct {
	id      RSID
	weight  int
	alpha   bool
	inhibit bool
	checked bool // has at least one checker
	dest    lvs.Destination
}

// buildTableModel checks and converts the canonical config.
func buildTableModel(cfg *config.Config) (*tableModel, error) {
	m := &tableModel{rsIndex: map[RSID]rsRef{}, policy: "majority", unitOf: map[string]int{}}
	if cfg.Cluster != nil {
		switch p := strings.ToLower(cfg.Cluster.VerdictPolicy); p {
		case "", "majority":
		case "any", "all":
			m.policy = p
		default:
			return nil, fmt.Errorf("cluster: verdict_policy %q: want any, majority or all", cfg.Cluster.VerdictPolicy)
		}
		m.auto = strings.EqualFold(cfg.Cluster.Placement, "auto")
	}
	if t := cfg.Global.LVSTimeouts; t != (config.LVSTimeouts{}) {
		m.timeouts = &lvs.Timeouts{TCP: t.TCP, TCPFin: t.TCPFin, UDP: t.UDP}
	}
	groups := map[string]*config.VirtualServerGroup{}
	for i := range cfg.VSGroups {
		groups[cfg.VSGroups[i].Name] = &cfg.VSGroups[i]
	}
	var errs []error
	seenKey := map[lvs.ServiceKey]string{}
	seenID := map[string]bool{}
	total := 0
	for i := range cfg.VirtualServers {
		vs := &cfg.VirtualServers[i]
		v, err := buildVS(vs, groups)
		if err != nil {
			errs = append(errs, fmt.Errorf("virtual_server %s (%s): %w", vs.ID(), vs.Pos, err))
			continue
		}
		if seenID[v.id] {
			errs = append(errs, fmt.Errorf("virtual_server %s (%s): defined twice", v.id, vs.Pos))
			continue
		}
		seenID[v.id] = true
		total += len(v.keys)
		if total > MaxServices {
			errs = append(errs, fmt.Errorf("virtual_server %s (%s): more than %d services in the table", v.id, vs.Pos, MaxServices))
			break
		}
		for _, k := range v.keys {
			if other, dup := seenKey[k]; dup {
				errs = append(errs, fmt.Errorf("virtual_server %s (%s): service %s is also defined by virtual_server %s", v.id, vs.Pos, k, other))
				continue
			}
			seenKey[k] = v.id
		}
		m.vss = append(m.vss, v)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	slices.SortFunc(m.vss, func(a, b vsModel) int { return strings.Compare(a.id, b.id) })
	for i := range m.vss {
		for j := range m.vss[i].rs {
			m.rsIndex[m.vss[i].rs[j].id] = rsRef{i, j}
		}
	}
	buildUnits(m, cfg)
	return m, nil
}

func buildVS(vs *config.VirtualServer, groups map[string]*config.VirtualServerGroup) (vsModel, error) {
	v := vsModel{id: vs.ID(), quorum: vs.Quorum, hysteresis: vs.Hysteresis, sorryInhib: vs.SorryServerInhibit}
	proto, err := parseProtocol(vs.Protocol)
	if err != nil {
		return v, err
	}
	fam := familyOf(vs.Family, vs.Addr)
	switch {
	case vs.Group != "":
		g, ok := groups[vs.Group]
		if !ok {
			return v, fmt.Errorf("virtual_server_group %q is not defined", vs.Group)
		}
		if v.keys, err = expandGroup(g, proto); err != nil {
			return v, err
		}
	case vs.Fwmark != 0:
		v.keys = []lvs.ServiceKey{{Family: fam, FWMark: vs.Fwmark}}
	default:
		if !vs.Addr.IsValid() {
			return v, errors.New("no address, fwmark or group")
		}
		a := vs.Addr.Unmap()
		v.keys = []lvs.ServiceKey{{Family: lvs.FamilyOf(a), Protocol: proto, Addr: a, Port: vs.Port}}
	}
	v.tmpl = lvs.Service{Scheduler: strings.ToLower(vs.Scheduler), Persistence: vs.PersistenceTimeout,
		Netmask: vs.PersistenceGranularity, OnePacket: vs.OPS}
	for _, f := range vs.SchedFlags {
		fl, err := parseSchedFlag(f)
		if err != nil {
			return v, err
		}
		v.tmpl.Flags |= fl
	}
	seen := map[netip.AddrPort]bool{}
	for i := range vs.RealServers {
		rs := &vs.RealServers[i]
		ap := netip.AddrPortFrom(rs.Addr.Unmap(), rs.Port)
		if seen[ap] {
			return v, fmt.Errorf("real_server %s (%s) is listed twice", ap, rs.Pos)
		}
		seen[ap] = true
		d, err := destination(rs.Addr, rs.Port, rs.Method, vs.Tunnel)
		if err != nil {
			return v, fmt.Errorf("real_server %s (%s): %w", ap, rs.Pos, err)
		}
		d.UpperThreshold, d.LowerThreshold = clampU32(rs.UThreshold), clampU32(rs.LThreshold)
		r := rsModel{id: RSID{v.id, ap}, weight: rs.Weight, inhibit: rs.InhibitOnFailure || vs.InhibitOnFailure,
			alpha: rs.Alpha || vs.Alpha, checked: len(rs.Checkers) > 0, dest: d}
		for _, c := range rs.Checkers {
			r.alpha = r.alpha || c.Alpha
		}
		v.rs = append(v.rs, r)
	}
	slices.SortFunc(v.rs, func(a, b rsModel) int { return compareRSID(a.id, b.id) })
	if ss := vs.SorryServer; ss != nil {
		method := ss.Method
		if method == "" {
			method = vs.Method
		}
		d, err := destination(ss.Addr, ss.Port, method, vs.Tunnel)
		if err != nil {
			return v, fmt.Errorf("sorry_server: %w", err)
		}
		v.sorry = &d
	}
	return v, nil
}

func destination(addr netip.Addr, port uint16, method string, tun *config.Tunnel) (lvs.Destination, error) {
	d := lvs.Destination{Addr: addr.Unmap(), Port: port}
	if !d.Addr.IsValid() {
		return d, errors.New("no address")
	}
	switch strings.ToUpper(method) {
	case "", "NAT":
		d.Method = lvs.NAT
	case "DR":
		d.Method = lvs.DR
	case "TUN":
		d.Method = lvs.TUN
		if tun != nil {
			switch strings.ToLower(tun.Type) {
			case "", "ipip":
				d.Tunnel = lvs.TunnelIPIP
			case "gue":
				d.Tunnel, d.TunnelPort = lvs.TunnelGUE, tun.Port
			case "gre":
				d.Tunnel = lvs.TunnelGRE
			default:
				return d, fmt.Errorf("unknown tunnel type %q", tun.Type)
			}
			switch strings.ToLower(tun.Csum) {
			case "", "nocsum":
			case "csum":
				d.TunnelFlags = lvs.TunnelCsum
			case "remcsum":
				d.TunnelFlags = lvs.TunnelRemCsum
			default:
				return d, fmt.Errorf("unknown tunnel checksum option %q", tun.Csum)
			}
		}
	default:
		return d, fmt.Errorf("unknown forwarding method %q", method)
	}
	return d, nil
}

func parseProtocol(p string) (lvs.Protocol, error) {
	switch strings.ToUpper(p) {
	case "", "TCP":
		return lvs.TCP, nil
	case "UDP":
		return lvs.UDP, nil
	case "SCTP":
		return lvs.SCTP, nil
	}
	return 0, fmt.Errorf("unknown protocol %q", p)
}

func parseSchedFlag(f string) (lvs.SchedFlags, error) {
	switch strings.ToLower(f) {
	case "flag-1", "sh-fallback", "mh-fallback":
		return lvs.SchedFlag1, nil
	case "flag-2", "sh-port", "mh-port":
		return lvs.SchedFlag2, nil
	case "flag-3":
		return lvs.SchedFlag3, nil
	}
	return 0, fmt.Errorf("unknown scheduler flag %q", f)
}

func familyOf(family string, addr netip.Addr) lvs.Family {
	if family == config.FamilyInet6 || (family == "" && addr.IsValid() && !addr.Unmap().Is4()) {
		return lvs.IPv6
	}
	return lvs.IPv4
}

func clampU32(v int) uint32 { return uint32(min(max(v, 0), math.MaxUint32)) }

// expandGroup turns a virtual_server_group into service keys in entry
// order: every address of a range entry (with the entry's port and the
// virtual server's protocol), and one fwmark service per fwmark entry.
func expandGroup(g *config.VirtualServerGroup, proto lvs.Protocol) ([]lvs.ServiceKey, error) {
	var keys []lvs.ServiceKey
	for _, e := range g.Entries {
		if e.Fwmark != 0 {
			keys = append(keys, lvs.ServiceKey{Family: familyOf(e.Family, netip.Addr{}), FWMark: e.Fwmark})
			continue
		}
		first, last := e.First.Unmap(), e.Last.Unmap()
		if !first.IsValid() || !last.IsValid() || last.Less(first) || first.Is4() != last.Is4() {
			return nil, fmt.Errorf("virtual_server_group %s (%s): bad address range %s-%s", g.Name, e.Pos, e.First, e.Last)
		}
		n := 0
		for a := first; ; a = a.Next() {
			n++
			if n > MaxGroupEntryAddrs || len(keys) >= MaxServices {
				return nil, fmt.Errorf("virtual_server_group %s (%s): range %s-%s has more than %d addresses",
					g.Name, e.Pos, first, last, MaxGroupEntryAddrs)
			}
			keys = append(keys, lvs.ServiceKey{Family: lvs.FamilyOf(a), Protocol: proto, Addr: a, Port: e.Port})
			if a == last {
				break
			}
		}
	}
	return keys, nil
}

// aliveWeight is the weight sum keepalived compares with the quorum: the
// weights of the real servers whose verdict is up, drained ones counting 0.
func (s *State) aliveWeight(v *vsModel) int64 {
	var sum int64
	for i := range v.rs {
		r := &v.rs[i]
		vd := s.verdicts[r.id]
		if vd.Up && !s.drains[r.id] {
			sum += int64(max(vd.Weight, 0))
		}
	}
	return sum
}

// DesiredTable derives the IPVS table every director must program from the
// current state alone:
//
//   - every virtual_server becomes one service (a group one service per
//     address of each range entry and per fwmark entry);
//   - a real server whose verdict is up is a destination with the verdict's
//     weight; a drained one is kept with weight 0 (graceful drain);
//   - a real server whose verdict is down is removed, or kept with weight 0
//     with inhibit_on_failure;
//   - when the virtual server's quorum is down and it has a sorry_server,
//     the alive real servers are removed (weight 0 with inhibit_on_failure)
//     and the sorry server is added with weight 1; while the quorum is up
//     the sorry server is absent, or present with weight 0 with
//     sorry_server_inhibit (keepalived);
//   - a real server without a port takes the service's port;
//   - lvs_timeouts become the table's timeouts.
//
// The result is normalized (lvs.Table.Normalize), so equal states give
// equal digests.
func (s *State) DesiredTable() lvs.Table {
	m := s.model()
	if m == nil {
		return lvs.Table{}.Normalize()
	}
	t := lvs.Table{Timeouts: m.timeouts}
	for i := range m.vss {
		t.Services = s.appendServices(t.Services, &m.vss[i])
	}
	return t.NormalizeInPlace() // built here: normalized once, without a copy
}

// DesiredTableDigest is DesiredTable and its Digest from one derivation;
// the digest is remembered as TableDigest's.
func (s *State) DesiredTableDigest() (lvs.Table, string) {
	t := s.DesiredTable()
	if s.memo == nil {
		return t, t.Digest()
	}
	s.memo.once.Do(func() { s.memo.digest = t.Digest() })
	return t, s.memo.digest
}

// appendServices appends the services virtual server v becomes.
func (s *State) appendServices(out []lvs.Service, v *vsModel) []lvs.Service {
	return appendKeyed(out, v, s.destinations(v))
}

// appendKeyed appends one service per key of v with dests (a destination
// without a port takes the service's).
func appendKeyed(out []lvs.Service, v *vsModel, dests []lvs.Destination) []lvs.Service {
	for _, k := range v.keys {
		svc := v.tmpl
		svc.Key = k
		svc.Destinations = make([]lvs.Destination, 0, len(dests))
		for _, d := range dests {
			if d.Port == 0 && !k.IsFWMark() {
				d.Port = k.Port
			}
			svc.Destinations = append(svc.Destinations, d)
		}
		out = append(out, svc)
	}
	return out
}

// TableDigest is DesiredTable().Digest(), computed once per state.
func (s *State) TableDigest() string {
	if s.memo == nil {
		return s.DesiredTable().Digest()
	}
	s.memo.once.Do(func() { s.memo.digest = s.DesiredTable().Digest() })
	return s.memo.digest
}

// tableMemo holds what a State derives once (a State is immutable).
type tableMemo struct {
	once   sync.Once
	digest string
}

// TableChanges is what changed in the desired table from prev to s, as
// whole services to upsert (lvs.Reconciler.Patch takes them), when both
// states hold the same compiled configuration: only the virtual servers
// whose real servers' verdicts or drains, or whose quorum, differ. ok is
// false when the configuration differs (or prev is nil): then the whole
// table must be derived. Its cost is one comparison per real server and
// the derivation of the changed services only.
func (s *State) TableChanges(prev *State) (upsert []lvs.Service, ok bool) {
	if prev == nil || prev.comp != s.comp {
		return nil, false
	}
	m := s.model()
	if m == nil {
		return nil, true
	}
	if s.index == prev.index {
		return nil, true
	}
	if dirty, ok := s.dirtySince(prev.index); ok {
		// The commands since prev recorded what they changed.
		for _, i := range slices.Sorted(maps.Keys(dirty)) {
			if s.vsChanged(prev, &m.vss[i]) {
				upsert = s.appendServices(upsert, &m.vss[i])
			}
		}
		return upsert, true
	}
	for i := range m.vss {
		v := &m.vss[i]
		if s.vsChanged(prev, v) {
			upsert = s.appendServices(upsert, v)
		}
	}
	return upsert, true
}

// vsChanged reports whether v's services differ between prev and s.
func (s *State) vsChanged(prev *State, v *vsModel) bool {
	if v.sorry != nil && s.quorum[v.id] != prev.quorum[v.id] {
		return true
	}
	for i := range v.rs {
		id := v.rs[i].id
		a, b := s.verdicts[id], prev.verdicts[id]
		if a.Up != b.Up || a.Weight != b.Weight || s.drains[id] != prev.drains[id] {
			return true
		}
	}
	return false
}

// destinations computes one virtual server's destinations.
func (s *State) destinations(v *vsModel) []lvs.Destination {
	sorryMode := v.sorry != nil && !s.quorum[v.id]
	var out []lvs.Destination
	// An index by address and port, not a scan per destination: a later
	// entry for the same destination (a sorry server that is also a real
	// server) replaces the earlier one.
	at := make(map[lvs.DestKey]int, len(v.rs)+1)
	put := func(d lvs.Destination) {
		if i, ok := at[d.Key()]; ok {
			out[i] = d
			return
		}
		at[d.Key()] = len(out)
		out = append(out, d)
	}
	for i := range v.rs {
		r := &v.rs[i]
		vd := s.verdicts[r.id]
		d := r.dest
		switch {
		case vd.Up && !sorryMode:
			d.Weight = clampWeight(vd.Weight)
			if s.drains[r.id] {
				d.Weight = 0
			}
		case r.inhibit:
			d.Weight = 0
		default:
			continue
		}
		put(d)
	}
	if v.sorry != nil {
		d := *v.sorry
		switch {
		case sorryMode:
			d.Weight = 1
			put(d)
		case v.sorryInhib && !has(at, d.Key()):
			// keepalived: an inhibited sorry server that duplicates a
			// real server is not added a second time.
			d.Weight = 0
			put(d)
		}
	}
	return out
}

func has(m map[lvs.DestKey]int, k lvs.DestKey) bool { _, ok := m[k]; return ok }

func clampWeight(w int) int32 { return int32(min(max(w, 0), math.MaxInt32)) }
