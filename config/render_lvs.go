package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

func (w *writer) vsGroup(g *VirtualServerGroup) {
	w.open("virtual_server_group %s", quote(g.Name))
	for _, e := range g.Entries {
		if e.Fwmark != 0 {
			w.line("fwmark %d %s", e.Fwmark, e.Family)
			continue
		}
		r := rangeString(e.First, e.Last)
		if e.Port != 0 {
			w.line("%s %d", r, e.Port)
		} else {
			w.line("%s", r)
		}
	}
	w.close()
}

// rangeString writes an address range in the shortest form parseRange reads.
func rangeString(first, last netip.Addr) string {
	if first == last {
		return first.String()
	}
	for bits := first.BitLen(); bits >= 0; bits-- {
		p := netip.PrefixFrom(first, bits)
		if p.Masked().Addr() == first && lastOf(p) == last {
			return p.String()
		}
	}
	return first.String() + "-" + last.String()
}

func (w *writer) virtualServer(c *Config, vs *VirtualServer) {
	switch {
	case vs.Group != "":
		w.open("virtual_server group %s", quote(vs.Group))
	case vs.Fwmark != 0:
		fam := ""
		if vs.IPFamily == "" && vs.Family == FamilyInet6 {
			fam = " inet6"
		}
		w.open("virtual_server fwmark %d%s", vs.Fwmark, fam)
	default:
		w.open("virtual_server %s %d", vs.Addr, vs.Port)
	}
	w.str("ip_family", vs.IPFamily)
	// Always written, compact too: keepalived 2.2.7 defaults a missing
	// protocol to UDP ("no protocol set - defaulting to UDP"), newer
	// versions to TCP. A fwmark service has no protocol (keepalived
	// warns that it is ignored), so the default is left out there.
	if vs.Fwmark == 0 {
		w.kv("protocol", vs.Protocol)
	} else {
		w.kvd("protocol", vs.Protocol, "TCP")
	}
	w.kvd("lvs_sched", vs.Scheduler, "wlc")
	for _, f := range vs.SchedFlags {
		w.line("%s", f)
	}
	w.kvd("lvs_method", methodString(vs.Method, vs.Tunnel), "NAT")
	w.boolKw("ops", vs.OPS, false)
	if vs.PersistenceTimeout > 0 {
		w.sec("persistence_timeout", vs.PersistenceTimeout)
	}
	if vs.PersistenceGranularity > 0 {
		w.kv("persistence_granularity", granularityString(vs.PersistenceGranularity, vs.Family))
	}
	w.str("persistence_engine", vs.PersistenceEngine)
	w.secd("delay_loop", vs.DelayLoop, DefaultDelayLoop)
	w.secd("connect_timeout", vs.ConnectTimeout, DefaultConnectTimeout)
	if vs.Retry != nil {
		w.kv("retry", *vs.Retry)
	}
	if vs.DelayBeforeRetry != nil {
		w.sec("delay_before_retry", *vs.DelayBeforeRetry)
	}
	if vs.Warmup != nil {
		w.sec("warmup", *vs.Warmup)
	}
	for _, f := range []struct {
		on bool
		k  string
	}{{vs.Alpha, "alpha"}, {vs.Omega, "omega"}, {vs.HASuspend, "ha_suspend"}} {
		if f.on {
			w.line("%s", f.k)
		}
	}
	w.boolKw("inhibit_on_failure", vs.InhibitOnFailure, false)
	w.str("virtualhost", vs.VirtualHost)
	w.kvd("quorum", vs.Quorum, 1)
	w.kvd("hysteresis", vs.Hysteresis, 0)
	w.str("quorum_up", vs.QuorumUp)
	w.str("quorum_down", vs.QuorumDown)
	if ss := vs.SorryServer; ss != nil {
		host := ss.Addr.String()
		if ss.Name != "" {
			host = ss.Name
		}
		w.line("sorry_server %s %d", host, ss.Port)
		w.kvd("sorry_server_lvs_method", ss.Method, vs.Method)
	}
	w.boolKw("sorry_server_inhibit", vs.SorryServerInhibit, false)
	w.boolKw("smtp_alert", vs.SMTPAlert, c.Global.SMTPAlert)
	for i := range vs.RealServers {
		w.realServer(c, vs, &vs.RealServers[i])
	}
	w.close()
}

