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
//   - degraded mode (docs/design.md, decision 4) and the quorum-loss
//     fencing signal (decision 5), with events and Prometheus metrics.
//
// What it must not do: program the kernel, know the FSM's command format
// (commands are opaque []byte and the FSM is injected as a raft.FSM), or
// read keepalived.conf (the caller converts its cluster block into Config).
//
// Who calls it: package agent (the composition root) builds a Node from
// the parsed configuration and the fsm package's state machine; the
// agent's leader loop and its API backend use Apply, ConsistentRead,
// Members and the event stream. cluster imports no other quadrature
// package.
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
// Security: a group of more than one node (Peers, or BootstrapExpect > 1)
// refuses to start without mutual TLS and a gossip key (both from
// `quadrature cluster init`) unless Config.Insecure is set; an insecure
// node says so in a WARN at start and in quadrature_cluster_insecure.
//
// Who may use the Raft port (Raft and the forwarding RPC) is decided
// after the TLS handshake and before a byte of the connection is read:
//   - with TLS the certificate must chain to the group's CA and its
//     Subject CommonName is the peer's node name: it must be this node, a
//     configured node (Config.Nodes) or a server of the Raft
//     configuration, or, when Config.Nodes names no other node, connect
//     from a configured peer address; a revoked name (SetRevoked) never;
//   - without TLS only this node's address, the literal IPs of
//     Config.Peers and the addresses of Raft servers are accepted (which
//     stops strangers on the LAN but not one who spoofs an address).
//
// Refused connections are closed, logged (rate-limited) and counted in
// quadrature_cluster_peer_refused_total{reason}. Of the RPCs, status is
// open to every accepted peer; apply and read_index need a server of the
// Raft configuration; membership changes need TLS and a server (without
// TLS only a node removing itself, from its own address, on a graceful
// Leave); a refusal answers ErrForbidden. SetRevoked closes the revoked
// nodes' open connections, both ways.
//
// Voters are the configured nodes, never whoever gossips: the leader and
// bootstrap_expect consider only gossip members named in Config.Nodes (or,
// when it names nobody else, at a Peers address), never a revoked one,
// and with TLS only after the member's Raft port presented a certificate
// with the member's name.
//
// The data directory: a raft.db of 0 bytes, truncated or failing bbolt's
// consistency checks (done with plain reads, and a read-only bbolt open
// that recovers from panics and faults) refuses to start with the path and
// how to recover; DataDir/node-id, written once the node has Raft state,
// keeps a node from bootstrapping a new group over a raft.db that was
// deleted or replaced; a full disk is reported as such.
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
