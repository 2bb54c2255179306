package nftables

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"

	"quadrature/lvs"
)

// applyPlan returns the table that results from applying p to cur. Updates
// of absent objects are treated as additions and deletions of absent
// objects are ignored: the result is the desired state either way.
func applyPlan(cur lvs.Table, p lvs.Plan) lvs.Table {
	svcs := map[lvs.ServiceKey]*lvs.Service{}
	for _, s := range cur.Normalize().Services {
		s := s
		svcs[s.Key] = &s
	}
	for _, k := range p.DeleteServices {
		delete(svcs, k)
	}
	for _, s := range p.UpdateServices {
		if old, ok := svcs[s.Key]; ok {
			s.Destinations = old.Destinations
		}
		s := s
		s.Destinations = slices.Clone(s.Destinations)
		svcs[s.Key] = &s
	}
	for _, s := range p.AddServices {
		s := s
		s.Destinations = slices.Clone(s.Destinations)
		svcs[s.Key] = &s
	}
	setDest := func(c lvs.DestChange, del bool) {
		s, ok := svcs[c.Service]
		if !ok {
			return
		}
		s.Destinations = slices.DeleteFunc(s.Destinations, func(d lvs.Destination) bool { return d.Key() == c.Dest.Key() })
		if !del {
			s.Destinations = append(s.Destinations, c.Dest)
		}
	}
	for _, c := range p.DeleteDests {
		setDest(c, true)
	}
	for _, c := range p.UpdateDests {
		setDest(c, false)
	}
	for _, c := range p.AddDests {
		setDest(c, false)
	}
	var out lvs.Table
	for _, s := range svcs {
		out.Services = append(out.Services, *s)
	}
	return out.Normalize()
}

