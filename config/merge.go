package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// NodeConfig is one node's own configuration, input of Merge. Config must
// have been loaded for Node.
type NodeConfig struct {
	Node   string
	Config *Config
}

// Merge turns per-node keepalived.conf models into one cluster file that
// uses keepalived's conditional lines (@node, @^node) only where the nodes
// differ.
//
// Soundness is by construction and then checked: every node's canonical
// rendering (Config.Render) is a subsequence of the merged lines, each line
// is unconditional when all nodes have it and prefixed with @node (or
// @^other) otherwise, so evaluating the merged file for node X yields
// exactly X's rendering. Merge then loads the merged text for every node
// (with opts' resolver) and reports a problem if any model differs from its
// input — that would be a bug, never silently accepted.
//
// Top-level blocks are aligned by identity, not by position or name: a VRRP
// instance by (virtual_router_id, interface, family), so the iWash files,
// whose instance is named after each node, merge into one instance with a
// per-node name line; a virtual server by its address/fwmark/group and
// protocol.
//
// Problems are what cannot be one cluster (also written as "# problem:"
// comments at the top of the text); the text is still the best merge
// (sound for each node), so an operator can read and fix it:
//   - one VIP served by different VRRP routers (VRID/interface) on
//     different nodes (tic.conf uses VRID 1 and tac.conf VRID 2 for the
//     same VIP: each node would be master of its own router and both would
//     hold the address);
//   - one VRRP router with different VIP sets on different nodes;
//   - a virtual server missing on some nodes, or whose IPVS table (service
//     options, real servers, weights, methods) differs, because every node
//     must program the same table (docs/design.md, decision 2). Checker
//     differences (e.g. a per-node bindto) are fine and merge as @node lines.
func Merge(inputs []NodeConfig, opts LoadOptions) ([]byte, []error) {
	var problems []error
	names := make([]string, len(inputs))
	for i, in := range inputs {
		names[i] = in.Node
		if in.Node == "" || in.Config == nil || strings.ContainsAny(in.Node, " \t@^") {
			return nil, []error{fmt.Errorf("merge: input %d needs a node name (no blanks, @ or ^) and a configuration", i+1)}
		}
		if slices.Contains(names[:i], in.Node) {
			return nil, []error{fmt.Errorf("merge: node %s given twice", in.Node)}
		}
	}
	if len(inputs) == 0 {
		return nil, []error{fmt.Errorf("merge: no input")}
	}
	problems = append(problems, mergeVIPProblems(inputs)...)
	problems = append(problems, mergeVSProblems(inputs)...)

	elems := make([][]element, len(inputs))
	keys := make([][]string, len(inputs))
	for i, in := range inputs {
		elems[i] = in.Config.elements(true)
		for _, e := range elems[i] {
			keys[i] = append(keys[i], e.key)
		}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# keepalived.conf merged by quadrature from nodes %s\n", strings.Join(names, ", "))
	for _, p := range problems {
		fmt.Fprintf(&b, "# problem: %v\n", p)
	}
	for _, note := range instanceNameNotes(inputs) {
		fmt.Fprintf(&b, "# note: %s\n", note)
	}
	// Align the top-level blocks, then merge each block's lines.
	used := make([]int, len(inputs))
	for _, it := range mergeSeqs(keys) {
		seqs := make([][]string, len(inputs))
		for n := range inputs {
			if it.nodes[n] {
				seqs[n] = elems[n][used[n]].lines
				used[n]++
			}
		}
		b.WriteByte('\n')
		for _, line := range mergeSeqs(seqs) {
			writeConditional(&b, line, names)
		}
	}
	text := b.Bytes()
	for _, in := range inputs {
		o := opts
		o.Node = in.Node
		back, _, err := LoadBytes("merged", text, o)
		if err != nil {
			problems = append(problems, fmt.Errorf("merged file evaluated for %s does not load: %v", in.Node, err))
			continue
		}
		if d := Diff(in.Config, back); d != "" {
			problems = append(problems, fmt.Errorf("internal error: merged file evaluated for %s differs from its own file: %s", in.Node, d))
		}
	}
	return text, problems
}

// writeConditional writes one merged line with the condition its node set
// needs.
func writeConditional(b *bytes.Buffer, it mergeItem, names []string) {
	n, missing := 0, -1
	for i, on := range it.nodes {
		if on {
			n++
		} else {
			missing = i
		}
	}
	switch {
	case n == len(names):
		b.WriteString(it.text)
		b.WriteByte('\n')
	case strings.TrimSpace(it.text) == "":
		// A blank line means nothing; drop the node-specific ones.
	case n == len(names)-1 && len(names) > 2:
		fmt.Fprintf(b, "@^%s %s\n", names[missing], it.text)
	default:
		for i, on := range it.nodes {
			if on {
				fmt.Fprintf(b, "@%s %s\n", names[i], it.text)
			}
		}
	}
}

// mergeItem is one line (or block key) of a merged sequence with the nodes
// whose own sequence contains it.
type mergeItem struct {
	text  string
	nodes []bool
}

// mergeSeqs merges sequences (nil = node absent) so that each one is a
// subsequence of the result, sharing items along longest common
// subsequences. Items keep their order in every input.
func mergeSeqs(seqs [][]string) []mergeItem {
	var m []mergeItem
	for n, seq := range seqs {
		if seq == nil {
			continue
		}
		m = mergeTwo(m, seq, n, len(seqs))
	}
	return m
}

// maxLCSCells bounds the dynamic-programming table of one merge step; past
// it the differing middle parts are kept apart (still sound, less shared).
const maxLCSCells = 4 << 20

// mergeTwo merges seq (of node n) into m. The common prefix and suffix are
// shared directly; the middle goes through a longest-common-subsequence
// table.
func mergeTwo(m []mergeItem, seq []string, n, nodes int) []mergeItem {
	newItem := func(text string) mergeItem {
		it := mergeItem{text: text, nodes: make([]bool, nodes)}
		it.nodes[n] = true
		return it
	}
	pre := 0
	for pre < len(m) && pre < len(seq) && m[pre].text == seq[pre] {
		m[pre].nodes[n] = true
		pre++
	}
	suf := 0
	for suf < len(m)-pre && suf < len(seq)-pre && m[len(m)-1-suf].text == seq[len(seq)-1-suf] {
		m[len(m)-1-suf].nodes[n] = true
		suf++
	}
	a, b := m[pre:len(m)-suf], seq[pre:len(seq)-suf]
	out := append([]mergeItem(nil), m[:pre]...)
	if (len(a)+1)*(len(b)+1) > maxLCSCells {
		out = append(out, a...)
		for _, t := range b {
			out = append(out, newItem(t))
		}
		return append(out, m[len(m)-suf:]...)
	}
	// lcs[i][j] = LCS length of a[i:] and b[j:].
	lcs := make([][]int32, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int32, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i].text == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i].text == b[j]:
			a[i].nodes[n] = true
			out = append(out, a[i])
			i++
			j++
		case j >= len(b) || i < len(a) && lcs[i+1][j] >= lcs[i][j+1]:
			out = append(out, a[i])
			i++
		default:
			out = append(out, newItem(b[j]))
			j++
		}
	}
	return append(out, m[len(m)-suf:]...)
}

