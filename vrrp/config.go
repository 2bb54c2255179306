package vrrp

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"quadrature/internal/scriptexec"
)

// VIP is one virtual address of an instance (keepalived virtual_ipaddress
// entry).
type VIP struct {
	// Prefix is the address with its mask; a bare address is /32 or /128.
	Prefix netip.Prefix
	// Dev puts the address on another interface than the instance's.
	Dev string
	// Label is the IPv4 address label (e.g. "eth0:vip").
	Label string
	// Scope is "", "global", "site", "link" or "host".
	Scope string
	// NoDAD adds an IPv6 address with IFA_F_NODAD.
	NoDAD bool
	// Broadcast is the IPv4 broadcast address ("brd"); Peer the peer
	// prefix of a point-to-point address ("peer").
	Broadcast netip.Addr
	Peer      netip.Prefix
	// NoPrefixRoute, Home, MngTmpAddr and AutoJoin are the IFA_F_* flags
	// of the same names.
	NoPrefixRoute bool
	Home          bool
	MngTmpAddr    bool
	AutoJoin      bool
}

// TrackInterface is one track_interface entry. Weight 0 means FAULT when
// the interface is down; a positive weight is added while it is up, a
// negative weight is added while it is down; Reverse swaps up and down.
type TrackInterface struct {
	Name    string
	Weight  int
	Reverse bool
}

// TrackScript is one track_script entry naming a ScriptConfig. The
// script's weight applies unless OverrideWeight is set.
type TrackScript struct {
	Name           string
	Weight         int
	OverrideWeight bool
	Reverse        bool
}

// ScriptConfig is a vrrp_script: Command runs every Interval; exit code
// 0 is success. After Rise successes in a row it is up, after Fall
// failures in a row it is down. A run longer than Timeout fails.
type ScriptConfig struct {
	Name     string
	Command  string // split like a shell does (quotes, backslash), no shell
	Interval time.Duration
	Timeout  time.Duration
	Weight   int
	Reverse  bool
	Rise     int
	Fall     int
	InitFail bool   // start in the failed state
	User     string // "user" or "user:group"; "" = NodeConfig.ScriptUser
}

// GARPConfig are keepalived's garp_master_* settings.
type GARPConfig struct {
	MasterDelay         time.Duration // second burst after becoming master; 0 = none
	MasterRepeat        int           // messages per address per burst
	MasterRefresh       time.Duration // periodic refresh while master; 0 = off
	MasterRefreshRepeat int
	// Interval spaces messages of one burst (garp_interval / gna_interval).
	Interval time.Duration
}

// DefaultGARP returns keepalived's defaults: delay 5 s, repeat 5, no
// refresh, refresh repeat 1.
func DefaultGARP() GARPConfig {
	return GARPConfig{MasterDelay: 5 * time.Second, MasterRepeat: 5, MasterRefreshRepeat: 1}
}

// NotifyConfig holds notify scripts. Each is a command line (split like
// a shell does, not run by one). Generic gets four extra arguments:
// "INSTANCE"|"GROUP", name, MASTER|BACKUP|FAULT|STOP, priority.
type NotifyConfig struct {
	Master, Backup, Fault, Stop string
	Generic                     string
}

// InstanceConfig is one vrrp_instance.
type InstanceConfig struct {
	Name      string
	Interface string
	VRID      int // 1..255
	// Version is 2 or 3; 0 means 2 (keepalived's vrrp_version default).
	Version int
	// IPv6 selects the family when there are no VIPs; otherwise the
	// family of the VIPs decides.
	IPv6 bool
	// Priority is the base priority 1..255; 0 means 100.
	Priority int
	// AdvertInterval defaults to 1 s. v2 rounds it to whole seconds (at
	// least 1, at most 255); v3 rounds it to centiseconds (0.01..40.95 s).
	AdvertInterval time.Duration
	// WantMaster is "state MASTER"; informational except for logging:
	// like keepalived only priority 255 starts as master at once.
	WantMaster   bool
	NoPreempt    bool
	PreemptDelay time.Duration
	VIPs         []VIP
	// ExcludedVIPs are managed like VIPs but not advertised.
	ExcludedVIPs []VIP
	// AuthPass enables VRRPv2 PASS authentication (first 8 bytes).
	AuthPass       string
	V3ChecksumAsV2 bool
	// McastSrc overrides the source address (default: the interface's
	// first address of the family; link-local for IPv6).
	McastSrc netip.Addr
	// UnicastSrc and UnicastPeers select unicast mode.
	UnicastSrc      netip.Addr
	UnicastPeers    []netip.Addr
	CheckUnicastSrc bool
	// DontTrackPrimary ignores the state of Interface.
	DontTrackPrimary bool
	TrackInterfaces  []TrackInterface
	TrackScripts     []TrackScript
	// TrackFiles and TrackProcesses name NodeConfig.Files and
	// NodeConfig.Processes (track_file, track_process; track.go).
	TrackFiles     []TrackRef
	TrackProcesses []TrackRef
	// NoAccept is keepalived's no_accept (RFC 5798 Accept_Mode False):
	// packets to the VIPs are dropped by nftables (table inet
	// quadrature_vrrp) unless the priority is 255. Default: accept.
	NoAccept bool
	// GARP defaults to DefaultGARP when nil.
	GARP   *GARPConfig
	Notify NotifyConfig
	// VirtualRoutes and VirtualRules (keepalived virtual_routes,
	// virtual_rules) go with the VIPs: installed after them on MASTER,
	// removed before them when the instance leaves MASTER (and when it
	// leaves INIT, like the VIPs).
	VirtualRoutes []Route
	VirtualRules  []Rule
	// VMAC is use_vmac / use_ipvlan (nil: the VIPs go on Interface).
	VMAC *VMACConfig `json:",omitempty"`
}

