package config

import (
	"net/netip"
	"strings"
	"time"
)

// Defaults of quadrature's own cluster block.
const (
	DefaultAPIPort       = 9900
	DefaultRaftPort      = 9901
	DefaultGossipPort    = 9902
	DefaultDataDir       = "/var/lib/quadrature"
	DefaultDegradedAfter = 10 * time.Second
)

func defaultGlobal() GlobalDefs {
	return GlobalDefs{
		SMTPPort:                25,
		SMTPConnectTimeout:      30 * time.Second,
		VRRPVersion:             2,
		VRRPMcastGroup4:         netip.MustParseAddr("224.0.0.18"),
		VRRPMcastGroup6:         netip.MustParseAddr("ff02::12"),
		VRRPGarpMasterDelay:     5 * time.Second,
		VRRPGarpMasterRepeat:    5,
		VRRPGarpRefreshRepeat:   1,
		VRRPGarpLowerPrioDelay:  -1, // resolved in finishGlobal
		VRRPGarpLowerPrioRepeat: -1,
		VRRPDownTimerAdverts:    3,
		LVSBackend:              "auto",
		DefaultInterface:        "eth0",
	}
}

// finishGlobal applies the defaults that depend on other global values.
func (d *decoder) finishGlobal() {
	g := &d.cfg.Global
	for _, f := range []struct {
		kw string
		f  *FIFO
	}{{"notify_fifo", g.NotifyFIFO}, {"vrrp_notify_fifo", g.VRRPNotifyFIFO}, {"lvs_notify_fifo", g.LVSNotifyFIFO}} {
		if f.f != nil && f.f.Path == "" {
			d.errorf(g.KeywordPos[f.kw+"_script"], "%s_script without %s", f.kw, f.kw)
		}
	}
	if g.VRRPGarpLowerPrioDelay < 0 {
		g.VRRPGarpLowerPrioDelay = g.VRRPGarpMasterDelay
	}
	if g.VRRPGarpLowerPrioRepeat < 0 {
		g.VRRPGarpLowerPrioRepeat = g.VRRPGarpMasterRepeat
	}
}

