package config

// notSupported lists keepalived keywords (in any block) that quadrature does
// not implement. Using one is an error naming it, never a silent no-op: a
// configuration that relies on it would not behave as its author expects.
var notSupported = setOf(
	// VRRP: VMAC/ipvlan, HMAC auth, BFD, process/file tracking, routes.
	"use_vmac", "use_vmac_addr", "vmac_xmit_base", "use_ipvlan", "vmac_prefix", "vmac_addr_prefix",
	"auth_hmac", "track_bfd", "bfd_instance", "track_process", "vrrp_track_process",
	"track_file", "vrrp_track_file", "track_group", "static_ipaddress", "static_routes",
	"static_rules", "virtual_routes", "virtual_rules", "linkbeat_interfaces",
	"interface_up_down_delays", "garp_group", "garp_extra_if", "vrrp_garp_extra_if",
	"promote_secondaries", "mcast_dst_ip", "track_src_ip", "unicast_ttl", "vrf",
	"no_virtual_ipaddress", "notify_deleted", "notify_master_rx_lower_pri",
	"notify_priority_changes", "timer_expired_backup", "thread_timer_expired",
	"owner_ignore_adverts", "vrrp_owner_ignore_adverts", "old_unicast_checksum",
	"unicast_fault_no_peer", "kernel_rx_buf_size", "native_ipv6", "linkbeat_use_polling",
	"sync_group_tracking_weight", "global_tracking", "lvs_sync_daemon_interface",
	"vrrp_min_garp", "vrrp_vmac_garp_intvl", "vrrp_startup_delay", "vrrp_delay_after_boot",
	"log_unknown_vrids", "vrrp_notify_priority_changes", "vmac_garp_intvl",
	// LVS / checker side.
	"lvs_sync_daemon", "nftables_ipvs", "nftables_ipvs_priority", "nftables_ipvs_start_fwmark",
	"BFD_CHECK", "SSL", "regex_options", "regex_stack", "regex_min_offset", "regex_max_offset",
	"snmp_name", "host",
	// Namespaces, instances, FIFOs, firewalling.
	"net_namespace", "net_namespace_ipvs", "namespace_with_ipsets", "instance",
	"notify_fifo", "notify_fifo_script", "vrrp_notify_fifo", "vrrp_notify_fifo_script",
	"lvs_notify_fifo", "lvs_notify_fifo_script", "fifo_write_vrrp_states_on_reload",
	"nftables", "nftables_priority", "nftables_counters", "nftables_ifindex",
	"vrrp_iptables", "vrrp_ipsets", "disable_local_igmp",
	"startup_script", "startup_script_timeout", "shutdown_script", "shutdown_script_timeout",
	// SNMP and DBus.
	"snmp_socket", "enable_snmp_vrrp", "enable_snmp_keepalived", "enable_snmp_checker",
	"enable_snmp_rfc", "enable_snmp_rfcv2", "enable_snmp_rfcv3", "enable_traps",
	"snmp_vs_stats_update_interval", "snmp_rs_stats_update_interval",
	"enable_dbus", "dbus_service_name", "dbus_no_interface_name",
	// Reload machinery and dumps.
	"reload_check_config", "reload_time_file", "reload_repeat", "reload_file",
	"config_save_dir", "tmp_config_directory", "include_check",
	"data_use_instance", "state_file_location", "stats_file_location", "json_file_location",
	"state_dump_file", "stats_dump_file", "json_dump_file", "json_version",
	"rs_init_notifies", "no_email_faults", "no_checker_emails", "smtp_alert_vrrp", "smtp_alert_checker",
	// Config generators.
	"~SEQ", "~SEQx", "~LST",
)

// ignoredKeywords are keepalived process-tuning keywords that have no
// meaning for quadrature's single Go process. They are accepted with a
// warning, so an existing file still loads.
var ignoredKeywords = map[string]string{
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
