package snmp

import (
	"net/netip"
	"strings"
	"time"
)

// Subtrees the subagent registers.
var (
	// OIDKeepalived is KEEPALIVED-MIB (enterprises.debian.project.5).
	OIDKeepalived = MustOID("1.3.6.1.4.1.9586.100.5")
	// OIDKeepalivedGlobal, OIDKeepalivedVRRP and OIDKeepalivedCheck are
	// its global, vrrp and check groups, registered separately as
	// keepalived does (global with either of the other two).
	OIDKeepalivedGlobal = OIDKeepalived.Append(1)
	OIDKeepalivedVRRP   = OIDKeepalived.Append(2)
	OIDKeepalivedCheck  = OIDKeepalived.Append(3)
	// OIDVRRPv2 is VRRP-MIB (RFC 2787, mib-2.68).
	OIDVRRPv2 = MustOID("1.3.6.1.2.1.68")
	// OIDVRRPv3 is VRRPv3-MIB (RFC 6527, mib-2.207).
	OIDVRRPv3 = MustOID("1.3.6.1.2.1.207")
)

// Notification OIDs and the objects they carry.
var (
	oidSysUpTime0     = MustOID("1.3.6.1.2.1.1.3.0")
	oidSnmpTrapOID0   = MustOID("1.3.6.1.6.3.1.1.4.1.0")
	oidRouterID0      = OIDKeepalivedGlobal.Append(2, 0)
	oidVrrpInstance   = OIDKeepalivedVRRP.Append(3, 1) // vrrpInstanceEntry
	oidTrapInstState  = OIDKeepalivedVRRP.Append(10, 0, 2)
	oidV3OpsEntry     = OIDVRRPv3.Append(1, 1, 1, 1)
	oidV3StatsEntry   = OIDVRRPv3.Append(1, 2, 5, 1)
	oidTrapV3Master   = OIDVRRPv3.Append(0, 1)
	oidV2OperEntry    = OIDVRRPv2.Append(1, 3, 1)
	oidTrapV2Master   = OIDVRRPv2.Append(0, 1)
	oidKaVSEntry      = OIDKeepalivedCheck.Append(3, 1)
	oidKaRSEntry      = OIDKeepalivedCheck.Append(4, 1)
	oidKaAddressEntry = OIDKeepalivedVRRP.Append(6, 1)
)

// MIBs selects what the subagent serves (keepalived's enable_snmp_*).
type MIBs struct {
	VRRP    bool // enable_snmp_vrrp: KEEPALIVED-MIB global and vrrp groups
	Checker bool // enable_snmp_checker: KEEPALIVED-MIB global and check groups
	RFCv2   bool // enable_snmp_rfcv2: VRRP-MIB (RFC 2787)
	RFCv3   bool // enable_snmp_rfcv3: VRRPv3-MIB (RFC 6527)
}

// Any reports whether at least one MIB is enabled.
func (m MIBs) Any() bool { return m.VRRP || m.Checker || m.RFCv2 || m.RFCv3 }

// Subtrees returns the OIDs to register, in registration order.
func (m MIBs) Subtrees() []OID {
	var out []OID
	if m.VRRP || m.Checker {
		out = append(out, OIDKeepalivedGlobal)
	}
	if m.VRRP {
		out = append(out, OIDKeepalivedVRRP)
	}
	if m.Checker {
		out = append(out, OIDKeepalivedCheck)
	}
	if m.RFCv2 {
		out = append(out, OIDVRRPv2)
	}
	if m.RFCv3 {
		out = append(out, OIDVRRPv3)
	}
	return out
}

// BuildTable renders a snapshot as the enabled MIBs at time now. traps
// is the state of enable_traps, which both KEEPALIVED-MIB and VRRP-MIB
// show.
func BuildTable(s Snapshot, m MIBs, traps bool, now time.Time) *Table {
	b := &tableBuilder{}
	if m.VRRP || m.Checker {
		buildGlobal(b, s.Global, traps)
	}
	if m.VRRP {
		buildKeepalivedVRRP(b, s.Instances)
	}
	if m.Checker {
		buildKeepalivedCheck(b, s.VirtualServers)
	}
	if m.RFCv2 {
		buildRFC2787(b, s.Instances, traps, now)
	}
	if m.RFCv3 {
		buildRFC6527(b, s.Instances, now)
	}
	return b.build()
}

