package config

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Render returns the canonical keepalived.conf text of c: deterministic,
// with every effective value written out (so the file does not depend on
// defaults), blocks in a fixed order (global_defs, cluster, vrrp_script,
// vrrp_instance, vrrp_sync_group, virtual_server_group, virtual_server).
// Loading the result for c.Node with the same resolver yields a model equal
// to c (see Equal). Host names are written as they were given.
func (c *Config) Render() []byte { return c.render(false) }

// RenderCompact is Render without the values that are defaults or inherited
// (from global_defs, the virtual server, the real server): shorter, still
// canonical, and it too loads back to a model equal to c. Merge uses it.
func (c *Config) RenderCompact() []byte { return c.render(true) }

func (c *Config) render(compact bool) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# keepalived.conf rendered by quadrature for node %s\n", c.Node)
	for _, e := range c.elements(compact) {
		b.WriteByte('\n')
		for _, l := range e.lines {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// element is one top-level block, rendered, with the key that identifies it
// across nodes (used by Merge to align per-node files).
type element struct {
	key   string
	lines []string
}

// elements renders each top-level block of c separately.
func (c *Config) elements(compact bool) []element {
	var out []element
	add := func(key string, f func(w *writer)) {
		w := &writer{compact: compact}
		f(w)
		lines := strings.Split(strings.TrimSuffix(w.buf.String(), "\n"), "\n")
		if compact && len(lines) == 2 && key == "global_defs" {
			return // an empty global_defs block says nothing
		}
		out = append(out, element{key: key, lines: lines})
	}
	add("global_defs", func(w *writer) { w.global(&c.Global) })
	if c.Cluster != nil {
		add("cluster", func(w *writer) { w.cluster(c.Node, c.Cluster) })
	}
	if c.BGP != nil {
		add("bgp", func(w *writer) { w.bgp(c.BGP) })
	}
	if len(c.StaticAddresses) > 0 {
		add("static_ipaddress", func(w *writer) { w.vips("static_ipaddress", c.StaticAddresses) })
	}
	if len(c.StaticRoutes) > 0 {
		add("static_routes", func(w *writer) { writeList(w, "static_routes", c.StaticRoutes) })
	}
	if len(c.StaticRules) > 0 {
		add("static_rules", func(w *writer) { writeList(w, "static_rules", c.StaticRules) })
	}
	for i := range c.TrackFiles {
		add("track_file "+c.TrackFiles[i].Name, func(w *writer) { w.trackFile(&c.TrackFiles[i]) })
	}
	for i := range c.ProcessTrackers {
		add("vrrp_track_process "+c.ProcessTrackers[i].Name, func(w *writer) { w.trackProcess(&c.ProcessTrackers[i]) })
	}
	for i := range c.Scripts {
		add("vrrp_script "+c.Scripts[i].Name, func(w *writer) { w.script(&c.Scripts[i]) })
	}
	for i := range c.Instances {
		add(c.Instances[i].Key(), func(w *writer) { w.instance(c, &c.Instances[i]) })
	}
	for i := range c.SyncGroups {
		add("vrrp_sync_group "+c.SyncGroups[i].Name, func(w *writer) { w.syncGroup(c, &c.SyncGroups[i]) })
	}
	for i := range c.VSGroups {
		add("virtual_server_group "+c.VSGroups[i].Name, func(w *writer) { w.vsGroup(&c.VSGroups[i]) })
	}
	for i := range c.VirtualServers {
		add(c.VirtualServers[i].Key(), func(w *writer) { w.virtualServer(c, &c.VirtualServers[i]) })
	}
	return out
}

type writer struct {
	buf    bytes.Buffer
	indent int
	// compact leaves out values equal to what the parser would derive.
	compact bool
}

func (w *writer) line(format string, args ...any) {
	for range w.indent {
		w.buf.WriteString("  ")
	}
	fmt.Fprintf(&w.buf, format, args...)
	w.buf.WriteByte('\n')
}

func (w *writer) open(format string, args ...any) {
	w.line(format+" {", args...)
	w.indent++
}

func (w *writer) close() {
	w.indent--
	w.line("}")
}

func (w *writer) blank() { w.buf.WriteByte('\n') }

func (w *writer) kv(key string, v any) { w.line("%s %v", key, v) }

func (w *writer) str(key, v string) {
	if v != "" {
		w.line("%s %s", key, quote(v))
	}
}

func (w *writer) sec(key string, d time.Duration) { w.line("%s %s", key, seconds(d)) }

// kvd writes key v unless compact and v is the derived default def.
func (w *writer) kvd(key string, v, def any) {
	if !w.compact || v != def {
		w.kv(key, v)
	}
}

func (w *writer) secd(key string, v, def time.Duration) {
	if !w.compact || v != def {
		w.sec(key, v)
	}
}

// strd is str for a value whose default is not empty.
func (w *writer) strd(key, v, def string) {
	if !w.compact || v != def {
		w.line("%s %s", key, quote(v))
	}
}

// boolKw writes a flag keyword: bare when true, "off" when false but the
// inherited value would be true, nothing otherwise.
func (w *writer) boolKw(key string, v, inherited bool) {
	switch {
	case v && !inherited:
		w.line("%s", key)
	case v != inherited:
		w.line("%s %s", key, onOff(v))
	}
}

func onOff(v bool) string {
	if v {
		return "on"
	}
	return "off"
}

// seconds formats a duration as keepalived seconds ("1", "0.35").
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

// quote returns s as one token: bare when that is safe, else in double
// quotes with C escapes.
func quote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n\r\v\f\"'#!;{}\\@$") && isPrintable(s) {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func isPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] == 0x7f {
			return false
		}
	}
	return true
}

