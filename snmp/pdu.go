package snmp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// AgentX protocol constants (RFC 2741 §6).
const (
	agentxVersion = 1
	headerLen     = 20

	// maxPayload bounds what the decoder accepts for one PDU. snmpd's
	// largest PDUs (a GetBulk answer) are far below it.
	maxPayload = 1 << 20
	// maxSubIDs is the longest OID AgentX allows (RFC 2741 §5.1).
	maxSubIDs = 128
)

// PDUType is the h.type field of the AgentX header.
type PDUType uint8

// AgentX PDU types (RFC 2741 §6.1).
const (
	PDUOpen            PDUType = 1
	PDUClose           PDUType = 2
	PDURegister        PDUType = 3
	PDUUnregister      PDUType = 4
	PDUGet             PDUType = 5
	PDUGetNext         PDUType = 6
	PDUGetBulk         PDUType = 7
	PDUTestSet         PDUType = 8
	PDUCommitSet       PDUType = 9
	PDUUndoSet         PDUType = 10
	PDUCleanupSet      PDUType = 11
	PDUNotify          PDUType = 12
	PDUPing            PDUType = 13
	PDUIndexAllocate   PDUType = 14
	PDUIndexDeallocate PDUType = 15
	PDUAddAgentCaps    PDUType = 16
	PDURemoveAgentCaps PDUType = 17
	PDUResponse        PDUType = 18
)

var pduNames = map[PDUType]string{
	PDUOpen: "Open", PDUClose: "Close", PDURegister: "Register", PDUUnregister: "Unregister",
	PDUGet: "Get", PDUGetNext: "GetNext", PDUGetBulk: "GetBulk", PDUTestSet: "TestSet",
	PDUCommitSet: "CommitSet", PDUUndoSet: "UndoSet", PDUCleanupSet: "CleanupSet",
	PDUNotify: "Notify", PDUPing: "Ping", PDUIndexAllocate: "IndexAllocate",
	PDUIndexDeallocate: "IndexDeallocate", PDUAddAgentCaps: "AddAgentCaps",
	PDURemoveAgentCaps: "RemoveAgentCaps", PDUResponse: "Response",
}

func (t PDUType) String() string {
	if n, ok := pduNames[t]; ok {
		return n
	}
	return fmt.Sprintf("PDUType(%d)", uint8(t))
}

// Header flags (RFC 2741 §6.1).
const (
	FlagInstanceRegistration uint8 = 0x01
	FlagNewIndex             uint8 = 0x02
	FlagAnyIndex             uint8 = 0x04
	FlagNonDefaultContext    uint8 = 0x08
	FlagNetworkByteOrder     uint8 = 0x10
)

// Close reasons (RFC 2741 §6.2.2).
const (
	CloseOther         uint8 = 1
	CloseParseError    uint8 = 2
	CloseProtocolError uint8 = 3
	CloseTimeouts      uint8 = 4
	CloseShutdown      uint8 = 5
	CloseByManager     uint8 = 6
)

// Response errors (RFC 2741 §6.2.16) and the SNMP errors a subagent uses.
const (
	ErrNone                  uint16 = 0
	ErrGenErr                uint16 = 5
	ErrNotWritable           uint16 = 17
	ErrOpenFailed            uint16 = 256
	ErrNotOpen               uint16 = 257
	ErrUnsupportedContext    uint16 = 262
	ErrDuplicateRegistration uint16 = 263
	ErrUnknownRegistration   uint16 = 264
	ErrParseError            uint16 = 266
	ErrRequestDenied         uint16 = 267
	ErrProcessingError       uint16 = 268
)

// VarType is the type of a VarBind's value (RFC 2741 §5.4).
type VarType uint16

// VarBind types.
const (
	TypeInteger          VarType = 2
	TypeOctetString      VarType = 4
	TypeNull             VarType = 5
	TypeObjectIdentifier VarType = 6
	TypeIPAddress        VarType = 64
	TypeCounter32        VarType = 65
	TypeGauge32          VarType = 66
	TypeTimeTicks        VarType = 67
	TypeOpaque           VarType = 68
	TypeCounter64        VarType = 70
	TypeNoSuchObject     VarType = 128
	TypeNoSuchInstance   VarType = 129
	TypeEndOfMibView     VarType = 130
)

// VarBind is one name and value. Value holds, by Type: int32 (Integer),
// []byte (OctetString, Opaque), OID (ObjectIdentifier), [4]byte
// (IpAddress), uint32 (Counter32, Gauge32, TimeTicks), uint64
// (Counter64), nil (Null, NoSuchObject, NoSuchInstance, EndOfMibView).
type VarBind struct {
	Type  VarType
	Name  OID
	Value any
}