func truth(v bool) int64 {
	if v {
		return 1
	}
	return 2
}

func inetType(a netip.Addr) int64 {
	if a.Unmap().Is4() {
		return 1
	}
	return 2
}

// ---- KEEPALIVED-MIB ----

func buildGlobal(b *tableBuilder, g Global, traps bool) {
	g1 := OIDKeepalivedGlobal
	for _, c := range []uint32{1, 2, 4} {
		b.object(g1.Append(c))
	}
	b.str(g1.Append(1, 0), g.Version)
	b.str(g1.Append(2, 0), g.RouterID)
	b.integer(g1.Append(4, 0), truth(traps))
}

// keepalivedState maps to KEEPALIVED-MIB's VrrpState.
func keepalivedState(s VRRPState) int64 {
	switch s {
	case StateInit:
		return 0
	case StateBackup:
		return 1
	case StateMaster:
		return 2
	case StateFault:
		return 3
	case StateStopped:
		return 5
	case StateDeleted:
		return 6
	}
	return 4
}

var (
	kaInstanceCols = []uint32{2, 3, 4, 5, 7, 8, 10, 12, 13, 14, 15, 18, 27, 30}
	kaAddressCols  = []uint32{2, 3, 5, 7, 8}
)

func buildKeepalivedVRRP(b *tableBuilder, insts []VRRPInstance) {
	sg := OIDKeepalivedVRRP.Append(1, 1)  // vrrpSyncGroupEntry
	sgm := OIDKeepalivedVRRP.Append(2, 1) // vrrpSyncGroupMemberEntry
	b.object(sg.Append(2))
	b.object(sgm.Append(2))
	for _, c := range kaInstanceCols {
		b.object(oidVrrpInstance.Append(c))
	}
	for _, c := range kaAddressCols {
		b.object(oidKaAddressEntry.Append(c))
	}
	groups := map[string]uint32{}  // sync group name → its index
	members := map[uint32]uint32{} // group index → members so far
	for i, in := range insts {
		idx := uint32(i + 1)
		col := func(c uint32) OID { return oidVrrpInstance.Append(c, idx) }
		b.str(col(2), in.Name)
		b.gauge(col(3), uint64(in.VRID))
		b.integer(col(4), keepalivedState(in.State))
		b.integer(col(5), keepalivedState(in.InitialState))
		b.integer(col(7), int64(in.BasePriority))
		b.integer(col(8), int64(in.EffectivePriority))
		b.str(col(10), in.Interface)
		// keepalived shows seconds for v2, centiseconds for v3.
		if in.Version == 2 {
			b.gauge(col(12), uint64(in.AdvertInterval/time.Second))
		} else {
			b.gauge(col(12), uint64(in.AdvertInterval/(10*time.Millisecond)))
		}
		b.integer(col(13), truth(in.Preempt))
		b.gauge(col(14), uint64(in.PreemptDelay/time.Second))
		auth := int64(0)
		if in.Version == 2 {
			auth = int64(in.Auth)
		}
		b.integer(col(15), auth)
		if in.SyncGroup != "" {
			b.str(col(18), in.SyncGroup)
			gi, ok := groups[in.SyncGroup]
			if !ok {
				gi = uint32(len(groups) + 1)
				groups[in.SyncGroup] = gi
				b.str(sg.Append(2, gi), in.SyncGroup)
			}
			// The member index is the position in the group, not the
			// instance's index (KEEPALIVED-MIB says so).
			members[gi]++
			b.str(sgm.Append(2, gi, members[gi]), in.Name)
		}
		b.integer(col(27), truth(in.Accept))
		b.integer(col(30), int64(in.Version))
		for j, p := range in.VIPs {
			a := func(c uint32) OID { return oidKaAddressEntry.Append(c, idx, uint32(j+1)) }
			b.integer(a(2), inetType(p.Addr()))
			b.inetAddr(a(3), p.Addr())
			b.gauge(a(5), uint64(max(p.Bits(), 0)))
			if in.IfIndex > 0 {
				b.integer(a(7), int64(in.IfIndex))
			}
			b.str(a(8), in.Interface)
		}
	}
}