// Apply makes the table match the result of applying p to the table of the
// last Read, in one netlink batch: services whose rules change are
// rewritten (their chain flushed and refilled), untouched services and the
// counters of unchanged destinations are left alone. If the batch fails
// (for example because the table drifted since the Read), Apply rebuilds
// the whole table in one batch instead, atomically.
func (dp *DataPlane) Apply(ctx context.Context, p lvs.Plan) error {
	if p.Timeouts != nil && !dp.warnedTimeouts {
		dp.warnedTimeouts = true
		dp.log.Warn("lvs_timeouts not applied: the nftables backend uses conntrack timeouts")
	}
	cur := dp.cur
	if cur == nil {
		var err error
		if cur, err = dp.readState(ctx, false); err != nil {
			return err
		}
	}
	dp.cur = nil // the next Apply reads again
	desired := applyPlan(cur.Table(), p)
	for _, s := range desired.Services {
		if err := CheckService(s); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	err := dp.program(cur, desired, false)
	if err == nil {
		return nil
	}
	dp.log.Warn("incremental update failed, rebuilding the table", "err", err)
	if err2 := dp.program(cur, desired, true); err2 != nil {
		return classify("apply", fmt.Errorf("%w (rebuild: %w)", err, err2))
	}
	return nil
}

// Sync reads the table and makes it equal to desired (a full-state apply,
// for callers without a Reconciler). It returns whether anything changed.
func (dp *DataPlane) Sync(ctx context.Context, desired lvs.Table) (bool, error) {
	cur, err := dp.Read(ctx)
	if err != nil {
		return false, err
	}
	if cur.Digest() == desired.Digest() {
		return false, nil
	}
	return true, dp.Apply(ctx, lvs.Diff(cur, desired, lvs.Options{OwnWholeTable: true}))
}

func comment(r record) []byte { return userdata.AppendString(nil, userdata.TypeComment, r.String()) }

// idAlloc hands out the lowest IDs not in use.
type idAlloc struct {
	used map[uint32]bool
	next uint32
}

func (a *idAlloc) get() uint32 {
	for {
		a.next++
		if !a.used[a.next] {
			a.used[a.next] = true
			return a.next
		}
	}
}

// batch accumulates the netlink messages of one Apply.
type batch struct {
	c     *nftables.Conn
	table *nftables.Table
	cur   *state // what the table holds: only existing chains and sets are flushed
	stats []nftables.SetElement
	err   error
}

func (b *batch) chain(name string) *nftables.Chain {
	return &nftables.Chain{Name: name, Table: b.table}
}

// rewriteChain (re)creates a regular chain and empties it.
func (b *batch) rewriteChain(name string) *nftables.Chain {
	ch := b.c.AddChain(b.chain(name))
	if b.cur.Chains[name] {
		b.c.FlushChain(ch)
	}
	return ch
}

func (b *batch) rule(ch *nftables.Chain, r record, e []expr.Any) {
	b.c.AddRule(&nftables.Rule{Table: b.table, Chain: ch, Exprs: e, UserData: comment(r)})
}

func (b *batch) addSet(s *nftables.Set, elems []nftables.SetElement) {
	if err := b.c.AddSet(s, elems); err != nil && b.err == nil {
		b.err = err
	}
}

// skeleton writes the table, its base chains and their fixed rules.
func (b *batch) skeleton(masq bool) {
	b.c.AddTable(b.table)
	base := []struct {
		name string
		hook *nftables.ChainHook
		prio *nftables.ChainPriority
		typ  nftables.ChainType
	}{
		{chainPrerouting, nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest, nftables.ChainTypeNAT},
		{chainOutput, nftables.ChainHookOutput, nftables.ChainPriorityNATDest, nftables.ChainTypeNAT},
		{chainPostrouting, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource, nftables.ChainTypeNAT},
		{chainStatsPre, nftables.ChainHookPrerouting, nftables.ChainPriorityFilter, nftables.ChainTypeFilter},
		{chainStatsOut, nftables.ChainHookOutput, nftables.ChainPriorityFilter, nftables.ChainTypeFilter},
	}
	chains := map[string]*nftables.Chain{}
	for _, c := range base {
		ch := b.c.AddChain(&nftables.Chain{Name: c.name, Table: b.table, Hooknum: c.hook, Priority: c.prio, Type: c.typ})
		b.c.FlushChain(ch)
		chains[c.name] = ch
	}
	b.c.AddChain(b.chain(chainServices))
	b.addSet(statsSet(b.table, statsIn), nil)
	b.addSet(statsSet(b.table, statsOut), nil)
	jump := []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: chainServices}}
	b.rule(chains[chainPrerouting], record{Kind: kindInfra, Infra: infraPreJump}, jump)
	b.rule(chains[chainOutput], record{Kind: kindInfra, Infra: infraOutJump}, jump)
	if masq {
		b.rule(chains[chainPostrouting], record{Kind: kindInfra, Infra: infraMasq}, masqExprs())
	}
	b.rule(chains[chainStatsPre], record{Kind: kindInfra, Infra: infraPreIn}, statsExprs(false))
	b.rule(chains[chainStatsPre], record{Kind: kindInfra, Infra: infraPreOut}, statsExprs(true))
	b.rule(chains[chainStatsOut], record{Kind: kindInfra, Infra: infraOutIn}, statsExprs(false))
	b.rule(chains[chainStatsOut], record{Kind: kindInfra, Infra: infraOutOut}, statsExprs(true))
}

func headerOf(id uint32, s lvs.Service) record {
	return record{Kind: kindService, SvcID: id, Key: s.Key, Scheduler: s.Scheduler,
		Persistence: persistSeconds(s.Persistence), Netmask: s.Netmask}
}

func servicesEqual(a, b lvs.Service) bool {
	return lvs.Table{Services: []lvs.Service{a}}.CanonicalText() == lvs.Table{Services: []lvs.Service{b}}.CanonicalText()
}

