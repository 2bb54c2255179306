package checks

import (
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
)

// FileSpec is FILE_CHECK (track_file).
type FileSpec struct {
	Path    string // the track_file's file
	Weight  int    // weight: value x weight is added to the real server weight
	Reverse bool   // weight N reverse: the value counts negatively
}

// fileChecker is FILE_CHECK with keepalived's track_file rules
// (trackers/track_file.c):
//
//   - The file's leading integer is read like strtol(buf, NULL, 0): optional
//     blanks and sign, then decimal, 0x hex or 0 octal digits; anything else
//     reads 0, and so does a missing or empty file. A value outside the
//     int32 range is ignored (the previous value stays).
//   - weight 0: a non-zero value is down (with reverse, a zero value is).
//   - otherwise the checker contributes value x weight (negated with
//     reverse) to the real server weight; a contribution at or below
//     -2^31 puts it down.
//
// keepalived watches the file with inotify; here it is read every delay_loop.
type fileChecker struct {
	spec FileSpec
	last int64 // previous value, kept when a read is out of range
}

func newFileChecker(s *Spec) *fileChecker { return &fileChecker{spec: *s.File} }

// ParseTrackFileValue reads an integer as C's strtol(s, NULL, 0) does and
// reports whether it fits keepalived's accepted range [INT32_MIN, INT32_MAX+1].
func ParseTrackFileValue(s string) (v int64, ok bool) {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	base := 10
	switch {
	case len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && isDigit(s[2], 16):
		base, s = 16, s[2:]
	case len(s) > 1 && s[0] == '0':
		base = 8
	}
	end := 0
	for end < len(s) && isDigit(s[end], base) {
		end++
	}
	if end == 0 {
		return 0, true
	}
	u, err := strconv.ParseUint(s[:end], base, 64)
	if err != nil || u > math.MaxInt32+1 {
		return 0, false
	}
	v = int64(u)
	if neg {
		v = -v
	}
	return v, v >= math.MinInt32
}

func isDigit(c byte, base int) bool {
	switch {
	case c >= '0' && c <= '9':
		return int(c-'0') < base
	case c >= 'a' && c <= 'f':
		return base == 16
	case c >= 'A' && c <= 'F':
		return base == 16
	}
	return false
}

const weightFault = math.MinInt32 // keepalived's IPVS_WEIGHT_FAULT

func (c *fileChecker) Check(context.Context) Result {
	v := int64(0)
	if b, err := readHead(c.spec.Path, 127); err == nil {
		var ok bool
		if v, ok = ParseTrackFileValue(string(b)); !ok {
			v = c.last // keepalived logs "Invalid number" and ignores it
		}
	}
	c.last = v
	if c.spec.Weight == 0 {
		if (v != 0) != c.spec.Reverse {
			return Result{Reason: fmt.Sprintf("track file %s holds %d", c.spec.Path, v), Outcome: "file_fault"}
		}
		return Result{Up: true, Reason: fmt.Sprintf("track file %s holds %d", c.spec.Path, v), Outcome: "ok"}
	}
	contrib := v * int64(c.spec.Weight)
	if c.spec.Reverse {
		contrib = -contrib
	}
	contrib = min(max(contrib, weightFault), math.MaxInt32)
	if contrib == weightFault {
		return Result{Reason: fmt.Sprintf("track file %s: %d x weight %d is a fault", c.spec.Path, v, c.spec.Weight), Outcome: "file_fault"}
	}
	return Result{Up: true, Reason: fmt.Sprintf("track file %s: %d (weight %+d)", c.spec.Path, v, contrib),
		Outcome: "ok", TrackValue: int(contrib)}
}

func readHead(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, n)
	k, err := f.Read(buf)
	if k == 0 && err != nil {
		return nil, err
	}
	return buf[:k], nil
}