// GroupConfig is a vrrp_sync_group: members move to MASTER, BACKUP and
// FAULT together. Its trackers apply to every member (unweighted: FAULT).
type GroupConfig struct {
	Name            string
	Instances       []string
	TrackInterfaces []TrackInterface
	TrackScripts    []TrackScript
	TrackFiles      []TrackRef
	TrackProcesses  []TrackRef
	Notify          NotifyConfig
}

// NodeConfig is the whole VRRP configuration of one node.
type NodeConfig struct {
	Instances []InstanceConfig
	Groups    []GroupConfig
	Scripts   []ScriptConfig
	// Files and Processes are the track_file and vrrp_track_process
	// definitions that TrackFiles and TrackProcesses entries name.
	Files     []TrackFileConfig
	Processes []TrackProcessConfig
	// NotifyTimeout bounds each notify script run (default 10 s).
	NotifyTimeout time.Duration
	// ScriptUser runs vrrp_scripts (without a user of their own) and
	// notify scripts as "user" or "user:group" (global_defs script_user;
	// default keepalived_script if it exists, else root with a warning).
	// Only a root process switches users.
	ScriptUser string
	// ScriptSecurity refuses scripts that a non-root user could change
	// (enable_script_security).
	ScriptSecurity bool
	// StaticAddresses, StaticRoutes and StaticRules (keepalived
	// static_ipaddress, static_routes, static_rules) stay on the node
	// whatever the instances' states: installed when Run starts, the
	// changes applied by Update, removed when Run ends. A static address
	// needs its Dev.
	StaticAddresses []VIP
	StaticRoutes    []Route
	StaticRules     []Rule
}

// Key is the identity of an instance across reloads (keepalived's
// vrrp_exist): VRID, family and interface.
type Key struct {
	VRID      int
	IPv6      bool
	Interface string
}

// Key returns the identity of the (defaulted) instance.
func (c InstanceConfig) Key() Key {
	return Key{VRID: c.VRID, IPv6: c.isV6(), Interface: c.Interface}
}

func (c InstanceConfig) isV6() bool {
	if len(c.VIPs) > 0 {
		return c.VIPs[0].Prefix.Addr().Is6()
	}
	if c.UnicastSrc.IsValid() {
		return c.UnicastSrc.Is6()
	}
	return c.IPv6
}

// Unicast reports whether the instance sends unicast adverts.
func (c InstanceConfig) Unicast() bool { return len(c.UnicastPeers) > 0 }

// withDefaults returns a copy with defaults filled in.
func (c InstanceConfig) withDefaults() InstanceConfig {
	if c.Version == 0 {
		c.Version = 2
	}
	if c.Priority == 0 {
		c.Priority = 100
	}
	if c.AdvertInterval == 0 {
		c.AdvertInterval = time.Second
	}
	switch c.Version {
	case 2: // keepalived rounds v2 intervals to whole seconds, at least 1
		c.AdvertInterval = max(c.AdvertInterval.Round(time.Second), time.Second)
	case 3:
		c.AdvertInterval = c.AdvertInterval.Round(10 * time.Millisecond)
	}
	if c.GARP == nil {
		g := DefaultGARP()
		c.GARP = &g
	}
	c.IPv6 = c.isV6()
	for i, v := range c.VIPs {
		c.VIPs[i].Prefix = fullPrefix(v.Prefix)
	}
	return c
}