func (d *decoder) global(b *Stmt) {
	g := &d.cfg.Global
	g.Pos = b.Pos
	if g.KeywordPos == nil {
		g.KeywordPos = map[string]Pos{}
	}
	t := table{
		"router_id": func(s *Stmt) { d.str(s, &g.RouterID) },
		"notification_email": func(s *Stmt) {
			g.NotificationEmail = append(g.NotificationEmail, d.words(s)...)
		},
		"notification_email_from": func(s *Stmt) { d.str(s, &g.NotificationEmailFrom) },
		"smtp_server": func(s *Stmt) {
			if !d.nargs(s, 1, 2) {
				return
			}
			g.SMTPServer = s.Args[0].Text
			if len(s.Args) == 2 {
				d.port(s, s.Args[1].Text, &g.SMTPPort)
			}
		},
		"smtp_helo_name":         func(s *Stmt) { d.str(s, &g.SMTPHeloName) },
		"smtp_connect_timeout":   func(s *Stmt) { d.seconds(s, &g.SMTPConnectTimeout, 1, 3600) },
		"smtp_alert":             func(s *Stmt) { d.flag(s, &g.SMTPAlert) },
		"script_user":            func(s *Stmt) { d.scriptUser(s, &g.ScriptUser) },
		"enable_script_security": func(s *Stmt) { d.flag(s, &g.EnableScriptSecurity) },
		"enable_snmp_vrrp":       func(s *Stmt) { d.flag(s, &g.SNMP.VRRP) },
		"enable_snmp_keepalived": func(s *Stmt) { d.flag(s, &g.SNMP.VRRP) },
		"enable_snmp_checker":    func(s *Stmt) { d.flag(s, &g.SNMP.Checker) },
		"enable_snmp_rfcv2":      func(s *Stmt) { d.flag(s, &g.SNMP.RFCv2) },
		"enable_snmp_rfcv3":      func(s *Stmt) { d.flag(s, &g.SNMP.RFCv3) },
		"enable_snmp_rfc": func(s *Stmt) {
			d.flag(s, &g.SNMP.RFCv2)
			g.SNMP.RFCv3 = g.SNMP.RFCv2
		},
		"enable_traps": func(s *Stmt) { d.flag(s, &g.SNMP.Traps) },
		"snmp_socket":  func(s *Stmt) { d.str(s, &g.SNMP.Socket) },
		"vrrp_version": func(s *Stmt) { d.integer(s, &g.VRRPVersion, 2, 3) },
		"vrrp_mcast_group4": func(s *Stmt) {
			d.addr(s, &g.VRRPMcastGroup4)
			if !g.VRRPMcastGroup4.Is4() || !g.VRRPMcastGroup4.IsMulticast() {
				d.errorf(s.Pos, "vrrp_mcast_group4 must be an IPv4 multicast address")
			}
		},
		"vrrp_mcast_group6": func(s *Stmt) {
			d.addr(s, &g.VRRPMcastGroup6)
			if !g.VRRPMcastGroup6.Is6() || !g.VRRPMcastGroup6.IsMulticast() {
				d.errorf(s.Pos, "vrrp_mcast_group6 must be an IPv6 multicast address")
			}
		},
		"vrrp_garp_master_delay":          func(s *Stmt) { d.seconds(s, &g.VRRPGarpMasterDelay, 0, 255) },
		"vrrp_garp_master_repeat":         func(s *Stmt) { d.integer(s, &g.VRRPGarpMasterRepeat, 0, 255) },
		"vrrp_garp_master_refresh":        func(s *Stmt) { d.seconds(s, &g.VRRPGarpMasterRefresh, 0, 86400) },
		"vrrp_garp_master_refresh_repeat": func(s *Stmt) { d.integer(s, &g.VRRPGarpRefreshRepeat, 0, 255) },
		"vrrp_garp_lower_prio_delay":      func(s *Stmt) { d.seconds(s, &g.VRRPGarpLowerPrioDelay, 0, 255) },
		"vrrp_garp_lower_prio_repeat":     func(s *Stmt) { d.integer(s, &g.VRRPGarpLowerPrioRepeat, 0, 255) },
		"vrrp_garp_interval":              func(s *Stmt) { d.seconds(s, &g.VRRPGarpInterval, 0, 4294) },
		"vrrp_gna_interval":               func(s *Stmt) { d.seconds(s, &g.VRRPGnaInterval, 0, 4294) },
		"vrrp_down_timer_adverts":         func(s *Stmt) { d.integer(s, &g.VRRPDownTimerAdverts, 1, 100) },
		"vrrp_skip_check_adv_addr":        func(s *Stmt) { d.flag(s, &g.VRRPSkipCheckAdvAddr) },
		"vrrp_strict":                     func(s *Stmt) { d.flag(s, &g.VRRPStrict) },
		"vrrp_check_unicast_src":          func(s *Stmt) { d.flag(s, &g.VRRPCheckUnicastSrc) },
		"vrrp_lower_prio_no_advert":       func(s *Stmt) { d.flag(s, &g.VRRPLowerPrioNoAdvert) },
		"vrrp_higher_prio_send_advert":    func(s *Stmt) { d.flag(s, &g.VRRPHigherPrioSendAdvert) },
		"v3_checksum_as_v2":               func(s *Stmt) { d.flag(s, &g.V3ChecksumAsV2) },
		"lvs_timeouts":                    func(s *Stmt) { d.lvsTimeouts(s, &g.LVSTimeouts) },
		"lvs_flush":                       func(s *Stmt) { d.flag(s, &g.LVSFlush) },
		"lvs_flush_on_stop":               func(s *Stmt) { d.lvsFlushOnStop(s, &g.LVSFlushOnStop) },
		"lvs_flush_onstop":                func(s *Stmt) { d.lvsFlushOnStop(s, &g.LVSFlushOnStop) },
		"lvs_backend":                     func(s *Stmt) { d.enum(s, &g.LVSBackend, "auto", "ipvs", "nftables") },
		"max_auto_priority": func(s *Stmt) {
			if !d.nargs(s, 0, 1) {
				return
			}
			g.MaxAutoPriority = 99
			if len(s.Args) == 1 {
				if v, ok := d.intArg(s, s.Args[0].Text, -1, 99); ok {
					g.MaxAutoPriority = v
				}
			}
		},
		"default_interface":       func(s *Stmt) { d.str(s, &g.DefaultInterface) },
		"net_namespace":           func(s *Stmt) { d.str(s, &g.NetNamespace) },
		"notify_fifo":             func(s *Stmt) { d.fifo(s, &g.NotifyFIFO, false) },
		"notify_fifo_script":      func(s *Stmt) { d.fifo(s, &g.NotifyFIFO, true) },
		"vrrp_notify_fifo":        func(s *Stmt) { d.fifo(s, &g.VRRPNotifyFIFO, false) },
		"vrrp_notify_fifo_script": func(s *Stmt) { d.fifo(s, &g.VRRPNotifyFIFO, true) },
		"lvs_notify_fifo":         func(s *Stmt) { d.fifo(s, &g.LVSNotifyFIFO, false) },
		"lvs_notify_fifo_script":  func(s *Stmt) { d.fifo(s, &g.LVSNotifyFIFO, true) },
		"dynamic_interfaces": func(s *Stmt) {
			if !d.nargs(s, 0, 1) {
				return
			}
			g.DynamicInterfaces = true
			if len(s.Args) == 1 {
				if s.Args[0].Text != "allow_if_changes" {
					d.errorf(s.Pos, "dynamic_interfaces: unknown option %q (allow_if_changes)", s.Args[0].Text)
					return
				}
				g.DynamicInterfacesAllowIfChanges = true
			}
		},
	}
	d.globalScriptKeywords(t, &g.GlobalScripts)
	d.runAt(b.Block, "global_defs", t, g.KeywordPos)
}

