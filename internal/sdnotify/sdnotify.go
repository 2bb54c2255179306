// Package sdnotify speaks systemd's service notification protocol
// (sd_notify(3)): datagrams of newline-separated VARIABLE=value lines sent
// to the AF_UNIX socket named by $NOTIFY_SOCKET, and the watchdog interval
// systemd passes in $WATCHDOG_USEC (and $WATCHDOG_PID).
//
// Without $NOTIFY_SOCKET (not started by systemd with Type=notify, or
// NotifyAccess forbids it) every call is a no-op, so the agent calls it
// unconditionally.
package sdnotify

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Common states (see sd_notify(3)).
const (
	Ready     = "READY=1"
	Stopping  = "STOPPING=1"
	Reloading = "RELOADING=1"
	Watchdog  = "WATCHDOG=1"
)

// Notifier sends states to one socket.
type Notifier struct {
	addr *net.UnixAddr // nil: no socket, every Notify is a no-op
}

// FromEnv returns the notifier of $NOTIFY_SOCKET. An address that is
// neither an absolute path nor an abstract name ("@...") is an error (a
// vsock address, which this implementation does not speak, included).
func FromEnv() (*Notifier, error) {
	return New(os.Getenv("NOTIFY_SOCKET"))
}

// New returns the notifier of socket ("" gives a no-op notifier).
func New(socket string) (*Notifier, error) {
	switch {
	case socket == "":
		return &Notifier{}, nil
	case strings.HasPrefix(socket, "/"):
		return &Notifier{addr: &net.UnixAddr{Name: socket, Net: "unixgram"}}, nil
	case strings.HasPrefix(socket, "@"):
		// An abstract socket: Go spells its leading NUL as "@".
		return &Notifier{addr: &net.UnixAddr{Name: socket, Net: "unixgram"}}, nil
	default:
		return nil, fmt.Errorf("sdnotify: NOTIFY_SOCKET %q: not a unix socket path or abstract name", socket)
	}
}

// Enabled reports whether a socket is set.
func (n *Notifier) Enabled() bool { return n != nil && n.addr != nil }

// Notify sends the states (each a VARIABLE=value line) in one datagram.
func (n *Notifier) Notify(states ...string) error {
	if !n.Enabled() {
		return nil
	}
	for _, s := range states {
		if !strings.Contains(s, "=") || strings.Contains(s, "\n") {
			return fmt.Errorf("sdnotify: %q is not one VARIABLE=value line", s)
		}
	}
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(strings.Join(states, "\n") + "\n")); err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	return nil
}

// Status is a STATUS= line (free text shown by systemctl status); line
// breaks become spaces.
func Status(text string) string {
	return "STATUS=" + strings.NewReplacer("\n", " ", "\r", " ").Replace(text)
}

// MonotonicUsec is the MONOTONIC_USEC= line systemd wants with RELOADING=1
// (Type=notify-reload; harmless for Type=notify): CLOCK_MONOTONIC now.
func MonotonicUsec() string {
	return "MONOTONIC_USEC=" + strconv.FormatInt(monotonicNow().Microseconds(), 10)
}

// WatchdogInterval reads $WATCHDOG_USEC and $WATCHDOG_PID: the interval
// within which systemd expects WATCHDOG=1, or 0 when the watchdog is off
// or meant for another process.
func WatchdogInterval() (time.Duration, error) {
	return watchdogInterval(os.Getenv("WATCHDOG_USEC"), os.Getenv("WATCHDOG_PID"), os.Getpid())
}

func watchdogInterval(usec, pid string, self int) (time.Duration, error) {
	if usec == "" {
		return 0, nil
	}
	if pid != "" {
		p, err := strconv.Atoi(pid)
		if err != nil {
			return 0, fmt.Errorf("sdnotify: WATCHDOG_PID %q: %w", pid, err)
		}
		if p != self {
			return 0, nil
		}
	}
	u, err := strconv.ParseInt(usec, 10, 64)
	if err != nil || u <= 0 || u > int64(time.Duration(1<<63-1)/time.Microsecond) {
		return 0, fmt.Errorf("sdnotify: WATCHDOG_USEC %q: not a positive number of microseconds", usec)
	}
	return time.Duration(u) * time.Microsecond, nil
}
