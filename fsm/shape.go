package fsm

import (
	"quadrature/config"
	"quadrature/lvs"
)

// ServiceShapes is what virtual server vs of cfg becomes in the kernel
// table, one service per key (a virtual_server_group gives one per address
// and fwmark entry), with every real server present at its configured
// weight and the sorry server at weight 0: the shape a data plane must be
// able to program. It is the conversion DesiredTable uses (the same
// protocol default, scheduler flags, forwarding methods and ports), so the
// data-plane check and the API see what the table will hold.
func ServiceShapes(cfg *config.Config, vs *config.VirtualServer) ([]lvs.Service, error) {
	groups := map[string]*config.VirtualServerGroup{}
	for i := range cfg.VSGroups {
		groups[cfg.VSGroups[i].Name] = &cfg.VSGroups[i]
	}
	v, err := buildVS(vs, groups)
	if err != nil {
		return nil, err
	}
	dests := make([]lvs.Destination, 0, len(v.rs)+1)
	for i := range v.rs {
		d := v.rs[i].dest
		d.Weight = clampWeight(v.rs[i].weight)
		dests = append(dests, d)
	}
	if v.sorry != nil {
		d := *v.sorry
		d.Weight = 0
		dests = append(dests, d)
	}
	return appendKeyed(make([]lvs.Service, 0, len(v.keys)), &v, dests), nil
}