func fullPrefix(p netip.Prefix) netip.Prefix {
	if !p.IsValid() {
		return p
	}
	return netip.PrefixFrom(p.Addr().Unmap(), p.Bits())
}

// Validate checks the instance (after defaults) and returns every
// problem found.
func (c InstanceConfig) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("vrrp_instance %s: "+format, append([]any{c.Name}, args...)...))
	}
	if c.Name == "" {
		bad("empty name")
	}
	if c.Interface == "" {
		bad("no interface")
	}
	if c.VRID < 1 || c.VRID > 255 {
		bad("virtual_router_id %d out of 1..255", c.VRID)
	}
	if c.Version != 2 && c.Version != 3 {
		bad("version %d, want 2 or 3", c.Version)
	}
	if c.Version == 2 && c.IPv6 {
		bad("VRRPv2 does not support IPv6; use version 3")
	}
	if c.Priority < 1 || c.Priority > 255 {
		bad("priority %d out of 1..255", c.Priority)
	}
	switch c.Version {
	case 2:
		if c.AdvertInterval%time.Second != 0 || c.AdvertInterval < time.Second || c.AdvertInterval > 255*time.Second {
			bad("advert_int %v: VRRPv2 needs whole seconds 1..255", c.AdvertInterval)
		}
	case 3:
		if c.AdvertInterval < 10*time.Millisecond || c.AdvertInterval > 40950*time.Millisecond {
			bad("advert_int %v out of 0.01..40.95 s", c.AdvertInterval)
		}
	}
	if c.NoPreempt && c.Priority == PriorityOwner {
		bad("nopreempt is incompatible with priority 255")
	}
	if c.PreemptDelay < 0 || c.PreemptDelay > 1000*time.Second {
		bad("preempt_delay %v out of 0..1000 s", c.PreemptDelay)
	}
	if len(c.VIPs) > MaxAddrs {
		bad("%d virtual addresses, at most %d", len(c.VIPs), MaxAddrs)
	}
	for _, v := range c.VIPs {
		if !v.Prefix.IsValid() {
			bad("invalid virtual address %v", v.Prefix)
			continue
		}
		if v.Prefix.Addr().Is6() != c.IPv6 {
			bad("virtual address %v: all advertised addresses must be one family", v.Prefix)
		}
		if v.Label != "" && v.Prefix.Addr().Is6() {
			bad("virtual address %v: labels are IPv4 only", v.Prefix)
		}
		if _, err := parseScope(v.Scope); err != nil {
			bad("virtual address %v: %v", v.Prefix, err)
		}
	}
	for _, v := range c.ExcludedVIPs {
		if !v.Prefix.IsValid() {
			bad("invalid excluded address %v", v.Prefix)
		} else if _, err := parseScope(v.Scope); err != nil {
			bad("excluded address %v: %v", v.Prefix, err)
		}
	}
	for _, r := range c.VirtualRoutes {
		if err := r.Validate(); err != nil {
			bad("virtual_routes: %v", err)
		}
	}
	for _, r := range c.VirtualRules {
		if err := r.Validate(); err != nil {
			bad("virtual_rules: %v", err)
		}
	}
	if c.AuthPass != "" && (c.Version != 2 || c.IPv6) {
		bad("authentication is VRRPv2 over IPv4 only")
	}
	if c.UnicastSrc.IsValid() && c.UnicastSrc.Is6() != c.IPv6 {
		bad("unicast_src_ip %v has the wrong family", c.UnicastSrc)
	}
	if c.McastSrc.IsValid() && c.McastSrc.Is6() != c.IPv6 {
		bad("mcast_src_ip %v has the wrong family", c.McastSrc)
	}
	for _, p := range c.UnicastPeers {
		if !p.IsValid() || p.Is6() != c.IPv6 || p.IsMulticast() {
			bad("unicast_peer %v is not a unicast address of the instance's family", p)
		}
	}
	for _, t := range c.TrackInterfaces {
		if t.Name == "" || t.Weight < -253 || t.Weight > 253 {
			bad("track_interface %q weight %d (want a name and -253..253)", t.Name, t.Weight)
		}
	}
	for _, t := range c.TrackScripts {
		if t.Name == "" || t.Weight < -254 || t.Weight > 254 {
			bad("track_script %q weight %d (want a name and -254..254)", t.Name, t.Weight)
		}
	}
	for _, p := range c.vmacProblems() {
		bad("%s", p)
	}
	if g := c.GARP; g.MasterRepeat < 0 || g.MasterRefreshRepeat < 0 || g.MasterDelay < 0 || g.MasterRefresh < 0 || g.Interval < 0 {
		bad("negative garp setting")
	}
	return errors.Join(errs...)
}

