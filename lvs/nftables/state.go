package nftables

import (
	"encoding/binary"
	"errors"
	"net/netip"
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
	Elements    map[string][]setElem // of the model's sets, and (Stats) the persistence maps
}

// counter is a packet/byte pair.
type counter struct{ Packets, Bytes uint64 }

// dstObj is one destination element: in map dstMaps[Map], mark → address
// (and port), with its service and weight in the element's comment.
type dstObj struct {
	Map    uint8
	Svc    uint32
	Addr   netip.Addr
	Port   uint16
	Weight int32
}

// slotKey is the key of a slots element.
type slotKey struct{ Svc, Slot uint32 }

// elemRef is an element to delete that the model has no place for.
type elemRef struct {
	Set string
	Key string
}

// objects is what this backend manages in its table, as a read found it
// or as the last batch left it. Apply diffs two of these and sends only
// the difference.
type objects struct {
	TableExists bool
	Infra       bool                      // the skeleton is complete
	Chains      map[uint32][]record       // service chains: their rules' records, in order
	Dispatch    map[lvs.ServiceKey]uint32 // dispatch elements → service chain ID (0: another chain)
	Slots       map[slotKey]uint32        // slots elements → destination ID
	Dests       map[uint32]dstObj         // destination elements by ID
	Stats       map[uint32]uint8          // destination ID → counter sets holding it (bits)
	PSets       map[string]bool           // persistence maps
	Junk        []elemRef                 // undecodable elements of our sets
}

func newObjects() *objects {
	return &objects{
		Chains:   map[uint32][]record{},
		Dispatch: map[lvs.ServiceKey]uint32{},
		Slots:    map[slotKey]uint32{},
		Dests:    map[uint32]dstObj{},
		Stats:    map[uint32]uint8{},
		PSets:    map[string]bool{},
	}
}

// clone copies o (the maps; records are values).
func (o *objects) clone() *objects {
	c := &objects{TableExists: o.TableExists, Infra: o.Infra,
		Chains: make(map[uint32][]record, len(o.Chains)), Dispatch: make(map[lvs.ServiceKey]uint32, len(o.Dispatch)),
		Slots: make(map[slotKey]uint32, len(o.Slots)), Dests: make(map[uint32]dstObj, len(o.Dests)),
		Stats: make(map[uint32]uint8, len(o.Stats)), PSets: make(map[string]bool, len(o.PSets)), Junk: slices.Clone(o.Junk)}
	for k, v := range o.Chains {
		c.Chains[k] = v
	}
	for k, v := range o.Dispatch {
		c.Dispatch[k] = v
	}
	for k, v := range o.Slots {
		c.Slots[k] = v
	}
	for k, v := range o.Dests {
		c.Dests[k] = v
	}
	for k, v := range o.Stats {
		c.Stats[k] = v
	}
	for k, v := range o.PSets {
		c.PSets[k] = v
	}
	return c
}

// svcState is one service found in the table, valid or not.
type svcState struct {
	ID     uint32
	Header record
	// Valid reports that every rule and element the service needs is
	// present and consistent; only valid services appear in Table.
	Valid   bool
	Service lvs.Service
	DestIDs map[lvs.DestKey]uint32
}

// state is a decoded table: its objects, the services they make up, and
// (for Stats) the counters.
type state struct {
	*objects
	Services map[lvs.ServiceKey]*svcState
	maxSvc   uint32 // highest service ID in use
	maxDest  uint32 // highest destination ID in use
	StatIn   map[uint32]counter
	StatOut  map[uint32]counter
	StatNew  map[uint32]counter
	Persist  map[uint32]uint32 // live persistence entries by destination ID
	// Malformed counts rule comments that looked like ours but did not
	// decode (their chain is rewritten).
	Malformed int
}

// infraRules are the skeleton rules of each base chain, in order.
func infraRules(masq bool) map[string][]string {
	m := map[string][]string{
		chainPrerouting:  {infraPreJump},
		chainOutput:      {infraOutJump},
		chainPostrouting: nil,
		chainStatsPre:    {infraPreIn, infraPreOut},
		chainStatsOut:    {infraOutIn, infraOutOut},
		chainServices:    {infraDisp4, infraDisp6, infraFwm4, infraFwm6},
		chainPick:        {infraPick},
		chainNat4:        {infraNat4T, infraNat4U, infraNat4A, infraNat4D},
		chainNat6:        {infraNat6T, infraNat6U, infraNat6A, infraNat6D},
	}
	if masq {
		m[chainPostrouting] = []string{infraMasq}
	}
	return m
}

