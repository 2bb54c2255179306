package api

import (
	"context"
	"fmt"

	"quadrature/cluster"
	"quadrature/fsm"
)

// Revoke puts a node name on the group's deny list (or takes it off).
// Revoking first removes the node from the Raft configuration when it is
// there, so a quorum never counts a node whose certificate is refused.
func (b *AgentBackend) Revoke(ctx context.Context, node string, revoked bool) error {
	n, err := b.node()
	if err != nil {
		return err
	}
	if revoked {
		if node == n.Name() {
			return &InvalidError{Details: []ConfigError{{Message: fmt.Sprintf("node %s cannot revoke itself; ask another node", node)}}}
		}
		for _, m := range n.Members() {
			if m.Name == node && m.Suffrage != cluster.SuffrageNone {
				if _, err := n.RemoveServer(ctx, node); err != nil {
					return mapErr(err)
				}
				break
			}
		}
	}
	return b.apply(ctx, fsm.RevokeNode{Node: node, Revoked: revoked})
}

// Revocations lists the deny list.
func (b *AgentBackend) Revocations(ctx context.Context) ([]string, error) {
	return b.Agent.FSM().State().Revoked(), nil
}