// fifo parses "notify_fifo PATH [user [group]]" and its _script.
func (d *decoder) fifo(s *Stmt, dst **FIFO, script bool) {
	if !d.nargs(s, 1, 3) {
		return
	}
	if *dst == nil {
		*dst = &FIFO{}
	}
	f := *dst
	user := strings.Join(s.ArgStrings()[1:], ":")
	if script {
		f.Script, f.ScriptUser = s.Args[0].Text, user
	} else {
		f.Path, f.User = s.Args[0].Text, user
	}
}

func (d *decoder) scriptUser(s *Stmt, dst *string) {
	if !d.nargs(s, 1, 2) {
		return
	}
	*dst = s.Args[0].Text
	if len(s.Args) == 2 {
		*dst += ":" + s.Args[1].Text
	}
}

func (d *decoder) lvsFlushOnStop(s *Stmt, dst *bool) {
	if !d.nargs(s, 0, 1) {
		return
	}
	if len(s.Args) == 1 && s.Args[0].Text != "VS" {
		d.errorf(s.Pos, "not supported: %s %s", s.Key, s.Args[0].Text)
		return
	}
	*dst = true
}

func (d *decoder) lvsTimeouts(s *Stmt, t *LVSTimeouts) {
	if !d.nargs(s, 2, 6) {
		return
	}
	for i := 0; i+1 < len(s.Args); i += 2 {
		v, ok := d.secondsArg(s, s.Args[i+1].Text, 1, 86400*365)
		if !ok {
			continue
		}
		switch s.Args[i].Text {
		case "tcp":
			t.TCP = v
		case "tcpfin":
			t.TCPFin = v
		case "udp":
			t.UDP = v
		default:
			d.errorf(s.Pos, "lvs_timeouts: unknown protocol %q (tcp, tcpfin, udp)", s.Args[i].Text)
		}
	}
	if len(s.Args)%2 != 0 {
		d.errorf(s.Pos, "lvs_timeouts: %q needs a value", s.Args[len(s.Args)-1].Text)
	}
}

