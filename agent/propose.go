package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"quadrature/config"
	"quadrature/fsm"
)

// Proposal is a configuration write: from the API (PUT /v1/config, or
// POST /v1/config/validate with ValidateOnly) or from this node's file
// (SIGHUP). Both go through ProposeConfig, so they evaluate the same node
// list, validate the same way and retry the same way.
type Proposal struct {
	// Source is the configuration: every file and the host names it uses.
	Source fsm.ConfigSource
	// ExpectVersion is the compare-and-swap: the write succeeds only if
	// the group's version is this one. 0 (without CompareAndSwap) means
	// the version current when the write is compiled, and a write that
	// loses a race with another writer is compiled again (a few times)
	// against the new version.
	ExpectVersion uint64
	// CompareAndSwap makes ExpectVersion binding even when it is 0 (the
	// first configuration of a new group).
	CompareAndSwap bool
	// AllowEmpty lets a configuration with no VRRP instance and no virtual
	// server through (it removes every VIP and service on every node).
	AllowEmpty bool
	// ValidateOnly compiles and checks the candidate and stops there.
	ValidateOnly bool
	// Origin says who asks; it is logged by every node with the command.
	Origin string
}

// Proposed is the outcome of a Proposal.
type Proposed struct {
	// Version is the version the write produced; for ValidateOnly the
	// version it was checked against.
	Version uint64
	// Committed is true once the group committed the write.
	Committed bool
	// Candidate is the compiled configuration: every node's model, the
	// resulting state (table, priorities), the warnings.
	Candidate *fsm.Candidate
}

// ErrEmptyCandidate refuses a configuration with no VRRP instance and no
// virtual server unless the proposal allows it.
var ErrEmptyCandidate = errors.New("the configuration has no vrrp_instance and no virtual_server")

// maxProposeRetries bounds the recompilations of a write that keeps losing
// races with other writers (ExpectVersion 0 only).
const maxProposeRetries = 5

// ProposeConfig compiles a configuration once for every node the group
// will evaluate it for (the members and this node), checks it (every
// node's evaluation, the keywords quadrature implements, what this node's
// data plane can program, not empty), and unless ValidateOnly proposes it
// with compare-and-swap and waits until this node has applied it
// (read-your-writes). The errors: a *fsm.ConflictError (errors.Is
// fsm.ErrConflict) when the version moved, config.ErrorList or an
// fsm.ErrInvalid error when it does not compile, ErrEmptyCandidate, and
// the cluster's errors when no leader commits it.
func (a *Agent) ProposeConfig(ctx context.Context, p Proposal) (Proposed, error) {
	n := a.Node()
	if n == nil {
		return Proposed{}, fmt.Errorf("agent: not running")
	}
	cmd := p.Source.Command()
	cmd.Nodes = a.knownNodes()
	retry := !p.CompareAndSwap && p.ExpectVersion == 0
	for attempt := 0; ; attempt++ {
		cur := a.fsm.State().ConfigVersion()
		if p.ExpectVersion > cur {
			// This node may lag behind the version the writer read
			// elsewhere: only the group's current version may refuse the
			// write (versions only grow, so an older one is a conflict
			// without asking).
			if err := n.ConsistentRead(ctx); err != nil {
				return Proposed{}, err
			}
			cur = a.fsm.State().ConfigVersion()
		}
		cmd.ExpectVersion = p.ExpectVersion
		if retry {
			cmd.ExpectVersion = cur
		}
		cand, err := a.fsm.Compile(cmd)
		if err != nil {
			if errors.Is(err, fsm.ErrConflict) && retry && attempt < maxProposeRetries {
				continue
			}
			return Proposed{}, err
		}
		if errs := supportErrors(cand, a.BackendName()); len(errs) > 0 {
			return Proposed{Candidate: cand}, errs
		}
		if !p.AllowEmpty && cand.Empty() {
			return Proposed{Candidate: cand}, ErrEmptyCandidate
		}
		if p.ValidateOnly {
			return Proposed{Version: cur, Candidate: cand}, nil
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, idx, err := n.Apply(cctx, fsm.MustEncodeFrom(cand.Command(), a.origin(p.Origin)))
		cancel()
		if errors.Is(err, fsm.ErrConflict) {
			_ = n.ConsistentRead(ctx)
			if retry && attempt < maxProposeRetries {
				continue
			}
			return Proposed{}, &fsm.ConflictError{Expected: cmd.ExpectVersion, Current: a.fsm.State().ConfigVersion()}
		}
		if err != nil {
			return Proposed{}, err
		}
		// The version this entry produced, from its own result: the state
		// read after the commit may already hold a later writer's version.
		res, derr := fsm.DecodeResult(resp)
		if derr == nil && res.ConfigVersion == 0 {
			derr = errors.New("set_config committed without a result")
		}
		if derr != nil {
			return Proposed{}, fmt.Errorf("config committed, outcome unknown: %w", derr)
		}
		a.mu.Lock()
		if res.ConfigVersion > a.fileVersion && sameSource(p.Source, a.localSrc) {
			a.fileVersion = res.ConfigVersion
		}
		a.mu.Unlock()
		a.log.Info("agent: config committed", "version", res.ConfigVersion, "index", idx, "origin", p.Origin)
		// Read-your-writes: this node's state now holds at least it.
		if err := n.ConsistentRead(ctx); err != nil {
			return Proposed{}, err
		}
		return Proposed{Version: res.ConfigVersion, Committed: true, Candidate: cand}, nil
	}
}

// supportErrors lists, for every node's evaluation of the candidate, the
// keywords quadrature parses but does not implement (config.CheckSupport)
// and the services this node's data plane cannot program (CheckBackend),
// each once.
func supportErrors(cand *fsm.Candidate, backend string) config.ErrorList {
	var out config.ErrorList
	seen := map[config.Diagnostic]bool{}
	for _, node := range cand.Nodes() {
		c, err := cand.Config(node)
		if err != nil {
			continue // Compile already refused what does not evaluate
		}
		for _, d := range append(config.CheckSupport(c), CheckBackend(c, backend)...) {
			if !seen[d] {
				seen[d] = true
				out = append(out, d)
			}
		}
	}
	return out
}
