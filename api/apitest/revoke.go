package apitest

import (
	"context"
	"fmt"
	"slices"

	"quadrature/api"
)

var _ api.Revoker = (*Fake)(nil)

// Revoke puts node on the fake's deny list (or takes it off); revoking
// removes it from Raft, as the real backend does.
func (f *Fake) Revoke(_ context.Context, node string, revoked bool) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("revoke %s %v", node, revoked))
	if revoked {
		if node == f.Node {
			return &api.InvalidError{Details: []api.ConfigError{{Message: "node " + node + " cannot revoke itself"}}}
		}
		if !slices.Contains(f.Revoked, node) {
			f.Revoked = append(f.Revoked, node)
			slices.Sort(f.Revoked)
		}
		f.Raft = slices.DeleteFunc(f.Raft, func(s api.RaftServer) bool { return s.Name == node })
		return nil
	}
	f.Revoked = slices.DeleteFunc(f.Revoked, func(n string) bool { return n == node })
	return nil
}

// Revocations lists the fake's deny list.
func (f *Fake) Revocations(context.Context) ([]string, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return slices.Clone(f.Revoked), nil
}