var schedulers = map[string]int64{
	"rr": 1, "wrr": 2, "lc": 3, "wlc": 4, "lblc": 5, "lblcr": 6, "dh": 7, "sh": 8,
	"sed": 9, "nq": 10, "fo": 11, "ovf": 12, "mh": 13, "twos": 14,
}

func schedulerValue(s string) int64 {
	if v, ok := schedulers[strings.ToLower(s)]; ok {
		return v
	}
	return 99
}

func protocolValue(s string) int64 {
	switch strings.ToUpper(s) {
	case "TCP":
		return 1
	case "UDP":
		return 2
	case "SCTP":
		return 3
	}
	return 4
}

// forwardValue maps lb_kind; 0 means unknown (column left out).
func forwardValue(s string) int64 {
	switch strings.ToUpper(s) {
	case "NAT", "MASQ":
		return 1
	case "DR", "ROUTE":
		return 2
	case "TUN", "TUNNEL":
		return 3
	}
	return 0
}

var (
	kaVSCols = []uint32{2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 16, 20, 21, 22, 23,
		27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 64, 71}
	kaRSCols = []uint32{2, 3, 4, 5, 6, 7, 8, 9, 13,
		14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 55}
)

func lo32(v uint64) uint64 { return v & 0xffffffff }
func hi32(v uint64) uint64 { return v >> 32 }

func buildKeepalivedCheck(b *tableBuilder, vss []VirtualServer) {
	for _, c := range kaVSCols {
		b.object(oidKaVSEntry.Append(c))
	}
	for _, c := range kaRSCols {
		b.object(oidKaRSEntry.Append(c))
	}
	for i, vs := range vss {
		vi := uint32(i + 1)
		col := func(c uint32) OID { return oidKaVSEntry.Append(c, vi) }
		switch {
		case vs.Group != "":
			b.integer(col(2), 3)
			b.str(col(3), vs.Group)
		case vs.FWMark != 0:
			b.integer(col(2), 1)
			b.gauge(col(4), uint64(vs.FWMark))
		default:
			b.integer(col(2), 2)
			if vs.Addr.IsValid() {
				b.integer(col(5), inetType(vs.Addr))
				b.inetAddr(col(6), vs.Addr)
			}
			b.gauge(col(7), uint64(vs.Port))
		}
		b.integer(col(8), protocolValue(vs.Protocol))
		b.integer(col(9), schedulerValue(vs.Scheduler))
		if f := forwardValue(vs.ForwardMethod); f != 0 {
			b.integer(col(10), f)
		}
		b.integer(col(11), map[bool]int64{true: 1, false: 2}[vs.QuorumMet])
		b.integer(col(13), truth(vs.Persist > 0))
		if vs.Persist > 0 {
			b.gauge(col(14), uint64(vs.Persist/time.Second))
		}
		b.gauge(col(16), uint64(vs.DelayLoop/time.Second))
		b.gauge(col(64), uint64(vs.DelayLoop/time.Microsecond))
		var total, up uint64
		for _, rs := range vs.Reals {
			if rs.Sorry {
				continue
			}
			total++
			if rs.Alive {
				up++
			}
		}
		b.gauge(col(20), total)
		b.gauge(col(21), up)
		b.gauge(col(22), uint64(vs.Quorum))
		b.integer(col(23), truth(vs.QuorumMet))
		if st := vs.Stats; st != nil {
			b.gauge(col(27), st.Conns)
			b.counter32(col(28), st.InPkts)
			b.counter32(col(29), st.OutPkts)
			b.counter64(col(30), st.InBytes)
			b.counter64(col(31), st.OutBytes)
			rates(b, col, 32, 41, st)
			b.counter64(col(38), st.Conns)
			b.counter64(col(39), st.InPkts)
			b.counter64(col(40), st.OutPkts)
		}
		if vs.Name != "" {
			b.str(col(71), vs.Name)
		}
		for j, rs := range vs.Reals {
			ri := uint32(j + 1)
			rc := func(c uint32) OID { return oidKaRSEntry.Append(c, vi, ri) }
			b.integer(rc(2), map[bool]int64{false: 1, true: 2}[rs.Sorry])
			if rs.Addr.IsValid() {
				b.integer(rc(3), inetType(rs.Addr))
				b.inetAddr(rc(4), rs.Addr)
			}
			b.gauge(rc(5), uint64(rs.Port))
			b.integer(rc(6), map[bool]int64{true: 1, false: 2}[rs.Alive])
			b.integer(rc(7), int64(rs.Weight))
			b.gauge(rc(8), uint64(rs.UpperConnLimit))
			b.gauge(rc(9), uint64(rs.LowerConnLimit))
			b.gauge(rc(13), uint64(rs.FailedChecks))
			if st := rs.Stats; st != nil {
				b.gauge(rc(14), st.Conns)
				b.gauge(rc(15), st.ActiveConns)
				b.gauge(rc(16), st.InactiveConns)
				b.gauge(rc(17), st.PersistentConns)
				b.counter32(rc(18), st.InPkts)
				b.counter32(rc(19), st.OutPkts)
				b.counter64(rc(20), st.InBytes)
				b.counter64(rc(21), st.OutBytes)
				rates(b, rc, 22, 30, st)
				b.counter64(rc(27), st.Conns)
				b.counter64(rc(28), st.InPkts)
				b.counter64(rc(29), st.OutPkts)
			}
			fm := rs.ForwardMethod
			if fm == "" {
				fm = vs.ForwardMethod
			}
			if f := forwardValue(fm); f != 0 {
				b.integer(rc(40), f)
			}
			if rs.Name != "" {
				b.str(rc(55), rs.Name)
			}
		}
	}
}

