package nftables

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"syscall"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"quadrature/lvs"
)

// applyPlan returns the table that results from applying p to cur. Updates
// of absent objects are treated as additions and deletions of absent
// objects are ignored: the result is the desired state either way.
func applyPlan(cur lvs.Table, p lvs.Plan) lvs.Table {
	svcs := make(map[lvs.ServiceKey]*lvs.Service, len(cur.Services))
	for _, s := range cur.Services {
		s := s
		svcs[s.Key] = &s
	}
	touched := map[lvs.ServiceKey]bool{}
	for _, k := range p.DeleteServices {
		delete(svcs, k)
	}
	for _, s := range p.UpdateServices {
		if old, ok := svcs[s.Key]; ok {
			s.Destinations = old.Destinations
		}
		s := s
		svcs[s.Key] = &s
	}
	for _, s := range p.AddServices {
		s := s
		s.Destinations = slices.Clone(s.Destinations)
		svcs[s.Key] = &s
	}
	// Destination changes, grouped by service (one index per service,
	// not a scan per change: a plan can carry 50,000 of them).
	type change struct {
		d   lvs.Destination
		del bool
	}
	byService := map[lvs.ServiceKey][]change{}
	for _, c := range p.DeleteDests {
		byService[c.Service] = append(byService[c.Service], change{c.Dest, true})
	}
	for _, c := range p.UpdateDests {
		byService[c.Service] = append(byService[c.Service], change{c.Dest, false})
	}
	for _, c := range p.AddDests {
		byService[c.Service] = append(byService[c.Service], change{c.Dest, false})
	}
	for k, cs := range byService {
		s, ok := svcs[k]
		if !ok {
			continue
		}
		touched[k] = true
		idx := make(map[lvs.DestKey]int, len(s.Destinations))
		ds := slices.Clone(s.Destinations)
		for i, d := range ds {
			idx[d.Key()] = i
		}
		gone := map[int]bool{}
		for _, c := range cs {
			i, there := idx[c.d.Key()]
			switch {
			case c.del && there:
				gone[i] = true
			case !c.del && there:
				ds[i] = c.d
				delete(gone, i)
			case !c.del:
				idx[c.d.Key()] = len(ds)
				ds = append(ds, c.d)
			}
		}
		out := ds[:0]
		for i, d := range ds {
			if !gone[i] {
				out = append(out, d)
			}
		}
		s.Destinations = out
	}
	var out lvs.Table
	for _, s := range svcs {
		out.Services = append(out.Services, *s)
	}
	return out.Normalize()
}

