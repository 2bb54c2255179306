package agent

import (
	"bytes"
	"encoding/json"
	"slices"

	"quadrature/api"
	"quadrature/config"
)

// summarizeChanges compares the running and the candidate configuration,
// each evaluated per node (node name → model; a node missing from a map
// has nothing there).
func summarizeChanges(running, candidate map[string]*config.Config) *api.ConfigChanges {
	nodes := map[string]bool{}
	for n := range running {
		nodes[n] = true
	}
	for n := range candidate {
		nodes[n] = true
	}
	// key → node → JSON of the block
	type blocks map[string]map[string][]byte
	collect := func(m map[string]*config.Config) (insts, vss blocks) {
		insts, vss = blocks{}, blocks{}
		put := func(b blocks, key, node string, v any) {
			data, err := json.Marshal(v) // Pos is not part of the JSON
			if err != nil {
				data = []byte(err.Error())
			}
			if b[key] == nil {
				b[key] = map[string][]byte{}
			}
			b[key][node] = data
		}
		for node, c := range m {
			if c == nil {
				continue
			}
			for i := range c.Instances {
				put(insts, c.Instances[i].Name, node, &c.Instances[i])
			}
			for i := range c.VirtualServers {
				put(vss, c.VirtualServers[i].ID(), node, &c.VirtualServers[i])
			}
		}
		return insts, vss
	}
	oldI, oldV := collect(running)
	newI, newV := collect(candidate)
	compare := func(old, new blocks) (added, removed, changed []string) {
		added, removed, changed = []string{}, []string{}, []string{}
		for k, nb := range new {
			ob, ok := old[k]
			if !ok {
				added = append(added, k)
				continue
			}
			for n := range nodes {
				if !bytes.Equal(ob[n], nb[n]) {
					changed = append(changed, k)
					break
				}
			}
		}
		for k := range old {
			if _, ok := new[k]; !ok {
				removed = append(removed, k)
			}
		}
		slices.Sort(added)
		slices.Sort(removed)
		slices.Sort(changed)
		return added, removed, changed
	}
	out := &api.ConfigChanges{}
	out.InstancesAdded, out.InstancesRemoved, out.InstancesChanged = compare(oldI, newI)
	out.VirtualServersAdded, out.VirtualServersRemoved, out.VirtualServersChanged = compare(oldV, newV)
	return out
}
