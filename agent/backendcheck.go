package agent

import (
	"fmt"

	"quadrature/config"
	"quadrature/fsm"
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
		shapes, err := fsm.ServiceShapes(c, vs)
		// A group's services differ only in their keys: one of each
		// family and kind (address or fwmark) shows what it needs.
		seen := map[[2]bool]bool{}
		for _, s := range shapes {
			kind := [2]bool{s.Key.Family == lvs.IPv6, s.Key.IsFWMark()}
			if err != nil || seen[kind] {
				continue
			}
			seen[kind] = true
			err = nftables.CheckService(s)
		}
		if err != nil {
			errs = append(errs, config.Diagnostic{Pos: vs.Pos, Msg: fmt.Sprintf("virtual_server %s: %v", vs.Ident(), err)})
		}
	}
	return errs
}
