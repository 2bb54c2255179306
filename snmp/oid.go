package snmp

import (
	"fmt"
	"strconv"
	"strings"
)

// OID is an object identifier as a list of sub-identifiers.
type OID []uint32

// ParseOID parses dotted notation ("1.3.6.1.2.1.207", a leading dot
// allowed).
func ParseOID(s string) (OID, error) {
	s = strings.TrimPrefix(s, ".")
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ".")
	o := make(OID, len(parts))
	for i, p := range parts {
		v, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("snmp: bad OID %q: %w", s, err)
		}
		o[i] = uint32(v)
	}
	return o, nil
}

// MustOID is ParseOID for constants; it panics on a malformed string.
func MustOID(s string) OID {
	o, err := ParseOID(s)
	if err != nil {
		panic(err)
	}
	return o
}

// String renders the OID in dotted notation without a leading dot.
func (o OID) String() string {
	var b strings.Builder
	for i, v := range o {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.FormatUint(uint64(v), 10))
	}
	return b.String()
}

// Compare orders OIDs lexicographically by sub-identifier, a prefix
// before its extensions: -1, 0 or +1.
func (o OID) Compare(p OID) int {
	n := min(len(o), len(p))
	for i := 0; i < n; i++ {
		switch {
		case o[i] < p[i]:
			return -1
		case o[i] > p[i]:
			return 1
		}
	}
	switch {
	case len(o) < len(p):
		return -1
	case len(o) > len(p):
		return 1
	}
	return 0
}

// HasPrefix reports whether p is a prefix of o (or equal to it).
func (o OID) HasPrefix(p OID) bool {
	return len(o) >= len(p) && o[:len(p)].Compare(p) == 0
}

// Append returns a new OID of o followed by subs; o is not modified.
func (o OID) Append(subs ...uint32) OID {
	out := make(OID, 0, len(o)+len(subs))
	out = append(out, o...)
	return append(out, subs...)
}
