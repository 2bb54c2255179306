package sdnotify

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// listen opens a unixgram socket as systemd would and returns its path and
// a function reading one datagram.
func listen(t *testing.T, name string) (string, func() string) {
	t.Helper()
	if !strings.HasPrefix(name, "@") {
		name = filepath.Join(t.TempDir(), name)
	}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return name, func() string {
		t.Helper()
		buf := make([]byte, 4096)
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		return string(buf[:n])
	}
}

func TestNotifyPathAndAbstract(t *testing.T) {
	for _, name := range []string{"notify.sock", "@quadrature-sdnotify-test-" + strings.ReplaceAll(t.Name(), "/", "-")} {
		sock, read := listen(t, name)
		n, err := New(sock)
		if err != nil {
			t.Fatal(err)
		}
		if !n.Enabled() {
			t.Fatal("not enabled")
		}
		if err := n.Notify(Ready, Status("serving: table programmed\nsecond line")); err != nil {
			t.Fatal(err)
		}
		if got, want := read(), "READY=1\nSTATUS=serving: table programmed second line\n"; got != want {
			t.Fatalf("%s: datagram %q, want %q", name, got, want)
		}
		if err := n.Notify(Reloading, MonotonicUsec()); err != nil {
			t.Fatal(err)
		}
		got := read()
		if !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") || strings.HasSuffix(got, "MONOTONIC_USEC=0\n") {
			t.Fatalf("reload datagram %q", got)
		}
	}
}

func TestNotifyRefusesBadInput(t *testing.T) {
	if _, err := New("relative/path"); err == nil {
		t.Fatal("a relative NOTIFY_SOCKET was accepted")
	}
	if _, err := New("vsock:2:1234"); err == nil {
		t.Fatal("a vsock NOTIFY_SOCKET was accepted")
	}
	sock, _ := listen(t, "n.sock")
	n, _ := New(sock)
	for _, bad := range []string{"READY", "READY=1\nSTOPPING=1"} {
		if err := n.Notify(bad); err == nil {
			t.Errorf("state %q was sent", bad)
		}
	}
	// A socket nobody listens on is an error, not a hang.
	gone, _ := New(filepath.Join(t.TempDir(), "none.sock"))
	if err := gone.Notify(Ready); err == nil {
		t.Fatal("no error for a missing socket")
	}
}

func TestNoSocketIsNoop(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	n, err := FromEnv()
	if err != nil || n.Enabled() {
		t.Fatalf("FromEnv without NOTIFY_SOCKET: %v %v", n.Enabled(), err)
	}
	if err := n.Notify(Ready); err != nil {
		t.Fatal(err)
	}
	var nilN *Notifier
	if err := nilN.Notify(Ready); err != nil {
		t.Fatal(err)
	}
}

func TestWatchdogInterval(t *testing.T) {
	for _, c := range []struct {
		usec, pid string
		want      time.Duration
		err       bool
	}{
		{"", "", 0, false},
		{"30000000", "", 30 * time.Second, false},
		{"30000000", "42", 30 * time.Second, false},
		{"30000000", "43", 0, false}, // meant for another process
		{"0", "", 0, true},
		{"-5", "", 0, true},
		{"soon", "", 0, true},
		{"1000", "x", 0, true},
	} {
		got, err := watchdogInterval(c.usec, c.pid, 42)
		if got != c.want || (err != nil) != c.err {
			t.Errorf("WATCHDOG_USEC=%q WATCHDOG_PID=%q: %v %v, want %v err=%v", c.usec, c.pid, got, err, c.want, c.err)
		}
	}
}

func FuzzWatchdogInterval(f *testing.F) {
	f.Add("30000000", "42")
	f.Add("", "")
	f.Add("9223372036854775807", "")
	f.Fuzz(func(t *testing.T, usec, pid string) {
		d, err := watchdogInterval(usec, pid, 42)
		if err == nil && d < 0 {
			t.Fatalf("negative interval %v", d)
		}
	})
}
