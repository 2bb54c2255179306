package checks

import (
	"bufio"
	"encoding/hex"
	"reflect"
	"strings"
	"testing"
)

func FuzzParseDNSReply(f *testing.F) {
	q, _ := BuildDNSQuery(7, "example.test", 1)
	f.Add(q)
	r := append([]byte(nil), q...)
	r[2] |= 0x80
	f.Add(r)
	f.Add([]byte{0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1})
	f.Add([]byte{0, 1, 0x81, 0x80, 0, 2, 0, 0, 0, 0, 0, 0, 0x40})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseDNSReply(b)
		if err != nil {
			return
		}
		if len(b) < 12 || h.ID != uint16(b[0])<<8|uint16(b[1]) || h.RCode != b[3]&0x0f || h.QR != (b[2]&0x80 != 0) {
			t.Fatalf("inconsistent header %+v for % x", h, b[:min(12, len(b))])
		}
	})
}

func FuzzParseStatusCodes(f *testing.F) {
	for _, s := range []string{"", "200", "200-299", "200-299 301,302", "100-599", "599-100", "2000", "20a", "-", "200--300"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		set, err := ParseStatusCodes(s)
		if err != nil {
			return
		}
		for c := -1; c < 700; c++ {
			if set.Contains(c) && (c < 100 || c > 599) {
				t.Fatalf("%q contains %d", s, c)
			}
		}
		again, err := ParseStatusCodes(set.String())
		if err != nil || again.bits != set.bits {
			t.Fatalf("%q -> %q does not re-parse to the same set: %v", s, set.String(), err)
		}
	})
}

func FuzzReadSMTPReply(f *testing.F) {
	for _, s := range []string{"220 ready\r\n", "220-a\r\n220 b\r\n", "250\r\n", "421 bye\r\n", "220-a\r\n250 b\r\n", "abc\r\n", "220-x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rep, err := ReadSMTPReply(bufio.NewReader(strings.NewReader(s)))
		if err != nil {
			return
		}
		if rep.Code < 200 || rep.Code > 599 || len(rep.Lines) == 0 || len(rep.Lines) > maxSMTPLines {
			t.Fatalf("%q: implausible reply %+v", s, rep)
		}
	})
}

func FuzzParseHexPattern(f *testing.F) {
	for _, s := range []string{"", "cafe", "CA FE", "c a fe", "ca xx fe", "bX eF", "0xca", "zz", "abc"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, wild bool) {
		p, err := ParseHexPattern(s, wild)
		if err != nil {
			return
		}
		// Re-encode with x for wildcard nibbles and parse again.
		var b strings.Builder
		for i, x := range p.Bytes {
			for sh := 4; sh >= 0; sh -= 4 {
				if p.Mask[i]>>sh&0xf == 0xf {
					if !wild {
						t.Fatalf("%q: wildcard without permission", s)
					}
					b.WriteByte('x')
				} else {
					b.WriteString(hex.EncodeToString([]byte{x})[1-sh/4 : 2-sh/4])
				}
			}
			b.WriteByte(' ')
		}
		again, err := ParseHexPattern(b.String(), wild)
		if err != nil || !reflect.DeepEqual(again, p) {
			t.Fatalf("%q -> %q does not round-trip: %+v vs %+v %v", s, b.String(), p, again, err)
		}
		if !p.Match(p.Bytes) || !p.Match(nil) {
			t.Fatalf("%q does not match its own bytes", s)
		}
	})
}

func FuzzParseTrackFileValue(f *testing.F) {
	for _, s := range []string{"", "0", "12\n", " -7 x", "0x1F", "0X", "017", "08", "+5", "2147483648", "-2147483649", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := ParseTrackFileValue(s)
		if ok && (v < -1<<31 || v > 1<<31) {
			t.Fatalf("%q: %d accepted outside the int32 range", s, v)
		}
		if !ok && v != 0 {
			t.Fatalf("%q: rejected value %d", s, v)
		}
	})
}
