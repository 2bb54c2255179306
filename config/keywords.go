package config

//go:generate go run ./internal/kwtable ../README.md

import (
	"fmt"
	"strings"
)

// Support says what quadrature does with a keepalived keyword.
type Support int

const (
	// Supported keywords are parsed into the model and applied by the
	// runtime (the VRRP engine, the IPVS/nftables table, the checkers).
	Supported Support = iota
	// NotApplied keywords are parsed into the model (so config show,
	// merge and the API keep them) but the runtime does not apply them
	// yet: every use is a warning at its line.
	NotApplied
	// Ignored keywords are accepted and have no effect in quadrature (the
	// reason says why that is harmless); a warning unless Quiet.
	Ignored
	// Refused keywords are errors naming the keyword and the reason: a
	// file relying on them would not behave as its author expects.
	Refused
)

func (s Support) String() string {
	switch s {
	case Supported:
		return "supported"
	case NotApplied:
		return "parsed, not applied yet"
	case Ignored:
		return "accepted and ignored"
	default:
		return "refused"
	}
}

// Keyword is one entry of the compatibility table: a keepalived keyword (or
// a keyword with a value, "auth_type AH"), the blocks it appears in, what
// quadrature does with it and why.
type Keyword struct {
	Name string
	// Block is where the keyword is written: "top level", "global_defs",
	// "vrrp_instance", "vrrp_sync_group", "vrrp_script", "authentication",
	// "virtual_server", "real_server", "checker" (every *_CHECK block and
	// HTTP_GET/SSL_GET), "url", "track_file", "any" (refused wherever it
	// is written).
	Block   string
	Support Support
	Reason  string
	// Quiet is for Ignored keywords that have no effect in keepalived
	// either without another keyword that is warned about (the e-mail
	// settings without smtp_alert): no warning.
	Quiet bool
	// Check is set for a runtime limitation found by CheckSupport rather
	// than by the parser (a value the engine does not implement).
	Check bool
}

