package config

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// decoder turns the statement tree into the typed model, filling in
// defaults and resolving inheritance.
type decoder struct {
	cfg     *Config
	errs    ErrorList
	warns   []Diagnostic
	resolve func(name, family string) (netip.Addr, error)
	// removedScripts are the vrrp_scripts dropped for having no script.
	removedScripts map[string]bool
	// nextRulePref is the preference keepalived gives the next rule
	// without one, per family (16384 down).
	nextRulePref map[string]uint32
}

// table maps a keyword of one block to its handler.
type table map[string]func(s *Stmt)

func (d *decoder) errorf(p Pos, format string, args ...any) {
	d.errs = append(d.errs, Diagnostic{Pos: p, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) warnf(p Pos, format string, args ...any) {
	d.warns = append(d.warns, Diagnostic{Pos: p, Msg: fmt.Sprintf(format, args...), Warning: true})
}

// run dispatches every statement of a block through t. where names the block
// in messages ("vrrp_instance").
func (d *decoder) run(stmts []*Stmt, where string, t table) {
	d.runAt(stmts, where, t, nil)
}

// runAt is run that also records, in at (when not nil), the line of each
// keyword of the block (the last one written wins, as its value does), so
// that later checks name the line a keyword is on.
func (d *decoder) runAt(stmts []*Stmt, where string, t table, at map[string]Pos) {
	d.semicolons(stmts, where)
	for _, s := range stmts {
		if h, ok := t[s.Key]; ok {
			if at != nil {
				at[s.Key] = s.Pos
			}
			h(s)
			d.notApplied(where, s)
			continue
		}
		d.unknown(s, where, t)
	}
}

// semicolons reports statements of keepalived's blocks that end at a ';'.
// quadrature ends a statement there, keepalived does not (2.2.7 checked):
// it reads "PASS;" as the word PASS; and ignores the words after a lone
// ';', so "protocol TCP ; lb_algo rr" means lb_algo wlc to keepalived. The
// file is read as quadrature always has, with a warning naming what
// keepalived would do differently; in authentication it is an error, as
// keepalived refuses "auth_type PASS;" (and "auth_pass x;" would be a
// different password), and a peer without the same authentication drops
// every advert: two masters.
func (d *decoder) semicolons(stmts []*Stmt, where string) {
	for i, s := range stmts {
		if !s.Semi {
			continue
		}
		var next *Stmt
		if i+1 < len(stmts) && stmts[i+1].Pos == s.Pos {
			next = stmts[i+1]
		}
		switch {
		case s.SemiGlued:
			word, what := s.Key, "the keyword"
			if len(s.Args) > 0 {
				word, what = s.Args[len(s.Args)-1].Text, "its value"
			}
			msg := fmt.Sprintf("%s: keepalived does not end a statement at ';': it reads %q as %s", s.Key, word+";", what)
			if where == "authentication" {
				d.errorf(s.Pos, "%s and refuses it; remove the ';'", msg)
				continue
			}
			if next != nil {
				msg += fmt.Sprintf(" and ignores %q after it", next.Key)
			}
			d.warnf(s.Pos, "%s; put each statement on its own line without ';'", msg)
		case next != nil:
			msg := fmt.Sprintf("keepalived does not split statements at ';': it ignores %q and the rest of the line after %s; put each statement on its own line", next.Key, s.Key)
			if where == "authentication" {
				d.errorf(s.Pos, "%s", msg)
				continue
			}
			d.warnf(s.Pos, "%s", msg)
		}
	}
}

// runInline is run for quadrature's own blocks, where several statements
// may share a line without ';' ("api { listen 192.0.2.1:9900 token_file
// /etc/quadrature/token }", as docs/design.md writes it): a statement is split
// at every unquoted argument that is a keyword of the block.
func (d *decoder) runInline(stmts []*Stmt, where string, t table) {
	var out []*Stmt
	for _, s := range stmts {
		if _, known := t[s.Key]; !known || s.HasBlock {
			out = append(out, s)
			continue
		}
		cur := &Stmt{Pos: s.Pos, Key: s.Key}
		for _, a := range s.Args {
			if _, kw := t[a.Text]; kw && !a.Quoted {
				out = append(out, cur)
				cur = &Stmt{Pos: a.Pos, Key: a.Text}
				continue
			}
			cur.Args = append(cur.Args, a)
		}
		out = append(out, cur)
	}
	d.run(out, where, t)
}

// unknown reports a keyword that the block does not know: a real keepalived
// keyword quadrature does not support, one it ignores, or a typo.
func (d *decoder) unknown(s *Stmt, where string, t table) {
	if why, ok := ignoredKeywords[s.Key]; ok {
		d.warnf(s.Pos, "ignored: %s (%s)", s.Key, why)
		return
	}
	if strings.HasPrefix(s.Key, "~SEQ") || strings.HasPrefix(s.Key, "~LST") {
		d.errorf(s.Pos, "not supported: %s (%s)", s.Key[:4], refusedAnywhere["~SEQ"])
		return
	}
	if why, ok := refusedAnywhere[s.Key]; ok {
		d.errorf(s.Pos, "not supported: %s (%s)", s.Key, why)
		return
	}
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	msg := fmt.Sprintf("unknown keyword %q in %s", s.Key, where)
	if where == "" {
		msg = fmt.Sprintf("unknown keyword %q at the top level", s.Key)
	}
	if c := closest(s.Key, keys); c != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", c)
	}
	d.errorf(s.Pos, "%s", msg)
}

// noBlock reports a block where a simple statement was expected.
func (d *decoder) noBlock(s *Stmt) bool {
	if s.HasBlock {
		d.errorf(s.Pos, "%s does not take a block", s.Key)
		return false
	}
	return true
}

// needBlock reports a simple statement where a block was expected.
func (d *decoder) needBlock(s *Stmt) bool {
	if !s.HasBlock {
		d.errorf(s.Pos, "%s needs a block in braces", s.Key)
		return false
	}
	return true
}

func (d *decoder) nargs(s *Stmt, lo, hi int) bool {
	if !d.noBlock(s) {
		return false
	}
	n := len(s.Args)
	if n >= lo && n <= hi {
		return true
	}
	switch {
	case lo == hi && lo == 0:
		d.errorf(s.Pos, "%s takes no argument", s.Key)
	case lo == hi:
		d.errorf(s.Pos, "%s needs exactly %d argument(s), got %d", s.Key, lo, n)
	case n < lo:
		d.errorf(s.Pos, "%s needs at least %d argument(s)", s.Key, lo)
	default:
		d.errorf(s.Pos, "%s takes at most %d argument(s), got %d", s.Key, hi, n)
	}
	return false
}

// str returns the single argument of s.
func (d *decoder) str(s *Stmt, dst *string) {
	if d.nargs(s, 1, 1) {
		*dst = s.Args[0].Text
	}
}

// command returns a command line: one quoted argument, or several words
// joined with spaces (words containing blanks are quoted back).
func (d *decoder) command(s *Stmt, dst *string) {
	if !d.nargs(s, 1, math.MaxInt) {
		return
	}
	*dst = joinCommand(s.Args)
}

// notifyCommand handles notify_* lines: keepalived reads the first word
// as the command line (quoted when it has arguments) and optional words
// after it as the user and group to run it as, which quadrature does not
// support (notify scripts run as script_user): they are an error rather
// than being taken as arguments.
func (d *decoder) notifyCommand(s *Stmt, dst *string) {
	if !d.nargs(s, 1, 3) {
		return
	}
	if len(s.Args) > 1 {
		words := make([]string, len(s.Args)-1)
		for i, a := range s.Args[1:] {
			words[i] = a.Text
		}
		d.errorf(s.Pos, "%s: not supported: running the script as user %q (notify scripts run as script_user); "+
			"to pass arguments, quote the whole command line", s.Key, strings.Join(words, " "))
		return
	}
	*dst = s.Args[0].Text
}

func joinCommand(args []Token) string {
	if len(args) == 1 {
		return args[0].Text
	}
	parts := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a.Text, " \t\"'") || a.Text == "" {
			parts[i] = strconv.Quote(a.Text)
		} else {
			parts[i] = a.Text
		}
	}
	return strings.Join(parts, " ")
}

