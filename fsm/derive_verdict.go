package fsm

import (
	"net/netip"
	"slices"
)

// Verdict policies (cluster block: verdict_policy).
const (
	PolicyAny      = "any"
	PolicyMajority = "majority"
	PolicyAll      = "all"
)

// Verdict is the cluster's verdict on one real server.
type Verdict struct {
	VS     string         `json:"vs"`
	RS     netip.AddrPort `json:"rs"`
	Up     bool           `json:"up"`
	Weight int            `json:"weight"` // aggregated weight (median), before drain
	// Drained is the operator override; a drained real server stays in the
	// table with weight 0.
	Drained bool `json:"drained"`
	// Reporters and UpReports count the live nodes that reported on the
	// real server and how many of them said up, at the last evaluation.
	Reporters int `json:"reporters"`
	UpReports int `json:"up_reports"`
	// Since is the raft index at which Up last changed (or the real server
	// appeared).
	Since uint64 `json:"since"`
}

// Verdicts returns the verdict of every real server of the current config,
// sorted by virtual server and real server.
func (s *State) Verdicts() []Verdict {
	m := s.model()
	if m == nil {
		return nil
	}
	var out []Verdict
	for i := range m.vss {
		for j := range m.vss[i].rs {
			id := m.vss[i].rs[j].id
			v := s.verdicts[id]
			out = append(out, Verdict{VS: id.VS, RS: id.RS, Up: v.Up, Weight: v.Weight, Drained: s.drains[id],
				Reporters: v.Reporters, UpReports: v.UpReports, Since: v.Since})
		}
	}
	return out
}

// VerdictOf returns the verdict of one real server.
func (s *State) VerdictOf(vs string, rs netip.AddrPort) (Verdict, bool) {
	id := RSID{vs, rs}
	m := s.model()
	if m == nil {
		return Verdict{}, false
	}
	if _, ok := m.rsIndex[id]; !ok {
		return Verdict{}, false
	}
	v := s.verdicts[id]
	return Verdict{VS: vs, RS: rs, Up: v.Up, Weight: v.Weight, Drained: s.drains[id],
		Reporters: v.Reporters, UpReports: v.UpReports, Since: v.Since}, true
}

// report is one live node's observation as the policy sees it.
type report struct {
	up     bool
	weight int
}

// initialVerdict is a real server's verdict before any live reporter:
// keepalived starts a checked real server up, or down with alpha.
func initialVerdict(r *rsModel, index uint64) verdictState {
	return verdictState{Up: !r.checked || !r.alpha, Weight: r.weight, Since: index}
}

// decideVerdict applies the policy with hysteresis:
//
//   - no reporters: the verdict keeps its last value;
//   - any: up when at least one reporter says up, else down;
//   - majority: up when strictly more than half say up, down when strictly
//     more than half say down, otherwise (a tie) unchanged;
//   - all: up only when every reporter says up, else down.
//
// The weight is the median of the up reporters' weights (the lower middle
// one for an even count); with no up reporter it keeps its last value.
// A real server without checkers is always up with its configured weight
// (keepalived).
func decideVerdict(policy string, prev verdictState, reports []report, r *rsModel, index uint64) verdictState {
	if !r.checked {
		return verdictState{Up: true, Weight: r.weight, Since: prev.Since}
	}
	next := prev
	next.Reporters = len(reports)
	var ups []int
	for _, rep := range reports {
		if rep.up {
			ups = append(ups, rep.weight)
		}
	}
	next.UpReports = len(ups)
	n, u := len(reports), len(ups)
	if n > 0 {
		switch policy {
		case PolicyAny:
			next.Up = u >= 1
		case PolicyAll:
			next.Up = u == n
		default: // majority
			switch {
			case 2*u > n:
				next.Up = true
			case 2*(n-u) > n:
				next.Up = false
			}
		}
	}
	if u > 0 {
		next.Weight = median(ups)
	}
	if next.Up != prev.Up {
		next.Since = index
	}
	return next
}

// median returns the middle value, the lower middle for an even count.
func median(v []int) int {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

// updateVerdicts re-evaluates every verdict from the live reporters.
func (s *State) updateVerdicts(index uint64) {
	m := s.model()
	if m == nil {
		return
	}
	for i := range m.vss {
		for j := range m.vss[i].rs {
			r := &m.vss[i].rs[j]
			prev, ok := s.verdicts[r.id]
			if !ok {
				prev = initialVerdict(r, index)
			}
			var reports []report
			for _, node := range s.live {
				if o, ok := s.obs[obsKey{r.id, node}]; ok {
					reports = append(reports, report{o.Up, o.Weight})
				}
			}
			next := decideVerdict(m.policy, prev, reports, r, index)
			if next.Up != prev.Up || next.Weight != prev.Weight || !ok {
				s.markDirty(i)
			}
			s.verdicts[r.id] = next
		}
	}
}

// updateQuorums applies keepalived's quorum rule to every virtual server:
// a new virtual server starts with quorum up iff its alive weight sum >=
// quorum + hysteresis; afterwards quorum is gained when the sum >= quorum
// + hysteresis and lost when the sum is < quorum - hysteresis or 0.
func (s *State) updateQuorums() {
	m := s.model()
	if m == nil {
		return
	}
	for i := range m.vss {
		v := &m.vss[i]
		sum := s.aliveWeight(v)
		gain := sum >= int64(v.quorum)+int64(v.hysteresis)
		up, ok := s.quorum[v.id]
		switch {
		case !ok:
			up = gain
		case !up && gain:
			up = true
		case up && (sum == 0 || sum < int64(v.quorum)-int64(v.hysteresis)):
			up = false
		}
		if was, had := s.quorum[v.id]; !had || was != up {
			s.markDirty(i)
		}
		s.quorum[v.id] = up
	}
}

// LocalView returns what the state would derive if node were the only
// reporter and obs its observations: the degraded mode of docs/design.md
// decision 4, where a node cut off from the leader falls back to its own
// verdicts (keepalived behaviour). The verdicts and quorums start from the
// replicated ones, so hysteresis carries over; observations of unknown real
// servers are ignored. The result is a private copy for local use only (it
// is never replicated) and s is not modified.
func (s *State) LocalView(node string, obs []Observation) *State {
	v := s.clone()
	v.live = []string{node}
	v.obs = map[obsKey]StoredObservation{}
	if m := v.model(); m != nil {
		for _, o := range obs {
			id := RSID{o.VS, o.RS}
			if _, ok := m.rsIndex[id]; ok {
				v.obs[obsKey{id, node}] = StoredObservation{Node: node, Observation: o, At: s.index}
			}
		}
	}
	v.updateVerdicts(s.index)
	v.updateQuorums()
	return v
}