// Keywords is the compatibility table, in the order the README shows it.
// The parser, CheckSupport and the README's table (go generate, see
// internal/kwtable) all read it.
var Keywords = []Keyword{
	// Top level.
	{Name: "global_defs", Block: "top level"},
	{Name: "include", Block: "top level", Reason: "also includer, includem, includew, includeb, includea; globs and {a,b}; a pattern matching nothing is a warning"},
	{Name: "@NODE / @^NODE lines", Block: "top level", Reason: "matched against the node name (keepalived's config-id)"},
	{Name: "$NAME=value parameters", Block: "top level"},
	{Name: "vrrp_script", Block: "top level"},
	{Name: "vrrp_instance", Block: "top level"},
	{Name: "vrrp_sync_group", Block: "top level"},
	{Name: "virtual_server_group", Block: "top level"},
	{Name: "virtual_server", Block: "top level"},
	{Name: "track_file", Block: "top level", Reason: "also vrrp_track_file; for FILE_CHECK and the instances' track_file (watched with inotify)"},
	{Name: "cluster", Block: "top level", Reason: "quadrature's own block"},
	{Name: "bgp", Block: "top level", Reason: "quadrature's own block: VIPs announced to routers for ECMP (docs/bgp.md)"},
	{Name: "static_ipaddress", Block: "top level", Reason: "added when the agent starts (dev defaults to default_interface), changes applied on reload, removed when it stops, as keepalived does; an address deleted by hand is not re-added (keepalived's track_group is refused)"},
	{Name: "static_routes", Block: "top level", Reason: "through netlink, with static_ipaddress; ip route syntax (src, via, dev, table, metric, scope, protocol, type, nexthop, metrics, append/add); a route deleted by hand is not reinstated; from (source-specific), nexthop realms and locks other than mtu/rto_min are refused"},
	{Name: "static_rules", Block: "top level", Reason: "through netlink, with static_ipaddress; ip rule syntax (from, to, table, preference, fwmark[/mask], iif, oif, tos, not, goto, nop, blackhole, unreachable, prohibit, uidrange, ipproto, sport, dport, suppress_*); a preference is assigned from 16384 when missing, as keepalived does; l3mdev is refused"},
	{Name: "net_namespace", Block: "top level", Support: NotApplied, Reason: "quadrature runs in the namespace it is started in (use ip netns exec)"},
	{Name: "track_group", Block: "any", Support: Refused, Reason: "static addresses, routes and rules do not drive instances"},
	{Name: "linkbeat_interfaces", Block: "any", Support: Refused, Reason: "link state comes from netlink only"},
	{Name: "interface_up_down_delays", Block: "any", Support: Refused, Reason: "link flaps are not debounced"},
	{Name: "vrrp_track_process", Block: "top level", Reason: "process, param_match, full_command, weight, quorum, quorum_max, fork_delay, terminate_delay, delay; the kernel's proc connector, a /proc scan at start (every second without the connector)"},
	{Name: "bfd_instance", Block: "any", Support: Refused, Reason: "BFD is not implemented"},
	{Name: "SSL", Block: "any", Support: Refused, Reason: "SSL_GET verifies nothing and uses no client certificate"},
	{Name: "~SEQ", Block: "any", Support: Refused, Reason: "also ~SEQx and ~LST: configuration generators are not implemented"},

	// global_defs.
	{Name: "router_id", Block: "global_defs", Support: Ignored, Quiet: true, Reason: "keepalived uses it in e-mails and SNMP only; kept in the model"},
	{Name: "notification_email", Block: "global_defs", Support: Ignored, Quiet: true, Reason: "kept in the model; e-mail is not sent yet (smtp_alert); planned: every address gets each smtp_alert e-mail (one RCPT TO each)"},
	{Name: "notification_email_from", Block: "global_defs", Support: Ignored, Quiet: true, Reason: "kept in the model; e-mail is not sent yet (smtp_alert); planned: MAIL FROM and From: (default USER@HOSTNAME, as keepalived)"},
	{Name: "smtp_server", Block: "global_defs", Support: Ignored, Quiet: true, Reason: "kept in the model; e-mail is not sent yet (smtp_alert); planned: IP or host name, port 25 unless given"},
	{Name: "smtp_helo_name", Block: "global_defs", Support: Ignored, Quiet: true, Reason: "kept in the model; e-mail is not sent yet (smtp_alert); planned: the HELO name (default the host name, as keepalived)"},
	{Name: "smtp_connect_timeout", Block: "global_defs", Support: Ignored, Quiet: true, Reason: "kept in the model; e-mail is not sent yet (smtp_alert); planned: bounds the connection and every reply (default 30 s)"},
	{Name: "smtp_alert", Block: "global_defs", Support: NotApplied, Reason: "parsed; not run yet (the notify package is not built); planned: the default of every instance, sync group, virtual and real server; e-mails are queued (bounded, dropped and counted when full) and sent one at a time, so a dead MTA never blocks VRRP or the checkers"},
	{Name: "script_user", Block: "global_defs"},
	{Name: "enable_script_security", Block: "global_defs"},
	{Name: "vrrp_version", Block: "global_defs"},
	{Name: "vrrp_mcast_group4", Block: "global_defs", Support: NotApplied, Reason: "adverts go to 224.0.0.18"},
	{Name: "vrrp_mcast_group6", Block: "global_defs", Support: NotApplied, Reason: "adverts go to ff02::12"},
	{Name: "vrrp_garp_master_delay", Block: "global_defs"},
	{Name: "vrrp_garp_master_repeat", Block: "global_defs"},
	{Name: "vrrp_garp_master_refresh", Block: "global_defs"},
	{Name: "vrrp_garp_master_refresh_repeat", Block: "global_defs"},
	{Name: "vrrp_garp_lower_prio_delay", Block: "global_defs", Support: NotApplied, Reason: "no GARP burst answers a lower-priority advert"},
	{Name: "vrrp_garp_lower_prio_repeat", Block: "global_defs", Support: NotApplied, Reason: "no GARP burst answers a lower-priority advert"},
	{Name: "vrrp_garp_interval", Block: "global_defs"},
	{Name: "vrrp_gna_interval", Block: "global_defs"},
	{Name: "vrrp_down_timer_adverts", Block: "global_defs", Support: Refused, Check: true, Reason: "Master_Down_Interval is always 3 adverts, as RFC 5798 says (3 is accepted)"},
	{Name: "vrrp_skip_check_adv_addr", Block: "global_defs", Reason: "quadrature never drops an advert for its address list (it counts the mismatch), with or without it"},
	{Name: "vrrp_strict", Block: "global_defs", Support: NotApplied, Reason: "keepalived's parse-time checks and resets apply; the lower_prio_no_advert and owner_ignore_adverts behaviour it implies is not applied yet"},
	{Name: "vrrp_check_unicast_src", Block: "global_defs"},
	{Name: "vrrp_lower_prio_no_advert", Block: "global_defs", Support: Refused, Check: true, Reason: "the master always answers a lower-priority advert"},
	{Name: "vrrp_higher_prio_send_advert", Block: "global_defs", Support: Refused, Check: true, Reason: "not implemented by the VRRP engine"},
	{Name: "v3_checksum_as_v2", Block: "global_defs"},
	{Name: "lvs_timeouts", Block: "global_defs"},
	{Name: "lvs_flush", Block: "global_defs", Support: NotApplied, Reason: "the table is reconciled with the configuration, entries of others are left alone"},
	{Name: "lvs_flush_on_stop", Block: "global_defs", Support: NotApplied, Reason: "services stay on stop"},
	{Name: "lvs_backend", Block: "global_defs", Reason: "quadrature's own: auto, ipvs or nftables"},
	{Name: "max_auto_priority", Block: "global_defs", Support: Ignored, Reason: "-1 to 99; the Go runtime does not raise its scheduling priority"},
	{Name: "default_interface", Block: "global_defs", Reason: "the interface of a static_ipaddress without dev (default eth0)"},
	{Name: "dynamic_interfaces", Block: "global_defs", Support: NotApplied, Reason: "a missing interface is a fault"},
	{Name: "notify_fifo", Block: "global_defs", Support: NotApplied, Reason: "parsed; not run yet (the notify package is not built); planned: also vrrp_notify_fifo, lvs_notify_fifo and their _script: keepalived's lines (INSTANCE/GROUP, VS/RS), created if missing, written without ever blocking (a full FIFO drops the line and counts it); the script starts once with the FIFO's path"},
	{Name: "vrrp_notify_priority_changes", Block: "global_defs", Support: NotApplied, Reason: "parsed; not run yet (the notify package is not built); planned: the default of notify_priority_changes"},
	{Name: "lvs_sync_daemon", Block: "global_defs", Support: Refused, Reason: "the IPVS connection sync daemon is not driven"},
	{Name: "nftables", Block: "global_defs", Support: Refused, Reason: "also nftables_priority, nftables_counters, nftables_ifindex, vrrp_iptables, vrrp_ipsets: no_accept uses quadrature's own nftables table"},
	{Name: "nftables_ipvs", Block: "global_defs", Support: Refused, Reason: "use lvs_backend nftables"},
	{Name: "net_namespace_ipvs", Block: "global_defs", Support: Refused, Reason: "namespaces are not managed"},
	{Name: "instance", Block: "global_defs", Support: Refused, Reason: "one quadrature per namespace"},
	{Name: "startup_script", Block: "global_defs", Support: NotApplied, Reason: "parsed; not run yet (the notify package is not built); planned: also shutdown_script and both _timeout (default 10 s): run as script_user (or the user written after it) before VRRP starts and after it stopped; at the timeout the script's process group is killed"},
	{Name: "enable_snmp_vrrp", Block: "global_defs", Reason: "also enable_snmp_keepalived, enable_snmp_checker, enable_snmp_rfc, enable_snmp_rfcv2, enable_snmp_rfcv3, enable_traps, snmp_socket: an AgentX subagent under snmpd serves KEEPALIVED-MIB, VRRP-MIB and VRRPv3-MIB"},
	{Name: "snmp_vs_stats_update_interval", Block: "global_defs", Support: Ignored, Reason: "also snmp_rs_stats_update_interval: the subagent reads the kernel's counters when asked, at most once a second"},
	{Name: "enable_dbus", Block: "global_defs", Support: Refused, Reason: "also dbus_*: use the API"},
	{Name: "reload_check_config", Block: "global_defs", Support: Refused, Reason: "also reload_time_file, reload_repeat, reload_file, config_save_dir, tmp_config_directory, include_check: reloads are validated by the agent"},
	{Name: "state_file_location", Block: "global_defs", Support: Refused, Reason: "also the other dump files: use the API"},
	{Name: "vrrp_priority", Block: "global_defs", Support: Ignored, Reason: "also *_priority, *_rt_priority, *_no_swap, *_cpu_affinity, *_rlimit_rttime, process names, netlink buffer sizes: process tuning for keepalived's processes"},

	// vrrp_script.
	{Name: "script", Block: "vrrp_script", Reason: "a vrrp_script without one is removed with a warning, as keepalived does"},
	{Name: "interval", Block: "vrrp_script"},
	{Name: "timeout", Block: "vrrp_script"},
	{Name: "weight", Block: "vrrp_script"},
	{Name: "rise", Block: "vrrp_script"},
	{Name: "fall", Block: "vrrp_script"},
	{Name: "user", Block: "vrrp_script"},
	{Name: "init_fail", Block: "vrrp_script"},

	// vrrp_instance.
	{Name: "state", Block: "vrrp_instance", Reason: "MASTER with auth_type AH starts as BACKUP, as keepalived does"},
	{Name: "interface", Block: "vrrp_instance"},
	{Name: "virtual_router_id", Block: "vrrp_instance"},
	{Name: "priority", Block: "vrrp_instance"},
	{Name: "advert_int", Block: "vrrp_instance"},
	{Name: "version", Block: "vrrp_instance"},
	{Name: "virtual_ipaddress", Block: "vrrp_instance", Reason: "may be missing (a warning), as in keepalived"},
	{Name: "virtual_ipaddress_excluded", Block: "vrrp_instance"},
	{Name: "no_virtual_ipaddress", Block: "vrrp_instance", Reason: "keepalived 2.2.8+"},
	{Name: "unicast_src_ip", Block: "vrrp_instance"},
	{Name: "unicast_peer", Block: "vrrp_instance", Reason: "min_ttl and max_ttl are refused (unicast TTL checks are not implemented)"},
	{Name: "mcast_src_ip", Block: "vrrp_instance"},
	{Name: "authentication", Block: "vrrp_instance"},
	{Name: "auth_type PASS", Block: "authentication"},
	{Name: "auth_type AH", Block: "authentication", Support: Refused, Check: true, Reason: "IPsec AH is not implemented by the VRRP engine; keepalived peers using AH would drop its adverts (two masters)"},
	{Name: "auth_pass", Block: "authentication"},
	{Name: "nopreempt", Block: "vrrp_instance", Reason: "a word after it is ignored with a warning, as keepalived ignores it (likewise for every flag keyword)"},
	{Name: "preempt", Block: "vrrp_instance"},
	{Name: "preempt_delay", Block: "vrrp_instance"},
	{Name: "track_interface", Block: "vrrp_instance"},
	{Name: "track_script", Block: "vrrp_instance"},
	{Name: "notify", Block: "vrrp_instance", Reason: "also notify_master, notify_backup, notify_fault, notify_stop; a user after the script is refused"},
	{Name: "garp_master_delay", Block: "vrrp_instance"},
	{Name: "garp_master_repeat", Block: "vrrp_instance"},
	{Name: "garp_master_refresh", Block: "vrrp_instance"},
	{Name: "garp_master_refresh_repeat", Block: "vrrp_instance"},
	{Name: "garp_lower_prio_delay", Block: "vrrp_instance", Support: NotApplied, Reason: "no GARP burst answers a lower-priority advert"},
	{Name: "garp_lower_prio_repeat", Block: "vrrp_instance", Support: NotApplied, Reason: "no GARP burst answers a lower-priority advert"},
	{Name: "accept", Block: "vrrp_instance", Reason: "also no_accept (an nftables drop rule)"},
	{Name: "v3_checksum_as_v2", Block: "vrrp_instance"},
	{Name: "down_timer_adverts", Block: "vrrp_instance", Support: Refused, Check: true, Reason: "Master_Down_Interval is always 3 adverts, as RFC 5798 says (3 is accepted)"},
	{Name: "lower_prio_no_advert", Block: "vrrp_instance", Support: Refused, Check: true, Reason: "the master always answers a lower-priority advert"},
	{Name: "higher_prio_send_advert", Block: "vrrp_instance", Support: Refused, Check: true, Reason: "not implemented by the VRRP engine"},
	{Name: "skip_check_adv_addr", Block: "vrrp_instance", Reason: "as vrrp_skip_check_adv_addr"},
	{Name: "check_unicast_src", Block: "vrrp_instance"},
	{Name: "strict_mode", Block: "vrrp_instance", Support: NotApplied, Reason: "as vrrp_strict"},
	{Name: "dont_track_primary", Block: "vrrp_instance"},
	{Name: "smtp_alert", Block: "vrrp_instance", Support: NotApplied, Reason: "parsed; not run yet (the notify package is not built); planned: an e-mail per state change, keepalived's subject and body"},
	{Name: "notify_priority_changes", Block: "vrrp_instance", Support: NotApplied, Reason: "parsed; not run yet (the notify package is not built); planned: MASTER_PRIORITY / BACKUP_PRIORITY lines in the notify FIFOs"},
	{Name: "debug", Block: "vrrp_instance", Support: Ignored, Reason: "log levels are global (quadrature agent -debug)"},
	{Name: "quorum_fence", Block: "vrrp_instance", Reason: "quadrature's own"},
	{Name: "virtual_routes", Block: "vrrp_instance", Reason: "installed after the VIPs on MASTER, removed before them on BACKUP, FAULT and stop (static_routes syntax, protocol keepalived unless no_track); a route deleted by hand does not move the instance to BACKUP, it comes back at the next MASTER"},
	{Name: "virtual_rules", Block: "vrrp_instance", Reason: "with the VIPs, like virtual_routes (static_rules syntax)"},
	{Name: "use_vmac", Block: "vrrp_instance", Reason: "a private macvlan with 00:00:5e:00:01:VRID (IPv6 :02:) carrying the VIPs and adverts, keepalived's sysctls (arp_announce=2 on the base besides); netlink_notify_msg and group are ignored"},
	{Name: "vmac_xmit_base", Block: "vrrp_instance", Reason: "adverts through the base interface, VIPs on the VMAC"},
	{Name: "use_vmac_addr", Block: "any", Support: Refused, Reason: "a VMAC per VIP interface is not created; use_vmac makes the instance's"},
	{Name: "use_ipvlan", Block: "vrrp_instance", Reason: "an L2 ipvlan (bridge, private or vepa) with its address; no virtual MAC: the base interface's MAC is used"},
	{Name: "lvs_sync_daemon_interface", Block: "vrrp_instance", Support: Refused, Reason: "the IPVS connection sync daemon is not driven"},
	{Name: "auth_hmac", Block: "any", Support: Refused, Reason: "keepalived 2.4's HMAC trailer is not implemented"},
	{Name: "track_bfd", Block: "any", Support: Refused, Reason: "BFD is not implemented"},
	{Name: "track_file", Block: "vrrp_instance"},
	{Name: "track_process", Block: "vrrp_instance"},
	{Name: "garp_extra_if", Block: "any", Support: Refused, Reason: "GARPs go to the instance's interface only"},
	{Name: "promote_secondaries", Block: "any", Support: Refused, Reason: "interface sysctls are not changed"},
	{Name: "mcast_dst_ip", Block: "any", Support: Refused, Reason: "adverts go to the standard group"},
	{Name: "unicast_ttl", Block: "any", Support: Refused, Reason: "unicast adverts use TTL 255"},
	{Name: "notify_deleted", Block: "any", Support: Refused, Reason: "also notify_master_rx_lower_pri: not run"},
	{Name: "timer_expired_backup", Block: "any", Support: Refused, Reason: "not implemented"},
	{Name: "owner_ignore_adverts", Block: "any", Support: Refused, Reason: "the address owner handles adverts like any master"},
	{Name: "old_unicast_checksum", Block: "any", Support: Refused, Reason: "the pre-1.3.6 checksum is not implemented"},
	{Name: "unicast_fault_no_peer", Block: "any", Support: Refused, Reason: "not implemented"},

	// vrrp_sync_group.
	{Name: "group", Block: "vrrp_sync_group", Reason: "the members are in group { }; names on their own lines are unknown keywords, as in keepalived"},
	{Name: "track_interface", Block: "vrrp_sync_group"},
	{Name: "track_script", Block: "vrrp_sync_group"},
	{Name: "track_file", Block: "vrrp_sync_group"},
	{Name: "track_process", Block: "vrrp_sync_group"},
	{Name: "notify", Block: "vrrp_sync_group", Reason: "also notify_master, notify_backup, notify_fault, notify_stop"},
	{Name: "smtp_alert", Block: "vrrp_sync_group", Support: NotApplied, Reason: "parsed; not run yet (the notify package is not built); planned: an e-mail when every member reached a state"},
	{Name: "notify_priority_changes", Block: "vrrp_sync_group", Support: NotApplied, Reason: "parsed; not run yet (the notify package is not built); planned: the default of its members"},

	// virtual_server.
	{Name: "protocol", Block: "virtual_server", Reason: "TCP when not given (keepalived 2.2.7 says UDP: write it); rendered always"},
	{Name: "lvs_sched", Block: "virtual_server", Reason: "also lb_algo"},
	{Name: "lvs_method", Block: "virtual_server", Reason: "also lb_kind; NAT, DR, TUN with type/port/csum"},
	{Name: "flag-1", Block: "virtual_server", Reason: "also flag-2, flag-3, hashed, sh-port, sh-fallback, mh-port, mh-fallback"},
	{Name: "ops", Block: "virtual_server"},
	{Name: "persistence_timeout", Block: "virtual_server"},
	{Name: "persistence_granularity", Block: "virtual_server"},
	{Name: "persistence_engine", Block: "virtual_server", Support: NotApplied, Reason: "IPVS persistence engines are not set"},
	{Name: "ip_family", Block: "virtual_server"},
	{Name: "delay_loop", Block: "virtual_server", Reason: "also connect_timeout, retry (nb_get_retry), delay_before_retry, warmup: inherited by checkers"},
	{Name: "alpha", Block: "virtual_server"},
	{Name: "omega", Block: "virtual_server"},
	{Name: "inhibit_on_failure", Block: "virtual_server"},
	{Name: "virtualhost", Block: "virtual_server"},
	{Name: "quorum", Block: "virtual_server"},
	{Name: "hysteresis", Block: "virtual_server"},
	{Name: "quorum_up", Block: "virtual_server", Support: NotApplied, Reason: "also quorum_down: the scripts are not run"},
	{Name: "sorry_server", Block: "virtual_server", Reason: "also sorry_server_inhibit, sorry_server_lvs_method"},
	{Name: "ha_suspend", Block: "virtual_server", Support: NotApplied, Reason: "checkers run whether or not the address is local"},
	{Name: "smtp_alert", Block: "virtual_server", Support: NotApplied, Reason: "parsed; not run yet (the notify package is not built); planned: an e-mail when the quorum is gained or lost; the default of its real servers"},
	{Name: "real_server", Block: "virtual_server"},
	{Name: "snmp_name", Block: "any", Support: Refused, Reason: "SNMP is not implemented"},

	// real_server.
	{Name: "weight", Block: "real_server"},
	{Name: "lvs_method", Block: "real_server", Reason: "TUN options are refused on a real server"},
	{Name: "inhibit_on_failure", Block: "real_server"},
	{Name: "notify_up", Block: "real_server", Support: NotApplied, Reason: "also notify_down: the scripts are not run"},
	{Name: "uthreshold", Block: "real_server", Reason: "also lthreshold"},
	{Name: "alpha", Block: "real_server", Reason: "also retry, delay_before_retry, warmup, delay_loop, connect_timeout, virtualhost"},
	{Name: "smtp_alert", Block: "real_server", Support: NotApplied, Reason: "parsed; not run yet (the notify package is not built); planned: an e-mail when the group's verdict on it changes"},
	{Name: "TCP_CHECK", Block: "real_server", Reason: "also HTTP_GET, SSL_GET, SMTP_CHECK, DNS_CHECK, MISC_CHECK, UDP_CHECK, PING_CHECK (ICMP_CHECK), FILE_CHECK"},
	{Name: "BFD_CHECK", Block: "any", Support: Refused, Reason: "BFD is not implemented"},

	// Checkers.
	{Name: "connect_ip", Block: "checker", Reason: "also connect_port, bindto, bind_port, bind_if, fwmark, connect_timeout, retry, delay_before_retry, warmup, delay_loop, alpha, log_all_failures"},
	{Name: "url", Block: "checker", Reason: "path, digest, status_code, regex, regex_no_match, virtualhost"},
	{Name: "http_protocol", Block: "checker", Reason: "also virtualhost, fast_recovery, enable_sni, sni_name"},
	{Name: "tls_compliant", Block: "checker", Support: NotApplied, Reason: "the TLS connection is always closed the same way"},
	{Name: "helo_name", Block: "checker"},
	{Name: "host", Block: "checker", Reason: "SMTP_CHECK host { connect_ip connect_port bindto bind_port bind_if fwmark connect_timeout }: one check per host, all must pass, as keepalived does; the checker's own connection is checked too when the block sets one; retry, delay_before_retry, warmup, delay_loop, alpha written in a host apply to the whole checker, as in keepalived"},
	{Name: "type", Block: "checker", Reason: "DNS_CHECK; also name"},
	{Name: "misc_path", Block: "checker", Reason: "also misc_timeout, misc_dynamic, user"},
	{Name: "payload", Block: "checker", Reason: "UDP_CHECK; also require_reply, min_reply_length, max_reply_length"},
	{Name: "track_file", Block: "checker", Reason: "FILE_CHECK; also weight"},
	{Name: "regex_options", Block: "any", Support: Refused, Reason: "also regex_stack, regex_min_offset, regex_max_offset: Go regular expressions are used as written"},
}