// flag handles a keyword that takes no value, or an optional boolean.
func (d *decoder) flag(s *Stmt, dst *bool) {
	if !d.nargs(s, 0, 1) {
		return
	}
	if len(s.Args) == 0 {
		*dst = true
		return
	}
	b, ok := parseBool(s.Args[0].Text)
	if !ok {
		d.errorf(s.Pos, "%s: %q is not a boolean (on/off, true/false, yes/no)", s.Key, s.Args[0].Text)
		return
	}
	*dst = b
}

func parseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "on", "true", "yes", "1":
		return true, true
	case "off", "false", "no", "0":
		return false, true
	}
	return false, false
}

// setTo returns a handler that sets *dst to v when the keyword (with no
// argument) is present.
func (d *decoder) setTo(dst *bool, v bool) func(*Stmt) {
	return func(s *Stmt) {
		if d.bare(s) {
			*dst = v
		}
	}
}

// bare checks a flag keyword that takes no value. keepalived ignores words
// after such a keyword ("nopreempt 1", even "nopreempt off" sets
// nopreempt), so they are a warning saying so, not an error.
func (d *decoder) bare(s *Stmt) bool {
	if !d.noBlock(s) {
		return false
	}
	if len(s.Args) > 0 {
		d.warnf(s.Pos, "%s takes no value: %q is ignored (as keepalived does) and %s is set",
			s.Key, strings.Join(s.ArgStrings(), " "), s.Key)
	}
	return true
}

