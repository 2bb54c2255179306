package agent

import (
	"context"
	"errors"
	"fmt"
	"quadrature/api"
	"time"

	"quadrature/cluster"
	"quadrature/fsm"
)

// Revoke puts a node name on the group's deny list (or takes it off).
// The deny list is committed first, so that no leader can add the node back
// between its removal and its revocation; then the node is removed from the
// Raft configuration when it is there (the leader also removes revoked
// servers by itself, which covers a revoked leader), so a quorum never
// counts a node whose certificate is refused.
func (b *APIBackend) Revoke(ctx context.Context, node string, revoked bool) error {
	n, err := b.node()
	if err != nil {
		return err
	}
	if revoked && node == n.Name() {
		return &api.InvalidError{Details: []api.ConfigError{{Message: fmt.Sprintf("node %s cannot revoke itself; ask another node", node)}}}
	}
	if err := b.apply(ctx, fsm.RevokeNode{Node: node, Revoked: revoked}); err != nil {
		return err
	}
	if !revoked {
		return nil
	}
	inRaft := func() bool {
		for _, m := range n.Members() {
			if m.Name == node && m.Suffrage != cluster.SuffrageNone {
				return true
			}
		}
		return false
	}
	if !inRaft() {
		return nil
	}
	_, rerr := n.RemoveServer(ctx, node)
	if rerr == nil {
		return nil
	}
	// The deny list is committed, so the leader removes the node by
	// itself; when the revoked node is the leader, it hands leadership
	// over first, and the forwarded removal fails with its connection
	// (closed because its name is revoked). Wait for the removal rather
	// than report a failure of what the group is already doing.
	wctx, cancel := context.WithTimeout(ctx, revokeRemovalWait)
	defer cancel()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for inRaft() {
		select {
		case <-wctx.Done():
			if errors.Is(rerr, cluster.ErrNotLeader) {
				rerr = errors.New("no leader to remove it")
			}
			return mapErr(fmt.Errorf("revoked %s (on the deny list), but it is still in the raft configuration after %v: %w",
				node, revokeRemovalWait, rerr))
		case <-t.C:
		}
	}
	return nil
}

// revokeRemovalWait bounds how long Revoke waits for the leader to remove
// a revoked node from the Raft configuration by itself.
var revokeRemovalWait = 15 * time.Second

// Revocations lists the deny list.
func (b *APIBackend) Revocations(ctx context.Context) ([]string, error) {
	return b.Agent.FSM().State().Revoked(), nil
}
