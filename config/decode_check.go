package config

import (
	"encoding/hex"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// networkChecker reports whether a checker kind connects to the real server
// (and so has connect_ip, bindto, ...).
func networkChecker(kind string) bool {
	return kind != CheckMisc && kind != CheckFile
}

func (d *decoder) checker(b *Stmt, rs *RealServer, vs *VirtualServer) (Checker, bool) {
	kind := b.Key
	if kind == "ICMP_CHECK" {
		kind = CheckPing
	}
	c := Checker{Pos: b.Pos, Kind: kind}
	if !d.needBlock(b) || !d.nargs0(b) {
		return c, false
	}
	var (
		connectTimeout, delayLoop, dbr time.Duration = -1, -1, -1
		retry                                        = -1
		warmup                         *time.Duration
		alpha                          *bool
	)
	t := table{
		"retry":              func(s *Stmt) { d.integer(s, &retry, 0, math.MaxInt32) },
		"nb_get_retry":       func(s *Stmt) { d.integer(s, &retry, 0, math.MaxInt32) },
		"delay_before_retry": func(s *Stmt) { d.seconds(s, &dbr, 0, 86400) },
		"warmup":             func(s *Stmt) { d.secondsPtr(s, &warmup, 0, 86400) },
		"delay_loop":         func(s *Stmt) { d.seconds(s, &delayLoop, 0.001, 86400) },
		"alpha":              func(s *Stmt) { d.flagPtr(s, &alpha) },
		"log_all_failures":   func(s *Stmt) { d.flag(s, &c.LogAllFailures) },
	}
	if networkChecker(kind) {
		t["connect_ip"] = func(s *Stmt) {
			if d.nargs(s, 1, 1) {
				c.ConnectIP, c.ConnectIPName, _ = d.host(s, s.Args[0].Text, vs.Family)
			}
		}
		t["connect_port"] = func(s *Stmt) {
			if d.nargs(s, 1, 1) {
				d.port(s, s.Args[0].Text, &c.ConnectPort)
			}
		}
		t["bindto"] = func(s *Stmt) {
			if d.nargs(s, 1, 1) {
				c.BindTo, c.BindToName, _ = d.host(s, s.Args[0].Text, vs.Family)
			}
		}
		t["bind_port"] = func(s *Stmt) {
			if d.nargs(s, 1, 1) {
				d.port(s, s.Args[0].Text, &c.BindPort)
			}
		}
		t["bind_if"] = func(s *Stmt) { d.str(s, &c.BindIf) }
		t["fwmark"] = func(s *Stmt) {
			v := 0
			d.integer(s, &v, 0, math.MaxInt32)
			c.Fwmark = uint32(v)
		}
		t["connect_timeout"] = func(s *Stmt) { d.seconds(s, &connectTimeout, 0.001, 86400) }
	}
	switch kind {
	case CheckHTTP, CheckSSL:
		c.HTTP = &HTTPCheck{Protocol: "1.0"}
		h := c.HTTP
		t["url"] = func(s *Stmt) {
			if u, ok := d.url(s); ok {
				h.URLs = append(h.URLs, u)
			}
		}
		t["http_protocol"] = func(s *Stmt) { d.enum(s, &h.Protocol, "1.0", "1.0C", "1.1") }
		t["virtualhost"] = func(s *Stmt) { d.str(s, &h.VirtualHost) }
		t["fast_recovery"] = func(s *Stmt) { d.flag(s, &h.FastRecovery) }
		if kind == CheckSSL {
			t["enable_sni"] = func(s *Stmt) { d.flag(s, &h.EnableSNI) }
			t["sni_name"] = func(s *Stmt) { d.str(s, &h.SNIName) }
			t["tls_compliant"] = func(s *Stmt) { d.flag(s, &h.TLSCompliant) }
		}
	case CheckSMTP:
		c.SMTP = &SMTPCheck{}
		t["helo_name"] = func(s *Stmt) { d.str(s, &c.SMTP.HeloName) }
		t["host"] = func(s *Stmt) {
			if h, ok := d.smtpHost(s, vs, t); ok {
				c.SMTP.Hosts = append(c.SMTP.Hosts, h)
			}
		}
	case CheckDNS:
		c.DNS = &DNSCheck{Type: "SOA", Name: "."}
		t["type"] = func(s *Stmt) { d.enum(s, &c.DNS.Type, "A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA") }
		t["name"] = func(s *Stmt) { d.str(s, &c.DNS.Name) }
	case CheckMisc:
		c.Misc = &MiscCheck{Timeout: -1}
		t["misc_path"] = func(s *Stmt) { d.command(s, &c.Misc.Path) }
		t["misc_timeout"] = func(s *Stmt) { d.seconds(s, &c.Misc.Timeout, 0.001, 86400) }
		t["misc_dynamic"] = func(s *Stmt) { d.flag(s, &c.Misc.Dynamic) }
		t["user"] = func(s *Stmt) { d.scriptUser(s, &c.Misc.User) }
	case CheckUDP:
		c.UDP = &UDPCheck{}
		u := c.UDP
		u.MaxReplyLength = 255
		t["payload"] = func(s *Stmt) { u.Payload = d.hexArg(s) }
		t["require_reply"] = func(s *Stmt) {
			u.RequireReply = true
			if len(s.Args) > 0 {
				u.ReplyPattern = d.hexPattern(s)
			} else {
				d.nargs(s, 0, 0)
			}
		}
		t["min_reply_length"] = func(s *Stmt) { d.integer(s, &u.MinReplyLength, 0, 65535) }
		t["max_reply_length"] = func(s *Stmt) { d.integer(s, &u.MaxReplyLength, 0, 65535) }
	case CheckFile:
		c.File = &FileCheck{}
		var weight *int
		var reverse bool
		t = table{
			"track_file": func(s *Stmt) { d.str(s, &c.File.TrackFile) },
			"weight": func(s *Stmt) {
				if !d.nargs(s, 1, 2) {
					return
				}
				if v, ok := d.intArg(s, s.Args[0].Text, -math.MaxInt32, math.MaxInt32); ok {
					weight = &v
				}
				if len(s.Args) == 2 {
					d.reverse(s, s.Args[1].Text, &reverse)
				}
			},
		}
		defer func() {
			tf := d.cfg.trackFile(c.File.TrackFile)
			if tf == nil {
				return
			}
			c.File.Weight, c.File.Reverse = tf.Weight, tf.Reverse
			if weight != nil {
				c.File.Weight, c.File.Reverse = *weight, reverse
			}
		}()
	}
	d.run(b.Block, kind, t)

	// Resolve inheritance: checker, then real server, then virtual server
	// (already folded into the real server), then the kind's default.
	c.DelayLoop = pick(delayLoop, rs.DelayLoop)
	c.ConnectTimeout = pick(connectTimeout, rs.ConnectTimeout)
	c.Retry, c.DelayBeforeRetry = checkerDefaults(kind, c.DelayLoop)
	switch {
	case retry >= 0:
		c.Retry = retry
	case rs.Retry != nil:
		c.Retry = *rs.Retry
	}
	switch {
	case dbr >= 0:
		c.DelayBeforeRetry = dbr
	case rs.DelayBeforeRetry != nil:
		c.DelayBeforeRetry = *rs.DelayBeforeRetry
	}
	c.Warmup = clonePtr(rs.Warmup)
	if warmup != nil {
		c.Warmup = warmup
	}
	c.Alpha = rs.Alpha
	if alpha != nil {
		c.Alpha = *alpha
	}
	if networkChecker(kind) {
		if !c.ConnectIP.IsValid() {
			c.ConnectIP = rs.Addr
		}
		if c.ConnectPort == 0 && kind != CheckPing {
			c.ConnectPort = rs.Port
		}
	} else {
		c.ConnectTimeout = 0
	}
	if c.HTTP != nil && c.HTTP.VirtualHost == "" {
		c.HTTP.VirtualHost = rs.VirtualHost
	}
	if c.Misc != nil {
		if c.Misc.Timeout < 0 {
			c.Misc.Timeout = c.DelayLoop
		}
		if c.Misc.Path == "" {
			d.errorf(b.Pos, "MISC_CHECK without misc_path")
			return c, false
		}
	}
	if c.File != nil {
		c.DelayLoop, c.DelayBeforeRetry, c.Retry, c.Warmup, c.Alpha = 0, 0, 0, nil, false
		if c.File.TrackFile == "" {
			d.errorf(b.Pos, "FILE_CHECK without track_file")
			return c, false
		}
		if d.cfg.trackFile(c.File.TrackFile) == nil {
			d.errorf(b.Pos, "FILE_CHECK: no track_file named %q", c.File.TrackFile)
			return c, false
		}
	}
	if c.HTTP != nil && len(c.HTTP.URLs) == 0 {
		d.errorf(b.Pos, "%s without url", kind)
		return c, false
	}
	return c, true
}

// smtpHost parses a host { } block of SMTP_CHECK.
// Without connect_ip it checks the real server's address (and without
// connect_port its port), as keepalived does; the checker-wide keywords
// keepalived also takes there (retry, delay_before_retry, warmup,
// delay_loop, alpha, log_all_failures) set the whole checker's values.
func (d *decoder) smtpHost(b *Stmt, vs *VirtualServer, parent table) (SMTPHost, bool) {
	h := SMTPHost{Pos: b.Pos}
	if !d.needBlock(b) || !d.nargs0(b) {
		return h, false
	}
	ht := table{
		"connect_ip": func(s *Stmt) {
			if d.nargs(s, 1, 1) {
				h.ConnectIP, h.ConnectIPName, _ = d.host(s, s.Args[0].Text, vs.Family)
			}
		},
		"connect_port": func(s *Stmt) {
			if d.nargs(s, 1, 1) {
				d.port(s, s.Args[0].Text, &h.ConnectPort)
			}
		},
		"bindto": func(s *Stmt) {
			if d.nargs(s, 1, 1) {
				h.BindTo, h.BindToName, _ = d.host(s, s.Args[0].Text, vs.Family)
			}
		},
		"bind_port": func(s *Stmt) {
			if d.nargs(s, 1, 1) {
				d.port(s, s.Args[0].Text, &h.BindPort)
			}
		},
		"bind_if": func(s *Stmt) { d.str(s, &h.BindIf) },
		"fwmark": func(s *Stmt) {
			v := 0
			d.integer(s, &v, 0, math.MaxInt32)
			h.Fwmark = uint32(v)
		},
		"connect_timeout": func(s *Stmt) {
			var t time.Duration
			d.seconds(s, &t, 0.001, 86400)
			h.ConnectTimeout = t.Seconds()
		},
		"helo_name": func(s *Stmt) { d.str(s, &h.HeloName) },
	}
	for _, k := range []string{"retry", "nb_get_retry", "delay_before_retry", "warmup", "delay_loop", "alpha", "log_all_failures"} {
		if f, ok := parent[k]; ok {
			ht[k] = f
		}
	}
	d.run(b.Block, "SMTP_CHECK host", ht)
	if h.BindTo.IsValid() && h.ConnectIP.IsValid() && familyOf(h.BindTo) != familyOf(h.ConnectIP) {
		d.errorf(b.Pos, "SMTP_CHECK host: bindto %s and connect_ip %s are of different families", h.BindTo, h.ConnectIP)
		return h, false
	}
	return h, true
}

func (d *decoder) nargs0(s *Stmt) bool {
	if len(s.Args) > 0 {
		d.errorf(s.Pos, "%s takes no argument", s.Key)
		return false
	}
	return true
}

func pick(own, inherited time.Duration) time.Duration {
	if own >= 0 {
		return own
	}
	return inherited
}

// hexText joins the arguments of s (keepalived allows "AB 12 0F") and drops
// a 0x prefix.
func hexText(s *Stmt) string {
	t := strings.Join(s.ArgStrings(), "")
	return strings.TrimPrefix(strings.TrimPrefix(t, "0x"), "0X")
}

// hexPattern parses a reply pattern: hex digits, X or x for any nibble.
func (d *decoder) hexPattern(s *Stmt) string {
	t := strings.ToLower(hexText(s))
	if t == "" || len(t)%2 != 0 || strings.Trim(t, "0123456789abcdefx") != "" {
		d.errorf(s.Pos, "%s: %q is not a hex pattern (hex digits, x for any)", s.Key, strings.Join(s.ArgStrings(), " "))
		return ""
	}
	return t
}

func (d *decoder) hexArg(s *Stmt) []byte {
	if !d.nargs(s, 1, 64) {
		return nil
	}
	t := hexText(s)
	b, err := hex.DecodeString(t)
	if err != nil || len(b) == 0 {
		d.errorf(s.Pos, "%s: %q is not a hex string", s.Key, strings.Join(s.ArgStrings(), " "))
		return nil
	}
	return b
}

func (d *decoder) url(b *Stmt) (URL, bool) {
	u := URL{Pos: b.Pos}
	if !d.needBlock(b) {
		return u, false
	}
	d.run(b.Block, "url", table{
		"path": func(s *Stmt) { d.str(s, &u.Path) },
		"digest": func(s *Stmt) {
			if !d.nargs(s, 1, 1) {
				return
			}
			v := strings.ToLower(s.Args[0].Text)
			if bs, err := hex.DecodeString(v); err != nil || len(bs) != 16 {
				d.errorf(s.Pos, "digest %q is not an MD5 digest (32 hex digits)", s.Args[0].Text)
				return
			}
			u.Digest = v
		},
		"status_code": func(s *Stmt) {
			if !d.nargs(s, 1, 1000) {
				return
			}
			for _, a := range s.Args {
				r, ok := parseStatusRange(a.Text)
				if !ok {
					d.errorf(s.Pos, "status_code: %q is not a status or range (100-599)", a.Text)
					return
				}
				u.Status = append(u.Status, r)
			}
		},
		"regex":          func(s *Stmt) { d.str(s, &u.Regex) },
		"regex_no_match": func(s *Stmt) { d.flag(s, &u.RegexNoMatch) },
		"virtualhost":    func(s *Stmt) { d.str(s, &u.VirtualHost) },
	})
	if u.Path == "" {
		d.errorf(b.Pos, "url without path")
		return u, false
	}
	if len(u.Status) == 0 {
		u.Status = []StatusRange{{200, 299}}
	}
	return u, true
}

func parseStatusRange(t string) (StatusRange, bool) {
	from, to, isRange := strings.Cut(t, "-")
	f, err := strconv.Atoi(from)
	if err != nil || f < 100 || f > 599 {
		return StatusRange{}, false
	}
	r := StatusRange{f, f}
	if isRange {
		l, err := strconv.Atoi(to)
		if err != nil || l < f || l > 599 {
			return StatusRange{}, false
		}
		r.To = l
	}
	return r, true
}

func (d *decoder) vsGroup(b *Stmt) (VirtualServerGroup, bool) {
	name, ok := d.blockName(b)
	if !ok {
		return VirtualServerGroup{}, false
	}
	g := VirtualServerGroup{Pos: b.Pos, Name: name}
	for _, s := range b.Block {
		if e, ok := d.vsgEntry(s); ok {
			g.Entries = append(g.Entries, e)
		}
	}
	return g, true
}

func (d *decoder) vsgEntry(s *Stmt) (VSGEntry, bool) {
	e := VSGEntry{Pos: s.Pos}
	if s.HasBlock {
		d.errorf(s.Pos, "unexpected block in virtual_server_group")
		return e, false
	}
	if s.Key == "fwmark" {
		if len(s.Args) < 1 || len(s.Args) > 2 {
			d.errorf(s.Pos, "fwmark needs N [inet|inet6]")
			return e, false
		}
		v, err := strconv.ParseUint(s.Args[0].Text, 10, 32)
		if err != nil || v == 0 {
			d.errorf(s.Pos, "fwmark %q is not a number in 1-4294967295", s.Args[0].Text)
			return e, false
		}
		e.Fwmark, e.Family = uint32(v), FamilyInet
		if len(s.Args) == 2 {
			f := s.Args[1].Text
			if f != FamilyInet && f != FamilyInet6 {
				d.errorf(s.Pos, "fwmark family %q is not inet or inet6", f)
				return e, false
			}
			e.Family = f
		}
		return e, true
	}
	first, last, ok := parseRange(s.Key)
	if !ok {
		d.errorf(s.Pos, "virtual_server_group: %q is not an address, a.b.c.d-e range or CIDR", s.Key)
		return e, false
	}
	e.First, e.Last, e.Family = first, last, familyOf(first)
	switch len(s.Args) {
	case 0:
	case 1:
		if !d.port(s, s.Args[0].Text, &e.Port) {
			return e, false
		}
	default:
		d.errorf(s.Pos, "virtual_server_group entry takes ADDRESS [PORT]")
		return e, false
	}
	return e, true
}

// parseRange parses "addr", "a.b.c.d-e" (last octet, or last hextet in
// hex for IPv6), "a.b.c.d-e.f.g.h" and CIDR prefixes.
func parseRange(t string) (netip.Addr, netip.Addr, bool) {
	if strings.Contains(t, "/") {
		p, err := netip.ParsePrefix(t)
		if err != nil {
			return netip.Addr{}, netip.Addr{}, false
		}
		p = p.Masked()
		return p.Addr(), lastOf(p), true
	}
	from, to, isRange := strings.Cut(t, "-")
	a, err := netip.ParseAddr(from)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, netip.Addr{}, false
	}
	a = a.Unmap()
	if !isRange {
		return a, a, true
	}
	if b, err := netip.ParseAddr(to); err == nil {
		b = b.Unmap()
		if b.BitLen() != a.BitLen() || b.Less(a) {
			return netip.Addr{}, netip.Addr{}, false
		}
		return a, b, true
	}
	if a.Is4() {
		n, err := strconv.Atoi(to)
		b4 := a.As4()
		if err != nil || n < int(b4[3]) || n > 255 {
			return netip.Addr{}, netip.Addr{}, false
		}
		b4[3] = byte(n)
		return a, netip.AddrFrom4(b4), true
	}
	n, err := strconv.ParseUint(to, 16, 16)
	b16 := a.As16()
	cur := uint64(b16[14])<<8 | uint64(b16[15])
	if err != nil || n < cur {
		return netip.Addr{}, netip.Addr{}, false
	}
	b16[14], b16[15] = byte(n>>8), byte(n)
	return a, netip.AddrFrom16(b16), true
}

