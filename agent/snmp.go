package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"

	"quadrature/config"
	"quadrature/fsm"
	"quadrature/lvs"
	"quadrature/snmp"
	"quadrature/vrrp"
)

// snmpState is the node's SNMP subagent (global_defs enable_snmp_*): the
// MIBs are served from snapshots of this node's VRRP instances, the
// group's verdicts and the kernel's counters; with enable_traps a VRRP
// state change is sent as a notification.
type snmpState struct {
	sub *snmp.Agent

	mu      sync.Mutex
	reasons map[string]snmp.MasterReason // instance → why it last became master
}

// startSNMP starts the subagent when the node's configuration enables a
// MIB (nothing happens otherwise). The subagent reconnects on its own
// while snmpd is away, so it never fails the agent.
func (a *Agent) startSNMP(ctx context.Context, wg *sync.WaitGroup) error {
	s := a.local.Global.SNMP
	if !s.Enabled() {
		return nil
	}
	st := &snmpState{reasons: map[string]snmp.MasterReason{}}
	sub, err := snmp.New(snmp.Options{
		Socket: s.Socket,
		MIBs:   snmp.MIBs{VRRP: s.VRRP, Checker: s.Checker, RFCv2: s.RFCv2, RFCv3: s.RFCv3},
		Traps:  s.Traps,
	}, snmp.SourceFunc(a.snmpSnapshot), a.log.With("component", "snmp"))
	if err != nil {
		return fmt.Errorf("agent: snmp: %w", err)
	}
	st.sub = sub
	a.snmp = st
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := sub.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Warn("agent: snmp subagent stopped", "err", err)
		}
	}()
	a.log.Info("agent: snmp subagent", "socket", s.Socket, "vrrp", s.VRRP, "checker", s.Checker, "rfcv2", s.RFCv2, "rfcv3", s.RFCv3, "traps", s.Traps)
	return nil
}

// snmpStateChange records a VRRP transition (why an instance became
// master) and, with traps on, sends it. It runs on VRRP's event loop, so
// the notification is built on another goroutine.
func (a *Agent) snmpStateChange(sc vrrp.StateChange) {
	st := a.snmp
	if st == nil {
		return
	}
	st.mu.Lock()
	if sc.To == vrrp.StateMaster {
		st.reasons[sc.Instance] = masterReason(sc.Cause)
	}
	st.mu.Unlock()
	go func() {
		for _, in := range a.snmpSnapshot().Instances {
			if in.Name == sc.Instance {
				in.State = snmpVRRPState(sc.To)
				if err := st.sub.NotifyStateChange(in); err != nil && !errors.Is(err, snmp.ErrNotConnected) {
					a.log.Warn("agent: snmp notification", "instance", sc.Instance, "err", err)
				}
				return
			}
		}
	}()
}

func masterReason(c vrrp.Cause) snmp.MasterReason {
	switch c {
	case vrrp.CausePriority:
		return snmp.ReasonPriority
	case vrrp.CauseMasterDown, vrrp.CauseReleased:
		return snmp.ReasonMasterNoResponse
	case vrrp.CauseStartup:
		return snmp.ReasonPriority // an address owner starts as master
	}
	return snmp.ReasonMasterNoResponse
}

func snmpVRRPState(s vrrp.State) snmp.VRRPState {
	switch s {
	case vrrp.StateBackup:
		return snmp.StateBackup
	case vrrp.StateMaster:
		return snmp.StateMaster
	case vrrp.StateFault:
		return snmp.StateFault
	case vrrp.StateStopped:
		return snmp.StateStopped
	}
	return snmp.StateInit
}

// snmpSnapshot is the picture the MIBs show: the node's instances and
// virtual servers in configuration order (their KEEPALIVED-MIB index).
func (a *Agent) snmpSnapshot() snmp.Snapshot {
	c := a.currentConfig()
	out := snmp.Snapshot{Global: snmp.Global{Version: "quadrature " + a.cfg.Version, RouterID: c.Global.RouterID}}
	if out.Global.RouterID == "" {
		out.Global.RouterID = a.name
	}
	status := map[string]vrrp.InstanceStatus{}
	if v := a.VRRP(); v != nil {
		for _, s := range v.Status() {
			status[s.Name] = s
		}
	}
	groupOf := map[string]string{}
	for _, g := range c.SyncGroups {
		for _, m := range g.Group {
			groupOf[m] = g.Name
		}
	}
	var reasons map[string]snmp.MasterReason
	if st := a.snmp; st != nil {
		st.mu.Lock()
		reasons = make(map[string]snmp.MasterReason, len(st.reasons))
		for k, v := range st.reasons {
			reasons[k] = v
		}
		st.mu.Unlock()
	}
	for i := range c.Instances {
		out.Instances = append(out.Instances, snmpInstance(&c.Instances[i], status[c.Instances[i].Name], groupOf, reasons))
	}
	out.VirtualServers = a.snmpVirtualServers(c)
	return out
}

