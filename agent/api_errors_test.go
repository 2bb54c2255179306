package agent

import (
	"errors"
	"fmt"
	"testing"

	"quadrature/api"
	"quadrature/cluster"
	"quadrature/fsm"
)

// TestAPIErrorsForOperators: the FSM's and the cluster's refusals reach
// the API as one sentence, with the API's kind (HTTP status) kept.
func TestAPIErrorsForOperators(t *testing.T) {
	for _, c := range []struct {
		err            error
		what, notFound string
		kind           error
		want           string
	}{
		{fmt.Errorf("%w: transfer_vip: instance %q", fsm.ErrNotFound, "VI_9"), "transfer VI_9 to n2", `no VRRP instance "VI_9" on this group`,
			api.ErrNotFound, `no VRRP instance "VI_9" on this group`},
		{fmt.Errorf("%w: transfer_vip: node %s is not alive", fsm.ErrInvalid, "n3"), "transfer VI_1 to n3", "",
			api.ErrInvalid, "cannot transfer VI_1 to n3: node n3 is not alive"},
		{fmt.Errorf("%w: transfer_vip", fsm.ErrNoConfig), "transfer VI_1 to n3", "",
			api.ErrInvalid, "cannot transfer VI_1 to n3: no configuration has been committed to this group yet"},
		{fmt.Errorf("%w: set_drain: real server %s", fsm.ErrNotFound, "x"), "drain", "",
			api.ErrNotFound, "real server x"},
		{cluster.ErrNoLeader, "drain", "", api.ErrNoLeader,
			"no Raft leader is reachable from this node (the group has no quorum or is electing one): nothing was changed; try again"},
		{&fsm.ConflictError{Expected: 7, Current: 8}, "put", "", api.ErrConflict,
			"the configuration changed meanwhile: the group runs version 8, not the one this write expected"},
	} {
		got := commandError(mapErr(c.err), c.what, c.notFound)
		if got == nil || got.Error() != c.want || !errors.Is(got, c.kind) {
			t.Errorf("%v: got %v, want %q (%v)", c.err, got, c.want, c.kind)
		}
	}
}
