// Package journal makes the agent's logs read well in the systemd journal.
//
// Under systemd, stderr is a stream to journald, which records its own
// timestamp and reads a "<N>" syslog priority prefix at the start of each
// line (sd-daemon(3)). A log line there should carry no timestamp of its
// own and should carry its level as that prefix, so that
// `journalctl -p warning` selects warnings and errors.
//
// Connected reports whether a file is that stream (systemd sets
// $JOURNAL_STREAM to the device and inode of the stream it connected);
// Handler wraps a slog handler to add the prefix.
package journal

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Connected reports whether f is the journal stream systemd connected the
// process to ($JOURNAL_STREAM is "DEVICE:INODE", both decimal). A stderr
// redirected elsewhere by the service itself (or a child that inherited
// the variable) does not match.
func Connected(f *os.File, getenv func(string) string) bool {
	v := getenv("JOURNAL_STREAM")
	dev, ino, ok := strings.Cut(v, ":")
	if !ok {
		return false
	}
	d, err1 := strconv.ParseUint(dev, 10, 64)
	i, err2 := strconv.ParseUint(ino, 10, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	return uint64(st.Dev) == d && uint64(st.Ino) == i
}

// Priority is the syslog priority of a slog level: debug 7, info 6,
// warn 4, error 3 (levels between take the next more severe).
func Priority(l slog.Level) int {
	switch {
	case l < slog.LevelInfo:
		return 7
	case l == slog.LevelInfo:
		return 6
	case l < slog.LevelWarn:
		return 5
	case l == slog.LevelWarn:
		return 4
	case l <= slog.LevelError:
		return 3
	default:
		return 2
	}
}

// NewTextHandler returns a text handler for the journal: no time
// attribute and a "<N>" priority prefix on each line.
func NewTextHandler(w io.Writer, opts *slog.HandlerOptions) slog.Handler {
	return wrap(w, opts, func(w io.Writer, o *slog.HandlerOptions) slog.Handler { return slog.NewTextHandler(w, o) })
}

// NewJSONHandler is NewTextHandler for JSON lines (journald still reads
// the prefix; the rest of the line is one JSON object).
func NewJSONHandler(w io.Writer, opts *slog.HandlerOptions) slog.Handler {
	return wrap(w, opts, func(w io.Writer, o *slog.HandlerOptions) slog.Handler { return slog.NewJSONHandler(w, o) })
}

func wrap(w io.Writer, opts *slog.HandlerOptions, mk func(io.Writer, *slog.HandlerOptions) slog.Handler) slog.Handler {
	o := slog.HandlerOptions{}
	if opts != nil {
		o = *opts
	}
	user := o.ReplaceAttr
	o.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		if user != nil {
			return user(groups, a)
		}
		return a
	}
	pw := &prefixWriter{w: w}
	return &handler{inner: mk(pw, &o), pw: pw}
}

// prefixWriter puts the pending prefix before the next write. The slog
// handlers write each record with one Write call; handler holds mu
// around that call.
type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(append(p.buf[:0], p.prefix...), b...)
	if _, err := p.w.Write(p.buf); err != nil {
		return 0, err
	}
	return len(b), nil
}

type handler struct {
	inner slog.Handler
	pw    *prefixWriter
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	h.pw.mu.Lock()
	defer h.pw.mu.Unlock()
	h.pw.prefix = fmt.Sprintf("<%d>", Priority(r.Level))
	return h.inner.Handle(ctx, r)
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	return &handler{inner: h.inner.WithAttrs(as), pw: h.pw}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{inner: h.inner.WithGroup(name), pw: h.pw}
}
