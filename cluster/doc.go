// Package cluster is one quadrature node's cluster runtime: a Raft group
// (hashicorp/raft with a raft-boltdb/v2 log and stable store and file
// snapshots under DataDir) over a TLS-capable stream layer, and a gossip
// layer (hashicorp/memberlist with optional encryption and versioned node
// metadata) that finds peers, bootstraps the group bootstrap_expect-style,
// adds new members and reports liveness.
//
// What it owns:
//   - bootstrap, join (with retry), restart from disk, graceful leave;
//   - leader forwarding: Apply, ConsistentRead and membership changes work
//     on any node; followers forward them to the leader over a small framed
//     RPC that shares the Raft port (one mux byte per connection);
//   - membership views (Members, LeaderName, LiveReporters, Stats);
//   - degraded mode (design decision 4) and the quorum-loss fencing signal
//     (decision 5), with events and Prometheus metrics.
//
// What it must not do: program the kernel, know the FSM's command format
// (commands are opaque []byte and the FSM is injected as a raft.FSM), or
// read keepalived.conf (the caller converts its cluster block into Config).
//
// Who calls it: the agent (cmd/quadrature) builds a Node from the parsed
// configuration and the fsm package's state machine, and the leader loop and
// the HTTP API use Apply, ConsistentRead, Members and the event stream.
//
// Threading contract: every exported method of *Node is safe for concurrent
// use once New has returned. The injected raft.FSM is driven by raft (Apply,
// Snapshot and Restore are never called concurrently with each other).
//
// FSM results: the value the FSM's Apply returns travels back to the caller
// of Node.Apply. On the leader it is returned as is; when the call was
// forwarded from a follower it must cross the network, so FSMs must return
// nil, a []byte, or an error. An error result becomes an *ApplyError (its
// Code survives forwarding when the error has a `Code() string` method).
//
// Security: without TLS, anyone who can reach the Raft port can speak Raft
// and the forwarding RPC (apply commands, change membership), exactly as
// with a plain hashicorp/raft transport; keep that port on a trusted network
// or configure TLS. Gossip without a key is likewise open.
//
// Gossip states: memberlist v0.7.0 reports joins, updates, failures and
// leaves, but not its internal "suspect" state, so a member is alive until
// it is declared dead. It also does not tell a leave from a failure (the
// Node it passes has a stale State field), so Leave first gossips a
// Leaving flag in the metadata.
//
// Dead members are never removed automatically: a voter that crashed stays
// in the Raft configuration (it counts towards the quorum size) until an
// operator removes it with RemoveServer. Members that leave gracefully are
// removed by Leave, and by the leader when gossip reports them as left.
package cluster
