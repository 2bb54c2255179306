package nftables

import (
	"encoding/binary"
	"errors"
	"slices"

	"quadrature/lvs"
)

// ruleInfo is what Read needs from one kernel rule: where it is, its
// comment and its first counter.
type ruleInfo struct {
	Chain      string
	Handle     uint64
	Comment    string
	HasCounter bool
	Packets    uint64
	Bytes      uint64
}

// dump is one read of this backend's table.
type dump struct {
	TableExists bool
	Chains      []string
	Rules       []ruleInfo
	Sets        []string             // named sets
	Elements    map[string][]setElem // of the model's maps, sorted
}

// counter is a packet/byte pair.
type counter struct{ Packets, Bytes uint64 }

// svcState is one service found in the kernel, valid or not.
type svcState struct {
	ID     uint32
	Header record
	// Valid reports that every rule the service needs is present and
	// consistent; only valid services appear in the read-back table.
	Valid   bool
	Service lvs.Service
	// DestIDs are the destinations whose DNAT chain holds its rule.
	DestIDs map[lvs.DestKey]uint32
	// Conns are the destinations' connection counters, by destination ID.
	Conns map[uint32]counter
}

// state is the decoded kernel table plus what Apply needs to change it.
type state struct {
	TableExists bool
	InfraOK     bool
	Services    map[lvs.ServiceKey]*svcState
	Chains      map[string]bool
	UsedIDs     map[uint32]bool
	StatIn      map[uint32]counter
	StatOut     map[uint32]counter
	// Sets are the named sets of the table; StatElems the destination IDs
	// present in the counter map (both filled by readState).
	Sets      map[string]bool
	StatElems map[uint32]bool
	// Conns are the conntrack gauges by destination ID (filled by Stats).
	Conns map[uint32]connGauge
	// Persist counts persistence entries by destination ID (when the
	// dump includes the persistence maps).
	Persist map[uint32]uint32
	// Malformed counts rule comments that looked like ours but did not
	// decode; such rules are ignored (and their service is invalid).
	Malformed int
}

// infraChains maps each skeleton rule to the chain it must live in.
var infraChains = map[string]string{
	infraPreJump: chainPrerouting,
	infraOutJump: chainOutput,
	infraMasq:    chainPostrouting,
	infraPreIn:   chainStatsPre,
	infraPreOut:  chainStatsPre,
	infraOutIn:   chainStatsOut,
	infraOutOut:  chainStatsOut,
}