// fixedSets are the named sets of the skeleton.
var fixedSets = []string{setSvc4, setSvc6, setFwm4, setFwm6, setSlots, setDst4, setDst4a, setDst6, setDst6a, statsIn, statsOut, statsNew}

func isFixedSet(name string) bool { return slices.Contains(fixedSets, name) }

// decodeState rebuilds the objects and the services from a dump. It is
// pure and total: any input yields a state (inconsistent services are
// marked invalid, undecodable elements become junk to delete).
func decodeState(d dump, masquerade bool) *state {
	o := newObjects()
	o.TableExists = d.TableExists
	st := &state{objects: o, StatIn: map[uint32]counter{}, StatOut: map[uint32]counter{}, StatNew: map[uint32]counter{}, Persist: map[uint32]uint32{}}
	sets := map[string]bool{}
	for _, name := range d.Sets {
		sets[name] = true
		if id, ok := persistSetID(name); ok {
			o.PSets[name] = true
			st.seenSvc(id)
		}
	}
	chains := map[string]bool{}
	for _, c := range d.Chains {
		chains[c] = true
		if id, ok := chainID(c); ok {
			o.Chains[id] = []record{}
			st.seenSvc(id)
		}
	}
	infra := map[string][]string{}
	for _, ri := range d.Rules {
		r, err := parseRecord(ri.Comment)
		if err != nil && !errors.Is(err, errNotOurs) {
			st.Malformed++
		}
		if id, ok := chainID(ri.Chain); ok {
			if err != nil {
				r = record{} // a rule we did not write: the chain is rewritten
			}
			o.Chains[id] = append(o.Chains[id], r)
			continue
		}
		name := "?"
		if err == nil && r.Kind == kindInfra {
			name = r.Infra
		}
		infra[ri.Chain] = append(infra[ri.Chain], name)
	}
	o.Infra = d.TableExists
	for c, want := range infraRules(masquerade) {
		if !chains[c] || !slices.Equal(infra[c], want) {
			o.Infra = false
		}
	}
	for _, s := range fixedSets {
		if !sets[s] {
			o.Infra = false
		}
	}
	st.decodeElements(d.Elements)
	st.build()
	return st
}

func (st *state) seenSvc(id uint32) {
	if id <= maxServiceID {
		st.maxSvc = max(st.maxSvc, id)
	}
}

func (st *state) seenDest(id uint32) {
	if id < 1<<31 {
		st.maxDest = max(st.maxDest, id)
	}
}

// decodeElements fills the element maps from the dumped elements.
func (st *state) decodeElements(els map[string][]setElem) {
	o := st.objects
	for _, name := range []string{setSvc4, setSvc6, setFwm4, setFwm6} {
		for _, e := range els[name] {
			k, ok := decodeDispatchKey(name, e.Key)
			if !ok {
				o.Junk = append(o.Junk, elemRef{name, e.Key})
				continue
			}
			id, _ := chainID(e.Chain)
			o.Dispatch[k] = id
		}
	}
	for _, e := range els[setSlots] {
		if len(e.Key) != 4 || len(e.Value) != 4 {
			o.Junk = append(o.Junk, elemRef{setSlots, e.Key})
			continue
		}
		km := binary.NativeEndian.Uint32([]byte(e.Key))
		k := slotKey{km >> 16, km & 0xffff}
		m := binary.NativeEndian.Uint32([]byte(e.Value))
		st.seenSvc(k.Svc)
		id := uint32(0)
		if m&ctMarkFlag != 0 {
			id = m &^ ctMarkFlag
		}
		o.Slots[k] = id
	}
	for i, name := range dstMaps {
		f := lvs.IPv4
		if i >= 2 {
			f = lvs.IPv6
		}
		for _, e := range els[name] {
			id, ok := decodeMark(e.Key)
			d, ok2 := decodeDest(uint8(i), f, e)
			if _, dup := o.Dests[id]; !ok || !ok2 || dup {
				o.Junk = append(o.Junk, elemRef{name, e.Key})
				continue
			}
			o.Dests[id] = d
			st.seenDest(id)
		}
	}
	for bit, name := range statSets {
		for _, e := range els[name] {
			id, ok := decodeMark(e.Key)
			if !ok {
				o.Junk = append(o.Junk, elemRef{name, e.Key})
				continue
			}
			o.Stats[id] |= 1 << bit
			st.seenDest(id)
			c := counter{e.Packets, e.Bytes}
			switch name {
			case statsIn:
				st.StatIn[id] = c
			case statsOut:
				st.StatOut[id] = c
			case statsNew:
				st.StatNew[id] = c
			}
		}
	}
	for name := range o.PSets {
		for _, e := range els[name] {
			if id, ok := decodeMark(e.Value); ok {
				st.Persist[id]++
			}
		}
	}
}