// rates adds the five Gauge32 rates from column first and their
// low/high Unsigned32 halves from column pairs.
func rates(b *tableBuilder, col func(uint32) OID, first, pairs uint32, st *IPVSStats) {
	for k, v := range []uint64{st.CPS, st.InPPS, st.OutPPS, st.InBPS, st.OutBPS} {
		b.gauge(col(first+uint32(k)), v)
		b.gauge(col(pairs+2*uint32(k)), lo32(v))
		b.gauge(col(pairs+2*uint32(k)+1), hi32(v))
	}
}

// ---- RFC tables ----

// rfcState maps to the RFCs' initialize(1), backup(2), master(3).
func rfcState(s VRRPState) int64 {
	switch s {
	case StateBackup:
		return 2
	case StateMaster:
		return 3
	}
	return 1
}

// family returns the instance's address family from its first VIP
// (keepalived's instances are of one family); ok is false without VIPs,
// and such instances are not shown in the RFC tables (as keepalived).
func family(in VRRPInstance) (v4 bool, ok bool) {
	if len(in.VIPs) == 0 {
		return false, false
	}
	return in.VIPs[0].Addr().Unmap().Is4(), true
}

func vipsOf(in VRRPInstance, v4 bool) []netip.Addr {
	var out []netip.Addr
	for _, p := range in.VIPs {
		a := p.Addr().Unmap()
		if a.Is4() == v4 {
			out = append(out, a)
		}
	}
	return out
}

func virtualMAC(vrid uint8, v4 bool) []byte {
	if v4 {
		return []byte{0x00, 0x00, 0x5e, 0x00, 0x01, vrid}
	}
	return []byte{0x00, 0x00, 0x5e, 0x00, 0x02, vrid}
}

// masterAddr is the master's address the RFCs show: our own primary
// address while master (keepalived does the same), else the last
// advert's source.
func masterAddr(in VRRPInstance) netip.Addr {
	if in.State == StateMaster && in.PrimaryAddr.IsValid() {
		return in.PrimaryAddr
	}
	return in.MasterAddr
}

