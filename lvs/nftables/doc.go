// Package nftables programs the lvs table model into one nftables table
// (github.com/google/nftables for rule expressions; the batches and reads
// are encoded here), for kernels without IPVS or when `lvs_backend
// nftables` is configured. It implements lvs.DataPlane and
// lvs.SliceReader, so the generic lvs reconciler drives it exactly like
// the IPVS backend, sliced resyncs included.
//
// It owns one inet table (default "quadrature") and never reads or writes
// another. Each Apply is one netlink batch (one transaction).
//
// # Layout
//
// Nothing in the table is per destination but map elements, and nothing
// is per service but one chain (and, for a persistent service, its
// persistence map); the number of chains, rules and sets does not grow
// with the destinations. Every map that a rule reads into a register is
// used in one chain only: the kernel walks a whole map each time a rule
// in another chain binds it, which made a per-service slot or
// destination lookup quadratic to load.
//
//	prerouting, output (nat)  jump services
//	services                  meta l4proto . ip daddr . th dport vmap @svc4
//	                          meta l4proto . ip6 daddr . th dport vmap @svc6
//	                          meta mark vmap @fwm4, meta mark vmap @fwm6
//	                          (each element: service key → jump s<id>)
//	s<id>                     ct mark set <id><<16|0xffff        "q2 svc …" header
//	                          [ct mark set saddr&mask map @p…]  persistence hit
//	                          [hit on a gone destination → ct mark set <id><<16|0xffff]
//	                          [ct mark set numgen inc mod N offset <id><<16]  (sh, dh: jhash)
//	                          jump pick
//	                          ct mark @stats_new [update @p… { saddr&mask : ct mark }]
//	                          goto nat4 (nat6)
//	pick                      ct mark without bit 31: ct mark set ct mark map @slots
//	nat4, nat6                meta l4proto tcp|udp dnat to ct mark map @dst4 (@dst6)
//	                          dnat to ct mark map @dst4a (@dst6a: port 0, keep the port)
//	                          counter drop
//	slots                     <id><<16 | slot → destination mark
//	dst4, dst6                destination mark → address . port, comment "q2 s=<id> w=<weight>"
//	dst4a, dst6a              destination mark → address (destinations with port 0)
//	postrouting (nat)         masquerade what we DNATed (Options.Masquerade)
//	stats_pre, stats_out      ct direction, ct mark → @stats_in, @stats_out
//	stats_in, stats_out,      sets of destination marks with a counter each:
//	stats_new                 packets each way, new connections
//
// The conntrack mark carries the choice from rule to rule: the header sets
// it to the service's "no slot" key, the scheduler rule to the key of the
// slot it draws, pick replaces a key by the mark of the slot's destination
// (bit 31 set, low bits the destination ID) and nat4/nat6 map that mark
// to the real server. A destination's mark is the same in every map, so a
// destination is four elements (its address, three counters) plus its
// slots. Service IDs are below 32,768 and a service has at most 65,535
// slots, hence at most 65,535 destinations with a non-zero weight
// (CheckService says so).
//
// Schedulers: rr and wrr use numgen inc, sh and dh jhash of the client or
// the virtual address with a fixed seed (so all directors agree), modulo
// the service's slot count N. Destinations own consecutive slots in model
// order: weight w owns w slots under wrr and sh, one under rr and dh, none
// at weight 0 (no new connections; established ones continue through
// conntrack). When the weights of a service add up to more than 65,535,
// destination i owns max(1, ⌊wᵢ·65535/Σw⌋) slots, so wrr shares hold to
// within one slot in 65,535. Persistence keeps one dynamic map per
// persistent service (p<id>_<seconds>_<mask>_<family>: masked client →
// destination mark, with the persistence timeout, refreshed on every new
// connection). Anything IPVS can do that this layout cannot (lc, wlc, sed,
// nq, lblc, lblcr, mh, fo, ovf, twos, scheduler flags, ops, DR, TUN,
// thresholds, SCTP) is rejected by CheckService with a message naming the
// keyword, never degraded.
//
// # Applying changes
//
// The backend keeps the table as it last read or wrote it (objects in
// state.go) and the ruleset generation at which that is the kernel's.
// Apply computes the objects of the services the plan names (render:
// services and destinations keep their IDs; new IDs are above every ID in
// use), diffs them against the kept ones and sends only the difference
// (after a read that found anything no service needs, the first Apply
// diffs the whole table, which deletes it): element
// deletes and adds (a changed weight is its destination element deleted
// and added again; its counters stay), and for a service whose rules
// change (scheduler, persistence, slot count) its chain flushed and
// refilled. The batch carries the kept generation (NFNL_BATCH_GENID): if
// anything committed in between, anywhere in the namespace, the kernel
// refuses it and Apply reads the table and diffs again; if a batch fails
// otherwise, Apply rebuilds the table in one batch, atomically. Element
// lists are split so each message stays under netlink's 64 KiB attribute
// limit; the batch is one sendmsg (the kernel processes it inside the
// call, so errors are drained without acknowledgements). Removing a
// destination of a persistent service deletes its clients' entries from
// the persistence map in the same batch (the map is read for that).
//
// # Reading
//
// Read dumps the table and reconstructs the model from the records (rule
// comments "q2 …" and destination-element comments, visible in `nft list
// ruleset`), and checks that every rule a service needs is there in
// order, that its dispatch element jumps to its chain, that its slots are
// the layout of the weights read back and that its destinations have
// their counters; a service with anything missing or inconsistent is left
// out of the result, so the reconciler re-adds it and thereby repairs the
// drift. ReadSlice, for the reconciler's sliced resync, asks for the
// ruleset generation: if it moved since the kept state, it reads the
// whole table; otherwise no transaction touched any table since (only
// packets change the persistence maps and counters), so it returns the
// kept services without a dump: an idle round of sliced resyncs is one
// generation query per slice plus the reconciler's comparisons (at most
// lvs.MaxResyncSlices slices per round; 0.7 % of a core at 8,000 × 16 in
// BenchmarkScale). Element dumps that repeat a key (a hash set the kernel resized
// during the dump) are dumped again.
//
// Stats maps the counter-set elements (new connections, packets and bytes
// each way) into lvs.ServiceStats, and counts the destination's conntrack
// entries (ESTABLISHED TCP with a packet in the last 5 s as active; see
// conntrack.go) so the reconciler's graceful drain works as with IPVS, and
// its live persistence entries (PersistConns).
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
