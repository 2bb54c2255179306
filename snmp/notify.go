package snmp

import "errors"

// ErrNotConnected is returned by notifications while no session is open;
// the notification is dropped (as keepalived's are).
var ErrNotConnected = errors.New("snmp: no AgentX session")

// ErrQueueFull is returned when notifications arrive faster than the
// session sends them.
var ErrQueueFull = errors.New("snmp: notification queue full")

// NotifyStateChange sends the notifications for a VRRP state change of
// in (the instance as it is after the change), when Options.Traps is
// set: KEEPALIVED-MIB vrrpInstanceStateChange (MIBs.VRRP), and, when in
// became master, RFC 6527 vrrpv3NewMaster (MIBs.RFCv3, VRRPv3 instances)
// and RFC 2787 vrrpTrapNewMaster (MIBs.RFCv2, VRRPv2 IPv4 instances).
// The instance's KEEPALIVED-MIB index is its position in a fresh
// Snapshot, found by name. It does not block; it returns nil when
// nothing is to be sent.
func (a *Agent) NotifyStateChange(in VRRPInstance) error {
	if !a.opts.Traps {
		return nil
	}
	pdus := a.stateChangePDUs(in)
	if len(pdus) == 0 {
		return nil
	}
	if !a.Connected() {
		return ErrNotConnected
	}
	for _, p := range pdus {
		select {
		case a.notify <- p:
		default:
			return ErrQueueFull
		}
	}
	return nil
}

func trapHeader(trap OID) []VarBind {
	return []VarBind{{Type: TypeObjectIdentifier, Name: oidSnmpTrapOID0, Value: trap}}
}

func (a *Agent) stateChangePDUs(in VRRPInstance) []*PDU {
	var out []*PDU
	m := a.opts.MIBs
	if m.VRRP {
		snap := a.src.Snapshot()
		idx := uint32(0)
		for i, x := range snap.Instances {
			if x.Name == in.Name {
				idx = uint32(i + 1)
				break
			}
		}
		vbs := trapHeader(oidTrapInstState)
		suffix := func(c uint32) OID {
			if idx == 0 {
				return oidVrrpInstance.Append(c)
			}
			return oidVrrpInstance.Append(c, idx)
		}
		vbs = append(vbs,
			VarBind{Type: TypeOctetString, Name: suffix(2), Value: []byte(in.Name)},
			VarBind{Type: TypeInteger, Name: suffix(4), Value: int32(keepalivedState(in.State))},
			VarBind{Type: TypeInteger, Name: suffix(5), Value: int32(keepalivedState(in.InitialState))},
			VarBind{Type: TypeOctetString, Name: oidRouterID0, Value: []byte(snap.Global.RouterID)},
		)
		out = append(out, &PDU{Type: PDUNotify, VarBinds: vbs})
	}
	if in.State != StateMaster {
		return out
	}
	if m.RFCv3 && suitableV3(in) {
		v4, _ := family(in)
		typ := uint32(2)
		if v4 {
			typ = 1
		}
		idx := []uint32{uint32(max(in.IfIndex, 0)), uint32(in.VRID), typ}
		vbs := trapHeader(oidTrapV3Master)
		if a := masterAddr(in); a.IsValid() {
			vbs = append(vbs, VarBind{Type: TypeOctetString, Name: oidV3OpsEntry.Append(3).Append(idx...), Value: a.Unmap().AsSlice()})
		}
		vbs = append(vbs, VarBind{Type: TypeInteger, Name: oidV3StatsEntry.Append(2).Append(idx...), Value: int32(in.MasterReason)})
		out = append(out, &PDU{Type: PDUNotify, VarBinds: vbs})
	}
	if m.RFCv2 && suitableV2(in) {
		idx := []uint32{uint32(max(in.IfIndex, 0)), uint32(in.VRID)}
		vbs := trapHeader(oidTrapV2Master)
		if a := masterAddr(in).Unmap(); a.Is4() {
			vbs = append(vbs, VarBind{Type: TypeIPAddress, Name: oidV2OperEntry.Append(7).Append(idx...), Value: a.As4()})
		}
		out = append(out, &PDU{Type: PDUNotify, VarBinds: vbs})
	}
	return out
}