// SearchRange is a start OID (inclusive when Include is set) and an end
// OID (exclusive; nil means no upper bound) (RFC 2741 §5.2).
type SearchRange struct {
	Start   OID
	Include bool
	End     OID
}

// PDU is one AgentX PDU. Only the fields of its Type are used.
type PDU struct {
	Type          PDUType
	Flags         uint8
	SessionID     uint32
	TransactionID uint32
	PacketID      uint32
	// Context is the non-default context; present when Flags has
	// FlagNonDefaultContext and the type carries a context.
	Context []byte

	// Open: Timeout, ID, Descr. Register/Unregister: Timeout (Register
	// only), Priority, RangeSubID, Subtree, UpperBound. Close: Reason.
	Timeout    uint8
	ID         OID
	Descr      []byte
	Reason     uint8
	Priority   uint8
	RangeSubID uint8
	Subtree    OID
	UpperBound uint32

	// Get, GetNext, GetBulk.
	Ranges         []SearchRange
	NonRepeaters   uint16
	MaxRepetitions uint16

	// Response.
	SysUpTime uint32
	Error     uint16
	Index     uint16

	// Response, Notify, TestSet, IndexAllocate, IndexDeallocate.
	VarBinds []VarBind
}

func hasContext(t PDUType) bool {
	switch t {
	case PDURegister, PDUUnregister, PDUGet, PDUGetNext, PDUGetBulk, PDUTestSet,
		PDUNotify, PDUPing, PDUIndexAllocate, PDUIndexDeallocate, PDUAddAgentCaps, PDURemoveAgentCaps:
		return true
	}
	return false
}

// ---- encoding ----

// byteOrder is what both of encoding/binary's orders implement.
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

type encoder struct {
	bo  byteOrder
	buf []byte
}

func (e *encoder) u8(v uint8)   { e.buf = append(e.buf, v) }
func (e *encoder) u16(v uint16) { e.buf = e.bo.AppendUint16(e.buf, v) }
func (e *encoder) u32(v uint32) { e.buf = e.bo.AppendUint32(e.buf, v) }
func (e *encoder) u64(v uint64) {
	// Counter64 is sent as high then low 32-bit word in the PDU's order;
	// for both byte orders that equals the 64-bit value in that order.
	e.buf = e.bo.AppendUint64(e.buf, v)
}

var internetPrefix = OID{1, 3, 6, 1}

func (e *encoder) oid(o OID, include bool) {
	prefix := uint8(0)
	subs := o
	if len(o) >= 5 && o[:4].Compare(internetPrefix) == 0 && o[4] >= 1 && o[4] <= 255 {
		prefix = uint8(o[4])
		subs = o[5:]
	}
	e.u8(uint8(len(subs)))
	e.u8(prefix)
	if include {
		e.u8(1)
	} else {
		e.u8(0)
	}
	e.u8(0)
	for _, s := range subs {
		e.u32(s)
	}
}

func (e *encoder) octets(b []byte) {
	e.u32(uint32(len(b)))
	e.buf = append(e.buf, b...)
	for i := len(b); i%4 != 0; i++ {
		e.buf = append(e.buf, 0)
	}
}

func (e *encoder) varbind(v VarBind) error {
	e.u16(uint16(v.Type))
	e.u16(0)
	e.oid(v.Name, false)
	switch v.Type {
	case TypeInteger:
		x, ok := v.Value.(int32)
		if !ok {
			return fmt.Errorf("snmp: %s: Integer value %T", v.Name, v.Value)
		}
		e.u32(uint32(x))
	case TypeOctetString, TypeOpaque:
		x, ok := v.Value.([]byte)
		if !ok {
			return fmt.Errorf("snmp: %s: OctetString value %T", v.Name, v.Value)
		}
		e.octets(x)
	case TypeObjectIdentifier:
		x, ok := v.Value.(OID)
		if !ok {
			return fmt.Errorf("snmp: %s: ObjectIdentifier value %T", v.Name, v.Value)
		}
		e.oid(x, false)
	case TypeIPAddress:
		x, ok := v.Value.([4]byte)
		if !ok {
			return fmt.Errorf("snmp: %s: IpAddress value %T", v.Name, v.Value)
		}
		e.octets(x[:])
	case TypeCounter32, TypeGauge32, TypeTimeTicks:
		x, ok := v.Value.(uint32)
		if !ok {
			return fmt.Errorf("snmp: %s: %d value %T", v.Name, v.Type, v.Value)
		}
		e.u32(x)
	case TypeCounter64:
		x, ok := v.Value.(uint64)
		if !ok {
			return fmt.Errorf("snmp: %s: Counter64 value %T", v.Name, v.Value)
		}
		e.u64(x)
	case TypeNull, TypeNoSuchObject, TypeNoSuchInstance, TypeEndOfMibView:
	default:
		return fmt.Errorf("snmp: %s: unknown varbind type %d", v.Name, v.Type)
	}
	return nil
}

