// Package loopguard keeps active-active DR directors from balancing a
// packet twice (docs/design.md, decision 6).
//
// When every director is also a real server and all of them program the
// same IPVS table (docs/design.md, decision 2), the VRRP master's IPVS forwards a client's
// packet, unchanged (destination VIP:port), to a peer director's MAC. The
// peer must serve it with its local application; if its own IPVS saw the
// packet it would balance it again, to a third node or back to the
// master, and the connection loops or is handled twice.
//
// # Mechanism
//
// The guard owns one nftables table (inet "quadrature_aa") in the node's
// network namespace:
//
//	set peers { type ether_addr }        the other directors' MACs
//	chain prerouting { type nat hook prerouting priority dstnat }
//	  per target: meta nfproto, meta l4proto, daddr VIP, dport PORT,
//	  meta iiftype ether, ether saddr @peers, counter,
//	  dnat to LOCAL:PORT   comment "q1 aa TCP VIP:PORT LOCAL:PORT"
//
// A packet for VIP:port whose source MAC is a peer director's is rewritten
// in prerouting to this node's own real-server address. IPVS hooks
// LOCAL_IN and matches VIP:port, so it never sees the rewritten packet;
// the local application (listening on the wildcard or the real-server
// address) answers, and conntrack restores the VIP as the reply's source,
// which goes straight to the client (DR). Packets from clients and routers
// (any other MAC) reach IPVS as before. The IPVS table stays identical on
// every node (no fwmark rewriting of service keys) and the backups need
// no VIP on lo nor arp_ignore. IPv4 and IPv6; TCP, UDP and SCTP; a port-0
// service rewrites every port of its protocol.
//
// Costs and limits: a nat chain enables connection tracking in the
// namespace (the guard removes its table when there is nothing to guard);
// an application bound to the VIP only does not see rewritten packets
// (bind the wildcard or the real-server address); a peer director acting
// as a client of the VIP is always served by the master itself; fwmark
// services cannot be guarded (their address and port are not in the key;
// TargetsFor reports them).
//
// # Pieces
//
//   - target.go: Target, Desired (Normalize, Equal), TargetsFor (the pure
//     derivation from an lvs.Table and the node's addresses), DesiredFor
//     (TargetsFor plus PeerMACs: everything an agent derives), and the
//     rule comment codec.
//   - mac.go: ParseMAC, PeerMACs (merge what the members published, e.g.
//     cluster.Meta.MACs), FormatMACs/ParseMACs (a comma list), and this
//     namespace's LocalAddrs, InterfaceMACs, LocalMACs.
//   - rules.go: the nftables expressions of a target and the batch that
//     writes the whole table.
//   - guard.go, metrics.go: Guard (New, Set, Read, Detach, Close) and its
//     metrics (quadrature_loopguard_writes_total{reason},
//     quadrature_loopguard_peer_macs, quadrature_loopguard_targets).
//
// Every change is one netlink batch that replaces the whole table
// atomically; Set first reads the table back (chain, set, elements, and
// every rule's expressions against what its comment says) and writes
// only when something differs, so calling it periodically repairs drift.
// No other table is read or written.
//
// # Who calls it
//
// The agent (one Guard per node, in the namespace that holds
// IPVS): Set(DesiredFor(desired table, own addresses, members' MACs))
// whenever the table or the membership changes and on the periodic
// resync; Detach when the agent stops (the application goes on serving
// what peers forward), Close only when the node leaves for good. It must
// not decide health, program IPVS or touch VIPs.
//
// # Tests
//
// netns_test.go proves the nftables behaviour on this host (no IPVS):
// client, master and peer namespaces on a bridge. vm_test.go
// (TestVMActiveActiveDR) runs inside the VM of lvs/vmtest/run.sh with
// real IPVS: three directors with the same DR service, each its own real
// server, guarded and unguarded, counting how often each connection is
// handled.
package loopguard
