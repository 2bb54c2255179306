package config

import (
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Checker and service defaults (keepalived check_data.c / check_api.c).
const (
	DefaultDelayLoop          = 60 * time.Second
	DefaultConnectTimeout     = 5 * time.Second
	DefaultPersistenceTimeout = 360 * time.Second
)

func (d *decoder) virtualServer(b *Stmt) (VirtualServer, bool) {
	vs := VirtualServer{
		Pos: b.Pos, Protocol: "TCP", Scheduler: "wlc", Method: "NAT",
		DelayLoop: DefaultDelayLoop, ConnectTimeout: DefaultConnectTimeout, Quorum: 1,
		SMTPAlert: d.cfg.Global.SMTPAlert,
	}
	if !d.needBlock(b) || !d.vsKey(b, &vs) {
		return vs, false
	}
	// ip_family may come anywhere in the block but decides how host names
	// of real servers resolve, so read it first.
	for _, s := range b.Block {
		if s.Key == "ip_family" {
			d.enum(s, &vs.IPFamily, FamilyInet, FamilyInet6)
			if vs.Fwmark != 0 && vs.IPFamily != "" {
				vs.Family = vs.IPFamily
			}
		}
	}
	var rsBlocks []*Stmt
	granularitySet := false
	d.run(b.Block, "virtual_server", table{
		"ip_family":  func(*Stmt) {},
		"protocol":   func(s *Stmt) { d.enum(s, &vs.Protocol, "TCP", "UDP", "SCTP") },
		"lb_algo":    func(s *Stmt) { d.enum(s, &vs.Scheduler, Schedulers...) },
		"lvs_sched":  func(s *Stmt) { d.enum(s, &vs.Scheduler, Schedulers...) },
		"lb_kind":    func(s *Stmt) { d.method(s, &vs.Method, &vs.Tunnel) },
		"lvs_method": func(s *Stmt) { d.method(s, &vs.Method, &vs.Tunnel) },
		"ops":        func(s *Stmt) { d.flag(s, &vs.OPS) },
		"persistence_timeout": func(s *Stmt) {
			if len(s.Args) == 0 && d.nargs(s, 0, 0) {
				vs.PersistenceTimeout = DefaultPersistenceTimeout
				return
			}
			d.seconds(s, &vs.PersistenceTimeout, 0, math.MaxUint32)
		},
		"persistence_granularity": func(s *Stmt) {
			if d.nargs(s, 1, 1) {
				if bits, ok := d.granularity(s, vs.Family); ok {
					vs.PersistenceGranularity = bits
					granularitySet = true
				}
			}
		},
		"persistence_engine": func(s *Stmt) { d.str(s, &vs.PersistenceEngine) },
		"delay_loop":         func(s *Stmt) { d.seconds(s, &vs.DelayLoop, 0.001, 86400) },
		"connect_timeout":    func(s *Stmt) { d.seconds(s, &vs.ConnectTimeout, 0.001, 86400) },
		"retry":              func(s *Stmt) { d.intPtr(s, &vs.Retry, 0, math.MaxInt32) },
		"nb_get_retry":       func(s *Stmt) { d.intPtr(s, &vs.Retry, 0, math.MaxInt32) },
		"delay_before_retry": func(s *Stmt) { d.secondsPtr(s, &vs.DelayBeforeRetry, 0, 86400) },
		"warmup":             func(s *Stmt) { d.secondsPtr(s, &vs.Warmup, 0, 86400) },
		"alpha":              d.setTo(&vs.Alpha, true),
		"omega":              d.setTo(&vs.Omega, true),
		"inhibit_on_failure": func(s *Stmt) { d.flag(s, &vs.InhibitOnFailure) },
		"virtualhost":        func(s *Stmt) { d.str(s, &vs.VirtualHost) },
		"quorum":             func(s *Stmt) { d.integer(s, &vs.Quorum, 1, math.MaxInt32) },
		"hysteresis":         func(s *Stmt) { d.integer(s, &vs.Hysteresis, 0, math.MaxInt32) },
		"quorum_up":          func(s *Stmt) { d.command(s, &vs.QuorumUp) },
		"quorum_down":        func(s *Stmt) { d.command(s, &vs.QuorumDown) },
		"sorry_server": func(s *Stmt) {
			if !d.nargs(s, 1, 2) {
				return
			}
			a, name, ok := d.host(s, s.Args[0].Text, vs.Family)
			if !ok {
				return
			}
			ss := &SorryServer{Addr: a, Name: name, Port: vs.Port}
			if len(s.Args) == 2 && !d.port(s, s.Args[1].Text, &ss.Port) {
				return
			}
			if vs.SorryServer != nil {
				ss.Method = vs.SorryServer.Method
			}
			vs.SorryServer = ss
		},
		"sorry_server_inhibit": func(s *Stmt) { d.flag(s, &vs.SorryServerInhibit) },
		"sorry_server_lvs_method": func(s *Stmt) {
			if vs.SorryServer == nil {
				vs.SorryServer = &SorryServer{}
			}
			var tun *Tunnel
			d.method(s, &vs.SorryServer.Method, &tun)
		},
		"ha_suspend":  d.setTo(&vs.HASuspend, true),
		"smtp_alert":  func(s *Stmt) { d.flag(s, &vs.SMTPAlert) },
		"real_server": func(s *Stmt) { rsBlocks = append(rsBlocks, s) },
		"hashed":      d.schedFlag(&vs), "flag-1": d.schedFlag(&vs), "flag-2": d.schedFlag(&vs),
		"flag-3": d.schedFlag(&vs), "sh-port": d.schedFlag(&vs), "sh-fallback": d.schedFlag(&vs),
		"mh-port": d.schedFlag(&vs), "mh-fallback": d.schedFlag(&vs),
	})
	if vs.Fwmark == 0 && !slices.ContainsFunc(b.Block, func(s *Stmt) bool { return s.Key == "protocol" }) {
		d.warnf(b.Pos, "virtual_server %s has no protocol: TCP is used, but keepalived 2.2.7 would use UDP (\"no protocol set - defaulting to UDP\"); write protocol TCP", vs.Ident())
	}
	if granularitySet && vs.PersistenceTimeout == 0 {
		vs.PersistenceTimeout = DefaultPersistenceTimeout
	}
	if vs.SorryServer != nil {
		if !vs.SorryServer.Addr.IsValid() {
			d.errorf(b.Pos, "sorry_server_lvs_method without sorry_server")
			vs.SorryServer = nil
		} else if vs.SorryServer.Method == "" {
			vs.SorryServer.Method = vs.Method
		}
	}
	for _, s := range rsBlocks {
		if rs, ok := d.realServer(s, &vs); ok {
			vs.RealServers = append(vs.RealServers, rs)
		}
	}
	return vs, true
}

func (d *decoder) schedFlag(vs *VirtualServer) func(*Stmt) {
	return func(s *Stmt) {
		if !d.bare(s) {
			return
		}
		f := schedFlags[s.Key]
		if !slices.Contains(vs.SchedFlags, f) {
			vs.SchedFlags = append(vs.SchedFlags, f)
			slices.Sort(vs.SchedFlags)
		}
	}
}

// vsKey parses "virtual_server IP PORT", "fwmark N [inet|inet6]" or
// "group NAME".
func (d *decoder) vsKey(b *Stmt, vs *VirtualServer) bool {
	a := b.ArgStrings()
	switch {
	case len(a) >= 2 && a[0] == "fwmark":
		v, err := strconv.ParseUint(a[1], 10, 32)
		if err != nil || v == 0 {
			d.errorf(b.Pos, "virtual_server fwmark %q is not a number in 1-4294967295", a[1])
			return false
		}
		vs.Fwmark, vs.Family = uint32(v), FamilyInet
		if len(a) == 3 && (a[2] == FamilyInet || a[2] == FamilyInet6) {
			vs.Family = a[2]
		} else if len(a) != 2 {
			d.errorf(b.Pos, "virtual_server fwmark N takes an optional inet|inet6 only")
			return false
		}
		return true
	case len(a) == 2 && a[0] == "group":
		vs.Group = a[1]
		vs.Family = FamilyInet
		for _, g := range d.cfg.VSGroups {
			if g.Name == a[1] && len(g.Entries) > 0 {
				vs.Family = g.Entries[0].Family
			}
		}
		return true
	case len(a) >= 1 && a[0] != "fwmark" && a[0] != "group":
		addr, err := netip.ParseAddr(a[0])
		if err != nil || addr.Zone() != "" {
			d.errorf(b.Pos, "virtual_server: %q is not an IP address (virtual_server takes IP [PORT], fwmark N or group NAME)", a[0])
			return false
		}
		vs.Addr, vs.Family = addr.Unmap(), familyOf(addr.Unmap())
		if len(a) >= 2 && !d.port(b, a[1], &vs.Port) {
			return false
		}
		if len(a) > 2 {
			// keepalived 2.2.7 reads IP and PORT and ignores the rest
			// of the line ("virtual_server 192.0.2.10 53 dev eth0"
			// passes keepalived -t): a virtual server has no device.
			d.warnf(b.Pos, "virtual_server %s %s: %q ignored (as keepalived does): a virtual server is only IP [PORT]; the address need not be on an interface",
				a[0], a[1], strings.Join(a[2:], " "))
		}
		return true
	}
	d.errorf(b.Pos, "virtual_server needs IP [PORT], fwmark N [inet|inet6] or group NAME")
	return false
}

func (d *decoder) method(s *Stmt, dst *string, tun **Tunnel) {
	if !d.nargs(s, 1, 6) {
		return
	}
	m := strings.ToUpper(s.Args[0].Text)
	switch m {
	case "NAT", "DR":
		if len(s.Args) > 1 {
			d.errorf(s.Pos, "%s %s takes no options", s.Key, m)
			return
		}
		*dst, *tun = m, nil
		return
	case "TUN":
	default:
		d.errorf(s.Pos, "%s: %q is not one of NAT, DR, TUN", s.Key, s.Args[0].Text)
		return
	}
	t := &Tunnel{Type: "ipip"}
	a := s.ArgStrings()[1:]
	for i := 0; i < len(a); i++ {
		switch a[i] {
		case "type":
			if i+1 >= len(a) || !slices.Contains([]string{"ipip", "gue", "gre"}, a[i+1]) {
				d.errorf(s.Pos, "%s TUN: type must be ipip, gue or gre", s.Key)
				return
			}
			t.Type = a[i+1]
			i++
		case "port":
			if i+1 >= len(a) || !d.port(s, a[i+1], &t.Port) {
				d.errorf(s.Pos, "%s TUN: port needs a number", s.Key)
				return
			}
			i++
		case "nocsum", "csum", "remcsum":
			t.Csum = a[i]
		default:
			d.errorf(s.Pos, "%s TUN: unknown option %q", s.Key, a[i])
			return
		}
	}
	if t.Type == "gue" && t.Port == 0 {
		d.errorf(s.Pos, "%s TUN type gue needs a port", s.Key)
		return
	}
	if t.Type != "gue" && t.Port != 0 {
		d.errorf(s.Pos, "%s TUN: port is only for type gue", s.Key)
		return
	}
	*dst, *tun = m, t
}

// granularity parses a netmask (IPv4 dotted or prefix length).
func (d *decoder) granularity(s *Stmt, family string) (int, bool) {
	t := s.Args[0].Text
	if n, err := strconv.Atoi(t); err == nil {
		maxBits := 32
		if family == FamilyInet6 {
			maxBits = 128
		}
		if n >= 1 && n <= maxBits {
			return n, true
		}
	} else if a, err := netip.ParseAddr(t); err == nil && a.Is4() {
		b := a.As4()
		v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		ones := 0
		for v&0x80000000 != 0 {
			ones++
			v <<= 1
		}
		if v == 0 && ones > 0 {
			return ones, true
		}
	}
	d.errorf(s.Pos, "persistence_granularity %q is not a netmask", t)
	return 0, false
}

func (d *decoder) realServer(b *Stmt, vs *VirtualServer) (RealServer, bool) {
	rs := RealServer{
		Pos: b.Pos, Weight: 1, Method: vs.Method, InhibitOnFailure: vs.InhibitOnFailure,
		Alpha: vs.Alpha, Retry: clonePtr(vs.Retry), DelayBeforeRetry: clonePtr(vs.DelayBeforeRetry),
		Warmup: clonePtr(vs.Warmup), DelayLoop: vs.DelayLoop, ConnectTimeout: vs.ConnectTimeout,
		VirtualHost: vs.VirtualHost, SMTPAlert: vs.SMTPAlert, Port: vs.Port,
	}
	if !d.needBlock(b) {
		return rs, false
	}
	if len(b.Args) < 1 || len(b.Args) > 2 {
		d.errorf(b.Pos, "real_server needs IP [PORT]")
		return rs, false
	}
	a, name, ok := d.host(b, b.Args[0].Text, vs.Family)
	if !ok {
		return rs, false
	}
	rs.Addr, rs.Name = a, name
	if len(b.Args) == 2 && !d.port(b, b.Args[1].Text, &rs.Port) {
		return rs, false
	}
	var checkers []*Stmt
	add := func(s *Stmt) { checkers = append(checkers, s) }
	var tun *Tunnel
	d.run(b.Block, "real_server", table{
		"weight":             func(s *Stmt) { d.integer(s, &rs.Weight, 0, math.MaxInt32) },
		"lvs_method":         func(s *Stmt) { d.method(s, &rs.Method, &tun) },
		"lb_kind":            func(s *Stmt) { d.method(s, &rs.Method, &tun) },
		"inhibit_on_failure": func(s *Stmt) { d.flag(s, &rs.InhibitOnFailure) },
		"notify_up":          func(s *Stmt) { d.notifyCommand(s, &rs.NotifyUp) },
		"notify_down":        func(s *Stmt) { d.notifyCommand(s, &rs.NotifyDown) },
		"uthreshold":         func(s *Stmt) { d.integer(s, &rs.UThreshold, 0, math.MaxInt32) },
		"lthreshold":         func(s *Stmt) { d.integer(s, &rs.LThreshold, 0, math.MaxInt32) },
		"alpha":              func(s *Stmt) { d.flag(s, &rs.Alpha) },
		"retry":              func(s *Stmt) { d.intPtr(s, &rs.Retry, 0, math.MaxInt32) },
		"nb_get_retry":       func(s *Stmt) { d.intPtr(s, &rs.Retry, 0, math.MaxInt32) },
		"delay_before_retry": func(s *Stmt) { d.secondsPtr(s, &rs.DelayBeforeRetry, 0, 86400) },
		"warmup":             func(s *Stmt) { d.secondsPtr(s, &rs.Warmup, 0, 86400) },
		"delay_loop":         func(s *Stmt) { d.seconds(s, &rs.DelayLoop, 0.001, 86400) },
		"connect_timeout":    func(s *Stmt) { d.seconds(s, &rs.ConnectTimeout, 0.001, 86400) },
		"virtualhost":        func(s *Stmt) { d.str(s, &rs.VirtualHost) },
		"smtp_alert":         func(s *Stmt) { d.flag(s, &rs.SMTPAlert) },
		CheckTCP:             add, CheckHTTP: add, CheckSSL: add, CheckSMTP: add, CheckDNS: add,
		CheckMisc: add, CheckUDP: add, CheckPing: add, CheckFile: add,
		"ICMP_CHECK": add,
	})
	if tun != nil && *tun != (Tunnel{Type: "ipip"}) {
		d.errorf(b.Pos, "real_server %s: TUN options on a real server are not supported (set them on the virtual_server)", b.Args[0].Text)
	}
	for _, s := range checkers {
		if c, ok := d.checker(s, &rs, vs); ok {
			rs.Checkers = append(rs.Checkers, c)
		}
	}
	return rs, true
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