// Keyword looks up name (a bare keyword, or "keyword value" for the value
// entries) in block; "any" entries match every block. ok is false when the
// table has no entry.
func LookupKeyword(block, name string) (Keyword, bool) {
	for _, k := range Keywords {
		if k.Name == name && (k.Block == block || k.Block == "any") {
			return k, true
		}
	}
	return Keyword{}, false
}

// refusedAnywhere lists keywords refused in any block, for the parser's
// unknown-keyword path, with the keywords that Keywords names only in a
// Reason ("also ...").
var refusedAnywhere = func() map[string]string {
	m := map[string]string{}
	for _, k := range Keywords {
		if k.Support == Refused && !k.Check && !strings.Contains(k.Name, " ") {
			m[k.Name] = k.Reason
		}
	}
	also := func(reasonOf string, words ...string) {
		for _, w := range words {
			m[w] = m[reasonOf]
		}
	}
	also("~SEQ", "~SEQx", "~LST")
	also("nftables", "nftables_priority", "nftables_counters", "nftables_ifindex", "vrrp_iptables", "vrrp_ipsets", "disable_local_igmp")
	also("nftables_ipvs", "nftables_ipvs_priority", "nftables_ipvs_start_fwmark")
	also("net_namespace_ipvs", "namespace_with_ipsets")
	also("enable_snmp_vrrp", "snmp_socket", "enable_snmp_keepalived", "enable_snmp_checker", "enable_snmp_rfc",
		"enable_snmp_rfcv2", "enable_snmp_rfcv3", "enable_traps")
	also("snmp_vs_stats_update_interval", "snmp_rs_stats_update_interval")
	also("enable_dbus", "dbus_service_name", "dbus_no_interface_name")
	also("reload_check_config", "reload_time_file", "reload_repeat", "reload_file", "config_save_dir", "tmp_config_directory", "include_check")
	also("state_file_location", "stats_file_location", "json_file_location", "state_dump_file", "stats_dump_file", "json_dump_file",
		"json_version", "data_use_instance")
	also("notify_deleted", "notify_master_rx_lower_pri")
	also("timer_expired_backup", "thread_timer_expired")
	also("owner_ignore_adverts", "vrrp_owner_ignore_adverts")
	also("garp_extra_if", "vrrp_garp_extra_if", "garp_group", "vrrp_min_garp", "vrrp_vmac_garp_intvl", "vmac_garp_intvl")
	also("use_vmac_addr", "vmac_prefix", "vmac_addr_prefix")
	also("regex_options", "regex_stack", "regex_min_offset", "regex_max_offset")
	also("track_file", "vrrp_track_file")
	also("unicast_fault_no_peer", "kernel_rx_buf_size", "native_ipv6", "linkbeat_use_polling", "sync_group_tracking_weight",
		"global_tracking", "vrrp_startup_delay", "vrrp_delay_after_boot", "log_unknown_vrids", "vrf", "rs_init_notifies",
		"no_email_faults", "no_checker_emails", "smtp_alert_vrrp", "smtp_alert_checker")
	m["lvs_sync_daemon_interface"] = "the IPVS connection sync daemon is not driven"
	m["lvs_sync_daemon"] = m["lvs_sync_daemon_interface"]
	m["instance"] = "one quadrature per namespace"
	return m
}()