func (d *decoder) intArg(s *Stmt, text string, lo, hi int) (int, bool) {
	v, err := strconv.Atoi(text)
	if err != nil {
		d.errorf(s.Pos, "%s: %q is not an integer", s.Key, text)
		return 0, false
	}
	if v < lo || v > hi {
		d.errorf(s.Pos, "%s %d out of range (%d-%d)", s.Key, v, lo, hi)
		return 0, false
	}
	return v, true
}

func (d *decoder) integer(s *Stmt, dst *int, lo, hi int) {
	if !d.nargs(s, 1, 1) {
		return
	}
	if v, ok := d.intArg(s, s.Args[0].Text, lo, hi); ok {
		*dst = v
	}
}

func (d *decoder) intPtr(s *Stmt, dst **int, lo, hi int) {
	v := 0
	before := len(d.errs)
	d.integer(s, &v, lo, hi)
	if len(d.errs) == before {
		*dst = &v
	}
}

func (d *decoder) port(s *Stmt, text string, dst *uint16) bool {
	v, ok := d.intArg(s, text, 0, 65535)
	if ok {
		*dst = uint16(v)
	}
	return ok
}

// secondsArg parses a number of seconds (fractions allowed) within [lo, hi],
// rounded to the microsecond.
func (d *decoder) secondsArg(s *Stmt, text string, lo, hi float64) (time.Duration, bool) {
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		d.errorf(s.Pos, "%s: %q is not a number of seconds", s.Key, text)
		return 0, false
	}
	if f < lo || f > hi {
		d.errorf(s.Pos, "%s %s out of range (%g-%g seconds)", s.Key, text, lo, hi)
		return 0, false
	}
	return time.Duration(math.Round(f*1e6)) * time.Microsecond, true
}

func (d *decoder) seconds(s *Stmt, dst *time.Duration, lo, hi float64) {
	if !d.nargs(s, 1, 1) {
		return
	}
	if v, ok := d.secondsArg(s, s.Args[0].Text, lo, hi); ok {
		*dst = v
	}
}

func (d *decoder) secondsPtr(s *Stmt, dst **time.Duration, lo, hi float64) {
	var v time.Duration
	before := len(d.errs)
	d.seconds(s, &v, lo, hi)
	if len(d.errs) == before {
		*dst = &v
	}
}

