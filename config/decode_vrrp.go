package config

import (
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

func (d *decoder) script(b *Stmt) (VRRPScript, bool) {
	name, ok := d.blockName(b)
	if !ok {
		return VRRPScript{}, false
	}
	sc := VRRPScript{Pos: b.Pos, Name: name, Interval: time.Second, Timeout: -1, Rise: 1, Fall: 1}
	d.run(b.Block, "vrrp_script", table{
		"script":   func(s *Stmt) { d.command(s, &sc.Script) },
		"interval": func(s *Stmt) { d.seconds(s, &sc.Interval, 0.001, 86400) },
		"timeout":  func(s *Stmt) { d.seconds(s, &sc.Timeout, 0.001, 86400) },
		"weight": func(s *Stmt) {
			if !d.nargs(s, 1, 2) {
				return
			}
			if v, ok := d.intArg(s, s.Args[0].Text, -253, 253); ok {
				sc.Weight = v
			}
			if len(s.Args) == 2 {
				d.reverse(s, s.Args[1].Text, &sc.Reverse)
			}
		},
		"rise":      func(s *Stmt) { d.integer(s, &sc.Rise, 1, math.MaxInt32) },
		"fall":      func(s *Stmt) { d.integer(s, &sc.Fall, 1, math.MaxInt32) },
		"user":      func(s *Stmt) { d.scriptUser(s, &sc.User) },
		"init_fail": func(s *Stmt) { d.flag(s, &sc.InitFail) },
	})
	if sc.Timeout < 0 {
		sc.Timeout = sc.Interval
	}
	if sc.Script == "" {
		// keepalived: "No script set for vrrp_script X - removing", and
		// the instances tracking it do without it.
		d.warnf(b.Pos, "vrrp_script %s has no script: it is removed, and so are the track_script lines naming it (as keepalived does)", name)
		if d.removedScripts == nil {
			d.removedScripts = map[string]bool{}
		}
		d.removedScripts[name] = true
		return sc, false
	}
	return sc, true
}

func (d *decoder) reverse(s *Stmt, text string, dst *bool) {
	switch text {
	case "reverse":
		*dst = true
	case "noreverse":
		*dst = false
	default:
		d.errorf(s.Pos, "%s: expected reverse or noreverse, got %q", s.Key, text)
	}
}

// instanceDraft holds what was written before defaults are resolved.
type instanceDraft struct {
	priority, version, downTimer                        int
	advert                                              float64
	advertPos                                           Pos
	accept, lowerPrioNoAdvert, higherPrio, v3csum, skip *bool
	checkUnicast                                        *bool
	garpLPDelay                                         time.Duration
	garpLPRepeat                                        int
}

func (d *decoder) boolPtr(s *Stmt, dst **bool, v bool) {
	if d.bare(s) {
		*dst = &v
	}
}

// flagPtr is flag for an optional setting: *dst records that the keyword
// was given (and its value), nil meaning "inherit".
func (d *decoder) flagPtr(s *Stmt, dst **bool) {
	v := true
	d.flag(s, &v)
	*dst = &v
}

func (d *decoder) instance(b *Stmt) (VRRPInstance, bool) {
	name, ok := d.blockName(b)
	if !ok {
		return VRRPInstance{}, false
	}
	g := &d.cfg.Global
	in := VRRPInstance{
		Pos: b.Pos, Name: name, State: "BACKUP",
		GarpMasterDelay:         g.VRRPGarpMasterDelay,
		GarpMasterRepeat:        g.VRRPGarpMasterRepeat,
		GarpMasterRefresh:       g.VRRPGarpMasterRefresh,
		GarpMasterRefreshRepeat: g.VRRPGarpRefreshRepeat,
		StrictMode:              g.VRRPStrict,
		DontTrackPrimary:        false,
		SMTPAlert:               g.SMTPAlert,
		KeywordPos:              map[string]Pos{},
	}
	if d.cfg.Cluster != nil {
		in.QuorumFence = d.cfg.Cluster.QuorumFence
	}
	dr := instanceDraft{priority: -1, downTimer: -1, advert: -1, garpLPDelay: -1, garpLPRepeat: -1}
	vipBlock := func(dst *[]VIP) func(*Stmt) {
		return func(s *Stmt) {
			if !d.needBlock(s) {
				return
			}
			for _, it := range s.Block {
				if v, ok := d.vip(it); ok {
					*dst = append(*dst, v)
				}
			}
		}
	}
	var vipsWritten []VIP
	xmitBase := false
	d.runAt(b.Block, "vrrp_instance", table{
		"state":     func(s *Stmt) { d.enum(s, &in.State, "MASTER", "BACKUP") },
		"interface": func(s *Stmt) { d.str(s, &in.Interface) },
		// -1 marks "given but invalid" so validation does not also say
		// it is missing.
		"virtual_router_id": func(s *Stmt) { in.VRID = -1; d.integer(s, &in.VRID, 1, 255) },
		"priority":          func(s *Stmt) { d.integer(s, &dr.priority, 1, 255) },
		"advert_int": func(s *Stmt) {
			if !d.nargs(s, 1, 1) {
				return
			}
			f, err := strconv.ParseFloat(s.Args[0].Text, 64)
			if err != nil || math.IsNaN(f) || f < 0.01 || f > 255 {
				d.errorf(s.Pos, "advert_int %q out of range (0.01-255 seconds)", s.Args[0].Text)
				return
			}
			dr.advert, dr.advertPos = f, s.Pos
		},
		"version":                    func(s *Stmt) { d.integer(s, &dr.version, 2, 3) },
		"virtual_ipaddress":          vipBlock(&vipsWritten),
		"virtual_ipaddress_excluded": vipBlock(&in.ExcludedVIPs),
		"unicast_src_ip":             func(s *Stmt) { d.addr(s, &in.UnicastSrcIP) },
		"unicast_peer": func(s *Stmt) {
			if !d.needBlock(s) {
				return
			}
			for _, it := range s.Block {
				if p, ok := d.unicastPeer(it); ok {
					in.UnicastPeers = append(in.UnicastPeers, p)
				}
			}
		},
		"mcast_src_ip": func(s *Stmt) { d.addr(s, &in.McastSrcIP) },
		"authentication": func(s *Stmt) {
			if !d.needBlock(s) {
				return
			}
			a := &Authentication{Pos: s.Pos, Type: "PASS"}
			d.run(s.Block, "authentication", table{
				"auth_type": func(s *Stmt) { a.Pos = s.Pos; d.enum(s, &a.Type, "PASS", "AH") },
				"auth_pass": func(s *Stmt) { d.str(s, &a.Pass) },
			})
			if len(a.Pass) > 8 {
				d.warnf(s.Pos, "auth_pass is longer than 8 characters; only the first 8 are used")
				a.Pass = a.Pass[:8]
			}
			in.Auth = a
		},
		"nopreempt":                  d.setTo(&in.NoPreempt, true),
		"preempt":                    d.setTo(&in.NoPreempt, false),
		"preempt_delay":              func(s *Stmt) { d.seconds(s, &in.PreemptDelay, 0, 1000) },
		"track_interface":            func(s *Stmt) { in.TrackInterfaces = append(in.TrackInterfaces, d.trackInterfaces(s)...) },
		"track_script":               func(s *Stmt) { in.TrackScripts = append(in.TrackScripts, d.trackScripts(s)...) },
		"track_file":                 func(s *Stmt) { in.TrackFileRefs = append(in.TrackFileRefs, d.trackFileRefs(s)...) },
		"track_process":              func(s *Stmt) { in.TrackProcesses = append(in.TrackProcesses, d.trackProcessRefs(s)...) },
		"notify":                     func(s *Stmt) { d.notifyCommand(s, &in.Notify.Notify) },
		"notify_master":              func(s *Stmt) { d.notifyCommand(s, &in.NotifyMaster) },
		"notify_backup":              func(s *Stmt) { d.notifyCommand(s, &in.NotifyBackup) },
		"notify_fault":               func(s *Stmt) { d.notifyCommand(s, &in.NotifyFault) },
		"notify_stop":                func(s *Stmt) { d.notifyCommand(s, &in.NotifyStop) },
		"notify_priority_changes":    func(s *Stmt) { d.flag(s, &in.PriorityChanges) },
		"garp_master_delay":          func(s *Stmt) { d.seconds(s, &in.GarpMasterDelay, 0, 255) },
		"garp_master_repeat":         func(s *Stmt) { d.integer(s, &in.GarpMasterRepeat, 0, 255) },
		"garp_master_refresh":        func(s *Stmt) { d.seconds(s, &in.GarpMasterRefresh, 0, 86400) },
		"garp_master_refresh_repeat": func(s *Stmt) { d.integer(s, &in.GarpMasterRefreshRepeat, 0, 255) },
		"garp_lower_prio_delay":      func(s *Stmt) { d.seconds(s, &dr.garpLPDelay, 0, 255) },
		"garp_lower_prio_repeat":     func(s *Stmt) { d.integer(s, &dr.garpLPRepeat, 0, 255) },
		"accept":                     func(s *Stmt) { d.boolPtr(s, &dr.accept, true) },
		"no_accept":                  func(s *Stmt) { d.boolPtr(s, &dr.accept, false) },
		"v3_checksum_as_v2":          func(s *Stmt) { d.boolPtr(s, &dr.v3csum, true) },
		"down_timer_adverts":         func(s *Stmt) { d.integer(s, &dr.downTimer, 1, 100) },
		"lower_prio_no_advert":       func(s *Stmt) { d.flagPtr(s, &dr.lowerPrioNoAdvert) },
		"higher_prio_send_advert":    func(s *Stmt) { d.flagPtr(s, &dr.higherPrio) },
		"skip_check_adv_addr":        func(s *Stmt) { d.flagPtr(s, &dr.skip) },
		"check_unicast_src":          func(s *Stmt) { d.flagPtr(s, &dr.checkUnicast) },
		"strict_mode":                func(s *Stmt) { d.flag(s, &in.StrictMode) },
		"dont_track_primary":         func(s *Stmt) { d.flag(s, &in.DontTrackPrimary) },
		"smtp_alert":                 func(s *Stmt) { d.flag(s, &in.SMTPAlert) },
		"debug": func(s *Stmt) {
			in.Debug = 1
			if len(s.Args) > 0 {
				d.integer(s, &in.Debug, 0, 4)
			} else {
				d.nargs(s, 0, 0)
			}
		},
		"quorum_fence":         func(s *Stmt) { d.flag(s, &in.QuorumFence) },
		"no_virtual_ipaddress": d.setTo(&in.NoVirtualIPAddress, true),
		"virtual_routes":       func(s *Stmt) { in.VirtualRoutes = append(in.VirtualRoutes, d.routes(s)...) },
		"virtual_rules":        func(s *Stmt) { in.VirtualRules = append(in.VirtualRules, d.rules(s)...) },
		"use_vmac":             func(s *Stmt) { d.vmac(s, &in) },
		"vmac_xmit_base":       d.setTo(&xmitBase, true),
		"use_ipvlan":           func(s *Stmt) { d.ipvlan(s, &in) },
	}, in.KeywordPos)
	d.splitFamilies(&in, vipsWritten)
	d.finishVMAC(&in, xmitBase)
	d.finishInstance(&in, &dr)
	return in, true
}

// splitFamilies keeps in virtual_ipaddress the VIPs of the first VIP's
// family. keepalived (vrrp_data.c alloc_vrrp_vip) drops a VIP of the other
// family with "address family must match VRRP instance - ignoring", which
// silently loses the address the operator asked for (the tic/tac example
// relies on it). quadrature instead moves it to virtual_ipaddress_excluded,
// which keepalived allows to mix families, so the VIP still follows the
// instance's state, and records a warning naming the difference.
func (d *decoder) splitFamilies(in *VRRPInstance, vips []VIP) {
	if len(vips) == 0 {
		// No VIP to take the family from: the unicast source, else the
		// first excluded VIP, else IPv4.
		in.Family = FamilyInet
		switch {
		case in.UnicastSrcIP.IsValid():
			in.Family = familyOf(in.UnicastSrcIP)
		case len(in.UnicastPeers) > 0:
			in.Family = familyOf(in.UnicastPeers[0].Addr)
		case len(in.ExcludedVIPs) > 0:
			in.Family = familyOf(in.ExcludedVIPs[0].Prefix.Addr())
		}
		return
	}
	in.Family = familyOf(vips[0].Prefix.Addr())
	for _, v := range vips {
		if familyOf(v.Prefix.Addr()) == in.Family {
			in.VIPs = append(in.VIPs, v)
			continue
		}
		d.warnf(v.Pos, "vrrp_instance %s: %s is not %s like the first VIP; moved to virtual_ipaddress_excluded (keepalived would ignore it)",
			in.Name, v.Prefix, familyName(in.Family))
		in.ExcludedVIPs = append(in.ExcludedVIPs, v)
	}
}

func familyName(f string) string {
	if f == FamilyInet6 {
		return "IPv6"
	}
	return "IPv4"
}

func (d *decoder) finishInstance(in *VRRPInstance, dr *instanceDraft) {
	g := &d.cfg.Global
	switch {
	case dr.priority >= 0:
		in.Priority = dr.priority
	case in.State == "MASTER":
		in.Priority = 255
	default:
		in.Priority = 100
	}
	in.Version = g.VRRPVersion
	if dr.version > 0 {
		in.Version = dr.version
	}
	if in.Family == FamilyInet6 && in.Version == 2 {
		if dr.version == 2 {
			d.errorf(in.Pos, "vrrp_instance %s: VRRP version 2 does not support IPv6", in.Name)
		}
		in.Version = 3
	}
	in.AdvertInt = time.Second
	if dr.advert > 0 {
		in.AdvertInt = d.advertInt(in, dr.advert, dr.advertPos)
	}
	// keepalived (vrrp_parser.c): under strict mode accept defaults to
	// being the address owner.
	in.Accept = !in.StrictMode || in.Priority == 255
	if dr.accept != nil {
		in.Accept = *dr.accept
	}
	// keepalived clears an initial MASTER state with AH authentication
	// ("Initial state master is incompatible with AH authentication -
	// clearing"), except for the address owner.
	if in.Auth != nil && in.Auth.Type == "AH" && in.State == "MASTER" && in.Priority != 255 {
		d.warnf(in.kwPos("state"), "vrrp_instance %s: state MASTER is incompatible with auth_type AH: the instance starts as BACKUP (as keepalived does)", in.Name)
		in.State = "BACKUP"
	}
	in.V3ChecksumAsV2 = g.V3ChecksumAsV2 || dr.v3csum != nil && *dr.v3csum
	in.DownTimerAdverts = g.VRRPDownTimerAdverts
	if dr.downTimer > 0 {
		in.DownTimerAdverts = dr.downTimer
	}
	in.LowerPrioNoAdvert = g.VRRPLowerPrioNoAdvert || in.StrictMode
	if dr.lowerPrioNoAdvert != nil {
		in.LowerPrioNoAdvert = *dr.lowerPrioNoAdvert
	}
	in.HigherPrioSendAdvert = g.VRRPHigherPrioSendAdvert
	if dr.higherPrio != nil {
		in.HigherPrioSendAdvert = *dr.higherPrio
	}
	in.SkipCheckAdvAddr = g.VRRPSkipCheckAdvAddr
	if dr.skip != nil {
		in.SkipCheckAdvAddr = *dr.skip
	}
	in.CheckUnicastSrc = g.VRRPCheckUnicastSrc
	if dr.checkUnicast != nil {
		in.CheckUnicastSrc = *dr.checkUnicast
	}
	in.GarpLowerPrioDelay, in.GarpLowerPrioRepeat = g.VRRPGarpLowerPrioDelay, g.VRRPGarpLowerPrioRepeat
	if in.StrictMode {
		in.GarpLowerPrioDelay, in.GarpLowerPrioRepeat = 0, 0
	}
	if dr.garpLPDelay >= 0 {
		in.GarpLowerPrioDelay = dr.garpLPDelay
	}
	if dr.garpLPRepeat >= 0 {
		in.GarpLowerPrioRepeat = dr.garpLPRepeat
	}
	if in.StrictMode {
		d.strictResets(in)
	}
}

// kwPos is the line of keyword kw in the instance block, else the block's.
func (in *VRRPInstance) kwPos(kw string) Pos {
	if p, ok := in.KeywordPos[kw]; ok {
		return p
	}
	return in.Pos
}

// strictResets applies what keepalived 2.2.7 does to a strict-mode instance
// at parse time when a setting contradicts strict mode: it logs the problem
// and resets the setting ("resetting", "Ignoring"); quadrature warns and
// does the same. What keepalived refuses outright is in strict().
func (d *decoder) strictResets(in *VRRPInstance) {
	g := &d.cfg.Global
	reset := func(p Pos, what string) {
		d.warnf(p, "vrrp_instance %s: strict mode: %s (as keepalived does)", in.Name, what)
	}
	if in.Auth != nil {
		reset(in.Auth.Pos, "authentication is not allowed; it is ignored")
		in.Auth = nil
	}
	if in.PreemptDelay > 0 {
		reset(in.kwPos("preempt_delay"), "preempt_delay is not allowed; reset to 0")
		in.PreemptDelay = 0
	}
	if in.Version == 2 && in.Accept {
		reset(in.kwPos("accept"), "accept mode is not allowed with VRRPv2 (RFC 3768 has none); reset to no_accept")
		in.Accept = false
	}
	if in.GarpLowerPrioRepeat > 0 {
		reset(in.kwPos("garp_lower_prio_repeat"), "lower-priority GARP repeats are not allowed; garp_lower_prio_repeat reset to 0")
		in.GarpLowerPrioRepeat = 0
	}
	if !in.LowerPrioNoAdvert {
		reset(in.kwPos("lower_prio_no_advert"), "lower_prio_no_advert cannot be turned off; it stays on")
		in.LowerPrioNoAdvert = true
	}
	if in.HigherPrioSendAdvert {
		p, kw := in.kwPos("higher_prio_send_advert"), "higher_prio_send_advert"
		if _, ok := in.KeywordPos[kw]; !ok {
			if gp, ok := g.KeywordPos["vrrp_higher_prio_send_advert"]; ok {
				p, kw = gp, "vrrp_higher_prio_send_advert"
			}
		}
		reset(p, kw+" is not allowed; it is turned off")
		in.HigherPrioSendAdvert = false
	}
	if len(in.UnicastPeers) > 0 {
		d.warnf(in.kwPos("unicast_peer"), "vrrp_instance %s: strict mode: keepalived's manual forbids unicast peers, but keepalived 2.2.7 accepts them, and so does quadrature", in.Name)
	}
}

// advertInt applies keepalived's rounding: whole seconds for VRRPv2,
// centiseconds (at most 40.95 s) for VRRPv3.
func (d *decoder) advertInt(in *VRRPInstance, f float64, pos Pos) time.Duration {
	if in.Version == 2 {
		r := math.Round(f)
		if r < 1 {
			r = 1
		}
		if r != f {
			d.warnf(pos, "vrrp_instance %s: advert_int %g rounded to %gs (VRRPv2 carries whole seconds)", in.Name, f, r)
		}
		return time.Duration(r) * time.Second
	}
	cs := math.Round(f * 100)
	if cs > 4095 {
		// keepalived: "Must be less than 40.96s. Setting to 40.95s".
		d.warnf(pos, "vrrp_instance %s: advert_int %g is above VRRPv3's maximum; 40.95s is used (as keepalived does)", in.Name, f)
		return 4095 * 10 * time.Millisecond
	}
	if cs/100 != f {
		d.warnf(pos, "vrrp_instance %s: advert_int %g rounded to %gs (VRRPv3 carries centiseconds)", in.Name, f, cs/100)
	}
	return time.Duration(cs) * 10 * time.Millisecond
}

// vip parses one virtual_ipaddress line.
func (d *decoder) vip(s *Stmt) (VIP, bool) {
	if s.HasBlock {
		d.errorf(s.Pos, "unexpected block in virtual_ipaddress")
		return VIP{}, false
	}
	v := VIP{Pos: s.Pos}
	p, ok := parsePrefixOrAddr(s.Key)
	if !ok {
		d.errorf(s.Pos, "virtual_ipaddress: %q is not an IP address or prefix", s.Key)
		return v, false
	}
	v.Prefix = p
	args := s.Args
	need := func(i int) (string, bool) {
		if i+1 >= len(args) {
			d.errorf(s.Pos, "virtual_ipaddress %s: %s needs a value", s.Key, args[i].Text)
			return "", false
		}
		return args[i+1].Text, true
	}
	for i := 0; i < len(args); i++ {
		opt := args[i].Text
		switch opt {
		case "brd", "broadcast":
			t, ok := need(i)
			if !ok {
				return v, false
			}
			i++
			a, err := netip.ParseAddr(t)
			if err != nil || !a.Is4() {
				d.errorf(s.Pos, "virtual_ipaddress %s: broadcast %q is not an IPv4 address", s.Key, t)
				return v, false
			}
			v.Broadcast = a
		case "dev", "scope", "label", "preferred_lft":
			t, ok := need(i)
			if !ok {
				return v, false
			}
			i++
			switch opt {
			case "dev":
				v.Dev = t
			case "scope":
				v.Scope = t
			case "label":
				v.Label = t
			default:
				v.PreferredLft = t
			}
		case "peer":
			t, ok := need(i)
			if !ok {
				return v, false
			}
			i++
			pp, ok := parsePrefixOrAddr(t)
			if !ok {
				d.errorf(s.Pos, "virtual_ipaddress %s: peer %q is not an address", s.Key, t)
				return v, false
			}
			v.Peer = pp
		case "-nodad", "nodad":
			v.NoDAD = true
		case "noprefixroute":
			v.NoPrefixRoute = true
		case "home":
			v.Home = true
		case "mngtmpaddr":
			v.MngTmpAddr = true
		case "autojoin":
			v.AutoJoin = true
		case "no_track":
			v.NoTrack = true
		case "use_vmac":
			d.errorf(s.Pos, "not supported: use_vmac")
			return v, false
		default:
			d.errorf(s.Pos, "virtual_ipaddress %s: unknown option %q", s.Key, opt)
			return v, false
		}
	}
	return v, true
}

// parsePrefixOrAddr parses "a.b.c.d/len" or a bare address (full-length
// prefix). The address part keeps its host bits.
func parsePrefixOrAddr(s string) (netip.Prefix, bool) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, false
		}
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), true
}

