// Package lvs owns the load-balancing table model (virtual services,
// destinations, schedulers, forwarding methods) and a desired-state
// reconciler that makes the kernel match it: IPVS over generic netlink
// (github.com/cloudflare/ipvs) here, and nftables in package lvs/nftables
// for kernels without IPVS.
//
// The cluster runtime derives the desired Table (a pure function of the
// replicated state) and hands it to a Reconciler; lvs reads the kernel
// table in one dump, diffs in memory, applies the minimum, repairs drift on
// a periodic resync and reports statistics and a digest. It never decides
// health: which real servers are in the table is the caller's business.
package lvs
