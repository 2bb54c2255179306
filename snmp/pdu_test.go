package snmp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// samplePDUs covers every PDU type the codec knows and every varbind
// type, in both byte orders, with and without a context.
func samplePDUs() []*PDU {
	allTypes := []VarBind{
		{Type: TypeInteger, Name: MustOID("1.3.6.1.4.1.9586.100.5.2.3.1.4.1"), Value: int32(-2)},
		{Type: TypeOctetString, Name: MustOID("1.3.6.1.4.1.9586.100.5.2.3.1.2.1"), Value: []byte("VI_1")},
		{Type: TypeOctetString, Name: MustOID("1.3.6.1.4.1.9586.100.5.1.2.0"), Value: []byte{}},
		{Type: TypeObjectIdentifier, Name: MustOID("1.3.6.1.6.3.1.1.4.1.0"), Value: MustOID("1.3.6.1.4.1.9586.100.5.2.10.0.2")},
		{Type: TypeObjectIdentifier, Name: MustOID("1.2.3"), Value: OID(nil)},
		{Type: TypeIPAddress, Name: MustOID("1.3.6.1.2.1.68.1.3.1.7.2.51"), Value: [4]byte{192, 0, 2, 1}},
		{Type: TypeCounter32, Name: MustOID("1.3.6.1.2.1.68.2.1.0"), Value: uint32(4000000000)},
		{Type: TypeGauge32, Name: MustOID("1.3.6.1.2.1.207.1.1.1.1.7.2.51.1"), Value: uint32(150)},
		{Type: TypeTimeTicks, Name: MustOID("1.3.6.1.2.1.1.3.0"), Value: uint32(123456)},
		{Type: TypeOpaque, Name: MustOID("1.3.6.1.4.1.1"), Value: []byte{1, 2, 3, 4, 5}},
		{Type: TypeCounter64, Name: MustOID("1.3.6.1.2.1.207.1.2.1.0"), Value: uint64(1<<40 + 7)},
		{Type: TypeNull, Name: MustOID("1.3.6.1.4.1.9586.100.5.1.1.0")},
		{Type: TypeNoSuchObject, Name: MustOID("1.3.6.1.4.1.9586.100.5.9")},
		{Type: TypeNoSuchInstance, Name: MustOID("1.3.6.1.4.1.9586.100.5.2.3.1.2.99")},
		{Type: TypeEndOfMibView, Name: MustOID("1.3.6.1.2.1.207.1")},
	}
	base := []*PDU{
		{Type: PDUOpen, Timeout: 5, ID: OIDKeepalived, Descr: []byte("quadrature")},
		{Type: PDUClose, Reason: CloseShutdown},
		{Type: PDURegister, Timeout: 0, Priority: 127, Subtree: OIDVRRPv3},
		{Type: PDURegister, Priority: 127, RangeSubID: 5, Subtree: MustOID("1.3.6.1.2.1.2.2.1.1"), UpperBound: 22},
		{Type: PDUUnregister, Priority: 127, Subtree: OIDKeepalivedVRRP},
		{Type: PDUGet, Ranges: []SearchRange{{Start: MustOID("1.3.6.1.4.1.9586.100.5.1.1.0")}, {Start: MustOID("1.3.6.1.2.1.207.1.2.1.0")}}},
		{Type: PDUGetNext, Ranges: []SearchRange{{Start: OIDVRRPv3, Include: true, End: MustOID("1.3.6.1.2.1.208")}}},
		{Type: PDUGetBulk, NonRepeaters: 1, MaxRepetitions: 10, Ranges: []SearchRange{
			{Start: MustOID("1.3.6.1.2.1.1.3"), End: MustOID("1.3.6.1.2.1.1.4")},
			{Start: OIDKeepalived, Include: true, End: MustOID("1.3.6.1.4.1.9586.100.6")}}},
		{Type: PDUTestSet, VarBinds: allTypes[:1]},
		{Type: PDUCommitSet}, {Type: PDUUndoSet}, {Type: PDUCleanupSet},
		{Type: PDUNotify, VarBinds: allTypes[3:5]},
		{Type: PDUPing},
		{Type: PDUIndexAllocate, VarBinds: allTypes[:2]},
		{Type: PDUIndexDeallocate, VarBinds: allTypes[:2]},
		{Type: PDUAddAgentCaps, ID: OIDKeepalived, Descr: []byte("caps")},
		{Type: PDURemoveAgentCaps, ID: OIDKeepalived},
		{Type: PDUResponse, SysUpTime: 99, Error: ErrNone, VarBinds: allTypes},
		{Type: PDUResponse, Error: ErrDuplicateRegistration, Index: 1},
	}
	var out []*PDU
	for i, p := range base {
		for _, nbo := range []bool{true, false} {
			q := *p
			q.SessionID, q.TransactionID, q.PacketID = uint32(7+i), uint32(100+i), uint32(1000+i)
			if nbo {
				q.Flags |= FlagNetworkByteOrder
			}
			out = append(out, &q)
			if hasContext(q.Type) {
				c := q
				c.Context = []byte("ctx")
				out = append(out, &c)
			}
		}
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	for _, p := range samplePDUs() {
		b, err := Encode(p)
		if err != nil {
			t.Fatalf("encode %s: %v", p.Type, err)
		}
		if (len(b)-headerLen)%4 != 0 {
			t.Errorf("%s: payload of %d bytes is not 4-aligned", p.Type, len(b)-headerLen)
		}
		got, n, err := Decode(b)
		if err != nil {
			t.Fatalf("decode %s: %v\n%s", p.Type, err, hex.Dump(b))
		}
		if n != len(b) {
			t.Errorf("%s: decoded %d of %d bytes", p.Type, n, len(b))
		}
		want := *p
		if want.Context != nil {
			want.Flags |= FlagNonDefaultContext
		}
		// Decoding yields empty, non-nil octet strings.
		if want.Descr == nil && (want.Type == PDUOpen || want.Type == PDUAddAgentCaps) {
			want.Descr = []byte{}
		}
		if !reflect.DeepEqual(got, &want) {
			t.Errorf("%s round trip:\n got %+v\nwant %+v", p.Type, got, &want)
		}
		// ReadPDU reads the same from a stream.
		r, err := ReadPDU(bytes.NewReader(b))
		if err != nil || !reflect.DeepEqual(r, got) {
			t.Errorf("%s: ReadPDU = %+v, %v", p.Type, r, err)
		}
	}
}

// TestWireLayout checks the bytes against RFC 2741's layouts: header,
// the internet-prefix compression, the include flag and octet string
// padding.
func TestWireLayout(t *testing.T) {
	p := &PDU{Type: PDUGetNext, Flags: FlagNetworkByteOrder, SessionID: 1, TransactionID: 2, PacketID: 3,
		Ranges: []SearchRange{{Start: MustOID("1.3.6.1.2.1.207"), Include: true}}}
	b, err := Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	want := "01 06 10 00 00000001 00000002 00000003 00000010" + // header, 16 bytes payload
		"02 02 01 00 00000001 000000cf" + // n_subid 2, prefix 2 (mib-2), include 1, .1.207
		"00 00 00 00" // null end OID
	if got := hex.EncodeToString(b); got != strings.ReplaceAll(want, " ", "") {
		t.Errorf("GetNext bytes\n got %s\nwant %s", got, strings.ReplaceAll(want, " ", ""))
	}

	o := &PDU{Type: PDUOpen, Timeout: 5, ID: MustOID("1.2.3"), Descr: []byte("abcde")}
	b, err = Encode(o) // little-endian: no network byte order flag
	if err != nil {
		t.Fatal(err)
	}
	want = "01 01 00 00 00000000 00000000 00000000 20000000" +
		"05 000000" + // timeout, reserved
		"03 00 00 00 01000000 02000000 03000000" + // no prefix: 1.2.3 in full
		"05000000 6162636465 000000" // length 5, "abcde", 3 bytes padding
	if got := hex.EncodeToString(b); got != strings.ReplaceAll(want, " ", "") {
		t.Errorf("Open bytes\n got %s\nwant %s", got, strings.ReplaceAll(want, " ", ""))
	}
}

func TestDecodeErrors(t *testing.T) {
	good, err := Encode(&PDU{Type: PDUResponse, Flags: FlagNetworkByteOrder,
		VarBinds: []VarBind{{Type: TypeOctetString, Name: MustOID("1.3.6.1.4.1.1.0"), Value: []byte("xy")}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Decode(good[:len(good)-1]); !errors.Is(err, ErrShort) {
		t.Errorf("truncated: err = %v, want ErrShort", err)
	}
	if _, _, err := Decode(good[:10]); !errors.Is(err, ErrShort) {
		t.Errorf("header only: err = %v, want ErrShort", err)
	}
	mut := func(f func(b []byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		return b
	}
	var pe *ParseError
	cases := map[string][]byte{
		"version":         mut(func(b []byte) { b[0] = 2 }),
		"type":            mut(func(b []byte) { b[1] = 99 }),
		"context on resp": mut(func(b []byte) { b[2] |= FlagNonDefaultContext }),
		"string overrun":  mut(func(b []byte) { b[len(b)-5] = 9 }), // octet string length 9 > what is left
		"varbind type":    mut(func(b []byte) { b[headerLen+9] = 99 }),
		"long OID":        mut(func(b []byte) { b[headerLen+12] = 200 }),
		"odd payload":     mut(func(b []byte) { b[19]++ }),
	}
	for name, b := range cases {
		if _, _, err := Decode(b); !errors.As(err, &pe) {
			t.Errorf("%s: err = %v, want a ParseError", name, err)
		}
	}
	// Trailing bytes after a fixed-size PDU are an error.
	cl, _ := Encode(&PDU{Type: PDUClose, Reason: 1})
	cl = append(cl, 0, 0, 0, 0)
	cl[16] = 8
	if _, _, err := Decode(cl); !errors.As(err, &pe) {
		t.Errorf("trailing bytes: err = %v, want a ParseError", err)
	}
}

func TestEncodeRejectsWrongValueType(t *testing.T) {
	for _, v := range []VarBind{
		{Type: TypeInteger, Name: OID{1}, Value: 5},
		{Type: TypeCounter64, Name: OID{1}, Value: uint32(5)},
		{Type: TypeIPAddress, Name: OID{1}, Value: []byte{1, 2, 3, 4}},
		{Type: VarType(77), Name: OID{1}},
	} {
		if _, err := Encode(&PDU{Type: PDUResponse, VarBinds: []VarBind{v}}); err == nil {
			t.Errorf("Encode accepted %+v", v)
		}
	}
}

func TestOID(t *testing.T) {
	o, err := ParseOID(".1.3.6.1.2.1.207")
	if err != nil || o.String() != "1.3.6.1.2.1.207" {
		t.Fatalf("ParseOID = %v, %v", o, err)
	}
	if _, err := ParseOID("1.x"); err == nil {
		t.Error("ParseOID accepted 1.x")
	}
	order := []string{"1.3", "1.3.6", "1.3.6.1", "1.3.6.2", "1.3.7", "1.4"}
	for i := range order {
		for j := range order {
			got := MustOID(order[i]).Compare(MustOID(order[j]))
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got != want {
				t.Errorf("Compare(%s, %s) = %d, want %d", order[i], order[j], got, want)
			}
		}
	}
	if !MustOID("1.3.6.1").HasPrefix(MustOID("1.3")) || MustOID("1.3").HasPrefix(MustOID("1.3.6")) {
		t.Error("HasPrefix")
	}
}