func (d *decoder) unicastPeer(s *Stmt) (UnicastPeer, bool) {
	if s.HasBlock {
		d.errorf(s.Pos, "unexpected block in unicast_peer")
		return UnicastPeer{}, false
	}
	p := UnicastPeer{Pos: s.Pos}
	a, err := netip.ParseAddr(s.Key)
	if err != nil {
		d.errorf(s.Pos, "unicast_peer: %q is not an IP address", s.Key)
		return p, false
	}
	p.Addr = a.Unmap()
	for i := 0; i < len(s.Args); i += 2 {
		opt := s.Args[i].Text
		if i+1 >= len(s.Args) || (opt != "min_ttl" && opt != "max_ttl") {
			d.errorf(s.Pos, "unicast_peer %s: unknown option %q (min_ttl N, max_ttl N)", s.Key, opt)
			return p, false
		}
		v, ok := d.intArg(s, s.Args[i+1].Text, 0, 255)
		if !ok {
			return p, false
		}
		if opt == "min_ttl" {
			p.MinTTL = v
		} else {
			p.MaxTTL = v
		}
	}
	return p, true
}

func (d *decoder) trackInterfaces(b *Stmt) []TrackInterface {
	if !d.needBlock(b) {
		return nil
	}
	var out []TrackInterface
	for _, s := range b.Block {
		t := TrackInterface{Pos: s.Pos, Name: s.Key}
		if !d.weightOpts(s, &t.Weight, &t.Reverse, -253, 253) {
			continue
		}
		out = append(out, t)
	}
	return out
}