// decodeState rebuilds the table model from a dump. It is pure and total:
// any input yields a state (inconsistent services are marked invalid).
func decodeState(d dump, masquerade bool) *state {
	st := &state{
		TableExists: d.TableExists,
		Services:    map[lvs.ServiceKey]*svcState{},
		Chains:      map[string]bool{},
		UsedIDs:     map[uint32]bool{},
		StatIn:      map[uint32]counter{},
		StatOut:     map[uint32]counter{},
		Sets:        map[string]bool{},
		StatElems:   map[uint32]bool{},
		Persist:     map[uint32]uint32{},
	}
	for name, es := range d.Elements {
		if id, ok := persistSetDest(name); ok {
			st.Persist[id] += uint32(len(es))
		}
	}
	for _, name := range d.Sets {
		st.Sets[name] = true
	}
	in := statsElems(d.Elements[statsIn])
	for id, c := range statsElems(d.Elements[statsOut]) {
		if _, ok := in[id]; ok {
			st.StatElems[id] = true
			st.StatIn[id], st.StatOut[id] = in[id], c
		}
	}
	for _, c := range d.Chains {
		st.Chains[c] = true
		if s, dst, ok := chainIDs(c); ok {
			if s != 0 {
				st.UsedIDs[s] = true
			}
			if dst != 0 {
				st.UsedIDs[dst] = true
			}
		}
	}
	infra := map[string]int{}
	type svcRecs struct {
		sched, end []record
		weights    map[uint32][]record
		dests      map[uint32][]ruleRecord
	}
	byID := map[uint32]*svcRecs{}
	get := func(id uint32) *svcRecs {
		r := byID[id]
		if r == nil {
			r = &svcRecs{weights: map[uint32][]record{}, dests: map[uint32][]ruleRecord{}}
			byID[id] = r
		}
		return r
	}
	var headers []record
	for _, ri := range d.Rules {
		if ri.Comment == "" {
			continue
		}
		r, err := parseRecord(ri.Comment)
		if err != nil {
			if !errors.Is(err, errNotOurs) {
				st.Malformed++
			}
			continue
		}
		if !recordInPlace(r, ri.Chain) {
			st.Malformed++
			continue
		}
		st.UsedIDs[r.SvcID] = true
		st.UsedIDs[r.DestID] = true
		switch r.Kind {
		case kindInfra:
			infra[r.Infra]++
		case kindService:
			headers = append(headers, r)
		case kindSched:
			get(r.SvcID).sched = append(get(r.SvcID).sched, r)
		case kindEnd:
			get(r.SvcID).end = append(get(r.SvcID).end, r)
		case kindWeight:
			get(r.SvcID).weights[r.DestID] = append(get(r.SvcID).weights[r.DestID], r)
		case kindDest:
			get(r.SvcID).dests[r.DestID] = append(get(r.SvcID).dests[r.DestID], ruleRecord{r, ri})
		}
	}
	delete(st.UsedIDs, 0)
	st.InfraOK = d.TableExists && st.Sets[statsIn] && st.Sets[statsOut]
	for name := range infraChains {
		want := 1
		if name == infraMasq && !masquerade {
			want = 0
		}
		if infra[name] != want {
			st.InfraOK = false
		}
	}

	// Headers: a key or an ID that appears twice makes both invalid.
	keyCount := map[lvs.ServiceKey]int{}
	idCount := map[uint32]int{}
	for _, h := range headers {
		keyCount[h.Key]++
		idCount[h.SvcID]++
	}
	for _, h := range headers {
		ss := &svcState{ID: h.SvcID, Header: h, DestIDs: map[lvs.DestKey]uint32{}, Conns: map[uint32]counter{}}
		if prev, dup := st.Services[h.Key]; dup {
			prev.Valid = false
			continue
		}
		st.Services[h.Key] = ss
		recs := get(h.SvcID)
		for id, rr := range recs.dests {
			if len(rr) == 1 {
				ss.DestIDs[lvs.DestKey{Addr: rr[0].rec.Addr, Port: rr[0].rec.Port}] = id
				ss.Conns[id] = counter{rr[0].info.Packets, rr[0].info.Bytes}
			}
		}
		ss.Valid = keyCount[h.Key] == 1 && idCount[h.SvcID] == 1
		if ss.Valid {
			ss.Service, ss.Valid = buildService(h, recs.sched, recs.end, recs.weights, recs.dests)
		}
	}
	return st
}

type ruleRecord struct {
	rec  record
	info ruleInfo
}

