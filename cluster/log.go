package cluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// hclogAdapter sends hashicorp/raft's hclog output to slog, keeping raft's
// key/value pairs as slog attributes.
type hclogAdapter struct {
	l     *slog.Logger
	name  string
	args  []any
	level hclog.Level
}

var _ hclog.Logger = (*hclogAdapter)(nil)

func newHCLog(l *slog.Logger, name string) *hclogAdapter {
	return &hclogAdapter{l: l, name: name, level: hclog.Debug}
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
	attrs := make([]any, 0, len(h.args)+len(args)+2)
	attrs = append(attrs, "component", h.name)
	attrs = append(attrs, h.args...)
	for _, a := range args {
		if f, ok := a.(hclog.Format); ok && len(f) > 0 {
			if format, ok := f[0].(string); ok {
				a = fmt.Sprintf(format, f[1:]...)
			}
		}
		attrs = append(attrs, a)
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