// Encode renders p as one AgentX PDU. The byte order follows
// FlagNetworkByteOrder in p.Flags (big-endian when set).
func Encode(p *PDU) ([]byte, error) {
	e := &encoder{bo: binary.LittleEndian, buf: make([]byte, headerLen, 128)}
	if p.Flags&FlagNetworkByteOrder != 0 {
		e.bo = binary.BigEndian
	}
	flags := p.Flags
	if hasContext(p.Type) && p.Context != nil {
		flags |= FlagNonDefaultContext
	} else {
		flags &^= FlagNonDefaultContext
	}
	if flags&FlagNonDefaultContext != 0 {
		e.octets(p.Context)
	}
	switch p.Type {
	case PDUOpen:
		e.u8(p.Timeout)
		e.u8(0)
		e.u8(0)
		e.u8(0)
		e.oid(p.ID, false)
		e.octets(p.Descr)
	case PDUClose:
		e.u8(p.Reason)
		e.u8(0)
		e.u8(0)
		e.u8(0)
	case PDURegister, PDUUnregister:
		if p.Type == PDURegister {
			e.u8(p.Timeout)
		} else {
			e.u8(0)
		}
		e.u8(p.Priority)
		e.u8(p.RangeSubID)
		e.u8(0)
		e.oid(p.Subtree, false)
		if p.RangeSubID != 0 {
			e.u32(p.UpperBound)
		}
	case PDUGet, PDUGetNext, PDUGetBulk:
		if p.Type == PDUGetBulk {
			e.u16(p.NonRepeaters)
			e.u16(p.MaxRepetitions)
		}
		for _, r := range p.Ranges {
			e.oid(r.Start, r.Include)
			e.oid(r.End, false)
		}
	case PDUResponse:
		e.u32(p.SysUpTime)
		e.u16(p.Error)
		e.u16(p.Index)
		for _, v := range p.VarBinds {
			if err := e.varbind(v); err != nil {
				return nil, err
			}
		}
	case PDUNotify, PDUTestSet, PDUIndexAllocate, PDUIndexDeallocate:
		for _, v := range p.VarBinds {
			if err := e.varbind(v); err != nil {
				return nil, err
			}
		}
	case PDUAddAgentCaps:
		e.oid(p.ID, false)
		e.octets(p.Descr)
	case PDURemoveAgentCaps:
		e.oid(p.ID, false)
	case PDUCommitSet, PDUUndoSet, PDUCleanupSet, PDUPing:
	default:
		return nil, fmt.Errorf("snmp: cannot encode PDU type %d", p.Type)
	}
	h := e.buf[:headerLen]
	h[0] = agentxVersion
	h[1] = uint8(p.Type)
	h[2] = flags
	h[3] = 0
	e.bo.PutUint32(h[4:], p.SessionID)
	e.bo.PutUint32(h[8:], p.TransactionID)
	e.bo.PutUint32(h[12:], p.PacketID)
	e.bo.PutUint32(h[16:], uint32(len(e.buf)-headerLen))
	return e.buf, nil
}

// ---- decoding ----

// ErrShort means the buffer does not hold a whole PDU yet.
var ErrShort = errors.New("snmp: short AgentX PDU")

// ParseError is a malformed PDU; the session answers it with parseError
// or closes.
type ParseError struct{ Msg string }

func (e *ParseError) Error() string { return "snmp: AgentX parse error: " + e.Msg }

func perr(format string, args ...any) error { return &ParseError{Msg: fmt.Sprintf(format, args...)} }

type decoder struct {
	bo  binary.ByteOrder
	b   []byte
	off int
}

func (d *decoder) left() int { return len(d.b) - d.off }

func (d *decoder) need(n int) error {
	if d.left() < n {
		return perr("need %d bytes at offset %d, have %d", n, d.off, d.left())
	}
	return nil
}

func (d *decoder) u8() (uint8, error) {
	if err := d.need(1); err != nil {
		return 0, err
	}
	v := d.b[d.off]
	d.off++
	return v, nil
}