// Apply makes the table match the result of applying p to the table last
// read or written, in one netlink batch, without reading the kernel: the
// backend keeps what it last wrote (or read), diffs it against the result
// and sends only the chains, rules and elements that differ. The batch
// carries the ruleset generation that state belongs to, so the kernel
// refuses it if anything committed since (another process, another
// table); Apply then reads the table and tries again. If a batch fails
// otherwise (the table drifted), Apply rebuilds the whole table in one
// batch, atomically.
func (dp *DataPlane) Apply(ctx context.Context, p lvs.Plan) error {
	if p.Timeouts != nil && !dp.warnedTimeouts {
		dp.warnedTimeouts = true
		dp.log.Warn("lvs_timeouts not applied: the nftables backend uses conntrack timeouts")
	}
	if dp.nl == nil {
		return errors.New("nftables backend: closed")
	}
	if dp.cur == nil || dp.gen == 0 {
		if _, err := dp.refresh(ctx); err != nil {
			return err
		}
	}
	// Only the services the plan names change.
	touched := planKeys(p)
	var before lvs.Table
	for k := range touched {
		if s, ok := dp.lookup(k); ok {
			before.Services = append(before.Services, s)
		}
	}
	after := applyPlan(before, p).Services
	for _, s := range after {
		if err := CheckService(s); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	err := dp.program(ctx, touched, after, false)
	if err == nil {
		return nil
	}
	if errors.Is(err, syscall.ERESTART) {
		// Something else committed: read the table and diff again.
		if _, err2 := dp.refresh(ctx); err2 != nil {
			return err2
		}
		if err = dp.program(ctx, touched, after, false); err == nil {
			return nil
		}
	}
	dp.log.Warn("incremental update failed, rebuilding the table", "err", err)
	if err2 := dp.program(ctx, touched, after, true); err2 != nil {
		dp.cur = nil
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

// idAlloc hands out IDs above every ID the table uses: an ID that went
// away (with its persistence entries and counters) is not reused soon.
// Past limit it wraps and skips the IDs in use (fill lists them).
type idAlloc struct {
	used  map[uint32]bool
	next  uint32
	limit uint32
	fill  func(map[uint32]bool)
}

func (a *idAlloc) get() uint32 {
	for {
		a.next++
		if a.next > a.limit {
			a.next = 1
			if a.fill != nil {
				a.fill(a.used)
				a.fill = nil
			}
		}
		if !a.used[a.next] {
			a.used[a.next] = true
			return a.next
		}
	}
}

// render lays desired out as objects, keeping the IDs of the services and
// destinations that cur already has.
func render(cur *state, desired []lvs.Service, svcIDs, destIDs *idAlloc) *objects {
	w := newObjects()
	w.TableExists, w.Infra = true, true
	for _, s := range desired {
		var id uint32
		var old map[lvs.DestKey]uint32
		if ss := cur.Services[s.Key]; ss != nil {
			id, old = ss.ID, ss.DestIDs
		} else {
			id = svcIDs.get()
		}
		h := headerOf(id, s)
		ws := make([]int32, len(s.Destinations))
		dids := make([]uint32, len(s.Destinations))
		for i, d := range s.Destinations {
			ws[i] = d.Weight
			did, ok := old[d.Key()]
			if !ok {
				did = destIDs.get()
			}
			dids[i] = did
			w.Dests[did] = dstObj{Map: dstMapIndex(s.Key.Family, d.Port), Svc: id, Addr: d.Addr, Port: d.Port, Weight: d.Weight}
			w.Stats[did] = allStats
		}
		counts, n := slotCounts(s.Scheduler, ws)
		w.Chains[id] = serviceRecords(h, n)
		w.Dispatch[s.Key] = id
		slot := uint32(0)
		for i, c := range counts {
			for j := uint32(0); j < c; j++ {
				w.Slots[slotKey{id, slot}] = dids[i]
				slot++
			}
		}
		if h.Persistence > 0 {
			w.PSets[persistSetName(h)] = true
		}
	}
	return w
}

// elemLists collects the element changes of one batch by set.
type elemLists map[string][]elem

func (l elemLists) add(set string, e elem) { l[set] = append(l[set], e) }

func slotElem(k slotKey, dest uint32) elem {
	e := elem{key: native32(k.Svc<<16 | k.Slot)}
	if dest != 0 {
		e.data = native32(markOf(dest))
	}
	return e
}

func destElem(id uint32, d dstObj) elem {
	e := elem{key: native32(markOf(id)), comment: destComment(d.Svc, d.Weight)}
	e.data = d.Addr.AsSlice()
	if d.Map%2 == 0 {
		e.data = append(e.data, byte(d.Port>>8), byte(d.Port), 0, 0)
	}
	return e
}

func dispatchElem(k lvs.ServiceKey, id uint32) (string, elem) {
	set, key := dispatchKey(k)
	return set, elem{key: key, chain: svcChainName(id)}
}

// sortedKeys returns the keys of m in order, so batches are
// deterministic.
func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// diff appends to b the messages that turn cur into want; purge lists,
// per persistence map that stays, the destination IDs removed from it.
func diff(b *nlBatch, cur, want *objects, masq bool) (purge map[string][]uint32) {
	if !cur.Infra {
		skeleton(b, masq, cur)
	}
	// New persistence maps and chains first: rules and elements refer
	// to them.
	for _, name := range sortedKeys(want.PSets) {
		if !cur.PSets[name] {
			b.addSet(persistSpec(name), 0)
		}
	}
	for _, id := range sortedKeys(want.Chains) {
		if _, ok := cur.Chains[id]; !ok {
			b.addChain(svcChainName(id), nil)
		}
	}
	// Element deletions: whatever differs or goes away.
	del, add := elemLists{}, elemLists{}
	for _, j := range cur.Junk {
		del.add(j.Set, elem{key: []byte(j.Key)})
	}
	for k, id := range cur.Dispatch {
		if wid, ok := want.Dispatch[k]; !ok || wid != id {
			set, e := dispatchElem(k, id)
			del.add(set, e)
		}
	}
	for k, d := range cur.Slots {
		if wd, ok := want.Slots[k]; !ok || wd != d {
			del.add(setSlots, slotElem(k, 0))
		}
	}
	purge = map[string][]uint32{}
	for id, d := range cur.Dests {
		if wd, ok := want.Dests[id]; !ok || wd != d {
			del.add(dstMaps[d.Map], elem{key: native32(markOf(id))})
		}
		if _, ok := want.Dests[id]; !ok {
			for name := range want.PSets {
				if cur.PSets[name] {
					if sid, _ := persistSetID(name); sid == d.Svc {
						purge[name] = append(purge[name], id)
					}
				}
			}
		}
	}
	for id, bits := range cur.Stats {
		for i, name := range statSets {
			if bits&(1<<i) != 0 && want.Stats[id]&(1<<i) == 0 {
				del.add(name, elem{key: native32(markOf(id))})
			}
		}
	}
	for _, set := range sortedKeys(del) {
		b.elems(set, del[set], true)
	}
	// Chains whose rules differ are flushed and refilled.
	for _, id := range sortedKeys(want.Chains) {
		recs := want.Chains[id]
		old, there := cur.Chains[id]
		if there && slices.Equal(old, recs) {
			continue
		}
		name := svcChainName(id)
		if there && len(old) > 0 {
			b.flushChain(name)
		}
		for _, r := range recs {
			b.addRule(name, r.String(), ruleExprs(r, recs[0]))
		}
	}
	// Element additions.
	for id, d := range want.Dests {
		if cd, ok := cur.Dests[id]; !ok || cd != d {
			add.add(dstMaps[d.Map], destElem(id, d))
		}
	}
	for id, bits := range want.Stats {
		for i, name := range statSets {
			if bits&(1<<i) != 0 && cur.Stats[id]&(1<<i) == 0 {
				add.add(name, elem{key: native32(markOf(id))})
			}
		}
	}
	for k, d := range want.Slots {
		if cd, ok := cur.Slots[k]; !ok || cd != d {
			add.add(setSlots, slotElem(k, d))
		}
	}
	for k, id := range want.Dispatch {
		if cid, ok := cur.Dispatch[k]; !ok || cid != id {
			set, e := dispatchElem(k, id)
			add.add(set, e)
		}
	}
	for _, set := range sortedKeys(add) {
		es := add[set]
		slices.SortFunc(es, func(x, y elem) int { return slices.Compare(x.key, y.key) })
		b.elems(set, es, false)
	}
	// Then what goes away: service chains (their dispatch elements are
	// gone), then persistence maps (their rules are gone).
	for _, id := range sortedKeys(cur.Chains) {
		if _, ok := want.Chains[id]; !ok {
			b.delChain(svcChainName(id))
		}
	}
	for _, name := range sortedKeys(cur.PSets) {
		if !want.PSets[name] {
			b.delSet(name)
		}
	}
	return purge
}

// skeleton writes the table, its base chains, fixed sets and their rules.
// The base chains and the dispatch chain are flushed first, so whatever
// was there is replaced.
func skeleton(b *nlBatch, masq bool, cur *objects) {
	b.addTable()
	base := []struct {
		name string
		hook chainHook
	}{
		{chainPrerouting, chainHook{unix.NF_INET_PRE_ROUTING, -100, "nat"}},
		{chainOutput, chainHook{unix.NF_INET_LOCAL_OUT, -100, "nat"}},
		{chainPostrouting, chainHook{unix.NF_INET_POST_ROUTING, 100, "nat"}},
		{chainStatsPre, chainHook{unix.NF_INET_PRE_ROUTING, 0, "filter"}},
		{chainStatsOut, chainHook{unix.NF_INET_LOCAL_OUT, 0, "filter"}},
	}
	for _, c := range base {
		h := c.hook
		b.addChain(c.name, &h)
	}
	for _, c := range []string{chainServices, chainPick, chainNat4, chainNat6} {
		b.addChain(c, nil)
	}
	for i, s := range fixedSpecs {
		b.addSet(s, uint32(i+1))
	}
	if cur.TableExists {
		for _, c := range base {
			b.flushChain(c.name)
		}
		for _, c := range []string{chainServices, chainPick, chainNat4, chainNat6} {
			b.flushChain(c)
		}
	}
	jump := []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: chainServices}}
	rule := func(chain, infra string, e []expr.Any) {
		b.addRule(chain, record{Kind: kindInfra, Infra: infra}.String(), e)
	}
	rule(chainPrerouting, infraPreJump, jump)
	rule(chainOutput, infraOutJump, jump)
	if masq {
		rule(chainPostrouting, infraMasq, masqExprs())
	}
	rule(chainStatsPre, infraPreIn, statsExprs(false))
	rule(chainStatsPre, infraPreOut, statsExprs(true))
	rule(chainStatsOut, infraOutIn, statsExprs(false))
	rule(chainStatsOut, infraOutOut, statsExprs(true))
	for _, d := range []string{infraDisp4, infraDisp6, infraFwm4, infraFwm6} {
		rule(chainServices, d, dispatchExprs(d))
	}
	rule(chainPick, infraPick, pickExprs())
	for _, n := range []string{infraNat4T, infraNat4U, infraNat4A, infraNat4D, infraNat6T, infraNat6U, infraNat6A, infraNat6D} {
		c := chainNat4
		if n[1] == '6' {
			c = chainNat6
		}
		rule(c, n, natExprs(n))
	}
}

// planKeys are the services a plan changes.
func planKeys(p lvs.Plan) map[lvs.ServiceKey]bool {
	k := map[lvs.ServiceKey]bool{}
	for _, s := range p.AddServices {
		k[s.Key] = true
	}
	for _, s := range p.UpdateServices {
		k[s.Key] = true
	}
	for _, x := range p.DeleteServices {
		k[x] = true
	}
	for _, cs := range [][]lvs.DestChange{p.AddDests, p.UpdateDests, p.DeleteDests} {
		for _, c := range cs {
			k[c.Service] = true
		}
	}
	return k
}

// lookup returns the kept service with key k.
func (dp *DataPlane) lookup(k lvs.ServiceKey) (lvs.Service, bool) {
	svcs := dp.curTable.Services
	i, ok := slices.BinarySearchFunc(svcs, k, func(s lvs.Service, k lvs.ServiceKey) int { return s.Key.Compare(k) })
	if !ok {
		return lvs.Service{}, false
	}
	return svcs[i], true
}

// program writes one batch that gives the services in touched the
// settings and destinations of after (those absent from after go away),
// and, when the kept state came from a read (dirty), also deletes
// whatever the table holds that no service needs. With rebuild it deletes
// and recreates the whole table instead of patching it.
func (dp *DataPlane) program(ctx context.Context, touched map[lvs.ServiceKey]bool, after []lvs.Service, rebuild bool) error {
	masq := dp.opts.Masquerade == MasqueradeDNAT
	cur := dp.cur
	full := rebuild || dp.dirty
	b := newBatch(dp.opts.TableName, dp.seq)
	gen := dp.gen
	var desired []lvs.Service
	if full {
		// The whole table: the kept services the plan leaves alone and
		// the changed ones.
		for _, s := range dp.curTable.Services {
			if !touched[s.Key] {
				desired = append(desired, s)
			}
		}
		desired = append(desired, after...)
		slices.SortFunc(desired, func(a, b lvs.Service) int { return a.Key.Compare(b.Key) })
	} else {
		desired = after
	}
	if rebuild {
		b.addTable()
		b.delTable()
		cur = decodeState(dump{}, masq)
		gen = 0
	}
	svcIDs := &idAlloc{used: map[uint32]bool{}, next: max(cur.maxSvc, dp.lastSvc), limit: maxServiceID, fill: func(used map[uint32]bool) {
		for id := range cur.Chains {
			used[id] = true
		}
	}}
	destIDs := &idAlloc{used: map[uint32]bool{}, next: max(cur.maxDest, dp.lastDest), limit: 1<<31 - 1, fill: func(used map[uint32]bool) {
		for id := range cur.Dests {
			used[id] = true
		}
		for id := range cur.Stats {
			used[id] = true
		}
	}}
	base := cur.objects
	if !full {
		base = cur.subset(touched)
	}
	want := render(cur, desired, svcIDs, destIDs)
	purge := diff(b, base, want, masq)
	if len(purge) > 0 {
		// Removing a destination drops its clients' persistence.
		for _, name := range sortedKeys(purge) {
			els, err := readSetElems(dp.nl, dp.opts.TableName, name)
			if err != nil {
				return classify("read "+name, err)
			}
			gone := map[uint32]bool{}
			for _, id := range purge[name] {
				gone[id] = true
			}
			var del []elem
			for _, e := range els {
				if id, ok := decodeMark(e.Value); ok && gone[id] {
					del = append(del, elem{key: []byte(e.Key)})
				}
			}
			b.elems(name, del, true)
		}
	}
	if b.n == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	err := b.send(dp.wr, gen)
	dp.seq = b.seq + 1
	if err != nil {
		return err
	}
	// The batch committed: it is the new kept state, at the generation
	// after ours (unless something else committed right after).
	next, gerr := getGen(dp.nl)
	if gerr != nil || gen == 0 || next != gen+1 {
		next = 0 // unknown: the next Apply reads the table first
	}
	dp.gen = next
	dp.lastSvc, dp.lastDest = svcIDs.next, destIDs.next
	if full {
		st := &state{objects: want, maxSvc: max(cur.maxSvc, svcIDs.next), maxDest: max(cur.maxDest, destIDs.next)}
		st.build()
		dp.cur, dp.curTable, dp.dirty = st, st.Table(), false
		return nil
	}
	cur.replace(base, want)
	cur.maxSvc, cur.maxDest = max(cur.maxSvc, svcIDs.next), max(cur.maxDest, destIDs.next)
	svcs := make([]lvs.Service, 0, len(dp.curTable.Services)+len(after))
	for _, s := range dp.curTable.Services {
		if !touched[s.Key] {
			svcs = append(svcs, s)
		}
	}
	for k := range touched {
		delete(cur.Services, k)
	}
	for _, s := range after {
		id := want.Dispatch[s.Key]
		var ids []uint32
		for did, d := range want.Dests {
			if d.Svc == id {
				ids = append(ids, did)
			}
		}
		ss := &svcState{ID: id, Header: want.Chains[id][0], DestIDs: map[lvs.DestKey]uint32{}}
		ss.Service, ss.Valid = cur.validate(ss.Header, ids, ss.DestIDs)
		cur.Services[s.Key] = ss
		if ss.Valid {
			svcs = append(svcs, ss.Service)
		}
	}
	slices.SortFunc(svcs, func(a, b lvs.Service) int { return a.Key.Compare(b.Key) })
	dp.curTable = lvs.Table{Services: svcs}
	return nil
}

// subset returns the objects of the services with the given keys (the
// kept state holds nothing else).
func (st *state) subset(keys map[lvs.ServiceKey]bool) *objects {
	o := newObjects()
	o.TableExists, o.Infra = st.TableExists, st.Infra
	for k := range keys {
		ss := st.Services[k]
		if ss == nil {
			continue
		}
		id := ss.ID
		if recs, ok := st.Chains[id]; ok {
			o.Chains[id] = recs
			for _, r := range recs {
				if r.Kind == kindSched {
					for i := uint32(0); i < r.Slots; i++ {
						if d, ok := st.Slots[slotKey{id, i}]; ok {
							o.Slots[slotKey{id, i}] = d
						}
					}
				}
			}
		}
		if d, ok := st.Dispatch[k]; ok {
			o.Dispatch[k] = d
		}
		for _, did := range ss.DestIDs {
			if d, ok := st.Dests[did]; ok {
				o.Dests[did] = d
			}
			if bits, ok := st.Stats[did]; ok {
				o.Stats[did] = bits
			}
		}
		if name := persistSetName(ss.Header); st.PSets[name] {
			o.PSets[name] = true
		}
	}
	return o
}

// replace removes old's objects from st and adds new's.
func (st *state) replace(old, new *objects) {
	o := st.objects
	for id := range old.Chains {
		delete(o.Chains, id)
	}
	for k := range old.Dispatch {
		delete(o.Dispatch, k)
	}
	for k := range old.Slots {
		delete(o.Slots, k)
	}
	for id := range old.Dests {
		delete(o.Dests, id)
	}
	for id := range old.Stats {
		delete(o.Stats, id)
	}
	for n := range old.PSets {
		delete(o.PSets, n)
	}
	maps.Copy(o.Chains, new.Chains)
	maps.Copy(o.Dispatch, new.Dispatch)
	maps.Copy(o.Slots, new.Slots)
	maps.Copy(o.Dests, new.Dests)
	maps.Copy(o.Stats, new.Stats)
	maps.Copy(o.PSets, new.PSets)
}