func upTicks(in VRRPInstance, now time.Time) uint64 {
	if in.UpSince.IsZero() || (in.State != StateBackup && in.State != StateMaster) || now.Before(in.UpSince) {
		return 0
	}
	return uint64(now.Sub(in.UpSince) / (10 * time.Millisecond))
}

func sumCounters(insts []VRRPInstance, f func(*VRRPCounters) uint64, keep func(VRRPInstance) bool) uint64 {
	var n uint64
	for _, in := range insts {
		if in.Counters != nil && keep(in) {
			n += f(in.Counters)
		}
	}
	return n
}

var (
	v3OpsCols   = []uint32{3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}
	v3StatsCols = []uint32{1, 2, 3, 4, 5, 7, 8, 9, 10, 11}
)

func suitableV3(in VRRPInstance) bool {
	_, ok := family(in)
	return ok && in.Version == 3
}

func buildRFC6527(b *tableBuilder, insts []VRRPInstance, now time.Time) {
	assoc := OIDVRRPv3.Append(1, 1, 2, 1) // vrrpv3AssociatedIpAddrEntry
	gstats := OIDVRRPv3.Append(1, 2)
	for _, c := range v3OpsCols {
		b.object(oidV3OpsEntry.Append(c))
	}
	b.object(assoc.Append(2))
	for _, c := range []uint32{1, 2, 3} {
		b.object(gstats.Append(c))
	}
	for _, c := range v3StatsCols {
		b.object(oidV3StatsEntry.Append(c))
	}
	b.counter64(gstats.Append(1, 0), sumCounters(insts, func(c *VRRPCounters) uint64 { return c.ChecksumErrors }, suitableV3))
	b.counter64(gstats.Append(2, 0), sumCounters(insts, func(c *VRRPCounters) uint64 { return c.VersionErrors }, suitableV3))
	b.counter64(gstats.Append(3, 0), sumCounters(insts, func(c *VRRPCounters) uint64 { return c.VRIDErrors }, suitableV3))
	for _, in := range insts {
		if !suitableV3(in) {
			continue
		}
		v4, _ := family(in)
		typ := uint32(2)
		if v4 {
			typ = 1
		}
		idx := []uint32{uint32(max(in.IfIndex, 0)), uint32(in.VRID), typ}
		col := func(c uint32) OID { return oidV3OpsEntry.Append(c).Append(idx...) }
		vips := vipsOf(in, v4)
		if a := masterAddr(in); a.IsValid() && a.Unmap().Is4() == v4 {
			b.inetAddr(col(3), a)
		}
		if a := in.PrimaryAddr; a.IsValid() && a.Unmap().Is4() == v4 {
			b.inetAddr(col(4), a)
		}
		b.octets(col(5), virtualMAC(in.VRID, v4))
		b.integer(col(6), rfcState(in.State))
		b.gauge(col(7), uint64(clamp(int64(in.EffectivePriority), 0, 255)))
		b.integer(col(8), int64(len(vips)))
		b.integer(col(9), int64(in.AdvertInterval/(10*time.Millisecond)))
		b.integer(col(10), truth(in.Preempt))
		b.integer(col(11), truth(in.Accept))
		b.ticks(col(12), upTicks(in, now))
		b.integer(col(13), 1) // active
		for _, a := range vips {
			raw := a.AsSlice()
			name := assoc.Append(2).Append(idx...).Append(uint32(len(raw)))
			for _, x := range raw {
				name = append(name, uint32(x))
			}
			b.integer(name, 1) // active
		}
		st := func(c uint32) OID { return oidV3StatsEntry.Append(c).Append(idx...) }
		b.integer(st(2), int64(in.MasterReason))
		if c := in.Counters; c != nil {
			b.counter32(st(1), c.BecameMaster)
			b.counter64(st(3), c.AdvertsReceived)
			b.counter64(st(4), c.AdvertIntervalErrors)
			b.counter64(st(5), c.TTLErrors)
			b.counter64(st(7), c.PriorityZeroReceived)
			b.counter64(st(8), c.PriorityZeroSent)
			b.counter64(st(9), c.InvalidType)
			b.counter64(st(10), c.AddressListErrors)
			b.counter64(st(11), c.PacketLengthErrors)
		}
	}
}

