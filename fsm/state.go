package fsm

import (
	"maps"
	"net/netip"
	"slices"
	"strings"

	"quadrature/config"
)

// RSID identifies a real server of a virtual server, independently of the
// node that evaluates the config.
type RSID struct {
	VS string         `json:"vs"` // config.VirtualServer.ID
	RS netip.AddrPort `json:"rs"`
}

func (id RSID) String() string { return id.VS + " -> " + id.RS.String() }

func compareRSID(a, b RSID) int {
	if c := strings.Compare(a.VS, b.VS); c != 0 {
		return c
	}
	return compareAddrPort(a.RS, b.RS)
}

// StoredObservation is an observation as kept in the state.
type StoredObservation struct {
	Node string `json:"node"`
	Observation
	// At is the raft index at which the observation was applied.
	At uint64 `json:"at"`
}

type obsKey struct {
	rs   RSID
	node string
}

// verdictState is the stateful part of a real server's verdict.
type verdictState struct {
	Up        bool   `json:"up"`
	Weight    int    `json:"weight"`
	Since     uint64 `json:"since"` // index of the last change of Up
	Reporters int    `json:"reporters"`
	UpReports int    `json:"up_reports"`
}

// State is the replicated state at one applied index. A State handed out
// by FSM.State is immutable: every method is safe for concurrent use.
type State struct {
	index         uint64
	configVersion uint64
	configNodes   []string // sorted; the nodes the config was validated for
	comp          *compiled
	memo          *tableMemo // derived once per state; nil: derive each time
	// dirty collects, while a command is applied, the virtual servers
	// (indexes into the table model) whose verdicts, drains or quorum it
	// changes; history keeps that for the last commands (TableChanges
	// reads only those virtual servers).
	dirty        map[int]bool
	history      []dirtyStep
	obs          map[obsKey]StoredObservation
	drains       map[RSID]bool
	maintenance  map[string]bool
	revoked      map[string]bool
	configOrigin string                    // origin of the command that set the config
	live         []string                  // sorted
	placement    map[string]map[string]int // instance -> node -> priority; inner maps immutable
	transfers    map[string]string         // instance -> node
	quorum       map[string]bool           // VS id -> quorum up
	verdicts     map[RSID]verdictState
	unknown      uint64
}

func newState() *State {
	return &State{
		obs:         map[obsKey]StoredObservation{},
		drains:      map[RSID]bool{},
		maintenance: map[string]bool{},
		revoked:     map[string]bool{},
		placement:   map[string]map[string]int{},
		transfers:   map[string]string{},
		quorum:      map[string]bool{},
		verdicts:    map[RSID]verdictState{},
		memo:        &tableMemo{},
	}
}

// clone returns a copy that can be modified without touching s.
func (s *State) clone() *State {
	n := *s
	n.configNodes = slices.Clone(s.configNodes)
	n.obs = maps.Clone(s.obs)
	n.drains = maps.Clone(s.drains)
	n.maintenance = maps.Clone(s.maintenance)
	n.revoked = maps.Clone(s.revoked)
	n.live = slices.Clone(s.live)
	n.placement = maps.Clone(s.placement)
	n.transfers = maps.Clone(s.transfers)
	n.quorum = maps.Clone(s.quorum)
	n.verdicts = maps.Clone(s.verdicts)
	n.memo = &tableMemo{}
	n.dirty = nil
	return &n
}

// Index is the raft index of the last applied entry.
func (s *State) Index() uint64 { return s.index }

// ConfigVersion is the version of the current config (0 = none).
func (s *State) ConfigVersion() uint64 { return s.configVersion }

// ConfigNodes are the node names the current config was validated for;
// the first is the canonical node whose evaluation defines the table.
func (s *State) ConfigNodes() []string { return slices.Clone(s.configNodes) }

// Source returns a copy of the current config source, or nil.
func (s *State) Source() *ConfigSource {
	if s.comp == nil {
		return nil
	}
	return s.comp.src.clone()
}

// Config returns the current config evaluated for node (cached; the model
// is shared and must not be modified).
func (s *State) Config(node string) (*config.Config, error) {
	if s.comp == nil {
		return nil, ErrNoConfig
	}
	return s.comp.node(node)
}

// CompileError is non-nil when the replicated config could not be compiled
// by this build after a restore (then the derived table is empty).
func (s *State) CompileError() error {
	if s.comp == nil {
		return nil
	}
	return s.comp.err
}

// LiveNodes is the committed live-node set, sorted.
func (s *State) LiveNodes() []string { return slices.Clone(s.live) }

// IsLive reports whether node is in the committed live set.
func (s *State) IsLive(node string) bool {
	_, ok := slices.BinarySearch(s.live, node)
	return ok
}

// Maintenance lists the nodes in maintenance, sorted.
func (s *State) Maintenance() []string { return slices.Sorted(maps.Keys(s.maintenance)) }

// ConfigOrigin says who proposed the running configuration (the command's
// envelope origin; "" when it carried none).
func (s *State) ConfigOrigin() string { return s.configOrigin }

// Revoked lists the revoked node names (the deny list), sorted.
func (s *State) Revoked() []string { return slices.Sorted(maps.Keys(s.revoked)) }

// IsRevoked reports whether node is on the deny list.
func (s *State) IsRevoked(node string) bool { return s.revoked[node] }