// Validate checks the node configuration: every instance, unique names
// and identities, groups naming existing instances, tracked scripts
// defined.
func (c NodeConfig) Validate() error {
	var errs []error
	names := map[string]bool{}
	keys := map[Key]string{}
	scripts := map[string]bool{}
	for _, s := range c.Scripts {
		if s.Name == "" || s.Command == "" {
			errs = append(errs, fmt.Errorf("vrrp_script %q: needs a name and a script", s.Name))
		}
		if _, err := scriptexec.Split(s.Command); err != nil {
			errs = append(errs, fmt.Errorf("vrrp_script %s: %w", s.Name, err))
		}
		if s.Interval < 0 || s.Timeout < 0 || s.Rise < 0 || s.Fall < 0 {
			errs = append(errs, fmt.Errorf("vrrp_script %s: negative setting", s.Name))
		}
		scripts[s.Name] = true
	}
	for _, ic := range c.Instances {
		if err := ic.Validate(); err != nil {
			errs = append(errs, err)
		}
		if names[ic.Name] {
			errs = append(errs, fmt.Errorf("vrrp_instance %s: defined twice", ic.Name))
		}
		names[ic.Name] = true
		k := ic.withDefaults().Key()
		if other, dup := keys[k]; dup && !ic.Unicast() {
			errs = append(errs, fmt.Errorf("vrrp_instance %s: same VRID %d, family and interface as %s", ic.Name, k.VRID, other))
		}
		keys[k] = ic.Name
		for _, t := range ic.TrackScripts {
			if !scripts[t.Name] {
				errs = append(errs, fmt.Errorf("vrrp_instance %s: track_script %s is not defined", ic.Name, t.Name))
			}
		}
		for _, n := range []string{ic.Notify.Master, ic.Notify.Backup, ic.Notify.Fault, ic.Notify.Stop, ic.Notify.Generic} {
			if _, err := scriptexec.Split(n); err != nil {
				errs = append(errs, fmt.Errorf("vrrp_instance %s: notify: %w", ic.Name, err))
			}
		}
	}
	errs = append(errs, vmacConflicts(c.Instances)...)
	for _, v := range c.StaticAddresses {
		if !v.Prefix.IsValid() || v.Dev == "" {
			errs = append(errs, fmt.Errorf("static_ipaddress %v: needs an address and a dev", v.Prefix))
		} else if _, err := parseScope(v.Scope); err != nil {
			errs = append(errs, fmt.Errorf("static_ipaddress %v: %w", v.Prefix, err))
		}
	}
	for _, r := range c.StaticRoutes {
		if err := r.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("static_routes: %w", err))
		}
	}
	for _, r := range c.StaticRules {
		if err := r.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("static_rules: %w", err))
		}
	}
	errs = append(errs, c.validateTrackers()...)
	member := map[string]string{}
	for _, g := range c.Groups {
		for _, n := range g.Instances {
			if !names[n] {
				errs = append(errs, fmt.Errorf("vrrp_sync_group %s: unknown instance %s", g.Name, n))
			}
			if other, ok := member[n]; ok {
				errs = append(errs, fmt.Errorf("vrrp_sync_group %s: instance %s is already in group %s", g.Name, n, other))
			}
			member[n] = g.Name
		}
		for _, t := range g.TrackScripts {
			if !scripts[t.Name] {
				errs = append(errs, fmt.Errorf("vrrp_sync_group %s: track_script %s is not defined", g.Name, t.Name))
			}
		}
	}
	return errors.Join(errs...)
}

// EffectivePriority applies tracker weights to a base priority with
// keepalived's rules: 255 (address owner) is never changed, otherwise
// the result is clamped to [1, 254].
func EffectivePriority(base int, weights ...int) int {
	if base >= PriorityOwner {
		return PriorityOwner
	}
	p := base
	for _, w := range weights {
		p += w
	}
	return min(max(p, 1), PriorityOwner-1)
}

// SkewTime returns Skew_Time for a priority and master advert interval:
// (256−prio)/256 s in v2, (256−prio)×interval/256 in v3.
func SkewTime(version, prio int, masterAdverInt time.Duration) time.Duration {
	if version == 2 {
		return time.Duration(256-prio) * time.Second / 256
	}
	return time.Duration(256-prio) * masterAdverInt / 256
}

// MasterDownInterval returns 3 × interval + Skew_Time.
func MasterDownInterval(version, prio int, masterAdverInt time.Duration) time.Duration {
	return 3*masterAdverInt + SkewTime(version, prio, masterAdverInt)
}
