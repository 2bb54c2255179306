// Package agent is quadrature's composition root: one node of the group,
// wired from its parts. It reads the node's keepalived.conf, runs the
// Raft/gossip node (package cluster) with the replicated state machine
// (package fsm), and drives the leaves from what the group committed: the
// kernel table (package lvs and its IPVS and nftables back ends), the
// health checkers (package checks) and VRRP (package vrrp). It reports
// the node's own check observations to the group and, on the leader,
// turns them into verdicts, placement and fencing.
//
// It is also the API's backend: APIBackend implements api.Backend over a
// running Agent, so package api knows nothing of config, fsm, lvs or vrrp.
//
// The paths through it (docs/design.md has the whole picture):
//   - a configuration (PUT /v1/config, or SIGHUP through Reload) is
//     parsed per node, validated, checked against the data plane and
//     proposed to the group;
//   - a committed command wakes the apply loop, which takes the state's
//     derived table and priorities and hands them to the reconciler and
//     VRRP;
//   - a check result becomes an observation (report.go), the leader's
//     verdict (leader.go), and a patch of the table on every node.
//
// Files: agent.go (lifecycle), apply.go (the apply loop), leader.go
// (leader duties), report.go (observations), hold.go (the startup hold),
// source.go (reading the file), checksconf.go and vrrpconf.go (leaf
// configurations from the model), backendcheck.go (data-plane support),
// loopguard.go, opsmetrics.go, and api_*.go (the API backend).
package agent