type vipOwner struct {
	node, name, key string
	vrid            int
	iface           string
}

// mergeVIPProblems finds VIPs served by different VRRP routers on different
// nodes, and routers whose VIP sets differ between nodes.
func mergeVIPProblems(inputs []NodeConfig) []error {
	var problems []error
	owners := map[netip.Addr][]vipOwner{}
	var order []netip.Addr
	sets := map[string]map[string]string{} // router key -> node -> VIP list
	var keyOrder []string
	for _, in := range inputs {
		for _, inst := range in.Config.Instances {
			var all []string
			for _, list := range [][]VIP{inst.VIPs, inst.ExcludedVIPs} {
				for _, v := range list {
					a := v.Prefix.Addr()
					if _, ok := owners[a]; !ok {
						order = append(order, a)
					}
					owners[a] = append(owners[a], vipOwner{in.Node, inst.Name, inst.Key(), inst.VRID, inst.Interface})
					all = append(all, v.Prefix.String())
				}
			}
			slices.Sort(all)
			k := inst.Key()
			if sets[k] == nil {
				sets[k] = map[string]string{}
				keyOrder = append(keyOrder, k)
			}
			sets[k][in.Node] = strings.Join(all, " ")
		}
	}
	for _, a := range order {
		os := owners[a]
		for _, o := range os[1:] {
			if o.key != os[0].key {
				problems = append(problems, fmt.Errorf(
					"VIP %s is in vrrp_instance %s (virtual_router_id %d, %s) on %s but in vrrp_instance %s (virtual_router_id %d, %s) on %s: a VIP must belong to one VRRP router on every node, or each node becomes master of its own router and all of them hold the address",
					a, os[0].name, os[0].vrid, ifaceName(os[0].iface), os[0].node, o.name, o.vrid, ifaceName(o.iface), o.node))
				break
			}
		}
	}
	for _, k := range keyOrder {
		var first, firstNode string
		for _, in := range inputs {
			v, ok := sets[k][in.Node]
			if !ok {
				continue
			}
			if firstNode == "" {
				first, firstNode = v, in.Node
			} else if v != first {
				problems = append(problems, fmt.Errorf("%s has VIPs [%s] on %s but [%s] on %s: VRRP peers must advertise the same addresses",
					k, first, firstNode, v, in.Node))
				break
			}
		}
	}
	return problems
}