func methodString(m string, t *Tunnel) string {
	if m != "TUN" || t == nil {
		return m
	}
	s := "TUN type " + t.Type
	if t.Port != 0 {
		s += fmt.Sprintf(" port %d", t.Port)
	}
	if t.Csum != "" {
		s += " " + t.Csum
	}
	return s
}

func granularityString(bits int, family string) string {
	if family == FamilyInet6 || bits > 32 {
		return strconv.Itoa(bits)
	}
	m := ^uint32(0) << (32 - bits)
	return netip.AddrFrom4([4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}).String()
}

func (w *writer) realServer(c *Config, vs *VirtualServer, rs *RealServer) {
	host := rs.Addr.String()
	if rs.Name != "" {
		host = rs.Name
	}
	w.blank()
	w.open("real_server %s %d", host, rs.Port)
	w.kvd("weight", rs.Weight, 1)
	w.kvd("lvs_method", rs.Method, vs.Method)
	w.boolKw("inhibit_on_failure", rs.InhibitOnFailure, vs.InhibitOnFailure)
	w.str("notify_up", rs.NotifyUp)
	w.str("notify_down", rs.NotifyDown)
	if rs.UThreshold > 0 {
		w.kv("uthreshold", rs.UThreshold)
	}
	if rs.LThreshold > 0 {
		w.kv("lthreshold", rs.LThreshold)
	}
	w.boolKw("alpha", rs.Alpha, vs.Alpha)
	if rs.Retry != nil && (!w.compact || !eqPtr(rs.Retry, vs.Retry)) {
		w.kv("retry", *rs.Retry)
	}
	if rs.DelayBeforeRetry != nil && (!w.compact || !eqPtr(rs.DelayBeforeRetry, vs.DelayBeforeRetry)) {
		w.sec("delay_before_retry", *rs.DelayBeforeRetry)
	}
	if rs.Warmup != nil && (!w.compact || !eqPtr(rs.Warmup, vs.Warmup)) {
		w.sec("warmup", *rs.Warmup)
	}
	w.secd("delay_loop", rs.DelayLoop, vs.DelayLoop)
	w.secd("connect_timeout", rs.ConnectTimeout, vs.ConnectTimeout)
	if rs.VirtualHost != "" && (!w.compact || rs.VirtualHost != vs.VirtualHost) {
		w.str("virtualhost", rs.VirtualHost)
	}
	w.boolKw("smtp_alert", rs.SMTPAlert, vs.SMTPAlert)
	for i := range rs.Checkers {
		w.checker(c, rs, &rs.Checkers[i])
	}
	w.close()
}

