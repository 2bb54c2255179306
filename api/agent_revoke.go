package api

import (
	"context"
	"errors"
	"fmt"

	"quadrature/cluster"
	"quadrature/fsm"
)

// Revoke puts a node name on the group's deny list (or takes it off).
// The deny list is committed first, so that no leader can add the node back
// between its removal and its revocation; then the node is removed from the
// Raft configuration when it is there (the leader also removes revoked
// servers by itself, which covers a revoked leader), so a quorum never
// counts a node whose certificate is refused.
func (b *AgentBackend) Revoke(ctx context.Context, node string, revoked bool) error {
	n, err := b.node()
	if err != nil {
		return err
	}
	if revoked && node == n.Name() {
		return &InvalidError{Details: []ConfigError{{Message: fmt.Sprintf("node %s cannot revoke itself; ask another node", node)}}}
	}
	if err := b.apply(ctx, fsm.RevokeNode{Node: node, Revoked: revoked}); err != nil {
		return err
	}
	if !revoked {
		return nil
	}
	for _, m := range n.Members() {
		if m.Name == node && m.Suffrage != cluster.SuffrageNone {
			if _, err := n.RemoveServer(ctx, node); err != nil && !errors.Is(err, cluster.ErrNotLeader) {
				// The deny list is committed: the leader finishes the
				// removal by itself. Report what happened here.
				return mapErr(err)
			}
			break
		}
	}
	return nil
}

// Revocations lists the deny list.
func (b *AgentBackend) Revocations(ctx context.Context) ([]string, error) {
	return b.Agent.FSM().State().Revoked(), nil
}
