// Package jepsen is quadrature's Jepsen-style chaos suite: a real group
// of agents in network namespaces (package internal/clustertest: real
// processes, nftables data plane, VRRP on the wire, HTTP real servers),
// random faults from a seed, concurrent client workloads recording a
// timestamped history, and invariant checkers over that history.
//
// It is a test harness only: nothing in the product imports it, it owns
// no product behaviour, and it must not change what it tests (it talks to
// the agents through their admin API and the wire, and reads the
// namespaces' addresses with netlink). If a run finds a product bug, the
// report says so; the fix belongs in the product package.
//
// # The group
//
// clustertest's default group (3 nodes, or 5 with QUADRATURE_JEPSEN_NODES=5)
// with two VRRP instances side by side (RenderConfig):
//   - vi1, VIP 203.0.113.10, the default availability semantics (an
//     isolated master stays master: two owners during a partition);
//   - vf1, VIP 203.0.113.9, quorum_fence (docs/design.md, decision 5: a node
//     without quorum contact drops the VIP), preferring the last node,
//     so the two VIPs usually live on different nodes.
//
// Each VIP fronts a NAT virtual service on :80 over every node's
// application server.
//
// # Nemeses
//
// Schedule draws a plan from the seed (a pure function: the printed seed,
// given back in QUADRATURE_JEPSEN_SEED, reproduces the plan; the timing of
// the workloads is not reproducible). One fault at a time, each held
// 3–6 s, healed, then 3–5 s of quiet:
//   - kill: SIGKILL of an agent (its VIP stays on the interface as after
//     a real crash), restarted with its data dir at heal;
//   - pause: SIGSTOP of an agent (clustertest Group.Pause), SIGCONT at
//     heal;
//   - isolate: one node cut off from every other node at the bridge (the
//     client still reaches it);
//   - split: a random minority (1 of 3, 2 of 5) against the majority.
//
// The target is a random node, the raft leader, or the holder of either
// VIP, resolved when the fault starts and logged.
//
// # Workloads (all concurrent, from the client namespace)
//
//   - http: one request at a time through each VIP (new connection, 1 s
//     timeout), recording which node served it;
//   - config: 3 clients reading GET /v1/config and writing PUT
//     /v1/config with If-Match (compare-and-swap on config_version),
//     each against a random node's API; every write changes the fenced
//     service's real-server weights and carries a unique marker line;
//   - drain: drain/undrain of the last node's real server through
//     random nodes.
//
// A write that ended in 412 or 422, or whose connection could not be
// opened (a killed node's API), is fail (certainly not applied); any
// other error or a timeout is info (may have happened, at any time after
// its invocation).
//
// # Invariants (each a function over the recorded history; each has a
// unit test that feeds it a bad history and shows it failing)
//
//   - CheckLinearizable: the reads and CAS writes are linearizable for
//     one register (porcupine, apitest's model); info writes may take
//     effect up to the end of the history.
//   - CheckNoLostWrites: no acknowledged write is lost: one version per
//     ack, versions in real-time order, no read of unwritten or refused
//     content, every committed version accounted for by our writes, and
//     the final config on every node is the last acknowledged write (or a
//     later indeterminate one).
//   - CheckDrain: the final drain flag is the value of a write that can
//     be the last one.
//   - CheckConvergence: within ConvergeBound (60 s) of the final heal
//     every node answers, with one leader, one config_version, one kernel
//     table digest, /readyz ready, not degraded, not fenced; exactly one
//     holder per VIP; a request through each VIP succeeds.
//   - CheckFencedVIP: the quorum-fenced VIP never has two live holders
//     (VIPs sampled every 25 ms). Excused: samples within 2 s of a
//     nemesis event (the fence delay, preemption after a heal; the
//     product's own test allows 1 s on an idle machine), double holds
//     spanning under 200 ms outside those windows (a handover seen
//     mid-way by the node-by-node sample), and holders whose agent is
//     paused or killed (until 5 s after its restart): a frozen or dead
//     process cannot drop an address.
//
// Reported, never asserted: availability through each VIP (share of
// successful requests, failures by class — timeout, refused, reset —,
// longest outage, outage per fault kind, median and max), dual ownership
// of the availability VIP per fault kind, the time to converge.
//
// The harness also checks that each nemesis took effect (a paused agent
// is in state T, a partition stops the minority reaching the majority's
// API) and that no agent exited without a nemesis.
//
// # Running
//
//	go test ./jepsen -run TestChaos -v                 # short run (100 s of faults, ~2.5 min)
//	QUADRATURE_JEPSEN_DURATION=10m go test ./jepsen -run TestChaos -v -timeout 30m
//	QUADRATURE_JEPSEN_SEED=123 ...                     # the same nemesis plan again
//	QUADRATURE_JEPSEN_REPORT=/tmp/r.txt ...            # keep the report and, next to it, .history.txt
//	                                                   # (every op and nemesis event), .vip.txt (VIP holder
//	                                                   # changes), .logs/ (agent logs), .cas.html (porcupine,
//	                                                   # when not linearizable)
//	QUADRATURE_JEPSEN_INJECT=lost-write|stale-read|dual-vip ...  # corrupt the history: must FAIL
//	QUADRATURE_CLUSTERTEST_KEEP=/tmp/logs ...          # keep a failed run's agent logs
//
// Product bugs a run found become deterministic regression tests:
// TestReproStaleVIPAfterKill (an agent killed while master left the VIP
// on its interface, and the restarted backup kept it beside the real
// master; fixed in vrrp: leaving INIT removes the instance's addresses).
//
// It needs root and nft (skips otherwise; fails under CI=true). A failed
// run prints each violation, the offending history excerpt and (through
// clustertest) the tail of every agent log.
package jepsen