func (w *writer) checker(cfg *Config, rs *RealServer, c *Checker) {
	w.open("%s", c.Kind)
	if c.File != nil {
		w.str("track_file", c.File.TrackFile)
		tf := cfg.trackFile(c.File.TrackFile)
		if !w.compact || tf == nil || tf.Weight != c.File.Weight || tf.Reverse != c.File.Reverse {
			w.line("weight %d%s", c.File.Weight, reverseSuffix(c.File.Reverse))
		}
		w.close()
		return
	}
	if networkChecker(c.Kind) {
		ip := c.ConnectIP.String()
		if c.ConnectIPName != "" {
			ip = c.ConnectIPName
		}
		if !w.compact || c.ConnectIP != rs.Addr || c.ConnectIPName != "" {
			w.kv("connect_ip", ip)
		}
		defPort := rs.Port
		if c.Kind == CheckPing {
			defPort = 0
		}
		if c.ConnectPort != 0 {
			w.kvd("connect_port", c.ConnectPort, defPort)
		}
		if c.BindTo.IsValid() {
			b := c.BindTo.String()
			if c.BindToName != "" {
				b = c.BindToName
			}
			w.kv("bindto", b)
		}
		if c.BindPort != 0 {
			w.kv("bind_port", c.BindPort)
		}
		w.str("bind_if", c.BindIf)
		if c.Fwmark != 0 {
			w.kv("fwmark", c.Fwmark)
		}
		w.secd("connect_timeout", c.ConnectTimeout, rs.ConnectTimeout)
	}
	defRetry, defDBR := checkerDefaults(c.Kind, c.DelayLoop)
	if rs.Retry != nil {
		defRetry = *rs.Retry
	}
	if rs.DelayBeforeRetry != nil {
		defDBR = *rs.DelayBeforeRetry
	}
	w.kvd("retry", c.Retry, defRetry)
	w.secd("delay_before_retry", c.DelayBeforeRetry, defDBR)
	if c.Warmup != nil && (!w.compact || !eqPtr(c.Warmup, rs.Warmup)) {
		w.sec("warmup", *c.Warmup)
	}
	w.secd("delay_loop", c.DelayLoop, rs.DelayLoop)
	w.boolKw("alpha", c.Alpha, rs.Alpha)
	w.boolKw("log_all_failures", c.LogAllFailures, false)
	if h := c.HTTP; h != nil {
		for _, u := range h.URLs {
			w.open("url")
			w.str("path", u.Path)
			w.str("digest", u.Digest)
			codes := make([]string, len(u.Status))
			for i, r := range u.Status {
				codes[i] = strconv.Itoa(r.From)
				if r.To != r.From {
					codes[i] += "-" + strconv.Itoa(r.To)
				}
			}
			if !w.compact || len(u.Status) != 1 || u.Status[0] != (StatusRange{200, 299}) {
				w.line("status_code %s", strings.Join(codes, " "))
			}
			w.str("regex", u.Regex)
			w.boolKw("regex_no_match", u.RegexNoMatch, false)
			w.str("virtualhost", u.VirtualHost)
			w.close()
		}
		w.kvd("http_protocol", h.Protocol, "1.0")
		if h.VirtualHost != "" && (!w.compact || h.VirtualHost != rs.VirtualHost) {
			w.str("virtualhost", h.VirtualHost)
		}
		w.boolKw("fast_recovery", h.FastRecovery, false)
		if c.Kind == CheckSSL {
			w.boolKw("enable_sni", h.EnableSNI, false)
			w.str("sni_name", h.SNIName)
			w.boolKw("tls_compliant", h.TLSCompliant, false)
		}
	}
	if c.SMTP != nil {
		w.str("helo_name", c.SMTP.HeloName)
		for _, h := range c.SMTP.Hosts {
			w.open("host")
			hostOr := func(a fmt.Stringer, name string) string {
				if name != "" {
					return name
				}
				return a.String()
			}
			if h.ConnectIP.IsValid() {
				w.kv("connect_ip", hostOr(h.ConnectIP, h.ConnectIPName))
			}
			if h.ConnectPort != 0 {
				w.kv("connect_port", h.ConnectPort)
			}
			if h.BindTo.IsValid() {
				w.kv("bindto", hostOr(h.BindTo, h.BindToName))
			}
			if h.BindPort != 0 {
				w.kv("bind_port", h.BindPort)
			}
			w.str("bind_if", h.BindIf)
			if h.Fwmark != 0 {
				w.kv("fwmark", h.Fwmark)
			}
			if h.ConnectTimeout > 0 {
				w.kv("connect_timeout", strconv.FormatFloat(h.ConnectTimeout, 'f', -1, 64))
			}
			w.str("helo_name", h.HeloName)
			w.close()
		}
	}
	if c.DNS != nil {
		w.kvd("type", c.DNS.Type, "SOA")
		w.strd("name", c.DNS.Name, ".")
	}
	if m := c.Misc; m != nil {
		w.str("misc_path", m.Path)
		w.secd("misc_timeout", m.Timeout, c.DelayLoop)
		w.boolKw("misc_dynamic", m.Dynamic, false)
		if u, g, ok := strings.Cut(m.User, ":"); ok {
			w.line("user %s %s", quote(u), quote(g))
		} else {
			w.str("user", m.User)
		}
	}
	if u := c.UDP; u != nil {
		if len(u.Payload) > 0 {
			w.line("payload %x", u.Payload)
		}
		if u.RequireReply {
			if u.ReplyPattern != "" {
				w.line("require_reply %s", u.ReplyPattern)
			} else {
				w.line("require_reply")
			}
		}
		w.kvd("min_reply_length", u.MinReplyLength, 0)
		w.kvd("max_reply_length", u.MaxReplyLength, 255)
	}
	w.close()
}