// ignoredKeywords are keepalived process-tuning keywords that have no
// meaning for quadrature's single Go process. They are accepted with a
// warning, so an existing file still loads.
var ignoredKeywords = map[string]string{
	"snmp_vs_stats_update_interval":       "the SNMP subagent reads the kernel's counters when asked, at most once a second",
	"snmp_rs_stats_update_interval":       "the SNMP subagent reads the kernel's counters when asked, at most once a second",
	"vrrp_priority":                       "process scheduling is not configurable in quadrature",
	"checker_priority":                    "process scheduling is not configurable in quadrature",
	"bfd_priority":                        "process scheduling is not configurable in quadrature",
	"vrrp_rt_priority":                    "process scheduling is not configurable in quadrature",
	"checker_rt_priority":                 "process scheduling is not configurable in quadrature",
	"bfd_rt_priority":                     "process scheduling is not configurable in quadrature",
	"vrrp_no_swap":                        "memory locking is not configurable in quadrature",
	"checker_no_swap":                     "memory locking is not configurable in quadrature",
	"bfd_no_swap":                         "memory locking is not configurable in quadrature",
	"vrrp_cpu_affinity":                   "CPU affinity is not configurable in quadrature",
	"checker_cpu_affinity":                "CPU affinity is not configurable in quadrature",
	"bfd_cpu_affinity":                    "CPU affinity is not configurable in quadrature",
	"vrrp_rlimit_rttime":                  "realtime limits do not apply",
	"checker_rlimit_rttime":               "realtime limits do not apply",
	"bfd_rlimit_rttime":                   "realtime limits do not apply",
	"vrrp_rlimit_rtime":                   "realtime limits do not apply",
	"checker_rlimit_rtime":                "realtime limits do not apply",
	"min_auto_priority_delay":             "realtime scheduling is not used",
	"process_names":                       "quadrature is one process",
	"process_name":                        "quadrature is one process",
	"vrrp_process_name":                   "quadrature is one process",
	"checker_process_name":                "quadrature is one process",
	"bfd_process_name":                    "quadrature is one process",
	"child_wait_time":                     "quadrature is one process",
	"use_pid_dir":                         "quadrature is one process",
	"umask":                               "files are written by the agent with fixed modes",
	"random_seed":                         "not needed",
	"vrrp_netlink_cmd_rcv_bufs":           "netlink buffers are sized by the agent",
	"vrrp_netlink_cmd_rcv_bufs_force":     "netlink buffers are sized by the agent",
	"vrrp_netlink_monitor_rcv_bufs":       "netlink buffers are sized by the agent",
	"vrrp_netlink_monitor_rcv_bufs_force": "netlink buffers are sized by the agent",
	"lvs_netlink_cmd_rcv_bufs":            "netlink buffers are sized by the agent",
	"lvs_netlink_cmd_rcv_bufs_force":      "netlink buffers are sized by the agent",
	"lvs_netlink_monitor_rcv_bufs":        "netlink buffers are sized by the agent",
	"lvs_netlink_monitor_rcv_bufs_force":  "netlink buffers are sized by the agent",
	"process_monitor_rcv_bufs":            "netlink buffers are sized by the agent",
	"process_monitor_rcv_bufs_force":      "netlink buffers are sized by the agent",
	"vrrp_rx_bufs_policy":                 "socket buffers are sized by the agent",
	"vrrp_rx_bufs_multiplier":             "socket buffers are sized by the agent",
	"set_supplementary_groups":            "scripts run with the script_user's groups",
	"use_symlink_paths":                   "script paths are used as written",
	"iproute_usr_dir":                     "quadrature does not read iproute2 tables",
	"iproute_etc_dir":                     "quadrature does not read iproute2 tables",
	"checker_log_all_failures":            "use log_all_failures on the checker",
}