func (d *decoder) cluster(b *Stmt) *Cluster {
	c := &Cluster{
		Pos:             b.Pos,
		NodeName:        d.cfg.Node,
		RaftPort:        DefaultRaftPort,
		GossipPort:      DefaultGossipPort,
		DataDir:         DefaultDataDir,
		Role:            "voter",
		VerdictPolicy:   "majority",
		DegradedAfter:   DefaultDegradedAfter,
		Placement:       "configured",
		BootstrapExpect: -1,
	}
	apiSet := false
	d.runInline(b.Block, "cluster", table{
		"node_name": func(s *Stmt) { d.str(s, &c.NodeName) },
		"bind":      func(s *Stmt) { d.addr(s, &c.Bind) },
		"raft_port": func(s *Stmt) {
			if d.nargs(s, 1, 1) {
				d.port(s, s.Args[0].Text, &c.RaftPort)
			}
		},
		"gossip_port": func(s *Stmt) {
			if d.nargs(s, 1, 1) {
				d.port(s, s.Args[0].Text, &c.GossipPort)
			}
		},
		"peers": func(s *Stmt) {
			var items []string
			if s.HasBlock {
				items = d.words(s)
			} else if d.nargs(s, 1, 1<<16) {
				items = s.ArgStrings()
			}
			for _, it := range items {
				fam := ""
				if c.Bind.IsValid() {
					fam = familyOf(c.Bind)
				}
				if a, name, ok := d.host(s, it, fam); ok {
					c.Peers = append(c.Peers, a)
					c.PeerNames = append(c.PeerNames, name)
				}
			}
		},
		"bootstrap_expect": func(s *Stmt) { d.integer(s, &c.BootstrapExpect, 1, 99) },
		"data_dir":         func(s *Stmt) { d.str(s, &c.DataDir) },
		"role":             func(s *Stmt) { d.enum(s, &c.Role, "voter", "witness") },
		"verdict_policy":   func(s *Stmt) { d.enum(s, &c.VerdictPolicy, "any", "majority", "all") },
		"gossip_key_file":  func(s *Stmt) { d.str(s, &c.GossipKeyFile) },
		"quorum_fence":     func(s *Stmt) { d.flag(s, &c.QuorumFence) },
		"degraded_after":   func(s *Stmt) { d.duration(s, &c.DegradedAfter) },
		"placement":        func(s *Stmt) { d.enum(s, &c.Placement, "auto", "configured") },
		"insecure":         func(s *Stmt) { d.flag(s, &c.Insecure) },
		"credentials": func(s *Stmt) {
			if d.nargs(s, 1, 1) {
				if strings.TrimSpace(s.Args[0].Text) == "" {
					d.errorf(s.Pos, "credentials: the directory name is empty")
					return
				}
				c.Credentials = s.Args[0].Text
			}
		},
		"tls": func(s *Stmt) {
			if !d.needBlock(s) {
				return
			}
			t := &ClusterTLS{}
			d.runInline(s.Block, "cluster tls", table{
				"cert_file": func(s *Stmt) { d.str(s, &t.CertFile) },
				"key_file":  func(s *Stmt) { d.str(s, &t.KeyFile) },
				"ca_file":   func(s *Stmt) { d.str(s, &t.CAFile) },
			})
			c.TLS = t
		},
		"api": func(s *Stmt) {
			if !d.needBlock(s) {
				return
			}
			d.runInline(s.Block, "cluster api", table{
				"listen": func(s *Stmt) {
					if !d.nargs(s, 1, 1) {
						return
					}
					ap, err := netip.ParseAddrPort(s.Args[0].Text)
					if err != nil {
						d.errorf(s.Pos, "listen: %q is not ADDRESS:PORT", s.Args[0].Text)
						return
					}
					c.API.Listen = ap
					apiSet = true
				},
				"token_file":      func(s *Stmt) { d.str(s, &c.API.TokenFile) },
				"read_token_file": func(s *Stmt) { d.str(s, &c.API.ReadTokenFile) },
				"metrics_auth":    func(s *Stmt) { d.flag(s, &c.API.MetricsAuth) },
				"cert_file":       func(s *Stmt) { d.str(s, &c.API.CertFile) },
				"key_file":        func(s *Stmt) { d.str(s, &c.API.KeyFile) },
				"ca_file":         func(s *Stmt) { d.str(s, &c.API.CAFile) },
			})
		},
	})
	if !apiSet && c.Bind.IsValid() {
		c.API.Listen = netip.AddrPortFrom(c.Bind, DefaultAPIPort)
	}
	if c.BootstrapExpect < 0 {
		c.BootstrapExpect = c.ListedNodes()
	}
	return c
}

// duration accepts a Go duration ("10s", "1m30s") or a number of seconds.
func (d *decoder) duration(s *Stmt, dst *time.Duration) {
	if !d.nargs(s, 1, 1) {
		return
	}
	t := s.Args[0].Text
	if strings.IndexFunc(t, func(r rune) bool { return r >= 'a' && r <= 'z' }) >= 0 {
		v, err := time.ParseDuration(t)
		if err != nil || v < 0 {
			d.errorf(s.Pos, "%s: %q is not a duration", s.Key, t)
			return
		}
		*dst = v
		return
	}
	d.seconds(s, dst, 0, 86400)
}
