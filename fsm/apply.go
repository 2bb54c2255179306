package fsm

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// Options configure an FSM.
type Options struct {
	// Parse evaluates the replicated config for a node; nil means
	// DefaultParse (package config's loader over the in-memory files).
	Parse ParseFunc
}

// FSM is quadrature's raft.FSM. See the package documentation for the
// threading contract.
type FSM struct {
	comp  *compiler
	state atomic.Pointer[State]
}

var _ raft.FSM = (*FSM)(nil)

// New returns an FSM with an empty state.
func New(opts Options) *FSM {
	f := &FSM{comp: &compiler{parse: parserOf(opts.Parse), cache: &compileCache{}}}
	f.state.Store(newState())
	return f
}

// State returns the latest applied state. It is immutable and safe to use
// from any goroutine; later Applies publish new States.
func (f *FSM) State() *State { return f.state.Load() }

// Result is the outcome of one applied command.
type Result struct {
	Index         uint64      `json:"index"`          // raft index of the entry
	Type          CommandType `json:"type,omitempty"` // "" when the envelope could not be decoded
	ConfigVersion uint64      `json:"config_version"` // config version after the entry
	// Ignored counts observations of a ReportVerdicts that were dropped:
	// unknown real server, or a stale sequence number.
	Ignored int `json:"ignored,omitempty"`
	// Err is nil on success; otherwise it wraps one of the sentinel
	// errors (ErrConflict, ErrUnknownCommand, ErrMalformed, ErrInvalid,
	// ErrNotFound, ErrNoConfig, ErrInternal).
	Err error `json:"-"`
}

// Apply applies one committed raft entry and returns, as raft's
// ApplyFuture.Response(), either the error (wrapping a sentinel with a
// Code, so package cluster can forward it) or, on success, the Result
// encoded as JSON bytes (read it with DecodeResult). Entries other than
// commands (raft's own configuration and barrier entries) change nothing
// and return nil.
func (f *FSM) Apply(l *raft.Log) any {
	if l == nil || l.Type != raft.LogCommand {
		return nil
	}
	res := f.ApplyCommand(l.Index, l.Data)
	if res.Err != nil {
		return res.Err
	}
	b, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("%w: encode result: %v", ErrInternal, err)
	}
	return b
}

// DecodeResult turns an Apply response (as returned by raft or forwarded
// by package cluster: JSON bytes, a Result, an error or nil) into a Result.
func DecodeResult(resp any) (Result, error) {
	switch r := resp.(type) {
	case nil:
		return Result{}, nil
	case Result:
		return r, r.Err
	case []byte:
		var res Result
		if err := json.Unmarshal(r, &res); err != nil {
			return Result{}, fmt.Errorf("fsm: decode result: %w", err)
		}
		return res, nil
	case error:
		return Result{Err: r}, r
	}
	return Result{}, fmt.Errorf("fsm: unexpected apply response of type %T", resp)
}

// ApplyCommand applies an encoded command at index (Apply without raft;
// tests and tools). It must be called from the goroutine that owns the
// FSM.
func (f *FSM) ApplyCommand(index uint64, data []byte) Result {
	next, res := applyTo(f.state.Load(), index, data, f.comp)
	f.state.Store(next)
	return res
}

// ValidateSetConfig checks c exactly as Apply would against the current
// state (version compare-and-swap included), without changing anything.
// Call it before proposing.
func (f *FSM) ValidateSetConfig(c SetConfig) error {
	_, err := f.Compile(c)
	return err
}

// applyTo computes the state after data. It never panics: a panic in a
// handler is recovered and reported as ErrInternal with the state
// unchanged apart from the index.
func applyTo(cur *State, index uint64, data []byte, k *compiler) (next *State, res Result) {
	res.Index = index
	// Registered first, so it runs last: whatever next became, it records
	// what this command changed.
	defer func() { next.pushStep(cur.index) }()
	unchanged := func() *State {
		n := cur.clone()
		n.index = index
		return n
	}
	defer func() {
		if r := recover(); r != nil {
			next = unchanged()
			res.Err = fmt.Errorf("%w: applying %s at index %d: %v", ErrInternal, res.Type, index, r)
			res.ConfigVersion = next.configVersion
		}
	}()
	cmd, origin, err := decodeEnvelope(data)
	if err != nil {
		next = unchanged()
		if errors.Is(err, ErrUnknownCommand) {
			next.unknown++
		}
		res.Err, res.ConfigVersion = err, next.configVersion
		return next, res
	}
	res.Type = cmd.CommandType()
	next = unchanged()
	switch c := cmd.(type) {
	case SetConfig:
		err = next.setConfig(c, k)
		next.configOrigin = origin
	case ReportVerdicts:
		res.Ignored, err = next.reportVerdicts(cur, c, index)
	case SetDrain:
		err = next.setDrain(c)
	case SetMaintenance:
		err = next.setMaintenance(c)
	case SetLiveNodes:
		err = next.setLiveNodes(c)
	case SetPlacement:
		err = next.setPlacement(c)
	case TransferVIP:
		err = next.transferVIP(c)
	case RevokeNode:
		err = next.revokeNode(c)
	default:
		err = fmt.Errorf("%w: no handler for %s", ErrInternal, res.Type)
	}
	if err != nil {
		next = unchanged()
		res.Err, res.ConfigVersion = err, next.configVersion
		return next, res
	}
	next.updateVerdicts(index)
	next.updateQuorums()
	res.ConfigVersion = next.configVersion
	return next, res
}

