package cluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// hclogAdapter sends hashicorp/raft's hclog output to slog, keeping raft's
// key/value pairs as slog attributes.
type hclogAdapter struct {
	l     *slog.Logger
	name  string
	args  []any
	level hclog.Level
	rep   *repeats // shared by the adapter's With/Named copies
}

var _ hclog.Logger = (*hclogAdapter)(nil)

func newHCLog(l *slog.Logger, name string) *hclogAdapter {
	return &hclogAdapter{l: l, name: name, level: hclog.Debug, rep: newRepeats(repeatWindow, time.Now)}
}

// repeatWindow is how long an identical raft warning or error (same
// level, text and component) is held back after it was logged: a group without a
// leader would otherwise log its election warning every second and a dead
// follower's replication errors several times a second.
const repeatWindow = 10 * time.Second

// repeats rate-limits identical messages: the first is logged, the next
// ones within the window are counted, and the first one after the window
// carries repeated=N (how many were held back).
type repeats struct {
	mu     sync.Mutex
	window time.Duration
	now    func() time.Time
	seen   map[string]*repeat
}

type repeat struct {
	last    time.Time
	dropped int
}

func newRepeats(window time.Duration, now func() time.Time) *repeats {
	return &repeats{window: window, now: now, seen: map[string]*repeat{}}
}

// admit reports whether the message with key is logged now and, if so,
// how many identical ones were held back since it was last logged.
func (r *repeats) admit(key string) (ok bool, dropped int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	e := r.seen[key]
	if e == nil {
		if len(r.seen) > 1024 { // bounded: forget the old ones
			for k, v := range r.seen {
				if now.Sub(v.last) > r.window {
					delete(r.seen, k)
				}
			}
		}
		r.seen[key] = &repeat{last: now}
		return true, 0
	}
	if now.Sub(e.last) < r.window {
		e.dropped++
		return false, 0
	}
	dropped, e.dropped, e.last = e.dropped, 0, now
	return true, dropped
}

// logValue makes a raft argument a log value: errors and Stringers by
// their text, a raft.Server as "ID@ADDRESS (Suffrage)", other composite
// values (structs, maps, slices) as their %v text rather than a Go
// struct dump or a nested JSON object.
func logValue(v any) any {
	switch x := v.(type) {
	case nil, string, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64,
		float32, float64, time.Duration, time.Time, slog.Value:
		return v
	case raft.Server:
		return fmt.Sprintf("%s@%s (%s)", x.ID, x.Address, x.Suffrage)
	case *raft.Server:
		if x == nil {
			return "<nil>"
		}
		return fmt.Sprintf("%s@%s (%s)", x.ID, x.Address, x.Suffrage)
	case error:
		return x.Error()
	case fmt.Stringer:
		return x.String()
	}
	switch reflect.ValueOf(v).Kind() {
	case reflect.String:
		return fmt.Sprint(v) // raft.ServerID, raft.ServerAddress
	case reflect.Struct, reflect.Map, reflect.Slice, reflect.Array, reflect.Pointer:
		return fmt.Sprintf("%v", v)
	}
	return v
}

func slogLevel(l hclog.Level) slog.Level {
	switch {
	case l <= hclog.Debug:
		return slog.LevelDebug
	case l == hclog.Info:
		return slog.LevelInfo
	case l == hclog.Warn:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

func (h *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	if level < h.level {
		return
	}
	sl := slogLevel(level)
	if !h.l.Enabled(context.Background(), sl) {
		return
	}
	dropped := 0
	if h.rep != nil && level >= hclog.Warn { // state changes (info) are all kept
		var ok bool
		if ok, dropped = h.rep.admit(fmt.Sprint(int(level), "|", h.name, "|", msg)); !ok {
			return
		}
	}
	attrs := make([]any, 0, len(h.args)+len(args)+4)
	attrs = append(attrs, "component", h.name)
	for i, a := range h.args {
		if i%2 == 1 {
			a = logValue(a)
		}
		attrs = append(attrs, a)
	}
	for i, a := range args {
		if f, ok := a.(hclog.Format); ok && len(f) > 0 {
			if format, ok := f[0].(string); ok {
				a = fmt.Sprintf(format, f[1:]...)
			}
		} else if i%2 == 1 {
			a = logValue(a)
		}
		attrs = append(attrs, a)
	}
	if dropped > 0 {
		attrs = append(attrs, "repeated", dropped)
	}
	// hclog allows odd argument lists; slog would print !BADKEY, fine.
	h.l.Log(context.Background(), sl, msg, attrs...)
}

func (h *hclogAdapter) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *hclogAdapter) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *hclogAdapter) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *hclogAdapter) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *hclogAdapter) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

