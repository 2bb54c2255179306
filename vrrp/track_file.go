package vrrp

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// track_file: an integer in a file moves the priority of the instances
// that track it, or puts them in FAULT (keepalived's vrrp_track_file /
// track_file). The file is watched with inotify (track_file_linux.go);
// what its value does is decided here, as a pure function.

// TrackFileConfig is a track_file (vrrp_track_file) definition.
type TrackFileConfig struct {
	Name string
	// Path is the file; its directory must exist (the file need not: a
	// missing file reads as 0).
	Path string
	// Weight and Reverse are the defaults of the entries naming the file
	// (the config layer copies them into each TrackRef without a weight
	// of its own).
	Weight  int
	Reverse bool
	// InitFile writes InitValue to Path when the watch starts and the
	// file does not exist, or always with InitOverwrite.
	InitFile      bool
	InitValue     int64
	InitOverwrite bool
}

// File value limits (keepalived reads the file with strtol and ignores a
// number outside [INT32_MIN, INT32_MAX+1]).
const (
	MinFileValue = math.MinInt32
	MaxFileValue = math.MaxInt32 + 1
)

// Bounds of one track_file contribution to the priority: a product at
// or below FileFaultLimit is a fault; above FileMaxDelta it counts as
// FileMaxDelta (keepalived clamps to -254..253, -254 meaning FAULT).
const (
	FileFaultLimit = -254
	FileMaxDelta   = 253
)

// FileValue is the outcome of reading a track file's content.
type FileValue struct {
	Value int64
	// NoNumber: the content does not start with a number (after blanks);
	// keepalived reads that as 0, and so does Value.
	NoNumber bool
	// OutOfRange: the number is outside MinFileValue..MaxFileValue;
	// keepalived ignores such a read and keeps the previous value.
	OutOfRange bool
	// Text is the number as written (for the logs), "" with NoNumber.
	Text string
}

// ParseFileValue reads the start of a track file as C's strtol(s, NULL,
// 0) does: blanks, a sign, then a decimal, 0x hexadecimal or 0 octal
// number; whatever follows is ignored.
func ParseFileValue(b []byte) FileValue {
	s := strings.TrimLeft(string(b), " \t\n\v\f\r")
	start := s
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	base, digits := 10, s
	switch {
	case len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && digitOf(s[2]) < 16:
		base, digits = 16, s[2:]
	case len(s) > 0 && s[0] == '0':
		base = 8
	}
	n := 0
	for n < len(digits) && digitOf(digits[n]) < base {
		n++
	}
	if n == 0 {
		return FileValue{NoNumber: true}
	}
	text := start[:len(start)-len(digits)+n]
	u, err := strconv.ParseUint(digits[:n], base, 64)
	if err != nil || u > MaxFileValue+1 {
		return FileValue{OutOfRange: true, Text: text}
	}
	v := int64(u)
	if neg {
		v = -v
	}
	if v < MinFileValue || v > MaxFileValue {
		return FileValue{OutOfRange: true, Text: text}
	}
	return FileValue{Value: v, Text: text}
}

func digitOf(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return 99
}

// FileEffect is what a track file's value does to an instance tracking
// it with weight and reverse, keepalived's way: with weight 0 a non-zero
// value is a fault (with reverse, a zero value is); otherwise value ×
// weight (negated with reverse) is added to the priority, a product at
// or below FileFaultLimit is a fault and one above FileMaxDelta adds
// FileMaxDelta.
func FileEffect(value int64, weight int, reverse bool) (delta int, fault bool) {
	if weight == 0 {
		return 0, (value != 0) != reverse
	}
	p := value * int64(weight) // |value| ≤ 2^31, |weight| < 2^31: no overflow
	if reverse {
		p = -p
	}
	switch {
	case p <= FileFaultLimit:
		return 0, true
	case p > FileMaxDelta:
		return FileMaxDelta, false
	}
	return int(p), false
}