func (d *decoder) addrArg(s *Stmt, text string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(text)
	if err != nil || a.Zone() != "" && !a.Is6() {
		d.errorf(s.Pos, "%s: %q is not an IP address", s.Key, text)
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func (d *decoder) addr(s *Stmt, dst *netip.Addr) {
	if d.nargs(s, 1, 1) {
		if a, ok := d.addrArg(s, s.Args[0].Text); ok {
			*dst = a
		}
	}
}

// host resolves an address or host name to the given family ("" = any,
// IPv4 first). name is "" when text was a literal address.
func (d *decoder) host(s *Stmt, text, family string) (addr netip.Addr, name string, ok bool) {
	if a, err := netip.ParseAddr(text); err == nil {
		return a.Unmap(), "", true
	}
	if !validHostName(text) {
		d.errorf(s.Pos, "%s: %q is neither an IP address nor a host name", s.Key, text)
		return netip.Addr{}, "", false
	}
	a, err := d.resolve(text, family)
	if err != nil {
		d.errorf(s.Pos, "%s: %v", s.Key, err)
		return netip.Addr{}, "", false
	}
	return a, text, true
}

func (d *decoder) enum(s *Stmt, dst *string, values ...string) {
	if !d.nargs(s, 1, 1) {
		return
	}
	v := s.Args[0].Text
	for _, c := range values {
		if strings.EqualFold(v, c) {
			*dst = c
			return
		}
	}
	d.errorf(s.Pos, "%s: %q is not one of %s", s.Key, v, strings.Join(values, ", "))
}

// words collects every word of a list block ("notification_email { a b }").
func (d *decoder) words(s *Stmt) []string {
	if !d.needBlock(s) {
		return nil
	}
	var out []string
	for _, it := range s.Block {
		if it.HasBlock {
			d.errorf(it.Pos, "unexpected block in %s", s.Key)
			continue
		}
		out = append(out, it.Key)
		out = append(out, it.ArgStrings()...)
	}
	return out
}

func familyOf(a netip.Addr) string {
	if a.Is4() {
		return FamilyInet
	}
	return FamilyInet6
}

// decodeConfig builds the model from the statement tree. Blocks that others
// depend on (global_defs, cluster, vrrp_script, virtual_server_group) are
// decoded first, whatever their place in the file.
func (d *decoder) decodeConfig(stmts []*Stmt) {
	c := d.cfg
	c.Global = defaultGlobal()
	top := table{}
	first := map[string]func(*Stmt){
		"global_defs": func(s *Stmt) {
			if d.needBlock(s) {
				d.global(s)
			}
		},
		"cluster": func(s *Stmt) {
			if !d.needBlock(s) {
				return
			}
			if c.Cluster != nil {
				d.errorf(s.Pos, "duplicate cluster block (first at %s)", c.Cluster.Pos)
				return
			}
			c.Cluster = d.cluster(s)
		},
		"bgp": func(s *Stmt) {
			if !d.needBlock(s) {
				return
			}
			if c.BGP != nil {
				d.errorf(s.Pos, "duplicate bgp block (first at %s)", c.BGP.Pos)
				return
			}
			c.BGP = d.bgp(s)
		},
		"vrrp_script": func(s *Stmt) {
			if sc, ok := d.script(s); ok {
				c.Scripts = append(c.Scripts, sc)
			}
		},
		"static_ipaddress": func(s *Stmt) {
			if d.needBlock(s) {
				for _, it := range s.Block {
					if v, ok := d.vip(it); ok {
						c.StaticAddresses = append(c.StaticAddresses, v)
					}
				}
			}
		},
		"static_routes":      func(s *Stmt) { c.StaticRoutes = append(c.StaticRoutes, d.routes(s)...) },
		"static_rules":       func(s *Stmt) { c.StaticRules = append(c.StaticRules, d.rules(s)...) },
		"net_namespace":      func(s *Stmt) { d.str(s, &c.Global.NetNamespace) },
		"track_file":         func(s *Stmt) { d.addTrackFile(s) },
		"vrrp_track_file":    func(s *Stmt) { d.addTrackFile(s) },
		"vrrp_track_process": func(s *Stmt) { d.addTrackProcess(s) },
		"virtual_server_group": func(s *Stmt) {
			if g, ok := d.vsGroup(s); ok {
				c.VSGroups = append(c.VSGroups, g)
			}
		},
	}
	second := map[string]func(*Stmt){
		"vrrp_instance": func(s *Stmt) {
			if in, ok := d.instance(s); ok {
				c.Instances = append(c.Instances, in)
			}
		},
		"vrrp_sync_group": func(s *Stmt) {
			if g, ok := d.syncGroup(s); ok {
				c.SyncGroups = append(c.SyncGroups, g)
			}
		},
		"virtual_server": func(s *Stmt) {
			if vs, ok := d.virtualServer(s); ok {
				c.VirtualServers = append(c.VirtualServers, vs)
			}
		},
	}
	for k, f := range first {
		top[k] = f
	}
	for k, f := range second {
		top[k] = f
	}
	d.semicolons(stmts, "")
	for _, s := range stmts {
		if f, ok := first[s.Key]; ok {
			f(s)
			d.notApplied("", s)
		} else if _, ok := second[s.Key]; ok {
			d.notApplied("", s)
		} else {
			d.unknown(s, "", top)
		}
	}
	d.finishGlobal()
	for _, s := range stmts {
		if f, ok := second[s.Key]; ok {
			f(s)
		}
	}
	d.finishNotify()
}

// blockName checks "keyword NAME {" and returns NAME.
func (d *decoder) blockName(s *Stmt) (string, bool) {
	if !d.needBlock(s) {
		return "", false
	}
	if len(s.Args) != 1 {
		d.errorf(s.Pos, "%s needs exactly one name", s.Key)
		return "", false
	}
	return s.Args[0].Text, true
}

// sortedKeys is used where a deterministic order of a set is needed.
func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (d *decoder) addTrackFile(s *Stmt) {
	tf, ok := d.trackFileBlock(s)
	if !ok {
		return
	}
	if o := d.cfg.trackFile(tf.Name); o != nil {
		d.errorf(s.Pos, "duplicate track_file %s (first at %s)", tf.Name, o.Pos)
		return
	}
	d.cfg.TrackFiles = append(d.cfg.TrackFiles, tf)
}