// lastOf returns the last address of a (masked) prefix.
func lastOf(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	bits := p.Bits()
	for i := range b {
		for j := 0; j < 8; j++ {
			if i*8+j >= bits {
				b[i] |= 0x80 >> j
			}
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func (c *Config) trackFile(name string) *TrackFile {
	for i := range c.TrackFiles {
		if c.TrackFiles[i].Name == name {
			return &c.TrackFiles[i]
		}
	}
	return nil
}

func (d *decoder) trackFileBlock(b *Stmt) (TrackFile, bool) {
	name, ok := d.blockName(b)
	if !ok {
		return TrackFile{}, false
	}
	tf := TrackFile{Pos: b.Pos, Name: name, Weight: 1}
	d.run(b.Block, "track_file", table{
		"file": func(s *Stmt) { d.str(s, &tf.File) },
		"weight": func(s *Stmt) {
			if !d.nargs(s, 1, 2) {
				return
			}
			if v, ok := d.intArg(s, s.Args[0].Text, -math.MaxInt32, math.MaxInt32); ok {
				tf.Weight = v
			}
			if len(s.Args) == 2 {
				d.reverse(s, s.Args[1].Text, &tf.Reverse)
			}
		},
		"init_file": func(s *Stmt) {
			if !d.nargs(s, 0, 2) {
				return
			}
			tf.InitFile = true
			for _, a := range s.ArgStrings() {
				if a == "overwrite" {
					tf.InitOverwrite = true
				} else if v, ok := d.intArg(s, a, math.MinInt32, math.MaxInt32); ok {
					tf.InitValue = v
				}
			}
		},
	})
	if tf.File == "" {
		d.errorf(b.Pos, "track_file %s has no file", name)
		return tf, false
	}
	return tf, true
}

// checkerDefaults returns the retry count and delay_before_retry of a
// checker kind when neither the checker, its real server nor its virtual
// server sets them.
func checkerDefaults(kind string, delayLoop time.Duration) (retry int, dbr time.Duration) {
	switch kind {
	case CheckMisc:
		return 0, time.Second
	case CheckDNS:
		return 3, delayLoop
	case CheckHTTP, CheckSSL:
		return 1, 3 * time.Second
	}
	return 1, time.Second
}