func (h *hclogAdapter) enabled(l hclog.Level) bool {
	return l >= h.level && h.l.Enabled(context.Background(), slogLevel(l))
}

func (h *hclogAdapter) IsTrace() bool { return h.enabled(hclog.Trace) }
func (h *hclogAdapter) IsDebug() bool { return h.enabled(hclog.Debug) }
func (h *hclogAdapter) IsInfo() bool  { return h.enabled(hclog.Info) }
func (h *hclogAdapter) IsWarn() bool  { return h.enabled(hclog.Warn) }
func (h *hclogAdapter) IsError() bool { return h.enabled(hclog.Error) }

func (h *hclogAdapter) ImpliedArgs() []any { return h.args }

func (h *hclogAdapter) With(args ...any) hclog.Logger {
	c := *h
	c.args = append(append([]any(nil), h.args...), args...)
	return &c
}

func (h *hclogAdapter) Name() string { return h.name }

func (h *hclogAdapter) Named(name string) hclog.Logger {
	c := *h
	if c.name != "" {
		c.name += "." + name
	} else {
		c.name = name
	}
	return &c
}

func (h *hclogAdapter) ResetNamed(name string) hclog.Logger {
	c := *h
	c.name = name
	return &c
}

func (h *hclogAdapter) SetLevel(l hclog.Level) { h.level = l }
func (h *hclogAdapter) GetLevel() hclog.Level  { return h.level }

func (h *hclogAdapter) StandardLogger(*hclog.StandardLoggerOptions) *log.Logger {
	return log.New(h.StandardWriter(nil), "", 0)
}

func (h *hclogAdapter) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return &levelPrefixWriter{l: h.l, component: h.name}
}

// levelPrefixWriter turns "[WARN] memberlist: text" lines (memberlist's and
// hclog's standard-logger format) into slog records.
type levelPrefixWriter struct {
	l         *slog.Logger
	component string
}

func (w *levelPrefixWriter) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(bytes.TrimRight(p, "\n"), []byte("\n")) {
		w.logLine(string(line))
	}
	return len(p), nil
}

func (w *levelPrefixWriter) logLine(s string) {
	level := slog.LevelInfo
	for _, lv := range []struct {
		tag string
		l   slog.Level
	}{
		{"[TRACE]", slog.LevelDebug}, {"[DEBUG]", slog.LevelDebug}, {"[INFO]", slog.LevelInfo},
		{"[WARN]", slog.LevelWarn}, {"[ERR]", slog.LevelError}, {"[ERROR]", slog.LevelError},
	} {
		if i := strings.Index(s, lv.tag); i >= 0 {
			level = lv.l
			s = strings.TrimSpace(s[i+len(lv.tag):])
			break
		}
	}
	s = strings.TrimPrefix(s, w.component+": ")
	if !w.l.Enabled(context.Background(), level) {
		return
	}
	w.l.Log(context.Background(), level, s, "component", w.component)
}

// newStdLogger returns a *log.Logger (memberlist's logger type) writing to slog.
func newStdLogger(l *slog.Logger, component string) *log.Logger {
	return log.New(&levelPrefixWriter{l: l, component: component}, "", 0)
}