// decodeMark reads a destination mark (flag set, ID not 0).
func decodeMark(b string) (uint32, bool) {
	if len(b) != 4 {
		return 0, false
	}
	m := binary.NativeEndian.Uint32([]byte(b))
	return m &^ ctMarkFlag, m&ctMarkFlag != 0 && m != ctMarkFlag
}

func decodeDest(m uint8, f lvs.Family, e setElem) (dstObj, bool) {
	n := int(addrLen(f))
	withPort := m%2 == 0
	want := n
	if withPort {
		want += 4
	}
	if len(e.Value) != want {
		return dstObj{}, false
	}
	a, _ := netip.AddrFromSlice([]byte(e.Value[:n]))
	d := dstObj{Map: m, Addr: a}
	if withPort {
		d.Port = binary.BigEndian.Uint16([]byte(e.Value[n : n+2]))
		if d.Port == 0 {
			return dstObj{}, false
		}
	}
	svc, w, err := parseDestComment(e.Comment)
	if err != nil {
		return dstObj{}, false
	}
	d.Svc, d.Weight = svc, w
	return d, true
}

// dispatchKey encodes a service key as the key of its dispatch map.
func dispatchKey(k lvs.ServiceKey) (set string, key []byte) {
	if k.IsFWMark() {
		if k.Family == lvs.IPv6 {
			return setFwm6, native32(k.FWMark)
		}
		return setFwm4, native32(k.FWMark)
	}
	key = append(key, byte(k.Protocol), 0, 0, 0)
	key = append(key, k.Addr.AsSlice()...)
	key = append(key, byte(k.Port>>8), byte(k.Port), 0, 0)
	if k.Family == lvs.IPv6 {
		return setSvc6, key
	}
	return setSvc4, key
}

func decodeDispatchKey(set, b string) (lvs.ServiceKey, bool) {
	switch set {
	case setFwm4, setFwm6:
		if len(b) != 4 {
			return lvs.ServiceKey{}, false
		}
		f := lvs.IPv4
		if set == setFwm6 {
			f = lvs.IPv6
		}
		m := binary.NativeEndian.Uint32([]byte(b))
		return lvs.ServiceKey{Family: f, FWMark: m}, m != 0
	}
	f := lvs.IPv4
	if set == setSvc6 {
		f = lvs.IPv6
	}
	n := int(addrLen(f))
	if len(b) != 4+n+4 || b[1] != 0 || b[2] != 0 || b[3] != 0 {
		return lvs.ServiceKey{}, false
	}
	a, _ := netip.AddrFromSlice([]byte(b[4 : 4+n]))
	p := lvs.Protocol(b[0])
	if p != lvs.TCP && p != lvs.UDP {
		return lvs.ServiceKey{}, false
	}
	return lvs.ServiceKey{Family: f, Protocol: p, Addr: a, Port: binary.BigEndian.Uint16([]byte(b[4+n : 4+n+2]))}, true
}

// serviceRecords are the rules of service chain s<id>, as records: the
// header, [the persistence lookup and stale check], [the scheduler, when
// the service has slots], the slot lookup, the counter and the goto to
// the DNAT chain.
func serviceRecords(h record, slots uint32) []record {
	id := h.SvcID
	out := []record{h}
	if h.Persistence > 0 {
		out = append(out, record{Kind: kindPersistLookup, SvcID: id}, record{Kind: kindPersistStale, SvcID: id})
	}
	if slots > 0 {
		out = append(out, record{Kind: kindSched, SvcID: id, Slots: slots})
	}
	return append(out, record{Kind: kindPick, SvcID: id}, record{Kind: kindCount, SvcID: id}, record{Kind: kindNAT, SvcID: id})
}

func headerOf(id uint32, s lvs.Service) record {
	return record{Kind: kindService, SvcID: id, Key: s.Key, Scheduler: s.Scheduler,
		Persistence: persistSeconds(s.Persistence), Netmask: s.Netmask}
}

// build derives the services from the objects. Of two chains with the
// same service header the lower ID is the service (invalid, so it is
// rewritten) and the other is left for deletion.
func (st *state) build() {
	o := st.objects
	st.Services = map[lvs.ServiceKey]*svcState{}
	count := map[lvs.ServiceKey]int{}
	for id, recs := range o.Chains {
		if len(recs) == 0 || recs[0].Kind != kindService || recs[0].SvcID != id {
			continue
		}
		h := recs[0]
		count[h.Key]++
		if prev, dup := st.Services[h.Key]; dup && prev.ID < id {
			continue
		}
		st.Services[h.Key] = &svcState{ID: id, Header: h, DestIDs: map[lvs.DestKey]uint32{}}
	}
	dests := map[uint32][]uint32{}
	for id, d := range o.Dests {
		dests[d.Svc] = append(dests[d.Svc], id)
	}
	for k, ss := range st.Services {
		ss.Service, ss.Valid = st.validate(ss.Header, dests[ss.ID], ss.DestIDs)
		ss.Valid = ss.Valid && count[k] == 1
	}
}

