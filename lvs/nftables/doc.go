// Package nftables programs the lvs table model into one nftables table
// (github.com/google/nftables), for kernels without IPVS or when
// `lvs_backend nftables` is configured. It implements lvs.DataPlane, so the
// generic lvs reconciler drives it exactly like the IPVS backend.
//
// It owns one inet table (default "quadrature") and never reads or writes
// another. Each Apply is one netlink batch (one transaction). The layout:
//
//	prerouting, output (nat)  jump services
//	services                  one rule per virtual service → jump s<svc>
//	s<svc>                    per destination: weight record (persistent:
//	                          client in @p<svc>d<dst>… → jump s<svc>d<dst>);
//	                          numgen/jhash vmap { slot ranges : jump
//	                          s<svc>d<dst> }; drop
//	s<svc>d<dst>              [update @p<svc>d<dst>…] counter, ct mark, dnat
//	postrouting (nat)         masquerade what we DNATed (Options.Masquerade)
//	stats_pre, stats_out      ct direction, ct mark → @stats_in, @stats_out
//	                          (sets with a counter per destination mark)
//
// A change rewrites only the chains of the services it touches (flush and
// refill in the same batch); unchanged destinations keep their chains and
// counters. The scheduler maps are anonymous and constant, bound to their
// rule: they cannot be edited behind our back, and nft prints them inline,
// so `nft list ruleset` output loads again with `nft -f`.
//
// Schedulers: rr and wrr use numgen inc over an interval map in which a
// destination of weight w owns w slots (rr: one slot); sh and dh use jhash
// of the client or the virtual address, with a fixed seed so all directors
// agree. Weight 0 owns no slot: no new connections, established ones
// continue through conntrack. Persistence keeps one dynamic set of client
// addresses (masked by the netmask) per destination, with the persistence
// timeout, refreshed on every new connection. Anything IPVS
// can do that this layout cannot (lc, wlc, sed, nq, lblc, lblcr, mh, fo,
// ovf, twos, scheduler flags, ops, DR, TUN, thresholds, SCTP) is rejected
// by CheckService with a message naming the keyword, never degraded.
//
// Read reconstructs the model from rule comments ("q1 svc ...", visible in
// `nft list ruleset`) and checks that every rule a service needs is there
// and that the scheduler rule was built from the weights read back; a
// service with a missing or inconsistent rule is left out of the result,
// so the reconciler re-adds it and thereby repairs the drift.
//
// Stats maps the per-destination rule counters (new connections) and the
// counter-set elements (packets and bytes each way) into lvs.ServiceStats, and
// counts the destination's conntrack entries (ESTABLISHED TCP with a packet in the last 5 s as active; see conntrack.go)
// so the reconciler's graceful drain works as with IPVS, and its live
// persistence entries (PersistConns).
//
// Semantics worth knowing: a client with a persistence entry keeps going
// to its destination while that destination has weight 0 (as IPVS does by
// default); removing a destination drops its clients' persistence only;
// persistence is refreshed by every new connection, not by traffic. As
// with IPVS NAT, the virtual address must be routed to (or configured on)
// the director and forwarding enabled; replies must come back through it
// unless masquerade is on (the default). A second instance in the same
// network namespace (another TableName) would share the conntrack mark
// bit; run one per namespace.
//
// The backend owns the conntrack mark of the connections it schedules (bit
// 31 set, low bits the destination ID). It must not decide health or touch
// IPVS; the cluster runtime (through lvs.Reconciler) is its only caller,
// and config validation calls CheckService.
package nftables
