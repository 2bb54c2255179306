package agent

import (
	"errors"
	"strings"

	"quadrature/api"
	"quadrature/cluster"
	"quadrature/fsm"
)

// The API's error bodies are read by operators: one sentence that says
// what is wrong in their terms, not the chain of the packages it passed
// through ("not found: fsm: not found: transfer_vip: instance "VI_9"").

// fsmReason is the FSM's refusal without its package and command
// prefixes: "fsm: invalid command: transfer_vip: node n3 is not alive"
// becomes "node n3 is not alive".
func fsmReason(err error) string {
	msg := err.Error()
	for _, sentinel := range []*fsm.Error{fsm.ErrInvalid, fsm.ErrNotFound, fsm.ErrNoConfig, fsm.ErrConflict, fsm.ErrMalformed, fsm.ErrInternal} {
		if rest, ok := strings.CutPrefix(msg, sentinel.Error()+": "); ok {
			msg = rest
			break
		}
	}
	// The command's name (snake_case, e.g. transfer_vip) before a colon.
	if op, rest, ok := strings.Cut(msg, ": "); ok && op != "" && strings.Trim(op, "abcdefghijklmnopqrstuvwxyz_") == "" && strings.Contains(op, "_") {
		msg = rest
	}
	return msg
}

// noLeaderError is a write that could not reach a Raft leader: retryable
// errors of package cluster, so the write was certainly not made.
func noLeaderError(err error) error {
	if errors.Is(err, cluster.ErrShutdown) {
		return api.Errorf(api.ErrNoLeader, "this node is shutting down: nothing was changed")
	}
	return api.Errorf(api.ErrNoLeader, "no Raft leader is reachable from this node (the group has no quorum or is electing one): nothing was changed; try again")
}

// commandError phrases the outcome of a command the API proposed: what
// is "transfer VI_1 to n2" and the like, notFound the sentence for a name
// the FSM does not know.
func commandError(err error, what, notFound string) error {
	var oe *api.OperatorError
	var ie *api.InvalidError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, api.ErrNotFound) && notFound != "":
		return api.Errorf(api.ErrNotFound, "%s", notFound)
	case errors.As(err, &oe):
		return err
	case errors.As(err, &ie) && ie.Msg != "":
		return &api.InvalidError{Msg: "cannot " + what + ": " + ie.Msg, Code: ie.Code}
	}
	return err
}

func nodeNotFound(node string) error {
	return api.Errorf(api.ErrNotFound, "no node %q in this group", node)
}

// errNotStarted: the API answers before the node runs.
var errNotStarted = api.Errorf(api.ErrNoLeader, "this node is still starting: it has not joined its group yet")

// noConfigYet: nothing was committed.
var noConfigYet = api.Errorf(api.ErrNotFound, "no configuration has been committed to this group yet")