// checkSupportReason is the reason the table gives for a CheckSupport
// refusal.
func checkSupportReason(block, name string) string {
	if k, ok := LookupKeyword(block, name); ok {
		return k.Reason
	}
	panic(fmt.Sprintf("config: keyword %s %q missing from Keywords", block, name))
}

// notApplied warns that keyword s of block where is parsed but not applied
// yet, or ignored, as the table says.
func (d *decoder) notApplied(where string, s *Stmt) {
	k, ok := LookupKeyword(tableBlock(where), s.Key)
	if !ok {
		return
	}
	switch {
	case k.Support == NotApplied:
		d.warnf(s.Pos, "%s: parsed but not applied yet (%s)", s.Key, k.Reason)
	case k.Support == Ignored && !k.Quiet:
		d.warnf(s.Pos, "ignored: %s (%s)", s.Key, k.Reason)
	}
}

// tableBlock maps the decoder's block names to the table's.
func tableBlock(where string) string {
	switch where {
	case "":
		return "top level"
	case CheckTCP, CheckHTTP, CheckSSL, CheckSMTP, CheckDNS, CheckMisc, CheckUDP, CheckPing, CheckFile:
		return "checker"
	}
	return where
}

func setOf(words ...string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[w] = true
	}
	return m
}

// Schedulers are the IPVS schedulers keepalived accepts (check_parser.c).
var Schedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf", "lblcr", "sed", "nq", "twos"}

// schedFlags maps the scheduler flag keywords to their canonical name.
var schedFlags = map[string]string{
	"flag-1": "flag-1", "hashed": "flag-1", "sh-fallback": "flag-1", "mh-fallback": "flag-1",
	"flag-2": "flag-2", "sh-port": "flag-2", "mh-port": "flag-2",
	"flag-3": "flag-3",
}
