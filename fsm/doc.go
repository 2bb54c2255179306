// Package fsm owns quadrature's replicated state and the pure functions
// that derive, from that state alone, the desired IPVS table and every
// node's VRRP priorities.
//
// # What it owns
//
//   - The replicated state (State): the config version and source (the
//     keepalived.conf text and its included files as an in-memory map, plus a
//     fixed host-name map, so that parsing is deterministic and I/O-free),
//     one observation per (real server, node), operator overrides (drain of a
//     real server, maintenance of a node, VIP transfers, an explicit
//     placement), the committed live-node set, and the stateful parts of the
//     derivations: per-real-server verdicts (hysteresis) and
//     per-virtual-server quorum (keepalived's quorum/hysteresis), and the
//     deny list of revoked node names (RevokeNode), which package cluster
//     enforces on the Raft port.
//   - Typed, versioned commands (command.go) in a JSON envelope
//     {"type":..., "v":..., "payload":..., "origin":...} encoded
//     deterministically; origin names who proposed the command (API caller,
//     SIGHUP, leader) so that every node can log it, and never changes what
//     the command does.
//   - The raft.FSM implementation (FSM): Apply, Snapshot, Restore.
//   - Pure derivations: Verdicts (derive_verdict.go), DesiredTable
//     (derive_table.go), Priorities and Placement (derive_placement.go).
//
// # What it must not do
//
// No I/O, no clocks, no randomness, no dependence on map iteration order:
// every replica that applied the same log holds byte-identical state, takes
// byte-identical snapshots and derives the same table (docs/design.md, decision 2).
// Configuration is parsed through Options.Parse from the in-memory files and
// host map only.
//
// # Who calls it
//
// Package cluster builds an FSM (New), hands it to raft, proposes commands
// built with Encode (after FSM.ValidateSetConfig or ValidateConfig for a new
// configuration, and after checking that every member Supports the command
// version), reads raft's ApplyFuture.Response() as a Result, and reads the
// derived state through FSM.State from any goroutine: DesiredTable for the
// lvs reconciler, Priorities(node) for the VRRP engine, Verdicts, Quorums
// and Placement for status, and LocalView(node, observations) for the
// degraded mode (a node cut off from the leader uses its own verdicts).
// Observations, drains, quorums and verdicts name a virtual server by
// config.VirtualServer.ID (the scheme of package internal/ids); commands
// and snapshots of earlier builds, which spelled it "TCP 192.0.2.10:80",
// are read into that scheme (normalizeIDs). The api package reads the same
// State for status pages.
//
// # Threading contract
//
// Apply, Snapshot and Restore are called by raft from one goroutine (raft's
// FSM contract). Every Apply builds a new State (copy-on-write) and publishes
// it with an atomic pointer store; FSM.State returns the latest published
// State, which is immutable and safe to read from any number of goroutines.
// Snapshot captures that immutable pointer, so Persist runs concurrently with
// later Applies without locks. The only shared mutable thing is the per-config
// parse cache, guarded by a mutex; it is a pure cache (its content is a
// function of the config source and the node name).
//
// # Command rules
//
//   - Apply's response (raft's ApplyFuture.Response) is an error on failure
//     (wrapping a sentinel *Error whose Code, e.g. "fsm.conflict", survives
//     package cluster's leader forwarding, so errors.Is(err, ErrConflict)
//     holds on every node) or, on success, the Result as JSON bytes;
//     DecodeResult reads either. ApplyCommand returns the Result directly.
//   - Unknown command types and versions: a command whose type this build does
//     not know, or whose version is above MaxCommandVersion, leaves the state
//     unchanged except for State.UnknownCommands (incremented, so every replica
//     agrees) and the applied index; Apply returns a Result whose Err wraps
//     ErrUnknownCommand. The leader must not propose a command version that a
//     member does not support: members advertise MaxCommandVersion in gossip
//     metadata and the leader checks Supports on each.
//   - Malformed commands (bad JSON, unknown fields, invalid values) return an
//     error wrapping ErrMalformed or ErrInvalid and leave the state unchanged
//     apart from the applied index.
//   - Apply never panics: a panic inside a handler (a bug) is recovered, the
//     half-built state is discarded and the Result carries ErrInternal. A bug
//     that panics does so identically on every replica, so they stay equal.
//   - SetConfig is a compare-and-swap on the config version: ExpectVersion
//     must equal the current version (0 before the first config), otherwise
//     the result is a *ConflictError (errors.Is ErrConflict) carrying the
//     current version and the state is unchanged. An accepted config gets
//     version = previous + 1 (dense and independent of raft indexes, so it
//     reads well in the API and survives log compaction unchanged).
//   - A config whose virtual_server sections evaluate differently for two
//     nodes (because of @node lines) is rejected: every director must program
//     the same table. ValidateConfig performs the same checks before a
//     proposal.
//
// # Derivation rules (summary; details on each function)
//
//   - Observations are stored per (real server, node) whatever the node's
//     liveness; observations for real servers the config does not have, and
//     reordered ones (lower Seq), are ignored and counted in Result.Ignored.
//     A config change drops the observations of real servers it removes or
//     whose configured weight it changes.
//   - Reporters of a real server are the committed live nodes that have an
//     observation for it; a node that is not alive stops counting (its
//     observations count again when it is live again). With zero
//     reporters a verdict keeps its last value; a new real server starts up,
//     or down when alpha is set (keepalived). verdict_policy: any = up when
//     at least one reporter says up; majority (default) = up when more than
//     half say up, down when more than half say down, a tie keeps the
//     previous verdict; all = up only when every reporter says up. Weights
//     are the median of the weights reported by up-reporting live nodes
//     (lower middle for an even count).
//   - Quorum per virtual server follows keepalived: gained when the alive
//     weight sum >= quorum + hysteresis, lost when it is < quorum - hysteresis
//     or 0; on loss with a sorry_server the alive real servers are removed
//     (weight 0 with inhibit_on_failure) and the sorry server added.
//   - VRRP priority of an instance on a node: the configured priority of the
//     config evaluated for that node (@node lines), replaced by the auto
//     rotation with "placement auto" (instance units sorted by name, unit i
//     highest on eligible live node i mod n, AutoTopPriority minus a step per
//     rank, AutoOfflinePriority for nodes out of the rotation; a sync group
//     is one unit), replaced by an explicit SetPlacement entry; a TransferVIP
//     target then gets max(others)+1 capped at 254; a node in maintenance
//     gets 1 on every instance. Witness nodes (cluster role witness) get no
//     instance.
//   - Node table digests are NOT replicated: they change with kernel state and
//     would churn the log; nodes publish them in gossip metadata and the
//     cluster layer compares them with DesiredTable().Digest().
package fsm
