package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// Apply commits cmd through Raft and returns what the FSM's Apply returned
// for it, with its log index. On a follower the command is forwarded to the
// leader. While there is no leader, or the leader changes before the
// command was appended, Apply retries until ctx ends (then ErrNoLeader).
// An error the FSM returned comes back as an *ApplyError. When ctx ends or
// leadership is lost after the command was sent, the command may still be
// committed: the caller must treat the outcome as unknown (design decision
// 8's compare-and-swap makes a retry safe).
func (n *Node) Apply(ctx context.Context, cmd []byte) (result any, index uint64, err error) {
	var localRes any
	resp, err := n.withLeader(ctx, rpcRequest{Op: opApply, Cmd: cmd}, func(ctx context.Context) (rpcResponse, error) {
		res, idx, err := n.applyLocal(ctx, cmd)
		localRes = res
		return rpcResponse{Index: idx}, err
	}, &localRes)
	if err != nil {
		var ae *ApplyError
		if errors.As(err, &ae) {
			return nil, resp.Index, err
		}
		return nil, 0, err
	}
	if resp.HasResult {
		return resp.Result, resp.Index, nil
	}
	return localRes, resp.Index, nil
}

// applyLocal applies on this node, which must be the leader.
func (n *Node) applyLocal(ctx context.Context, cmd []byte) (any, uint64, error) {
	var timeout time.Duration
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(dl), time.Millisecond)
	}
	f := n.raft.Apply(cmd, timeout)
	if err := waitFuture(ctx, f); err != nil {
		return nil, 0, mapRaftError(err)
	}
	if ferr, ok := f.Response().(error); ok {
		return nil, f.Index(), newApplyError(ferr)
	}
	return f.Response(), f.Index(), nil
}

// waitFuture waits for a raft future or the end of ctx.
func waitFuture(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("cluster: %w (outcome unknown)", ctx.Err())
	}
}

// mapRaftError converts raft's errors to this package's sentinels.
func mapRaftError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return ErrNotLeader
	case errors.Is(err, raft.ErrLeadershipLost):
		return ErrLeadershipLost
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrShutdown
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("cluster: %w (%w)", context.DeadlineExceeded, err)
	}
	return err
}

// retryable reports errors after which the request certainly did not take
// effect, so it can be sent again (possibly to a new leader).
func retryable(err error) bool {
	var ns errNotSent
	return errors.Is(err, ErrNoLeader) || errors.Is(err, ErrNotLeader) || errors.As(err, &ns)
}

// withLeader runs local when this node leads, or sends req to the leader,
// retrying while no leader is known or the request could not be delivered.
// localOut, when non-nil, is cleared before every attempt so a failed local
// attempt cannot leak a result into a later forwarded one.
func (n *Node) withLeader(ctx context.Context, req rpcRequest, local func(context.Context) (rpcResponse, error), localOut *any) (rpcResponse, error) {
	backoff := 5 * time.Millisecond
	for {
		if !n.running() {
			return rpcResponse{}, ErrShutdown
		}
		if localOut != nil {
			*localOut = nil
		}
		addr, id := n.raft.LeaderWithID()
		var resp rpcResponse
		var err error
		switch {
		case id == "":
			err = ErrNoLeader
		case string(id) == n.cfg.NodeName:
			resp, err = local(ctx)
		default:
			resp, err = n.call(ctx, string(addr), req)
			if err == nil {
				err = responseError(resp)
			}
		}
		if err == nil || !retryable(err) {
			return resp, err
		}
		select {
		case <-ctx.Done():
			return rpcResponse{}, fmt.Errorf("%w: %w (last: %v)", ErrNoLeader, ctx.Err(), err)
		case <-n.ctx.Done():
			return rpcResponse{}, ErrShutdown
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 100*time.Millisecond)
	}
}

// ConsistentRead returns once this node's FSM has applied every entry that
// was committed when it was called (a read index confirmed by the leader
// with a quorum round), so a read of the local FSM afterwards is
// linearizable. Works on any node; followers ask the leader.
func (n *Node) ConsistentRead(ctx context.Context) error {
	resp, err := n.withLeader(ctx, rpcRequest{Op: opReadIndex}, func(ctx context.Context) (rpcResponse, error) {
		idx, cmd, err := n.readIndexLocal(ctx)
		return rpcResponse{Index: idx, CmdIndex: cmd}, err
	}, nil)
	if err != nil {
		return err
	}
	return n.waitApplied(ctx, resp.Index, resp.CmdIndex)
}