// files adds the effect of the tracked files.
func (s *trackSum) files(in TrackInput, refs []TrackRef) {
	for _, t := range refs {
		v, watched := in.FileValues[t.Name]
		if !watched {
			continue
		}
		delta, fault := FileEffect(v, t.Weight, t.Reverse)
		switch {
		case fault && t.Weight == 0:
			s.fault(TrackerFile, t.Name, fmt.Sprintf("tracked file %s holds %d", t.Name, v))
		case fault:
			s.fault(TrackerFile, t.Name, fmt.Sprintf("tracked file %s holds %d: × weight %d%s is at or below %d", t.Name, v, t.Weight, reverseWord(t.Reverse), FileFaultLimit))
		case delta != 0:
			s.weight(TrackerFile, t.Name, delta)
		}
	}
}

func reverseWord(r bool) string {
	if r {
		return " reverse"
	}
	return ""
}

// readTrackFile reads the value of a track file as keepalived does: the
// first 127 bytes; a missing or empty file is 0. ok is false when the
// read must be ignored (number out of range), and why says what is
// wrong with the content ("" when nothing).
func readTrackFile(path string) (v int64, ok bool, why string) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, true, ""
		}
		return 0, true, fmt.Sprintf("cannot read %s (%v): read as 0", path, err)
	}
	defer f.Close()
	b := make([]byte, 127)
	n, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return 0, true, fmt.Sprintf("cannot read %s (%v): read as 0", path, err)
	}
	if n == 0 {
		return 0, true, ""
	}
	fv := ParseFileValue(b[:n])
	switch {
	case fv.OutOfRange:
		return 0, false, fmt.Sprintf("%s holds %s, outside %d..%d: ignored, the previous value stays (as keepalived does)", path, fv.Text, MinFileValue, MaxFileValue)
	case fv.NoNumber:
		return 0, true, fmt.Sprintf("%s does not start with a number (%q): read as 0 (as keepalived does)", path, clip(string(b[:n]), 40))
	}
	return fv.Value, true, ""
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// resolveTrackPath makes path absolute with symlinks resolved (the file
// itself when it exists, else its directory), as keepalived does, and
// reports an error when the directory does not exist.
func resolveTrackPath(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		return r, nil
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil {
		return "", fmt.Errorf("directory of %s: %w", path, err)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return "", fmt.Errorf("%s is not a directory", dir)
	}
	return filepath.Join(dir, filepath.Base(abs)), nil
}

// initTrackFile writes the init_file value when asked to.
func initTrackFile(fc TrackFileConfig, path string) error {
	if !fc.InitFile {
		return nil
	}
	if !fc.InitOverwrite {
		if _, err := os.Lstat(path); err == nil {
			return nil
		}
	}
	return os.WriteFile(path, []byte(strconv.FormatInt(fc.InitValue, 10)+"\n"), 0o644)
}

// validateFiles checks the track_file definitions and the entries naming
// them.
func (c NodeConfig) validateFiles() []error {
	var errs []error
	defined := map[string]bool{}
	for _, f := range c.Files {
		if f.Name == "" || f.Path == "" {
			errs = append(errs, fmt.Errorf("track_file %q: needs a name and a file", f.Name))
		}
		if defined[f.Name] {
			errs = append(errs, fmt.Errorf("track_file %s: defined twice", f.Name))
		}
		defined[f.Name] = true
	}
	check := func(who string, refs []TrackRef) {
		for _, t := range refs {
			if !defined[t.Name] {
				errs = append(errs, fmt.Errorf("%s: track_file %s is not defined", who, t.Name))
			}
		}
	}
	for _, ic := range c.Instances {
		check("vrrp_instance "+ic.Name, ic.TrackFiles)
	}
	for _, g := range c.Groups {
		check("vrrp_sync_group "+g.Name, g.TrackFiles)
	}
	return errs
}

// validateTrackers checks the track_file and vrrp_track_process
// definitions and the entries naming them.
func (c NodeConfig) validateTrackers() []error {
	return append(c.validateFiles(), c.validateProcesses()...)
}