func (s *State) setConfig(c SetConfig, k *compiler) error {
	if c.ExpectVersion != s.configVersion {
		return &ConflictError{Expected: c.ExpectVersion, Current: s.configVersion}
	}
	src, err := sourceFromCommand(c)
	if err != nil {
		return err
	}
	nodes := sortedUnique(append(slices.Clone(c.Nodes), s.live...))
	if slices.Contains(nodes, "") {
		return fmt.Errorf("%w: set_config: empty node name", ErrInvalid)
	}
	comp, err := k.compile(src, nodes)
	if err != nil {
		return err
	}
	oldModel := s.model()
	s.comp, s.configNodes = comp, nodes
	s.configVersion++
	s.prune()
	s.resetRedefined(oldModel)
	return nil
}

// resetRedefined handles real servers whose configured weight (or checker
// presence) changed: their observations describe the old definition, so
// they are dropped and the verdict takes the new configured weight (keeping
// up/down) until the nodes report again. keepalived users know the
// opposite behaviour as a bug (weights not updated on reload).
func (s *State) resetRedefined(old *tableModel) {
	if old == nil {
		return
	}
	m := s.model()
	for i := range m.vss {
		for j := range m.vss[i].rs {
			nr := &m.vss[i].rs[j]
			ref, ok := old.rsIndex[nr.id]
			if !ok {
				continue
			}
			or := &old.vss[ref.vs].rs[ref.rs]
			if or.weight == nr.weight && or.checked == nr.checked {
				continue
			}
			for k := range s.obs {
				if k.rs == nr.id {
					delete(s.obs, k)
				}
			}
			if v, ok := s.verdicts[nr.id]; ok {
				v.Weight = nr.weight
				s.verdicts[nr.id] = v
			}
		}
	}
}

// prune forgets what refers to real servers, virtual servers or instances
// that the current config no longer has.
func (s *State) prune() {
	m := s.model()
	for k := range s.obs {
		if _, ok := m.rsIndex[k.rs]; !ok {
			delete(s.obs, k)
		}
	}
	for k := range s.drains {
		if _, ok := m.rsIndex[k]; !ok {
			delete(s.drains, k)
		}
	}
	for k := range s.verdicts {
		if _, ok := m.rsIndex[k]; !ok {
			delete(s.verdicts, k)
		}
	}
	vsIDs := map[string]bool{}
	for i := range m.vss {
		vsIDs[m.vss[i].id] = true
	}
	for k := range s.quorum {
		if !vsIDs[k] {
			delete(s.quorum, k)
		}
	}
	for k := range s.placement {
		if _, ok := slices.BinarySearch(m.instances, k); !ok {
			delete(s.placement, k)
		}
	}
	for k := range s.transfers {
		if _, ok := slices.BinarySearch(m.instances, k); !ok {
			delete(s.transfers, k)
		}
	}
}

// maxReasonBytes bounds the stored reason text of an observation.
const maxReasonBytes = 256

func (s *State) reportVerdicts(prev *State, c ReportVerdicts, index uint64) (ignored int, err error) {
	if c.Node == "" {
		return 0, fmt.Errorf("%w: report_verdicts: empty node name", ErrInvalid)
	}
	m := s.model()
	if m == nil {
		return 0, fmt.Errorf("%w: report_verdicts from %s", ErrNoConfig, c.Node)
	}
	if c.Full {
		for k := range s.obs {
			if k.node == c.Node {
				delete(s.obs, k)
			}
		}
	}
	for _, o := range c.Observations {
		id := RSID{o.VS, o.RS}
		if _, ok := m.rsIndex[id]; !ok {
			ignored++
			continue
		}
		key := obsKey{id, c.Node}
		if old, ok := prev.obs[key]; ok && o.Seq != 0 && o.Seq < old.Seq {
			ignored++
			if c.Full {
				s.obs[key] = old // a full refresh keeps the newer observation
			}
			continue
		}
		if len(o.Reason) > maxReasonBytes {
			o.Reason = o.Reason[:maxReasonBytes]
		}
		s.obs[key] = StoredObservation{Node: c.Node, Observation: o, At: index}
	}
	return ignored, nil
}

