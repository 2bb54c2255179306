// Package vrrp implements VRRP: version 3 (RFC 5798) and version 2
// (RFC 3768), IPv4 and IPv6, interoperable with keepalived.
//
// # What it owns
//
//   - Machine: the I/O-free protocol state machine of one instance
//     (INIT, BACKUP, MASTER, FAULT, STOP). Events go in through Step
//     (received packets, timer expiries, priority changes, faults,
//     sync-group moves, shutdown), each carrying the current time; Step
//     returns the actions to execute (send an advert, add/remove VIPs,
//     send GARP/NA, arm/stop timers, report a transition or a drop).
//     It never reads a clock and never touches the network. Every
//     transition carries a typed Cause (startup, master-down, released,
//     higher-priority, higher-address, priority, fault, fence,
//     fault-cleared, sync, shutdown) beside its Reason text; decisions
//     read the cause, logs and the API show the text.
//   - The policy beside the machines, as pure functions (policy.go):
//     EvaluateTracking turns link states, vrrp_script results, track_file
//     values, track_process quorums, the quorum fence and socket errors
//     into an effective priority and an own fault, each fault and weight
//     tagged with its typed Tracker kind (Tracking.Faults, .Weights;
//     Tracking.Events says what to feed the machine); FollowTransition,
//     GroupFault and GroupReached are vrrp_sync_group: members follow a
//     move to MASTER and from MASTER to BACKUP, but never a move that was
//     itself a following (CauseSync), one member with a fault of its own
//     holds the whole group in FAULT, and the group's notify scripts run
//     once every member has arrived. The scripts in testdata/policy
//     (run by TestPolicyScripts, no root needed) drive machines and these
//     functions on a fake clock through RFC 5798 §6.4 and sync groups.
//   - The packet codec (Decode, Advert.Marshal, Checksum) for v2 (with
//     PASS authentication), v3 over IPv4 (with keepalived's default IPv4
//     pseudo-header checksum, or without it: V3ChecksumAsV2) and v3 over
//     IPv6.
//   - Node: the Linux driver running every instance of one host: one raw
//     IP-protocol-112 socket per instance bound to its interface
//     (SO_BINDTODEVICE) joined to 224.0.0.18 / ff02::12 (or unicast
//     peers), TTL / hop limit 255 on send and checked on multicast
//     receive, IPV6_CHECKSUM offset 6 for IPv6, VIPs through netlink
//     (labels, scopes, nodad), gratuitous ARP and unsolicited NA through
//     AF_PACKET, link watching through a netlink subscription (FAULT on
//     down; the socket is reopened, re-joining the group, on link up),
//     vrrp_script runners, ordered asynchronous notify scripts, metrics.
//   - Trackers (track_file.go, track_process.go and their _linux.go):
//     track_file watches the file's directory with inotify (close-write,
//     delete, rename; a missing file is 0) and reads it as keepalived
//     does (strtol; junk is 0, a number outside int32 is ignored with a
//     log; weight 0: non-zero is FAULT; else value × weight, at or below
//     -254 is FAULT, above 253 counts 253); init_file writes the file at
//     start. track_process counts matching processes from a /proc scan at
//     start, then the kernel's proc connector (fork, exec, comm, exit;
//     an overrun rescans), or a /proc scan every second when the
//     connector cannot be opened (WithProcPolling forces it); quorum,
//     quorum_max, fork_delay and terminate_delay run as the pure
//     ProcessDelay. Limits: the connector only reports to sockets of the
//     initial network namespace (the monitor runs in the caller's, like
//     vrrp_scripts); names longer than 15 characters match on the
//     kernel's truncated comm. track_bfd / bfd_instance are not
//     implemented.
//     It gathers what the policy functions read, calls them and feeds the
//     resulting events to the machines; it keeps the I/O and the timers.
//
// # Choices
//
//   - Address lists: an advert whose address list differs from ours is
//     accepted and counted (Counters.AddrListMismatch,
//     quadrature_vrrp_address_list_mismatch_total), like keepalived ≥
//     2.3.3 and RFC 5798's MAY. keepalived 2.2.7 (Debian 12) rejects such
//     adverts, so keep VIP lists identical when it is a peer.
//   - v2 adverts with another interval are dropped (RFC 3768); v3
//     backups adopt the master's interval (RFC 5798 §6.4.2).
//   - Equal priorities are broken by the higher primary address.
//   - A master hearing a lower priority sends an advert at once
//     (keepalived's "forcing new election").
//   - Only priority 255 starts as master immediately; "state MASTER"
//     otherwise starts in BACKUP and waits Master_Down_Interval, as
//     keepalived does.
//   - preempt_delay: the first lower-priority advert seen in BACKUP starts
//     the delay; until it ends such adverts are accepted. Seeing an advert
//     of higher or equal priority resets it.
//   - Sync-group trackers (track_interface, track_script in
//     vrrp_sync_group) apply to every member with their weights, as in
//     keepalived with sync_group_tracking_weight (without it keepalived
//     treats them as unweighted); this package has no such switch.
//   - vrrp_script results come from the Node's own runner (interval,
//     timeout, rise, fall, weight, exit code 0 = success); the cluster
//     drives placement with SetPriority, not with script results.
//   - IPv6 checksums are verified by the kernel (IPV6_CHECKSUM), so bad
//     IPv6 checksums never reach the counters.
//   - Priority 255 (address owner) adverts from another node win, as RFC
//     5798 says (anyone on the LAN can send one: v3 has no
//     authentication, v2 PASS is a clear-text password). They are counted
//     (Counters.OwnerAdverts, quadrature_vrrp_owner_adverts_total) and
//     logged at WARN once a minute per instance and source. Adverts with
//     a wrong v2 password are dropped (reason "auth" of
//     quadrature_vrrp_packets_dropped_total) and logged alike.
//   - Foreign masters: given the group members' addresses
//     (Node.SetKnownPeers), an instance following a master that is none
//     of them, none of this node's addresses and none of its unicast
//     peers reports it (InstanceStatus.ForeignMaster,
//     quadrature_vrrp_foreign_master 1) and logs "VRRP master is not a
//     member of the group" once a minute. It still follows it.
//   - Accept mode is the default (keepalived outside strict mode);
//     no_accept drops packets to the VIPs with nftables (table inet
//     quadrature_vrrp, one input chain per instance) except for the
//     address owner; IPv6 neighbour solicitations/advertisements pass.
//
// # VMAC (vmac.go, vmac_linux.go)
//
// use_vmac makes a macvlan in mode private on the instance's interface,
// named vrrp.VRID by default, with the MAC 00:00:5e:00:01:VRID (IPv4) or
// 00:00:5e:00:02:VRID (IPv6): created when the instance starts (an
// existing one with the wrong parent, MAC or mode is replaced), deleted
// when it stops or a reload removes it or changes its VMAC (a reload that
// keeps it keeps the link), re-created when deleted by hand. VIPs without
// "dev" go on it, so gratuitous ARPs / NAs carry the virtual MAC; adverts
// are sent and received on it unless vmac_xmit_base (or unicast peers).
// Sysctls, as keepalived's vrrp_if_config.c sets them: on the VMAC
// arp_ignore=1 and, for IPv4, accept_local=1, rp_filter=0,
// promote_secondaries=1; disable_ipv6=1 for IPv4 instances and
// addr_gen_mode none otherwise (an IPv6 VMAC gets the base's link-local
// address); on the base (IPv4) arp_ignore=1, arp_filter=1 and, beyond
// keepalived, arp_announce=2 (else the base announces the VIP with its
// own MAC when it routes a reply), restored when its last VMAC goes; a
// non-zero all.rp_filter is moved to default and to every interface and
// set to 0, restored at shutdown. Not done: keepalived's nftables rules
// moving IGMP/MLD reports from the VMAC to the base (a backup's report
// carries the virtual MAC; switches relearn it from the master's next
// advert), netlink_notify_msg and group (ignored with a warning).
//
// use_ipvlan makes an L2 ipvlan (flag bridge, private or vepa) with its
// address, which is also the adverts' source. An ipvlan has no MAC of its
// own: neighbours see the base interface's MAC, so a master change needs
// the gratuitous ARPs as without a VMAC. The test (TestIPVLAN) skips on a
// kernel without CONFIG_IPVLAN.
//
// # keepalived.conf → NodeConfig
//
//	vrrp_instance NAME            InstanceConfig.Name
//	  interface IF                .Interface
//	  virtual_router_id N         .VRID
//	  version 2|3                 .Version (0 = 2, keepalived's default)
//	  priority N                  .Priority (0 = 100)
//	  advert_int SECS             .AdvertInterval
//	  state MASTER                .WantMaster (only 255 starts as master)
//	  nopreempt / preempt_delay   .NoPreempt / .PreemptDelay
//	  virtual_ipaddress { ... }   .VIPs (Prefix, Dev "dev", Label "label",
//	                              Scope "scope", NoDAD "-nodad"); one per line
//	  virtual_ipaddress_excluded  .ExcludedVIPs
//	  authentication PASS         .AuthPass
//	  v3_checksum_as_v2           .V3ChecksumAsV2
//	  mcast_src_ip                .McastSrc
//	  unicast_src_ip / _peer      .UnicastSrc / .UnicastPeers
//	  check_unicast_src           .CheckUnicastSrc
//	  dont_track_primary          .DontTrackPrimary
//	  track_interface { IF weight W [reverse] }  .TrackInterfaces
//	  track_script { NAME [weight W [reverse]] } .TrackScripts (OverrideWeight
//	                              when the entry gives a weight)
//	  garp_master_delay/_repeat/_refresh/_refresh_repeat, garp_interval
//	                              .GARP (nil = keepalived defaults)
//	  notify_master/_backup/_fault/_stop, notify   .Notify
//	  accept / no_accept          .NoAccept
//	vrrp_sync_group NAME { group { ... } }  GroupConfig (+ its trackers, notify)
//	vrrp_script NAME { script, interval, timeout, weight [reverse], rise,
//	                   fall, init_fail }    ScriptConfig
//
// Global garp_* defaults, vrrp_version and similar globals are applied by
// the caller when it fills the per-instance fields; it also resolves route
// and rule names (tables, scopes, protocols, types) to numbers and gives
// tracked routes and rules protocol keepalived (18). A route or rule
// deleted by hand is not tracked: keepalived moves the instance to BACKUP
// (or reinstates a static one); here it comes back at the next MASTER (a
// static one at the next reload or start).
//
// # What it must not do
//
// Know about raft, the cluster or the config file format: the agent
// converts the parsed keepalived.conf into NodeConfig and calls Update on
// reload and SetPriority for placement.
//
// # Who calls it
//
// The agent (package agent, agent/vrrpconf.go): NewNode, Run,
// Update, SetPriority, SetKnownPeers, Status, RegisterMetrics,
// WithStateChange.
package vrrp