// buildService assembles a service from its records and checks that the
// scheduler rule was built from exactly these destinations and weights.
func buildService(h record, sched, end []record, weights map[uint32][]record, dests map[uint32][]ruleRecord) (lvs.Service, bool) {
	s := lvs.Service{
		Key:         h.Key,
		Scheduler:   h.Scheduler,
		Persistence: seconds(h.Persistence),
		Netmask:     h.Netmask,
	}
	if len(sched) != 1 || len(end) != 1 {
		return lvs.Service{}, false
	}
	ids := map[lvs.DestKey]uint32{}
	for id, rr := range dests {
		if len(rr) != 1 {
			return lvs.Service{}, false
		}
		w := weights[id]
		if len(w) != 1 {
			return lvs.Service{}, false
		}
		r := rr[0].rec
		if r.Addr.IsValid() && lvs.FamilyOf(r.Addr) != h.Key.Family {
			return lvs.Service{}, false
		}
		k := lvs.DestKey{Addr: r.Addr, Port: r.Port}
		if _, dup := ids[k]; dup {
			return lvs.Service{}, false
		}
		ids[k] = id
		s.Destinations = append(s.Destinations, lvs.Destination{Addr: r.Addr, Port: r.Port, Weight: w[0].Weight, Method: lvs.NAT})
	}
	slices.SortFunc(s.Destinations, func(a, b lvs.Destination) int { return a.Key().Compare(b.Key()) })
	destIDs := make([]uint32, len(s.Destinations))
	ws := make([]int32, len(s.Destinations))
	for i, d := range s.Destinations {
		destIDs[i] = ids[d.Key()]
		ws[i] = d.Weight
	}
	slots, n := layout(s.Scheduler, destIDs, ws)
	if n != sched[0].Slots || layoutHash(slots) != sched[0].Hash {
		return lvs.Service{}, false
	}
	// The maps the rules jump through are anonymous and constant: they
	// cannot change without the rule that owns them.
	return s, true
}

// recordInPlace reports whether a record sits in the chain it belongs to.
func recordInPlace(r record, chain string) bool {
	switch r.Kind {
	case kindInfra:
		return infraChains[r.Infra] == chain
	case kindService:
		return chain == chainServices
	case kindSched, kindWeight, kindEnd:
		return chain == svcChainName(r.SvcID)
	case kindDest:
		return chain == destChainName(r.SvcID, r.DestID)
	}
	return false
}

// Table returns the services the kernel balances exactly as recorded. When
// the skeleton (hooks, masquerade, counters) is damaged it returns no
// services at all, which makes the reconciler re-add every service and so
// rebuild the skeleton.
func (st *state) Table() lvs.Table {
	var t lvs.Table
	if !st.InfraOK {
		return t.Normalize()
	}
	for _, ss := range st.Services {
		if ss.Valid {
			t.Services = append(t.Services, ss.Service)
		}
	}
	return t.Normalize()
}

// Stats maps the counters of valid services into the lvs model.
// Connections are new connections DNATed to the destination; packets and
// bytes "in" flow client → real server, "out" the replies.
func (st *state) Stats() map[lvs.ServiceKey]lvs.ServiceStats {
	out := map[lvs.ServiceKey]lvs.ServiceStats{}
	for k, ss := range st.Services {
		if !ss.Valid {
			continue
		}
		s := lvs.ServiceStats{Destinations: map[lvs.DestKey]lvs.DestStats{}}
		for dk, id := range ss.DestIDs {
			in, rep := st.StatIn[id], st.StatOut[id]
			c := lvs.Counters{
				Connections: ss.Conns[id].Packets,
				PacketsIn:   in.Packets, BytesIn: in.Bytes,
				PacketsOut: rep.Packets, BytesOut: rep.Bytes,
			}
			g := st.Conns[id]
			s.Destinations[dk] = lvs.DestStats{Counters: c, ActiveConns: g.Active, InactiveConns: g.Inactive, PersistConns: st.Persist[id]}
			s.Connections += c.Connections
			s.PacketsIn += c.PacketsIn
			s.BytesIn += c.BytesIn
			s.PacketsOut += c.PacketsOut
			s.BytesOut += c.BytesOut
		}
		out[k] = s
	}
	return out
}

// statsElems decodes a counter set: destination ID → counter.
func statsElems(es []setElem) map[uint32]counter {
	out := map[uint32]counter{}
	for _, e := range es {
		if len(e.Key) != 4 {
			continue
		}
		if m := binary.NativeEndian.Uint32([]byte(e.Key)); m&ctMarkFlag != 0 && m != ctMarkFlag {
			out[m&^ctMarkFlag] = counter{e.Packets, e.Bytes}
		}
	}
	return out
}