// program writes one batch that turns cur into desired. With rebuild it
// deletes and recreates the whole table instead of patching it.
func (dp *DataPlane) program(cur *state, desired lvs.Table, rebuild bool) error {
	b := &batch{c: dp.conn, table: dp.table}
	masq := dp.opts.Masquerade == MasqueradeDNAT
	if rebuild {
		b.c.AddTable(b.table)
		b.c.DelTable(b.table)
		cur = decodeState(dump{}, masq)
	}
	b.cur = cur
	if !cur.InfraOK {
		b.skeleton(masq)
	}
	ids := &idAlloc{used: map[uint32]bool{}}
	for id := range cur.UsedIDs {
		ids.used[id] = true
	}
	w := &wanted{chains: map[string]bool{}, sets: map[string]bool{statsIn: true, statsOut: true}, stats: map[uint32]bool{}}
	// The dispatch chain is rewritten when a service appears, goes away or
	// changes its header (a service went away if the counts differ, since
	// every desired key is checked).
	dispatchDirty := !cur.InfraOK || len(cur.Services) != len(desired.Services)
	headers := make([]record, len(desired.Services))
	for i, s := range desired.Services {
		old := cur.Services[s.Key]
		var id uint32
		if old != nil {
			id = old.ID
		} else {
			id = ids.get()
		}
		headers[i] = headerOf(id, s)
		if old == nil || old.Header != headers[i] || !old.Valid {
			dispatchDirty = true
		}
		b.service(s, headers[i], old, ids, w)
	}
	if dispatchDirty {
		ch := b.rewriteChain(chainServices)
		for i, s := range desired.Services {
			b.rule(ch, headers[i], dispatchExprs(s.Key, headers[i].SvcID))
		}
	}
	b.addElements(statsSet(b.table, statsIn), b.stats)
	b.addElements(statsSet(b.table, statsOut), b.stats)
	if !rebuild {
		dp.collect(b, cur, w)
	}
	if b.err != nil {
		return b.err
	}
	return dp.conn.Flush()
}

// wanted collects the chains, sets and counter elements the desired table
// uses; collect deletes the rest.
type wanted struct {
	chains, sets map[string]bool
	stats        map[uint32]bool
}

// service writes the chains and maps of one desired service whose kernel
// state (old, nil if absent) differs from it, and records what it uses.
func (b *batch) service(s lvs.Service, hdr record, old *svcState, ids *idAlloc, w *wanted) {
	cur, id := b.cur, hdr.SvcID
	oldValid := old != nil && old.Valid && cur.InfraOK
	// Destination chains reference the persistence sets, whose names
	// carry the timeout and netmask: a change of those rewrites them.
	samePersist := old != nil && old.Header.Persistence == hdr.Persistence && old.Header.Netmask == hdr.Netmask
	destIDs := make([]uint32, len(s.Destinations))
	weights := make([]int32, len(s.Destinations))
	newDest := make([]bool, len(s.Destinations))
	persist := make([]string, len(s.Destinations))
	setsThere := true
	for i, d := range s.Destinations {
		if old != nil {
			destIDs[i] = old.DestIDs[d.Key()]
		}
		if destIDs[i] == 0 {
			destIDs[i] = ids.get()
			newDest[i] = true
		}
		weights[i] = d.Weight
		w.chains[destChainName(id, destIDs[i])] = true
		w.stats[destIDs[i]] = true
		if s.Persistence > 0 {
			persist[i] = persistSetName(id, destIDs[i], hdr.Persistence, hdr.Netmask)
			w.sets[persist[i]] = true
			setsThere = setsThere && cur.Sets[persist[i]]
		}
	}
	w.chains[svcChainName(id)] = true
	if oldValid && old.Header == hdr && servicesEqual(old.Service, s) && setsThere {
		return // unchanged
	}
	for i, d := range s.Destinations {
		did := destIDs[i]
		if persist[i] != "" {
			b.addSet(&nftables.Set{Table: b.table, Name: persist[i], KeyType: addrType(s.Key.Family),
				HasTimeout: true, Dynamic: true, Timeout: s.Persistence}, nil)
		}
		if oldValid && !newDest[i] && samePersist && cur.StatElems[did] {
			continue // chain and counters stay
		}
		ch := b.rewriteChain(destChainName(id, did))
		var l4set *nftables.Set
		if s.Key.IsFWMark() && d.Port != 0 {
			l4set = &nftables.Set{Table: b.table, Anonymous: true, Constant: true, KeyType: nftables.TypeInetProto}
			b.addSet(l4set, []nftables.SetElement{{Key: []byte{byte(lvs.TCP)}}, {Key: []byte{byte(lvs.UDP)}}})
		}
		b.rule(ch, record{Kind: kindDest, SvcID: id, DestID: did, Addr: d.Addr, Port: d.Port},
			destExprs(s.Key, s.Netmask, persist[i], did, d, l4set))
		if !cur.StatElems[did] {
			b.stats = append(b.stats, nftables.SetElement{Key: native32(markOf(did))})
		}
	}
	ch := b.rewriteChain(svcChainName(id))
	// One rule per destination: its weight record and, for a persistent
	// service, the way back to it for a client in its persistence set.
	for i, did := range destIDs {
		b.rule(ch, record{Kind: kindWeight, SvcID: id, DestID: did, Weight: weights[i]},
			weightExprs(s.Key.Family, s.Netmask, persist[i], id, did))
	}
	slots, n := layout(s.Scheduler, destIDs, weights)
	var vmap *nftables.Set
	if n > 0 {
		vmap = anonMap(b.table, nftables.TypeInteger, binaryutil.BigEndian, true)
		b.addSet(vmap, slotElements(id, slots))
	}
	b.rule(ch, record{Kind: kindSched, SvcID: id, Slots: n, Hash: layoutHash(slots)}, schedExprs(s, n, vmap))
	b.rule(ch, record{Kind: kindEnd, SvcID: id}, endExprs())
}