// readIndexLocal is the leader's half of ConsistentRead: the commit index
// confirmed by a quorum, and the newest command at or below it.
func (n *Node) readIndexLocal(ctx context.Context) (idx, cmdIdx uint64, err error) {
	if n.raft.State() != raft.Leader {
		return 0, 0, ErrNotLeader
	}
	term := n.raft.CurrentTerm()
	if n.barrierTerm.Load() != term {
		// A new leader only knows the commit index once an entry of its
		// own term is committed: the barrier does that.
		var timeout time.Duration
		if dl, ok := ctx.Deadline(); ok {
			timeout = max(time.Until(dl), time.Millisecond)
		}
		if err := waitFuture(ctx, n.raft.Barrier(timeout)); err != nil {
			return 0, 0, mapRaftError(err)
		}
		n.barrierTerm.Store(term)
	}
	idx = n.raft.CommitIndex()
	if err := waitFuture(ctx, n.raft.VerifyLeader()); err != nil {
		return 0, 0, mapRaftError(err)
	}
	if n.raft.CurrentTerm() != term {
		return 0, 0, ErrNotLeader
	}
	return idx, n.lastCommandIndex(idx), nil
}

// waitApplied waits until raft has dispatched index idx to the FSM and the
// FSM has run command cmdIdx.
func (n *Node) waitApplied(ctx context.Context, idx, cmdIdx uint64) error {
	wait := 200 * time.Microsecond
	for n.raft.AppliedIndex() < idx || n.tracker.applied.Load() < cmdIdx {
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: waiting for index %d (applied %d): %w", idx, n.raft.AppliedIndex(), ctx.Err())
		case <-n.ctx.Done():
			return ErrShutdown
		case <-time.After(wait):
		}
		wait = min(wait*2, 10*time.Millisecond)
	}
	return nil
}

// Barrier waits until every preceding entry is applied on this node, which
// must be the leader (ErrNotLeader otherwise).
func (n *Node) Barrier(ctx context.Context) error {
	if !n.running() {
		return ErrShutdown
	}
	if n.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	var timeout time.Duration
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(dl), time.Millisecond)
	}
	return mapRaftError(waitFuture(ctx, n.raft.Barrier(timeout)))
}

// VerifyLeader returns nil when this node is the leader and a quorum
// confirms it now; ErrNotLeader otherwise.
func (n *Node) VerifyLeader(ctx context.Context) error {
	if !n.running() {
		return ErrShutdown
	}
	return mapRaftError(waitFuture(ctx, n.raft.VerifyLeader()))
}

// AddVoter adds (or re-addresses) a voting server; forwarded to the leader.
// A witness is a voter, so this is also how one is added by hand.
func (n *Node) AddVoter(ctx context.Context, id, raftAddr string) (uint64, error) {
	return n.membership(ctx, opAddVoter, id, raftAddr)
}

// AddNonvoter adds a server that receives the log but does not vote.
func (n *Node) AddNonvoter(ctx context.Context, id, raftAddr string) (uint64, error) {
	return n.membership(ctx, opAddNonvoter, id, raftAddr)
}

// RemoveServer removes a server (for example a dead voter) from the Raft
// configuration; forwarded to the leader.
func (n *Node) RemoveServer(ctx context.Context, id string) (uint64, error) {
	return n.membership(ctx, opRemoveServer, id, "")
}

func (n *Node) membership(ctx context.Context, op, id, addr string) (uint64, error) {
	if err := validateNodeName(id); err != nil {
		return 0, err
	}
	if op != opRemoveServer {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return 0, fmt.Errorf("cluster: raft address %q: %w", addr, err)
		}
	}
	resp, err := n.withLeader(ctx, rpcRequest{Op: op, ID: id, Addr: addr}, func(ctx context.Context) (rpcResponse, error) {
		idx, err := n.membershipLocal(ctx, op, id, addr)
		return rpcResponse{Index: idx}, err
	}, nil)
	return resp.Index, err
}

// membershipLocal changes the configuration on this node, the leader.
func (n *Node) membershipLocal(ctx context.Context, op, id, addr string) (uint64, error) {
	if err := validateNodeName(id); err != nil {
		return 0, err
	}
	var timeout time.Duration
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(dl), time.Millisecond)
	}
	var f raft.IndexFuture
	switch op {
	case opAddVoter:
		f = n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeout)
	case opAddNonvoter:
		f = n.raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeout)
	case opRemoveServer:
		f = n.raft.RemoveServer(raft.ServerID(id), 0, timeout)
	default:
		return 0, fmt.Errorf("cluster: unknown membership op %q", op)
	}
	if err := waitFuture(ctx, f); err != nil {
		return 0, mapRaftError(err)
	}
	n.logger.Info("raft configuration changed", "op", op, "server", id, "addr", addr, "index", f.Index())
	return f.Index(), nil
}

// Snapshot takes a Raft snapshot now (and compacts the log). It returns
// nil when there was nothing new to snapshot.
func (n *Node) Snapshot() error {
	if !n.running() {
		return ErrShutdown
	}
	err := n.raft.Snapshot().Error()
	if errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cluster: snapshot: %w", err)
	}
	return nil
}