// validate assembles service h from its destinations and checks every
// rule and element it needs.
func (st *state) validate(h record, ids []uint32, destIDs map[lvs.DestKey]uint32) (lvs.Service, bool) {
	o := st.objects
	s := lvs.Service{Key: h.Key, Scheduler: h.Scheduler, Persistence: seconds(h.Persistence), Netmask: h.Netmask}
	ok := o.Infra
	slices.Sort(ids)
	for _, id := range ids {
		d := o.Dests[id]
		k := lvs.DestKey{Addr: d.Addr, Port: d.Port}
		if _, dup := destIDs[k]; dup {
			ok = false
			continue
		}
		destIDs[k] = id
		if lvs.FamilyOf(d.Addr) != h.Key.Family || o.Stats[id] != allStats {
			ok = false
		}
		s.Destinations = append(s.Destinations, lvs.Destination{Addr: d.Addr, Port: d.Port, Weight: d.Weight, Method: lvs.NAT})
	}
	slices.SortFunc(s.Destinations, func(a, b lvs.Destination) int { return a.Key().Compare(b.Key()) })
	ws := make([]int32, len(s.Destinations))
	for i, d := range s.Destinations {
		ws[i] = d.Weight
	}
	counts, n := slotCounts(s.Scheduler, ws)
	if !slices.Equal(o.Chains[h.SvcID], serviceRecords(h, n)) || o.Dispatch[h.Key] != h.SvcID {
		ok = false
	}
	if h.Persistence > 0 && !o.PSets[persistSetName(h)] {
		ok = false
	}
	slot := uint32(0)
	for i, c := range counts {
		did := destIDs[s.Destinations[i].Key()]
		for j := uint32(0); j < c; j++ {
			if got, there := o.Slots[slotKey{h.SvcID, slot}]; !there || got != did {
				ok = false
			}
			slot++
		}
	}
	return s, ok
}

// Table returns the services the kernel balances exactly as recorded.
// When the skeleton is damaged it returns no services at all, which makes
// the reconciler re-add every service and so rebuild the skeleton.
func (st *state) Table() lvs.Table {
	var t lvs.Table
	if !st.Infra {
		return t
	}
	for _, ss := range st.Services {
		if ss.Valid {
			t.Services = append(t.Services, ss.Service)
		}
	}
	return t.Normalize()
}

// statsOf maps the counters of valid services into the lvs model.
// Connections are new connections DNATed to the destination; packets and
// bytes "in" flow client → real server, "out" the replies.
func (st *state) statsOf(conns map[uint32]connGauge) map[lvs.ServiceKey]lvs.ServiceStats {
	out := map[lvs.ServiceKey]lvs.ServiceStats{}
	for k, ss := range st.Services {
		if !ss.Valid {
			continue
		}
		s := lvs.ServiceStats{Destinations: map[lvs.DestKey]lvs.DestStats{}}
		for dk, id := range ss.DestIDs {
			in, rep := st.StatIn[id], st.StatOut[id]
			c := lvs.Counters{
				Connections: st.StatNew[id].Packets,
				PacketsIn:   in.Packets, BytesIn: in.Bytes,
				PacketsOut: rep.Packets, BytesOut: rep.Bytes,
			}
			g := conns[id]
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

// clean reports whether the objects are exactly those of the valid
// services t (as render lays them out): no junk, nothing left over.
func (st *state) clean(t lvs.Table) bool {
	o := st.objects
	if !o.Infra || len(o.Junk) > 0 || len(t.Services) != len(st.Services) || len(o.Chains) != len(t.Services) || len(o.Dispatch) != len(t.Services) {
		return false
	}
	dests, slots, psets := 0, 0, 0
	for _, ss := range st.Services {
		dests += len(ss.DestIDs)
		for _, r := range o.Chains[ss.ID] {
			if r.Kind == kindSched {
				slots += int(r.Slots)
			}
		}
		if ss.Header.Persistence > 0 {
			psets++
		}
	}
	if len(o.Dests) != dests || len(o.Stats) != dests || len(o.Slots) != slots || len(o.PSets) != psets {
		return false
	}
	return true
}