func (d *decoder) u16() (uint16, error) {
	if err := d.need(2); err != nil {
		return 0, err
	}
	v := d.bo.Uint16(d.b[d.off:])
	d.off += 2
	return v, nil
}

func (d *decoder) u32() (uint32, error) {
	if err := d.need(4); err != nil {
		return 0, err
	}
	v := d.bo.Uint32(d.b[d.off:])
	d.off += 4
	return v, nil
}

func (d *decoder) u64() (uint64, error) {
	if err := d.need(8); err != nil {
		return 0, err
	}
	v := d.bo.Uint64(d.b[d.off:])
	d.off += 8
	return v, nil
}

func (d *decoder) skip(n int) error {
	if err := d.need(n); err != nil {
		return err
	}
	d.off += n
	return nil
}

func (d *decoder) oid() (OID, bool, error) {
	if err := d.need(4); err != nil {
		return nil, false, err
	}
	n, prefix, include := int(d.b[d.off]), d.b[d.off+1], d.b[d.off+2]
	d.off += 4
	if n > maxSubIDs {
		return nil, false, perr("OID of %d sub-identifiers", n)
	}
	if err := d.need(4 * n); err != nil {
		return nil, false, err
	}
	if n == 0 && prefix == 0 {
		return nil, include != 0, nil
	}
	var o OID
	if prefix != 0 {
		o = make(OID, 0, 5+n)
		o = append(o, 1, 3, 6, 1, uint32(prefix))
	} else {
		o = make(OID, 0, n)
	}
	for i := 0; i < n; i++ {
		o = append(o, d.bo.Uint32(d.b[d.off:]))
		d.off += 4
	}
	return o, include != 0, nil
}

func (d *decoder) octets() ([]byte, error) {
	n, err := d.u32()
	if err != nil {
		return nil, err
	}
	if n > uint32(d.left()) {
		return nil, perr("octet string of %d bytes, %d left", n, d.left())
	}
	pad := (4 - int(n)%4) % 4
	if err := d.need(int(n) + pad); err != nil {
		return nil, err
	}
	out := make([]byte, n)
	copy(out, d.b[d.off:])
	d.off += int(n) + pad
	return out, nil
}

func (d *decoder) varbind() (VarBind, error) {
	t, err := d.u16()
	if err != nil {
		return VarBind{}, err
	}
	if err := d.skip(2); err != nil {
		return VarBind{}, err
	}
	name, _, err := d.oid()
	if err != nil {
		return VarBind{}, err
	}
	v := VarBind{Type: VarType(t), Name: name}
	switch v.Type {
	case TypeInteger:
		x, err := d.u32()
		if err != nil {
			return v, err
		}
		v.Value = int32(x)
	case TypeOctetString, TypeOpaque:
		x, err := d.octets()
		if err != nil {
			return v, err
		}
		v.Value = x
	case TypeObjectIdentifier:
		x, _, err := d.oid()
		if err != nil {
			return v, err
		}
		v.Value = x
	case TypeIPAddress:
		x, err := d.octets()
		if err != nil {
			return v, err
		}
		if len(x) != 4 {
			return v, perr("IpAddress of %d bytes", len(x))
		}
		v.Value = [4]byte(x)
	case TypeCounter32, TypeGauge32, TypeTimeTicks:
		x, err := d.u32()
		if err != nil {
			return v, err
		}
		v.Value = x
	case TypeCounter64:
		x, err := d.u64()
		if err != nil {
			return v, err
		}
		v.Value = x
	case TypeNull, TypeNoSuchObject, TypeNoSuchInstance, TypeEndOfMibView:
	default:
		return v, perr("unknown varbind type %d", t)
	}
	return v, nil
}

