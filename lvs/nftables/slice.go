package nftables

import (
	"context"
	"errors"

	"quadrature/lvs"
)

// ReadSlice implements lvs.SliceReader: the settings of every service and
// the destinations of the services withDests selects.
//
// It asks the kernel for its ruleset generation first. When something
// committed since the table was last read or written here (another
// process, another table of the namespace), it reads the whole table
// (Read). Otherwise no transaction has touched any table since: the
// kernel's rules and elements are exactly the kept ones (only packets
// change set contents, and only in the persistence maps and counters),
// so the kept services are the answer (without the destinations of the
// services not selected), and of the selected services only
// the rules of their chains are read again (one dump per chain) and
// checked as Read does; the generation stands for the elements, which
// the kernel answers one message each when looked up by key.
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
	// Every service's settings, the destinations of the selected ones
	// only (the reconciler copies what it gets).
	out := lvs.Table{Services: make([]lvs.Service, len(dp.curTable.Services))}
	for i, s := range dp.curTable.Services {
		out.Services[i] = s
		if !withDests(s.Key) {
			out.Services[i].Destinations = nil
			continue
		}
		if err := ctx.Err(); err != nil {
			return lvs.Table{}, err
		}
		id := cur.Services[s.Key].ID // curTable holds valid services only
		rules, err := readChainRules(dp.nl, dp.opts.TableName, svcChainName(id))
		if err != nil {
			return lvs.Table{}, classify("read", err)
		}
		recs := cur.Chains[id]
		same := len(rules) == len(recs)
		for i := 0; same && i < len(rules); i++ {
			r, err := parseRecord(rules[i].Comment)
			same = err == nil && r == recs[i]
		}
		if !same {
			return dp.Read(ctx) // cannot happen without a commit; read it all
		}
	}
	return out, nil
}