// InMaintenance reports whether node is in maintenance.
func (s *State) InMaintenance(node string) bool { return s.maintenance[node] }

// Drained lists the drained real servers, sorted.
func (s *State) Drained() []RSID {
	out := slices.Collect(maps.Keys(s.drains))
	slices.SortFunc(out, compareRSID)
	return out
}

// IsDrained reports whether the real server is drained.
func (s *State) IsDrained(vs string, rs netip.AddrPort) bool { return s.drains[RSID{vs, rs}] }

// Observations returns every stored observation sorted by real server and
// node.
func (s *State) Observations() []StoredObservation {
	keys := slices.Collect(maps.Keys(s.obs))
	slices.SortFunc(keys, compareObsKey)
	out := make([]StoredObservation, len(keys))
	for i, k := range keys {
		out[i] = s.obs[k]
	}
	return out
}

func compareObsKey(a, b obsKey) int {
	if c := compareRSID(a.rs, b.rs); c != 0 {
		return c
	}
	return strings.Compare(a.node, b.node)
}

// Transfer is a VIP transfer override.
type Transfer struct {
	Instance string `json:"instance"`
	ToNode   string `json:"to_node"`
}

// Transfers lists the VIP transfer overrides, sorted by instance.
func (s *State) Transfers() []Transfer {
	out := []Transfer{}
	for _, k := range slices.Sorted(maps.Keys(s.transfers)) {
		out = append(out, Transfer{k, s.transfers[k]})
	}
	return out
}

// ExplicitPlacement is the placement set by SetPlacement, sorted.
func (s *State) ExplicitPlacement() []InstancePriorities {
	out := []InstancePriorities{}
	for _, inst := range slices.Sorted(maps.Keys(s.placement)) {
		ip := InstancePriorities{Instance: inst}
		for _, n := range slices.Sorted(maps.Keys(s.placement[inst])) {
			ip.Nodes = append(ip.Nodes, NodePriority{n, s.placement[inst][n]})
		}
		out = append(out, ip)
	}
	return out
}

// QuorumState is the quorum of one virtual server.
type QuorumState struct {
	VS         string `json:"vs"`
	Up         bool   `json:"up"`
	WeightSum  int64  `json:"weight_sum"` // alive weight as counted for quorum
	Quorum     int    `json:"quorum"`
	Hysteresis int    `json:"hysteresis"`
}

// Quorums lists the quorum state of every virtual server, sorted.
func (s *State) Quorums() []QuorumState {
	m := s.model()
	if m == nil {
		return nil
	}
	out := make([]QuorumState, 0, len(m.vss))
	for i := range m.vss {
		v := &m.vss[i]
		out = append(out, QuorumState{VS: v.id, Up: s.quorum[v.id], WeightSum: s.aliveWeight(v),
			Quorum: v.quorum, Hysteresis: v.hysteresis})
	}
	return out
}

// UnknownCommands counts applied entries whose command type or version
// this build did not know.
func (s *State) UnknownCommands() uint64 { return s.unknown }

// Nodes returns every node name the state knows of: config nodes, live
// nodes, nodes in maintenance, reporters, placement and transfer targets.
func (s *State) Nodes() []string {
	set := map[string]bool{}
	for _, n := range s.configNodes {
		set[n] = true
	}
	for _, n := range s.live {
		set[n] = true
	}
	for n := range s.maintenance {
		set[n] = true
	}
	for k := range s.obs {
		set[k.node] = true
	}
	for _, m := range s.placement {
		for n := range m {
			set[n] = true
		}
	}
	for _, n := range s.transfers {
		set[n] = true
	}
	return slices.Sorted(maps.Keys(set))
}

// model returns the table model of the current config, or nil.
func (s *State) model() *tableModel {
	if s.comp == nil {
		return nil
	}
	return s.comp.model
}

// markDirty records that virtual server i of the table model changed.
func (s *State) markDirty(i int) {
	if s.dirty == nil {
		s.dirty = map[int]bool{}
	}
	s.dirty[i] = true
}

// dirtyStep is what one applied command changed in the table: the
// virtual servers of the model whose services differ between the states
// at indexes from and to.
type dirtyStep struct {
	from, to uint64
	vss      []int
}

// maxDirtySteps bounds the history: an apply loop further behind than this
// many commands derives the whole table.
const maxDirtySteps = 256

// pushStep closes the command that made s from the state at index from.
func (s *State) pushStep(from uint64) {
	step := dirtyStep{from: from, to: s.index, vss: slices.Sorted(maps.Keys(s.dirty))}
	h := append(slices.Clip(s.history), step) // never shares a backing array
	if len(h) > maxDirtySteps {
		h = h[len(h)-maxDirtySteps:]
	}
	s.history, s.dirty = h, nil
}

// dirtySince returns the virtual servers changed between the state at
// index from and s, and whether s's history reaches back that far.
func (s *State) dirtySince(from uint64) (map[int]bool, bool) {
	out := map[int]bool{}
	for i := len(s.history) - 1; i >= 0; i-- {
		st := s.history[i]
		for _, v := range st.vss {
			out[v] = true
		}
		if st.from == from {
			return out, true
		}
		if i > 0 && s.history[i-1].to != st.from {
			return nil, false // a gap: not one line of commands
		}
	}
	return nil, false
}
