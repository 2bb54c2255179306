package snmp

import (
	"reflect"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the decoder: it must not panic,
// must not claim more bytes than it was given, and whatever it accepts
// must encode and decode again to the same PDU.
func FuzzDecode(f *testing.F) {
	for _, p := range samplePDUs() {
		b, err := Encode(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, n, err := Decode(b)
		if err != nil {
			return
		}
		if n > len(b) || n < headerLen {
			t.Fatalf("Decode consumed %d of %d bytes", n, len(b))
		}
		enc, err := Encode(p)
		if err != nil {
			t.Fatalf("re-encoding a decoded %s: %v", p.Type, err)
		}
		q, m, err := Decode(enc)
		if err != nil {
			t.Fatalf("decoding a re-encoded %s: %v", p.Type, err)
		}
		if m != len(enc) {
			t.Fatalf("re-decoded %d of %d bytes", m, len(enc))
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("round trip changed the PDU:\n first %+v\nsecond %+v", p, q)
		}
	})
}
