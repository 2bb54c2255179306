// Package snmp is an AgentX (RFC 2741) subagent that serves what
// keepalived serves over SNMP: KEEPALIVED-MIB (enterprises 9586.100.5),
// VRRP-MIB (RFC 2787, mib-2.68) and VRRPv3-MIB (RFC 6527, mib-2.207),
// under a master agent such as net-snmp's snmpd ("master agentx").
//
// It imports no other quadrature package. The agent gives it a Source,
// whose Snapshot (plain structs defined here) the subagent turns into a
// sorted table of object instances, rebuilt at most once per
// Options.CacheTTL (1 s by default) when a request comes; Get, GetNext
// and GetBulk are answered from that table. Nothing is writable: a Set
// is refused with notWritable.
//
// # Protocol
//
// Own implementation: the Go module lists this project draws from have
// no AgentX library. The codec handles
// the header with both byte orders (it sends network byte order and
// reads either), the non-default context, OIDs with the internet-prefix
// compression and the include flag, octet strings padded to 4 bytes,
// search ranges, and all varbind types (Integer, OctetString, Null,
// ObjectIdentifier, IpAddress, Counter32, Gauge32, TimeTicks, Opaque,
// Counter64, noSuchObject, noSuchInstance, endOfMibView) for the PDUs
// Open, Close, Register, Unregister, Get, GetNext, GetBulk, TestSet,
// CommitSet, UndoSet, CleanupSet, Notify, Ping, IndexAllocate,
// IndexDeallocate, AddAgentCaps, RemoveAgentCaps and Response. The
// session connects to a unix socket (default /var/agentx/master) or
// tcp:host:port, opens, registers each enabled subtree (one refused
// registration, say a keepalived holding it, is logged and the rest
// served), pings an idle master, reconnects with exponential backoff
// when the master goes away, and closes (reason shutdown) when its
// context ends.
//
// # Keywords
//
// keepalived's global_defs keywords map to Options: snmp_socket →
// Socket; enable_snmp_vrrp (old name enable_snmp_keepalived) →
// MIBs.VRRP; enable_snmp_checker → MIBs.Checker; enable_snmp_rfc →
// MIBs.RFCv2 and MIBs.RFCv3; enable_snmp_rfcv2 → MIBs.RFCv2;
// enable_snmp_rfcv3 → MIBs.RFCv3; enable_traps → Traps. As in
// keepalived, the global group is registered with either of the vrrp or
// check groups.
//
// # What is served
//
// KEEPALIVED-MIB, global: version (1), routerId (2), trapEnable (4).
// vrrpSyncGroupTable: vrrpSyncGroupName (2); vrrpSyncGroupMemberTable:
// vrrpSyncGroupMemberName (2), both from the instances' sync_group.
// vrrpInstanceTable, indexed by the instance's position from 1: Name
// (2), VirtualRouterId (3), State (4), InitialState (5), BasePriority
// (7), EffectivePriority (8), PrimaryInterface (10), AdvertisementsInt
// (12; seconds for VRRPv2, centiseconds for VRRPv3, as keepalived),
// Preempt (13), PreemptDelay (14), AuthType (15), SyncGroup (18, only
// for members), Accept (27), VrrpVersion (30). vrrpAddressTable (the
// VIPs, by instance and position): AddressType (2), Value (3), Mask (5),
// IfIndex (7), IfName (8). virtualServerTable, by position: Type (2),
// NameOfGroup (3) or FwMark (4) or AddrType/Address/Port (5-7),
// Protocol (8), LoadBalancingAlgo (9), LoadBalancingKind (10), Status
// (11), Persist (13), PersistTimeout (14), DelayLoop (16),
// RealServersTotal/Up (20, 21; sorry server not counted), Quorum (22),
// QuorumStatus (23), the statistics and rates 27-36 and 38-50 when the
// Source has them, DelayLoopUsec (64), Name (71). realServerTable, by
// virtual server and position (the sorry server is a row of type
// sorry): Type (2), AddrType/Address/Port (3-5), Status (6), Weight (7),
// Upper/LowerConnectionLimit (8, 9), FailedChecks (13), statistics and
// rates 14-39 when available, ForwardingMethod (40), Name (55).
//
// VRRPv3-MIB (VRRPv3 instances with at least one VIP, as keepalived),
// indexed by ifIndex, VRID and address type (the family of the first
// VIP): vrrpv3OperationsTable MasterIpAddr (3; our own address while
// master), PrimaryIpAddr (4), VirtualMacAddr (5), Status (6), Priority
// (7), AddrCount (8), AdvInterval (9, centiseconds), PreemptMode (10),
// AcceptMode (11), UpTime (12), RowStatus (13, always active);
// vrrpv3AssociatedIpAddrTable RowStatus (2); the router-wide
// ChecksumErrors, VersionErrors, VrIdErrors (sums over the instances);
// vrrpv3StatisticsTable MasterTransitions (1), NewMasterReason (2),
// RcvdAdvertisements (3), AdvIntervalErrors (4), IpTtlErrors (5),
// Rcvd/SentPriZeroPackets (7, 8), RcvdInvalidTypePackets (9),
// AddressListErrors (10), PacketLengthErrors (11).
//
// VRRP-MIB (VRRPv2 IPv4 instances with a VIP), indexed by ifIndex and
// VRID: vrrpNodeVersion, vrrpNotificationCntl; vrrpOperTable 2-12, 14,
// 15 (AuthKey reads empty, as the RFC requires; AdminState up;
// Protocol ip); vrrpAssoIpAddrTable RowStatus; the three router-wide
// error counters; vrrpRouterStatsTable 1-9 and 12.
//
// Notifications (Options.Traps, Agent.NotifyStateChange):
// vrrpInstanceStateChange with vrrpInstanceName, vrrpInstanceState,
// vrrpInstanceInitialState and routerId; on becoming master also
// vrrpv3NewMaster (MasterIpAddr, NewMasterReason) and RFC 2787's
// vrrpTrapNewMaster (vrrpOperMasterIpAddr).
//
// # Differences from keepalived
//
//   - vrrpv3AssociatedIpAddrTable's index carries the address length
//     before its octets, as SMI requires for InetAddress (SIZE(0|4|16));
//     keepalived omits the length.
//   - The varbinds of vrrpInstanceStateChange carry the instance index
//     (vrrpInstanceName.N); keepalived sends the column OIDs without it.
//   - vrrpv3OperationsPriority and vrrpOperPriority are the effective
//     priority (the one elected on); keepalived shows the base priority.
//   - vrrpv3OperationsVirtualMacAddr and vrrpOperVirtualMacAddr are the
//     RFC's virtual MAC (00-00-5E-00-01-VRID, -02- for IPv6); keepalived
//     shows the interface's own MAC.
//
// # Not served
//
// No data in the Source for: KEEPALIVED-MIB global mail group (3),
// linkBeat, lvsFlush, ipvs64BitStats, netNamespace, dbus,
// dynamicInterfaces, lvsFlushOnStop (5-11); vrrpSyncGroupTable 3-11;
// the tracked interface, script, file, BFD and process tables, the
// script, file, BFD and process tables and the sync-group twins (vrrp 4,
// 5, 9, 12-22); the route, next-hop and rule tables (vrrp 7, 8, 11);
// vrrpInstanceTable 6 (WantedState), 9
// (VipsStatus), 11, 16, 17, 19-26, 28, 29, 31-35; vrrpAddressTable 4, 6,
// 9-12; virtualServerGroupTable and virtualServerGroupMemberTable (check
// 1, 2); virtualServerTable 12, 15, 17-19, 24-26, 37, 51-63, 65-70;
// realServerTable 10-12, 41-54; lvsSyncDaemon and lvsTimeouts (check 6,
// 7); the traps vrrpSyncGroupStateChange, realServerStateChange and
// virtualServerQuorumStateChange. KEEPALIVED-MIB has no check-type
// column, so the Source carries none. VRRPv3-MIB:
// vrrpv3GlobalStatisticsDiscontinuityTime, vrrpv3StatisticsProtoErrReason,
// RowDiscontinuityTime, RefreshRate, and the vrrpv3ProtoError
// notification. VRRP-MIB: vrrpOperVirtualRouterUpTime (a TimeStamp of
// the master's sysUpTime, which a subagent does not know),
// vrrpStatsInvalidAuthType and vrrpStatsAuthTypeMismatch, the
// vrrpTrapAuthFailure notification.
package snmp