func suitableV2(in VRRPInstance) bool {
	v4, ok := family(in)
	return ok && v4 && in.Version == 2
}

var (
	v2OperCols  = []uint32{2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15}
	v2StatsCols = []uint32{1, 2, 3, 4, 5, 6, 7, 8, 9, 12}
)

func buildRFC2787(b *tableBuilder, insts []VRRPInstance, traps bool, now time.Time) {
	ops := OIDVRRPv2.Append(1)
	asso := OIDVRRPv2.Append(1, 4, 1) // vrrpAssoIpAddrEntry
	gstats := OIDVRRPv2.Append(2)
	stats := OIDVRRPv2.Append(2, 4, 1) // vrrpRouterStatsEntry
	b.object(ops.Append(1))
	b.object(ops.Append(2))
	for _, c := range v2OperCols {
		b.object(oidV2OperEntry.Append(c))
	}
	b.object(asso.Append(2))
	for _, c := range []uint32{1, 2, 3} {
		b.object(gstats.Append(c))
	}
	for _, c := range v2StatsCols {
		b.object(stats.Append(c))
	}
	b.integer(ops.Append(1, 0), 2) // vrrpNodeVersion
	b.integer(ops.Append(2, 0), truth(traps))
	b.counter32(gstats.Append(1, 0), sumCounters(insts, func(c *VRRPCounters) uint64 { return c.ChecksumErrors }, suitableV2))
	b.counter32(gstats.Append(2, 0), sumCounters(insts, func(c *VRRPCounters) uint64 { return c.VersionErrors }, suitableV2))
	b.counter32(gstats.Append(3, 0), sumCounters(insts, func(c *VRRPCounters) uint64 { return c.VRIDErrors }, suitableV2))
	for _, in := range insts {
		if !suitableV2(in) {
			continue
		}
		idx := []uint32{uint32(max(in.IfIndex, 0)), uint32(in.VRID)}
		col := func(c uint32) OID { return oidV2OperEntry.Append(c).Append(idx...) }
		vips := vipsOf(in, true)
		b.octets(col(2), virtualMAC(in.VRID, true))
		b.integer(col(3), rfcState(in.State))
		b.integer(col(4), 1) // adminState up
		b.integer(col(5), clamp(int64(in.EffectivePriority), 0, 255))
		b.integer(col(6), int64(len(vips)))
		b.ipv4(col(7), masterAddr(in).Unmap())
		b.ipv4(col(8), in.PrimaryAddr.Unmap())
		b.integer(col(9), int64(in.Auth)+1) // noAuthentication(1), simpleTextPassword(2), ipAuthenticationHeader(3)
		b.str(col(10), "")                  // the key reads as empty, as the RFC requires
		b.integer(col(11), int64(in.AdvertInterval/time.Second))
		b.integer(col(12), truth(in.Preempt))
		b.integer(col(14), 1) // protocol ip
		b.integer(col(15), 1) // active
		for _, a := range vips {
			r := a.As4()
			b.integer(asso.Append(2).Append(idx...).Append(uint32(r[0]), uint32(r[1]), uint32(r[2]), uint32(r[3])), 1)
		}
		if c := in.Counters; c != nil {
			st := func(k uint32) OID { return stats.Append(k).Append(idx...) }
			b.counter32(st(1), c.BecameMaster)
			b.counter32(st(2), c.AdvertsReceived)
			b.counter32(st(3), c.AdvertIntervalErrors)
			b.counter32(st(4), c.AuthFailures)
			b.counter32(st(5), c.TTLErrors)
			b.counter32(st(6), c.PriorityZeroReceived)
			b.counter32(st(7), c.PriorityZeroSent)
			b.counter32(st(8), c.InvalidType)
			b.counter32(st(9), c.AddressListErrors)
			b.counter32(st(12), c.PacketLengthErrors)
		}
	}
}