func snmpInstance(in *config.VRRPInstance, s vrrp.InstanceStatus, groupOf map[string]string, reasons map[string]snmp.MasterReason) snmp.VRRPInstance {
	out := snmp.VRRPInstance{
		Name: in.Name, VRID: uint8(in.VRID), Version: in.Version, Interface: in.Interface,
		BasePriority: in.Priority, EffectivePriority: in.Priority,
		AdvertInterval: in.AdvertInt, Preempt: !in.NoPreempt, PreemptDelay: in.PreemptDelay,
		Accept: in.Accept, SyncGroup: groupOf[in.Name], MasterReason: reasons[in.Name],
		InitialState: snmp.StateBackup,
	}
	if strings.EqualFold(in.State, "MASTER") {
		out.InitialState = snmp.StateMaster
	}
	if ifi, err := net.InterfaceByName(in.Interface); err == nil {
		out.IfIndex = ifi.Index
	}
	if in.Auth != nil {
		switch strings.ToUpper(in.Auth.Type) {
		case "PASS":
			out.Auth = snmp.AuthPass
		case "AH":
			out.Auth = snmp.AuthAH
		}
	}
	for _, v := range in.VIPs {
		out.VIPs = append(out.VIPs, v.Prefix)
	}
	if s.Name == "" {
		return out // not running (a witness, or before VRRP starts)
	}
	out.State = snmpVRRPState(s.State)
	out.EffectivePriority, out.BasePriority = s.Priority, s.BasePriority
	out.PrimaryAddr, out.MasterAddr = s.Self, s.MasterAddr
	if s.State == vrrp.StateBackup || s.State == vrrp.StateMaster {
		out.UpSince = s.LastTransition
	}
	if s.MasterAdverInt > 0 {
		out.AdvertInterval = s.MasterAdverInt
	}
	k := s.Counters
	out.Counters = &snmp.VRRPCounters{
		BecameMaster: k.BecameMaster, AdvertsReceived: k.AdvertsReceived,
		PriorityZeroSent: k.PriorityZeroSent, PriorityZeroReceived: k.PriorityZeroReceived,
		AddressListErrors: k.AddrListMismatch, TTLErrors: k.Drops[vrrp.DropTTL],
		ChecksumErrors: k.Drops[vrrp.DropChecksum], VersionErrors: k.Drops[vrrp.DropVersion],
		VRIDErrors: k.Drops[vrrp.DropVRID], InvalidType: k.Drops[vrrp.DropType],
		PacketLengthErrors: k.Drops[vrrp.DropLength] + k.Drops[vrrp.DropTooShort],
		AuthFailures:       k.Drops[vrrp.DropAuth], AdvertIntervalErrors: k.Drops[vrrp.DropInterval],
	}
	return out
}

// snmpVirtualServers are the virtual servers with the group's verdicts
// and, where the kernel has them, its counters.
func (a *Agent) snmpVirtualServers(c *config.Config) []snmp.VirtualServer {
	st := a.ViewState()
	var stats map[lvs.ServiceKey]lvs.ServiceStats
	if r := a.Reconciler(); r != nil {
		stats, _ = r.Stats(context.Background())
	}
	quorums := map[string]fsm.QuorumState{}
	for _, q := range st.Quorums() {
		quorums[q.VS] = q
	}
	out := make([]snmp.VirtualServer, 0, len(c.VirtualServers))
	for i := range c.VirtualServers {
		vs := &c.VirtualServers[i]
		id := vs.ID()
		v := snmp.VirtualServer{FWMark: vs.Fwmark, Group: vs.Group, Protocol: vs.Protocol, Scheduler: vs.Scheduler,
			ForwardMethod: vs.Method, Persist: vs.PersistenceTimeout, DelayLoop: vs.DelayLoop, Quorum: uint32(max(vs.Quorum, 0)), QuorumMet: true}
		if vs.Fwmark == 0 && vs.Group == "" {
			v.Addr, v.Port = vs.Addr.Unmap(), vs.Port
		}
		if q, ok := quorums[id]; ok {
			v.QuorumMet = q.Up
		}
		key, keyOK := serviceKey(c, vs)
		ks, hasStats := stats[key]
		if keyOK && hasStats {
			v.Stats = ipvsStats(ks.Counters)
		}
		for j := range vs.RealServers {
			rs := &vs.RealServers[j]
			ap := netip.AddrPortFrom(rs.Addr.Unmap(), rs.Port)
			vd, _ := st.VerdictOf(id, ap)
			r := snmp.RealServer{Addr: ap.Addr(), Port: rs.Port, Weight: rs.Weight, Alive: vd.Up && !vd.Drained,
				UpperConnLimit: uint32(max(rs.UThreshold, 0)), LowerConnLimit: uint32(max(rs.LThreshold, 0))}
			if rs.Method != vs.Method {
				r.ForwardMethod = rs.Method
			}
			if vd.Up {
				r.Weight = vd.Weight
			} else if len(rs.Checkers) > 0 {
				r.FailedChecks = uint32(len(rs.Checkers))
			}
			dk := lvs.DestKey{Addr: ap.Addr(), Port: rs.Port}
			if dk.Port == 0 && key.FWMark == 0 {
				dk.Port = key.Port
			}
			if ds, ok := ks.Destinations[dk]; ok && hasStats {
				r.Stats = ipvsStats(ds.Counters)
				r.Stats.ActiveConns, r.Stats.InactiveConns, r.Stats.PersistentConns = uint64(ds.ActiveConns), uint64(ds.InactiveConns), uint64(ds.PersistConns)
			}
			v.Reals = append(v.Reals, r)
		}
		if ss := vs.SorryServer; ss != nil {
			v.Reals = append(v.Reals, snmp.RealServer{Addr: ss.Addr.Unmap(), Port: ss.Port, Sorry: true, Alive: !v.QuorumMet})
		}
		out = append(out, v)
	}
	return out
}

func ipvsStats(c lvs.Counters) *snmp.IPVSStats {
	return &snmp.IPVSStats{Conns: c.Connections, InPkts: c.PacketsIn, OutPkts: c.PacketsOut, InBytes: c.BytesIn, OutBytes: c.BytesOut,
		CPS: c.CPS, InPPS: c.PPSIn, OutPPS: c.PPSOut, InBPS: c.BPSIn, OutBPS: c.BPSOut}
}