func (w *writer) global(g *GlobalDefs) {
	d := defaultGlobal()
	w.open("global_defs")
	w.str("router_id", g.RouterID)
	if len(g.NotificationEmail) > 0 {
		w.open("notification_email")
		for _, e := range g.NotificationEmail {
			w.line("%s", quote(e))
		}
		w.close()
	}
	w.str("notification_email_from", g.NotificationEmailFrom)
	if g.SMTPServer != "" {
		w.line("smtp_server %s %d", quote(g.SMTPServer), g.SMTPPort)
	}
	w.str("smtp_helo_name", g.SMTPHeloName)
	w.secd("smtp_connect_timeout", g.SMTPConnectTimeout, d.SMTPConnectTimeout)
	w.boolKw("smtp_alert", g.SMTPAlert, false)
	w.globalScripts(&g.GlobalScripts)
	if u, grp, ok := strings.Cut(g.ScriptUser, ":"); ok {
		w.line("script_user %s %s", quote(u), quote(grp))
	} else {
		w.str("script_user", g.ScriptUser)
	}
	w.boolKw("enable_script_security", g.EnableScriptSecurity, false)
	w.boolKw("enable_snmp_vrrp", g.SNMP.VRRP, false)
	w.boolKw("enable_snmp_checker", g.SNMP.Checker, false)
	w.boolKw("enable_snmp_rfcv2", g.SNMP.RFCv2, false)
	w.boolKw("enable_snmp_rfcv3", g.SNMP.RFCv3, false)
	w.boolKw("enable_traps", g.SNMP.Traps, false)
	w.str("snmp_socket", g.SNMP.Socket)
	w.kvd("vrrp_version", g.VRRPVersion, d.VRRPVersion)
	w.kvd("vrrp_mcast_group4", g.VRRPMcastGroup4, d.VRRPMcastGroup4)
	w.kvd("vrrp_mcast_group6", g.VRRPMcastGroup6, d.VRRPMcastGroup6)
	w.secd("vrrp_garp_master_delay", g.VRRPGarpMasterDelay, d.VRRPGarpMasterDelay)
	w.kvd("vrrp_garp_master_repeat", g.VRRPGarpMasterRepeat, d.VRRPGarpMasterRepeat)
	w.secd("vrrp_garp_master_refresh", g.VRRPGarpMasterRefresh, d.VRRPGarpMasterRefresh)
	w.kvd("vrrp_garp_master_refresh_repeat", g.VRRPGarpRefreshRepeat, d.VRRPGarpRefreshRepeat)
	w.secd("vrrp_garp_lower_prio_delay", g.VRRPGarpLowerPrioDelay, g.VRRPGarpMasterDelay)
	w.kvd("vrrp_garp_lower_prio_repeat", g.VRRPGarpLowerPrioRepeat, g.VRRPGarpMasterRepeat)
	// 0 means "not set" and keepalived refuses an explicit 0.
	if g.VRRPGarpInterval > 0 {
		w.sec("vrrp_garp_interval", g.VRRPGarpInterval)
	}
	if g.VRRPGnaInterval > 0 {
		w.sec("vrrp_gna_interval", g.VRRPGnaInterval)
	}
	w.kvd("vrrp_down_timer_adverts", g.VRRPDownTimerAdverts, d.VRRPDownTimerAdverts)
	w.boolKw("vrrp_skip_check_adv_addr", g.VRRPSkipCheckAdvAddr, false)
	w.boolKw("vrrp_strict", g.VRRPStrict, false)
	w.boolKw("vrrp_check_unicast_src", g.VRRPCheckUnicastSrc, false)
	w.boolKw("vrrp_lower_prio_no_advert", g.VRRPLowerPrioNoAdvert, false)
	w.boolKw("vrrp_higher_prio_send_advert", g.VRRPHigherPrioSendAdvert, false)
	w.boolKw("v3_checksum_as_v2", g.V3ChecksumAsV2, false)
	if t := g.LVSTimeouts; t != (LVSTimeouts{}) {
		var parts []string
		for _, p := range []struct {
			n string
			v time.Duration
		}{{"tcp", t.TCP}, {"tcpfin", t.TCPFin}, {"udp", t.UDP}} {
			if p.v > 0 {
				parts = append(parts, p.n+" "+seconds(p.v))
			}
		}
		w.line("lvs_timeouts %s", strings.Join(parts, " "))
	}
	w.boolKw("lvs_flush", g.LVSFlush, false)
	if g.LVSFlushOnStop {
		w.line("lvs_flush_on_stop")
	}
	// quadrature's own keyword: written only when it is not the default, so
	// a plain keepalived.conf renders to text keepalived itself accepts.
	if g.LVSBackend != d.LVSBackend {
		w.kv("lvs_backend", g.LVSBackend)
	}
	if g.MaxAutoPriority != 0 {
		w.kv("max_auto_priority", g.MaxAutoPriority)
	}
	if g.DefaultInterface != d.DefaultInterface {
		w.str("default_interface", g.DefaultInterface)
	}
	switch {
	case g.DynamicInterfacesAllowIfChanges:
		w.line("dynamic_interfaces allow_if_changes")
	case g.DynamicInterfaces:
		w.line("dynamic_interfaces")
	}
	w.str("net_namespace", g.NetNamespace)
	w.fifo("notify_fifo", g.NotifyFIFO)
	w.fifo("vrrp_notify_fifo", g.VRRPNotifyFIFO)
	w.fifo("lvs_notify_fifo", g.LVSNotifyFIFO)
	w.close()
}

