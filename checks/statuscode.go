package checks

import (
	"fmt"
	"strconv"
	"strings"
)

// StatusSet is a set of HTTP status codes (100..599).
type StatusSet struct {
	bits [10]uint64 // bit n = code n, 0..639
	text string
}

// ParseStatusCodes parses keepalived's status_code syntax: blank- or
// comma-separated codes and ranges, e.g. "200-299 301,302". Empty means the
// default set 200-299.
func ParseStatusCodes(s string) (StatusSet, error) {
	var set StatusSet
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' })
	if len(fields) == 0 {
		fields = []string{"200-299"}
	}
	for _, f := range fields {
		lo, hi, isRange := strings.Cut(f, "-")
		a, err := parseCode(lo)
		if err != nil {
			return StatusSet{}, fmt.Errorf("status_code %q: %w", f, err)
		}
		b := a
		if isRange {
			if b, err = parseCode(hi); err != nil {
				return StatusSet{}, fmt.Errorf("status_code %q: %w", f, err)
			}
			if b < a {
				return StatusSet{}, fmt.Errorf("status_code %q: range end below start", f)
			}
		}
		for c := a; c <= b; c++ {
			set.bits[c/64] |= 1 << (c % 64)
		}
	}
	set.text = strings.Join(fields, " ")
	return set, nil
}

func parseCode(s string) (int, error) {
	if len(s) != 3 {
		return 0, fmt.Errorf("%q is not a 3-digit status code", s)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 100 || n > 599 {
		return 0, fmt.Errorf("%q is not a status code in 100-599", s)
	}
	return n, nil
}

// Contains reports whether code is in the set.
func (s StatusSet) Contains(code int) bool {
	if code < 0 || code >= 640 {
		return false
	}
	return s.bits[code/64]&(1<<(code%64)) != 0
}

func (s StatusSet) String() string { return s.text }