func (s *State) setDrain(c SetDrain) error {
	m := s.model()
	if m == nil {
		return fmt.Errorf("%w: set_drain", ErrNoConfig)
	}
	id := RSID{c.VS, c.RS}
	if _, ok := m.rsIndex[id]; !ok {
		return fmt.Errorf("%w: set_drain: real server %s", ErrNotFound, id)
	}
	if c.Drained != s.drains[id] {
		s.markDirty(m.rsIndex[id].vs)
	}
	if c.Drained {
		s.drains[id] = true
	} else {
		delete(s.drains, id)
	}
	return nil
}

func (s *State) setMaintenance(c SetMaintenance) error {
	if c.Node == "" {
		return fmt.Errorf("%w: set_maintenance: empty node name", ErrInvalid)
	}
	if c.On {
		s.maintenance[c.Node] = true
	} else {
		delete(s.maintenance, c.Node)
	}
	return nil
}

func (s *State) revokeNode(c RevokeNode) error {
	if err := checkNodeName("revoke_node", c.Node); err != nil {
		return err
	}
	if c.Revoked {
		s.revoked[c.Node] = true
	} else {
		delete(s.revoked, c.Node)
	}
	return nil
}

// checkNodeName accepts the names package cluster accepts.
func checkNodeName(op, name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("%w: %s: node name must be 1 to 64 bytes", ErrInvalid, op)
	}
	for _, r := range name {
		if !(r == '.' || r == '_' || r == '-' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')) {
			return fmt.Errorf("%w: %s: node name %q: character %q not allowed", ErrInvalid, op, name, r)
		}
	}
	return nil
}

func (s *State) setLiveNodes(c SetLiveNodes) error {
	nodes := sortedUnique(c.Nodes)
	if slices.Contains(nodes, "") {
		return fmt.Errorf("%w: set_live_nodes: empty node name", ErrInvalid)
	}
	s.live = nodes
	for inst, to := range s.transfers {
		if !s.IsLive(to) {
			delete(s.transfers, inst)
		}
	}
	return nil
}

func (s *State) setPlacement(c SetPlacement) error {
	p := map[string]map[string]int{}
	for _, ip := range c.Priorities {
		if ip.Instance == "" {
			return fmt.Errorf("%w: set_placement: empty instance name", ErrInvalid)
		}
		if _, dup := p[ip.Instance]; dup {
			return fmt.Errorf("%w: set_placement: instance %s given twice", ErrInvalid, ip.Instance)
		}
		m := map[string]int{}
		for _, np := range ip.Nodes {
			if np.Node == "" {
				return fmt.Errorf("%w: set_placement: instance %s: empty node name", ErrInvalid, ip.Instance)
			}
			if _, dup := m[np.Node]; dup {
				return fmt.Errorf("%w: set_placement: instance %s: node %s given twice", ErrInvalid, ip.Instance, np.Node)
			}
			if np.Priority < 1 || np.Priority > MaxTransferPriority {
				return fmt.Errorf("%w: set_placement: instance %s node %s: priority %d not in 1..%d",
					ErrInvalid, ip.Instance, np.Node, np.Priority, MaxTransferPriority)
			}
			m[np.Node] = np.Priority
		}
		if len(m) > 0 {
			p[ip.Instance] = m
		}
	}
	s.placement = p
	return nil
}

func (s *State) transferVIP(c TransferVIP) error {
	m := s.model()
	if m == nil {
		return fmt.Errorf("%w: transfer_vip", ErrNoConfig)
	}
	if _, ok := slices.BinarySearch(m.instances, c.Instance); !ok {
		return fmt.Errorf("%w: transfer_vip: instance %q", ErrNotFound, c.Instance)
	}
	members := m.syncMembers(c.Instance)
	if c.ToNode == "" {
		for _, inst := range members {
			delete(s.transfers, inst)
		}
		return nil
	}
	if !s.IsLive(c.ToNode) {
		return fmt.Errorf("%w: transfer_vip: node %s is not alive", ErrInvalid, c.ToNode)
	}
	if s.maintenance[c.ToNode] {
		return fmt.Errorf("%w: transfer_vip: node %s is in maintenance", ErrInvalid, c.ToNode)
	}
	if s.isWitness(c.ToNode) {
		return fmt.Errorf("%w: transfer_vip: node %s is a witness", ErrInvalid, c.ToNode)
	}
	for _, inst := range members {
		s.transfers[inst] = c.ToNode
	}
	return nil
}

// sortedKeys returns the keys of a string-keyed map, sorted.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