func (w *writer) cluster(node string, c *Cluster) {
	w.open("cluster")
	w.strd("node_name", c.NodeName, node)
	if c.Bind.IsValid() {
		w.kv("bind", c.Bind)
	}
	w.kvd("raft_port", c.RaftPort, uint16(DefaultRaftPort))
	w.kvd("gossip_port", c.GossipPort, uint16(DefaultGossipPort))
	if len(c.Peers) > 0 {
		parts := make([]string, len(c.Peers))
		for i, p := range c.Peers {
			parts[i] = p.String()
			if i < len(c.PeerNames) && c.PeerNames[i] != "" {
				parts[i] = c.PeerNames[i]
			}
		}
		w.line("peers %s", strings.Join(parts, " "))
	}
	w.kvd("bootstrap_expect", c.BootstrapExpect, c.ListedNodes())
	w.strd("data_dir", c.DataDir, DefaultDataDir)
	w.kvd("role", c.Role, "voter")
	w.kvd("verdict_policy", c.VerdictPolicy, "majority")
	w.str("gossip_key_file", c.GossipKeyFile)
	w.boolKw("quorum_fence", c.QuorumFence, false)
	w.kvd("degraded_after", c.DegradedAfter, DefaultDegradedAfter)
	w.kvd("placement", c.Placement, "configured")
	w.str("credentials", c.Credentials)
	if c.Insecure {
		w.line("insecure yes")
	}
	if c.TLS != nil {
		w.open("tls")
		w.str("cert_file", c.TLS.CertFile)
		w.str("key_file", c.TLS.KeyFile)
		w.str("ca_file", c.TLS.CAFile)
		w.close()
	}
	defListen := netip.AddrPort{}
	if c.Bind.IsValid() {
		defListen = netip.AddrPortFrom(c.Bind, DefaultAPIPort)
	}
	if !w.compact || c.API != (ClusterAPI{Listen: defListen}) {
		w.open("api")
		if c.API.Listen.IsValid() {
			w.kvd("listen", c.API.Listen, defListen)
		}
		w.str("token_file", c.API.TokenFile)
		w.str("read_token_file", c.API.ReadTokenFile)
		w.kvd("metrics_auth", onOff(c.API.MetricsAuth), "off")
		w.str("cert_file", c.API.CertFile)
		w.str("key_file", c.API.KeyFile)
		w.str("ca_file", c.API.CAFile)
		w.close()
	}
	w.close()
}