// weightOpts parses "[weight W [reverse|noreverse]]" after an item.
func (d *decoder) weightOpts(s *Stmt, w *int, rev *bool, lo, hi int) bool {
	if s.HasBlock {
		d.errorf(s.Pos, "unexpected block")
		return false
	}
	a := s.Args
	if len(a) == 0 {
		return true
	}
	if a[0].Text != "weight" || len(a) < 2 || len(a) > 3 {
		d.errorf(s.Pos, "%s: expected [weight W [reverse]]", s.Key)
		return false
	}
	v, ok := d.intArg(s, a[1].Text, lo, hi)
	if !ok {
		return false
	}
	*w = v
	if len(a) == 3 {
		before := len(d.errs)
		d.reverse(s, a[2].Text, rev)
		return len(d.errs) == before
	}
	return true
}

// trackScripts parses a track_script block. A line without weight takes the
// vrrp_script's weight and reverse flag.
func (d *decoder) trackScripts(b *Stmt) []TrackScript {
	if !d.needBlock(b) {
		return nil
	}
	var out []TrackScript
	for _, s := range b.Block {
		t := TrackScript{Pos: s.Pos, Name: s.Key}
		var sc *VRRPScript
		for i := range d.cfg.Scripts {
			if d.cfg.Scripts[i].Name == s.Key {
				sc = &d.cfg.Scripts[i]
			}
		}
		if sc == nil && d.removedScripts[s.Key] {
			d.warnf(s.Pos, "track_script: vrrp_script %s was removed (it has no script); not tracked (as keepalived does)", s.Key)
			continue
		}
		if sc == nil {
			d.errorf(s.Pos, "track_script: no vrrp_script named %q", s.Key)
			continue
		}
		t.Weight, t.Reverse = sc.Weight, sc.Reverse
		if len(s.Args) > 0 {
			t.Reverse = false
		}
		if !d.weightOpts(s, &t.Weight, &t.Reverse, -253, 253) {
			continue
		}
		out = append(out, t)
	}
	return out
}