// collect deletes what the table holds and desired does not: service
// chains first (dropping their jumps), then destination chains, counter
// set elements and sets.
func (dp *DataPlane) collect(b *batch, cur *state, w *wanted) {
	var svc, dst []string
	for c := range cur.Chains {
		if w.chains[c] {
			continue
		}
		s, d, ok := chainIDs(c)
		switch {
		case !ok:
		case d != 0:
			dst = append(dst, c)
		case s != 0:
			svc = append(svc, c)
		}
	}
	slices.Sort(svc)
	slices.Sort(dst)
	for _, c := range svc {
		b.c.DelChain(b.chain(c))
	}
	for _, c := range dst {
		b.c.DelChain(b.chain(c))
	}
	var gone []nftables.SetElement
	for id := range cur.StatElems {
		if !w.stats[id] {
			gone = append(gone, nftables.SetElement{Key: native32(markOf(id))})
		}
	}
	slices.SortFunc(gone, func(x, y nftables.SetElement) int { return slices.Compare(x.Key, y.Key) })
	for _, name := range []string{statsIn, statsOut} {
		if !cur.Sets[name] {
			continue
		}
		for rest := gone; len(rest) > 0; {
			n := min(len(rest), 512)
			if err := b.c.SetDeleteElements(statsSet(b.table, name), rest[:n]); err != nil && b.err == nil {
				b.err = err
			}
			rest = rest[n:]
		}
	}
	for s := range cur.Sets {
		if !w.sets[s] {
			b.c.DelSet(&nftables.Set{Table: b.table, Name: s})
		}
	}
}

func addrType(f lvs.Family) nftables.SetDatatype {
	if f == lvs.IPv6 {
		return nftables.TypeIP6Addr
	}
	return nftables.TypeIPAddr
}

// statsSet is a counter set: the marks of all destinations, each element
// with its own counter.
func statsSet(t *nftables.Table, name string) *nftables.Set {
	return &nftables.Set{Table: t, Name: name, KeyType: nftables.TypeMark, Counter: true,
		KeyByteOrder: binaryutil.NativeEndian}
}

// anonMap is a constant anonymous verdict map, bound to the rule that
// uses it: nobody can edit its elements behind our back, and nft prints it
// inline (`numgen inc mod 6 vmap { 0 : jump …, 1-2 : jump … }`), so a
// saved ruleset loads again. The price: the kernel binds each anonymous
// set by walking the whole transaction, so a batch that creates many
// services grows quadratically (see BenchmarkApply1000x10).
func anonMap(t *nftables.Table, key nftables.SetDatatype, order binaryutil.ByteOrder, interval bool) *nftables.Set {
	return &nftables.Set{Table: t, Anonymous: true, Constant: true, IsMap: true, Interval: interval,
		KeyType: key, DataType: nftables.TypeVerdict, KeyByteOrder: order}
}

// addElements adds elements in messages of at most 512 (an element list
// is one netlink attribute, limited to 64 KiB).
func (b *batch) addElements(s *nftables.Set, elems []nftables.SetElement) {
	for len(elems) > 0 {
		n := min(len(elems), 512)
		if err := b.c.SetAddElements(s, elems[:n]); err != nil && b.err == nil {
			b.err = err
		}
		elems = elems[n:]
	}
}