func (w *writer) script(s *VRRPScript) {
	w.open("vrrp_script %s", quote(s.Name))
	w.str("script", s.Script)
	w.secd("interval", s.Interval, time.Second)
	w.secd("timeout", s.Timeout, s.Interval)
	if !w.compact || s.Weight != 0 || s.Reverse {
		w.line("weight %d%s", s.Weight, reverseSuffix(s.Reverse))
	}
	w.kvd("rise", s.Rise, 1)
	w.kvd("fall", s.Fall, 1)
	if u, g, ok := strings.Cut(s.User, ":"); ok {
		w.line("user %s %s", quote(u), quote(g))
	} else {
		w.str("user", s.User)
	}
	w.boolKw("init_fail", s.InitFail, false)
	w.close()
}

func reverseSuffix(r bool) string {
	if r {
		return " reverse"
	}
	return ""
}

func (w *writer) vips(key string, vips []VIP) {
	if len(vips) == 0 {
		return
	}
	w.open("%s", key)
	for _, v := range vips {
		var b strings.Builder
		if v.Prefix.Bits() == v.Prefix.Addr().BitLen() {
			b.WriteString(v.Prefix.Addr().String())
		} else {
			b.WriteString(v.Prefix.String())
		}
		if v.Broadcast.IsValid() {
			b.WriteString(" brd " + v.Broadcast.String())
		}
		for _, o := range []struct{ k, v string }{{"dev", v.Dev}, {"scope", v.Scope}, {"label", v.Label}} {
			if o.v != "" {
				b.WriteString(" " + o.k + " " + quote(o.v))
			}
		}
		if v.Peer.IsValid() {
			b.WriteString(" peer " + v.Peer.String())
		}
		for _, f := range []struct {
			on bool
			k  string
		}{{v.NoDAD, "-nodad"}, {v.NoPrefixRoute, "noprefixroute"}, {v.Home, "home"}, {v.MngTmpAddr, "mngtmpaddr"}, {v.AutoJoin, "autojoin"}, {v.NoTrack, "no_track"}} {
			if f.on {
				b.WriteString(" " + f.k)
			}
		}
		if v.PreferredLft != "" {
			b.WriteString(" preferred_lft " + quote(v.PreferredLft))
		}
		w.line("%s", b.String())
	}
	w.close()
}

func (w *writer) trackers(ifs []TrackInterface, scripts []TrackScript) {
	if len(ifs) > 0 {
		w.open("track_interface")
		for _, t := range ifs {
			if t.Weight != 0 || t.Reverse {
				w.line("%s weight %d%s", quote(t.Name), t.Weight, reverseSuffix(t.Reverse))
			} else {
				w.line("%s", quote(t.Name))
			}
		}
		w.close()
	}
	if len(scripts) > 0 {
		w.open("track_script")
		for _, t := range scripts {
			w.line("%s weight %d%s", quote(t.Name), t.Weight, reverseSuffix(t.Reverse))
		}
		w.close()
	}
}

func (w *writer) notify(n *Notify) {
	w.str("notify", n.Notify)
	w.str("notify_master", n.NotifyMaster)
	w.str("notify_backup", n.NotifyBackup)
	w.str("notify_fault", n.NotifyFault)
	w.str("notify_stop", n.NotifyStop)
}

