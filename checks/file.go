package checks

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// FileSpec is FILE_CHECK (track_file).
type FileSpec struct {
	Path    string // the track_file's file
	Weight  int    // weight: value x weight is added to the real server weight
	Reverse bool   // weight N reverse: subtract instead
}

// fileChecker is FILE_CHECK. The file holds an integer. With weight 0 a
// non-zero value means down; otherwise the checker is up and contributes
// value x weight (negated with reverse) to the real server weight. The file
// is read every delay_loop (keepalived watches it with inotify). A missing
// or unreadable file reads as 0 (as keepalived's track_file does); text that
// is not an integer is a failure.
type fileChecker struct {
	spec FileSpec
}

func newFileChecker(s *Spec) *fileChecker { return &fileChecker{spec: *s.File} }

// maxTrackFile bounds what is read of a track file.
const maxTrackFile = 4096

func (c *fileChecker) Check(context.Context) Result {
	v := 0
	f, err := os.Open(c.spec.Path)
	if err == nil {
		buf := make([]byte, maxTrackFile)
		n, _ := f.Read(buf)
		f.Close()
		text := strings.TrimSpace(string(buf[:n]))
		if fields := strings.Fields(text); len(fields) > 0 {
			x, perr := strconv.Atoi(fields[0])
			if perr != nil {
				return down("bad_value", "track file %s: %q is not an integer", c.spec.Path, fields[0])
			}
			v = x
		}
	}
	if c.spec.Weight == 0 {
		if v != 0 {
			return Result{Reason: fmt.Sprintf("track file %s holds %d", c.spec.Path, v), Outcome: "file_nonzero", TrackValue: 0}
		}
		return Result{Up: true, Reason: "track file 0", Outcome: "ok"}
	}
	// Bound the value so value x weight cannot overflow; weights are clamped later.
	v = min(max(v, -1<<20), 1<<20)
	contrib := v * c.spec.Weight
	if c.spec.Reverse {
		contrib = -contrib
	}
	return Result{Up: true, Reason: fmt.Sprintf("track file %s: %d (weight %+d)", c.spec.Path, v, contrib), Outcome: "ok", TrackValue: contrib}
}