func (d *decoder) varbinds() ([]VarBind, error) {
	var out []VarBind
	for d.left() > 0 {
		v, err := d.varbind()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// PDULen returns the total length of the PDU that b starts with, once b
// holds its header; ErrShort before.
func PDULen(b []byte) (int, error) {
	if len(b) < headerLen {
		return 0, ErrShort
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if b[2]&FlagNetworkByteOrder != 0 {
		bo = binary.BigEndian
	}
	if b[0] != agentxVersion {
		return 0, perr("version %d", b[0])
	}
	n := bo.Uint32(b[16:])
	if n > maxPayload {
		return 0, perr("payload of %d bytes", n)
	}
	if n%4 != 0 {
		return 0, perr("payload length %d not a multiple of 4", n)
	}
	return headerLen + int(n), nil
}

// Decode parses the one PDU at the start of b and returns it with the
// number of bytes it took. ErrShort means b holds less than a whole PDU;
// any other error is a *ParseError.
func Decode(b []byte) (*PDU, int, error) {
	total, err := PDULen(b)
	if err != nil {
		return nil, 0, err
	}
	if len(b) < total {
		return nil, 0, ErrShort
	}
	p := &PDU{Type: PDUType(b[1]), Flags: b[2]}
	d := &decoder{bo: binary.LittleEndian, b: b[:total], off: 4}
	if p.Flags&FlagNetworkByteOrder != 0 {
		d.bo = binary.BigEndian
	}
	p.SessionID, _ = d.u32()
	p.TransactionID, _ = d.u32()
	p.PacketID, _ = d.u32()
	d.off = headerLen
	if err := decodePayload(d, p); err != nil {
		return nil, 0, err
	}
	return p, total, nil
}

func decodePayload(d *decoder, p *PDU) error {
	var err error
	if p.Flags&FlagNonDefaultContext != 0 {
		if !hasContext(p.Type) {
			return perr("%s with a context", p.Type)
		}
		if p.Context, err = d.octets(); err != nil {
			return err
		}
	}
	switch p.Type {
	case PDUOpen:
		if p.Timeout, err = d.u8(); err != nil {
			return err
		}
		if err = d.skip(3); err != nil {
			return err
		}
		if p.ID, _, err = d.oid(); err != nil {
			return err
		}
		if p.Descr, err = d.octets(); err != nil {
			return err
		}
	case PDUClose:
		if p.Reason, err = d.u8(); err != nil {
			return err
		}
		if err = d.skip(3); err != nil {
			return err
		}
	case PDURegister, PDUUnregister:
		t, err := d.u8()
		if err != nil {
			return err
		}
		if p.Type == PDURegister {
			p.Timeout = t
		}
		if p.Priority, err = d.u8(); err != nil {
			return err
		}
		if p.RangeSubID, err = d.u8(); err != nil {
			return err
		}
		if err = d.skip(1); err != nil {
			return err
		}
		if p.Subtree, _, err = d.oid(); err != nil {
			return err
		}
		if p.RangeSubID != 0 {
			if int(p.RangeSubID) > len(p.Subtree) {
				return perr("range_subid %d beyond a subtree of %d", p.RangeSubID, len(p.Subtree))
			}
			if p.UpperBound, err = d.u32(); err != nil {
				return err
			}
		}
	case PDUGet, PDUGetNext, PDUGetBulk:
		if p.Type == PDUGetBulk {
			if p.NonRepeaters, err = d.u16(); err != nil {
				return err
			}
			if p.MaxRepetitions, err = d.u16(); err != nil {
				return err
			}
		}
		for d.left() > 0 {
			var r SearchRange
			if r.Start, r.Include, err = d.oid(); err != nil {
				return err
			}
			if r.End, _, err = d.oid(); err != nil {
				return err
			}
			p.Ranges = append(p.Ranges, r)
		}
	case PDUResponse:
		if p.SysUpTime, err = d.u32(); err != nil {
			return err
		}
		if p.Error, err = d.u16(); err != nil {
			return err
		}
		if p.Index, err = d.u16(); err != nil {
			return err
		}
		if p.VarBinds, err = d.varbinds(); err != nil {
			return err
		}
	case PDUNotify, PDUTestSet, PDUIndexAllocate, PDUIndexDeallocate:
		if p.VarBinds, err = d.varbinds(); err != nil {
			return err
		}
	case PDUAddAgentCaps:
		if p.ID, _, err = d.oid(); err != nil {
			return err
		}
		if p.Descr, err = d.octets(); err != nil {
			return err
		}
	case PDURemoveAgentCaps:
		if p.ID, _, err = d.oid(); err != nil {
			return err
		}
	case PDUCommitSet, PDUUndoSet, PDUCleanupSet, PDUPing:
	default:
		return perr("unknown PDU type %d", p.Type)
	}
	if d.left() != 0 {
		return perr("%d trailing bytes in %s", d.left(), p.Type)
	}
	return nil
}

// ReadPDU reads one whole PDU from r.
func ReadPDU(r io.Reader) (*PDU, error) {
	h := make([]byte, headerLen)
	if _, err := io.ReadFull(r, h); err != nil {
		return nil, err
	}
	n, err := PDULen(h)
	if err != nil {
		return nil, err
	}
	b := make([]byte, n)
	copy(b, h)
	if _, err := io.ReadFull(r, b[headerLen:]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	p, _, err := Decode(b)
	return p, err
}