func (w *writer) instance(c *Config, in *VRRPInstance) {
	w.open("vrrp_instance %s", quote(in.Name))
	g := &c.Global
	w.kvd("state", in.State, "BACKUP")
	w.str("interface", in.Interface)
	w.kv("virtual_router_id", in.VRID)
	defPrio, defVersion := 100, g.VRRPVersion
	if in.State == "MASTER" {
		defPrio = 255
	}
	if in.Family == FamilyInet6 {
		defVersion = 3
	}
	w.kvd("priority", in.Priority, defPrio)
	w.secd("advert_int", in.AdvertInt, time.Second)
	w.kvd("version", in.Version, defVersion)
	w.vips("virtual_ipaddress", in.VIPs)
	w.vips("virtual_ipaddress_excluded", in.ExcludedVIPs)
	if in.NoVirtualIPAddress {
		w.line("no_virtual_ipaddress")
	}
	writeList(w, "virtual_routes", in.VirtualRoutes)
	writeList(w, "virtual_rules", in.VirtualRules)
	renderVMAC(w, in)
	if in.UnicastSrcIP.IsValid() {
		w.kv("unicast_src_ip", in.UnicastSrcIP)
	}
	if len(in.UnicastPeers) > 0 {
		w.open("unicast_peer")
		for _, p := range in.UnicastPeers {
			s := p.Addr.String()
			if p.MinTTL > 0 {
				s += fmt.Sprintf(" min_ttl %d", p.MinTTL)
			}
			if p.MaxTTL > 0 {
				s += fmt.Sprintf(" max_ttl %d", p.MaxTTL)
			}
			w.line("%s", s)
		}
		w.close()
	}
	if in.McastSrcIP.IsValid() {
		w.kv("mcast_src_ip", in.McastSrcIP)
	}
	if in.Auth != nil {
		w.open("authentication")
		w.kv("auth_type", in.Auth.Type)
		w.str("auth_pass", in.Auth.Pass)
		w.close()
	}
	if in.NoPreempt {
		w.line("nopreempt")
	}
	if in.PreemptDelay > 0 {
		w.sec("preempt_delay", in.PreemptDelay)
	}
	w.trackers(in.TrackInterfaces, in.TrackScripts)
	w.trackRefs(in.TrackFileRefs, in.TrackProcesses)
	w.notify(&in.Notify)
	w.instancePriorityChanges(c, in)
	w.secd("garp_master_delay", in.GarpMasterDelay, g.VRRPGarpMasterDelay)
	w.kvd("garp_master_repeat", in.GarpMasterRepeat, g.VRRPGarpMasterRepeat)
	w.secd("garp_master_refresh", in.GarpMasterRefresh, g.VRRPGarpMasterRefresh)
	w.kvd("garp_master_refresh_repeat", in.GarpMasterRefreshRepeat, g.VRRPGarpRefreshRepeat)
	lpDelay, lpRepeat := g.VRRPGarpLowerPrioDelay, g.VRRPGarpLowerPrioRepeat
	if in.StrictMode {
		lpDelay, lpRepeat = 0, 0
	}
	w.secd("garp_lower_prio_delay", in.GarpLowerPrioDelay, lpDelay)
	w.kvd("garp_lower_prio_repeat", in.GarpLowerPrioRepeat, lpRepeat)
	switch {
	case w.compact && in.Accept == !in.StrictMode:
	case in.Accept:
		w.line("accept")
	default:
		w.line("no_accept")
	}
	w.boolKw("v3_checksum_as_v2", in.V3ChecksumAsV2, c.Global.V3ChecksumAsV2)
	w.kvd("down_timer_adverts", in.DownTimerAdverts, g.VRRPDownTimerAdverts)
	// These default to the global_defs value (lower_prio_no_advert also to
	// strict mode); only a difference is written.
	w.boolKw("lower_prio_no_advert", in.LowerPrioNoAdvert, c.Global.VRRPLowerPrioNoAdvert || in.StrictMode)
	w.boolKw("higher_prio_send_advert", in.HigherPrioSendAdvert, c.Global.VRRPHigherPrioSendAdvert)
	w.boolKw("skip_check_adv_addr", in.SkipCheckAdvAddr, c.Global.VRRPSkipCheckAdvAddr)
	w.boolKw("check_unicast_src", in.CheckUnicastSrc, c.Global.VRRPCheckUnicastSrc)
	w.boolKw("strict_mode", in.StrictMode, c.Global.VRRPStrict)
	w.boolKw("dont_track_primary", in.DontTrackPrimary, false)
	w.boolKw("smtp_alert", in.SMTPAlert, c.Global.SMTPAlert)
	if in.Debug > 0 {
		w.kv("debug", in.Debug)
	}
	w.boolKw("quorum_fence", in.QuorumFence, c.Cluster != nil && c.Cluster.QuorumFence)
	w.close()
}

func (w *writer) syncGroup(c *Config, g *SyncGroup) {
	w.open("vrrp_sync_group %s", quote(g.Name))
	w.open("group")
	for _, m := range g.Group {
		w.line("%s", quote(m))
	}
	w.close()
	w.trackers(g.TrackInterfaces, g.TrackScripts)
	w.trackRefs(g.TrackFileRefs, g.TrackProcesses)
	w.notify(&g.Notify)
	w.boolKw("notify_priority_changes", g.PriorityChanges, false)
	w.boolKw("smtp_alert", g.SMTPAlert, c.Global.SMTPAlert)
	w.close()
}

func (w *writer) trackFile(t *TrackFile) {
	w.open("track_file %s", quote(t.Name))
	w.str("file", t.File)
	if !w.compact || t.Weight != 1 || t.Reverse {
		w.line("weight %d%s", t.Weight, reverseSuffix(t.Reverse))
	}
	if t.InitFile {
		ow := ""
		if t.InitOverwrite {
			ow = " overwrite"
		}
		w.line("init_file %d%s", t.InitValue, ow)
	}
	w.close()
}

func eqPtr[T comparable](a, b *T) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}
