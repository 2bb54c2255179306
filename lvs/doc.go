// Package lvs owns the load-balancing table model (virtual services,
// destinations, schedulers, forwarding methods) and a desired-state
// reconciler that makes the kernel match it through a DataPlane: IPVS over
// generic netlink in package lvs/ipvs, nftables in package lvs/nftables for
// kernels without IPVS. This package itself links no netlink code, so the
// packages that only derive tables (fsm) do not either.
//
// The agent derives the desired Table (a pure function of the
// replicated state) and hands it to a Reconciler; lvs reads the kernel
// table in one dump, diffs in memory, applies the minimum, repairs drift on
// a periodic resync and reports statistics and a digest. It never decides
// health: which real servers are in the table is the caller's business.
// It is a leaf package: it imports no other quadrature package.
//
// # Pieces
//
//   - table.go, validate.go: the model (Table, Service, Destination,
//     ServiceKey), Normalize (sorted, defaults explicit, the kernel's
//     canonical form), Validate, CanonicalText and Digest.
//   - names.go, group.go: keepalived spellings (ParseScheduler,
//     ParseSchedFlag, ParseMethod, ParseTunnel, ParseProtocol) and
//     virtual_server_group expansion (ParseGroupEntry, ParseAddrRange,
//     ExpandGroup).
//   - diff.go: Diff (pure: observed, desired, ownership → Plan), Plan.Split
//     for batching, Plan.ApplyTo (a plan applied in memory), OwnedSet.
//   - reconciler.go, drain.go, metrics.go: Reconciler (Sync = dump, diff,
//     apply; Update = incremental against the view kept from the last pass;
//     Patch = the same for named services only, O(change); Run = loop with
//     periodic resync, backoff with jitter, rate limit, graceful drain),
//   - resync.go: Resync, the periodic verification: on IPVS with a large
//     table it reads every service but one rotating slice of destinations
//     per call (IPVS dumps destinations one service at a time) and runs a
//     full pass only when something differs,
//     per-service Status, Prometheus metrics.
//   - dataplane.go, fake.go: the DataPlane interface and an in-memory one
//     for tests (NewMemDataPlane).
//   - scale.go: ScaleTable, a keepalived-sized reference table the data
//     planes' benchmarks and scale tests program.
//
// # Who calls it
//
// The agent builds one DataPlane (ipvs.New, or the nftables backend when
// ipvs.New returns ErrUnavailable), one Reconciler with the
// process's prometheus registry, calls Run in a goroutine and SetDesired
// whenever the FSM's desired table changes; the API reads Status and
// KernelDigest. Tests of other packages use NewMemDataPlane.
//
// # Testing against a real kernel
//
// The build host has no IPVS. lvs/vmtest/run.sh boots a Debian kernel in
// qemu (TCG) with lvs/ipvs's test binary and ipvsadm, runs the TestVM*
// tests and the keepalived-scale benchmark, and fails unless the VM prints
// "VMTEST PASS".
package lvs
