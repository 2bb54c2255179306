package nftables

import (
	"context"
	"errors"

	"quadrature/lvs"
)

// ReadSlice implements lvs.SliceReader: the settings of every service and
// the destinations of the services withDests selects.
//
// It first asks the kernel for its ruleset generation. When something
// committed since the table was last read or written here (another
// process, another table of the namespace), it reads the whole table
// (Read). Otherwise no transaction has touched any table since, so the
// services' settings are those kept from then, and it reads the selected
// services from the kernel: their chain's rules, their dispatch element,
// their slots and their destination elements (looked up by key, one
// request per set for the whole slice), and checks them as Read does. A
// selected service that fails the check comes back without its
// destinations' table entry (the reconciler then runs a full pass).
// Counter-set elements are checked by full reads only.
func (dp *DataPlane) ReadSlice(ctx context.Context, withDests func(lvs.ServiceKey) bool) (lvs.Table, error) {
	if dp.nl == nil {
		return lvs.Table{}, errors.New("nftables backend: closed")
	}
	gen, err := getGen(dp.nl)
	if err != nil {
		return lvs.Table{}, classify("read generation", err)
	}
	if dp.cur == nil || dp.gen == 0 || gen != dp.gen {
		return dp.Read(ctx)
	}
	cur := dp.cur
	part := newObjects()
	part.TableExists, part.Infra = cur.TableExists, cur.Infra
	var sel []*svcState
	keys := map[string][][]byte{}
	for k, ss := range cur.Services {
		if !ss.Valid || !withDests(k) {
			continue
		}
		sel = append(sel, ss)
		set, key := dispatchKey(k)
		keys[set] = append(keys[set], key)
		for _, r := range cur.Chains[ss.ID] {
			if r.Kind == kindSched {
				for i := uint32(0); i < r.Slots; i++ {
					keys[setSlots] = append(keys[setSlots], slotElem(slotKey{ss.ID, i}, 0).key)
				}
			}
		}
		for _, id := range ss.DestIDs {
			d := cur.Dests[id]
			keys[dstMaps[d.Map]] = append(keys[dstMaps[d.Map]], native32(markOf(id)))
			part.Stats[id] = cur.Stats[id]
		}
		for name := range cur.PSets {
			if sid, _ := persistSetID(name); sid == ss.ID {
				part.PSets[name] = true
			}
		}
	}
	for _, ss := range sel {
		if err := ctx.Err(); err != nil {
			return lvs.Table{}, err
		}
		rules, err := readChainRules(dp.nl, dp.opts.TableName, svcChainName(ss.ID))
		if err != nil {
			return lvs.Table{}, classify("read", err)
		}
		recs := []record{}
		for _, ri := range rules {
			r, err := parseRecord(ri.Comment)
			if err != nil {
				r = record{}
			}
			recs = append(recs, r)
		}
		part.Chains[ss.ID] = recs
	}
	els := map[string][]setElem{}
	for _, set := range sortedKeys(keys) {
		ks := keys[set]
		for len(ks) > 0 {
			n := min(len(ks), 256) // one answer per element: a bounded burst
			es, found, err := getSetElems(dp.nl, dp.opts.TableName, set, ks[:n])
			if err != nil {
				return lvs.Table{}, classify("read", err)
			}
			if !found {
				// An element is missing: the table drifted.
				return dp.Read(ctx)
			}
			els[set] = append(els[set], es...)
			ks = ks[n:]
		}
	}
	st := &state{objects: part}
	st.decodeElements(els)
	st.build()
	var t lvs.Table
	for _, s := range dp.curTable.Services {
		if ss := st.Services[s.Key]; ss != nil {
			if ss.Valid {
				t.Services = append(t.Services, ss.Service)
			}
			continue
		}
		t.Services = append(t.Services, s)
	}
	return t.Normalize(), nil
}