// tableView is the part of a virtual server that decides the IPVS table.
type tableView struct {
	Protocol, Scheduler, Method string
	Flags                       []string
	Tunnel                      *Tunnel
	OPS                         bool
	Persistence                 int64
	Granularity                 int
	Engine                      string
	Quorum, Hysteresis          int
	Sorry                       *SorryServer
	Real                        []realView
}

type realView struct {
	Addr                           netip.Addr
	Port                           uint16
	Weight                         int
	Method                         string
	UThreshold, LThreshold         int
	InhibitOnFailure, SorryInhibit bool
}

func viewOf(vs *VirtualServer) string {
	v := tableView{Protocol: vs.Protocol, Scheduler: vs.Scheduler, Method: vs.Method, Flags: vs.SchedFlags,
		Tunnel: vs.Tunnel, OPS: vs.OPS, Persistence: int64(vs.PersistenceTimeout), Granularity: vs.PersistenceGranularity,
		Engine: vs.PersistenceEngine, Quorum: vs.Quorum, Hysteresis: vs.Hysteresis}
	if vs.SorryServer != nil {
		s := *vs.SorryServer
		s.Name = ""
		v.Sorry = &s
	}
	for _, rs := range vs.RealServers {
		v.Real = append(v.Real, realView{rs.Addr, rs.Port, rs.Weight, rs.Method, rs.UThreshold, rs.LThreshold, rs.InhibitOnFailure, vs.SorryServerInhibit})
	}
	slices.SortFunc(v.Real, func(a, b realView) int {
		if c := a.Addr.Compare(b.Addr); c != 0 {
			return c
		}
		return int(a.Port) - int(b.Port)
	})
	b, _ := json.Marshal(v)
	return string(b)
}

// mergeVSProblems finds virtual servers that are not the same IPVS service
// on every node.
func mergeVSProblems(inputs []NodeConfig) []error {
	var problems []error
	views := map[string]map[string]string{}
	var order []string
	for _, in := range inputs {
		for i := range in.Config.VirtualServers {
			vs := &in.Config.VirtualServers[i]
			k := vs.Key()
			if views[k] == nil {
				views[k] = map[string]string{}
				order = append(order, k)
			}
			views[k][in.Node] = viewOf(vs)
		}
	}
	for _, k := range order {
		var have, missing []string
		var first, firstNode string
		differs := ""
		for _, in := range inputs {
			v, ok := views[k][in.Node]
			if !ok {
				missing = append(missing, in.Node)
				continue
			}
			have = append(have, in.Node)
			if firstNode == "" {
				first, firstNode = v, in.Node
			} else if v != first && differs == "" {
				differs = in.Node
			}
		}
		if len(missing) > 0 {
			problems = append(problems, fmt.Errorf("%s is on %s but not on %s: every node must program the same IPVS table",
				k, strings.Join(have, ", "), strings.Join(missing, ", ")))
		}
		if differs != "" {
			problems = append(problems, fmt.Errorf("%s differs between %s and %s (service options, real servers, weights or methods): every node must program the same IPVS table",
				k, firstNode, differs))
		}
	}
	return problems
}

// instanceNameNotes lists VRRP routers whose instance name differs between
// nodes; the merge keeps each node's name, but one name is clearer.
func instanceNameNotes(inputs []NodeConfig) []string {
	byKey := map[string][]string{}
	var order []string
	for _, in := range inputs {
		for _, inst := range in.Config.Instances {
			k := inst.Key()
			if _, ok := byKey[k]; !ok {
				order = append(order, k)
			}
			if !slices.Contains(byKey[k], inst.Name) {
				byKey[k] = append(byKey[k], inst.Name)
			}
		}
	}
	var notes []string
	for _, k := range order {
		if len(byKey[k]) > 1 {
			notes = append(notes, fmt.Sprintf("%s is named %s on the nodes; the name is kept per node with @node lines, one name would be clearer",
				k, strings.Join(byKey[k], ", ")))
		}
	}
	return notes
}