func (d *decoder) syncGroup(b *Stmt) (SyncGroup, bool) {
	name, ok := d.blockName(b)
	if !ok {
		return SyncGroup{}, false
	}
	g := SyncGroup{Pos: b.Pos, Name: name, SMTPAlert: d.cfg.Global.SMTPAlert}
	d.run(b.Block, "vrrp_sync_group", table{
		"group":                   func(s *Stmt) { g.Group = append(g.Group, d.words(s)...) },
		"track_interface":         func(s *Stmt) { g.TrackInterfaces = append(g.TrackInterfaces, d.trackInterfaces(s)...) },
		"track_script":            func(s *Stmt) { g.TrackScripts = append(g.TrackScripts, d.trackScripts(s)...) },
		"track_file":              func(s *Stmt) { g.TrackFileRefs = append(g.TrackFileRefs, d.trackFileRefs(s)...) },
		"track_process":           func(s *Stmt) { g.TrackProcesses = append(g.TrackProcesses, d.trackProcessRefs(s)...) },
		"notify":                  func(s *Stmt) { d.notifyCommand(s, &g.Notify.Notify) },
		"notify_master":           func(s *Stmt) { d.notifyCommand(s, &g.NotifyMaster) },
		"notify_backup":           func(s *Stmt) { d.notifyCommand(s, &g.NotifyBackup) },
		"notify_fault":            func(s *Stmt) { d.notifyCommand(s, &g.NotifyFault) },
		"notify_stop":             func(s *Stmt) { d.notifyCommand(s, &g.NotifyStop) },
		"notify_priority_changes": func(s *Stmt) { d.flag(s, &g.PriorityChanges) },
		"smtp_alert":              func(s *Stmt) { d.flag(s, &g.SMTPAlert) },
	})
	return g, true
}
