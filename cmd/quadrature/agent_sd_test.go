package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"quadrature/internal/sdnotify"
)

type fakeService struct {
	ready chan struct{}
	mu    sync.Mutex
	loop  time.Time
	stuck bool
}

func (f *fakeService) Ready() <-chan struct{} { return f.ready }
func (f *fakeService) ReadyReason() string    { return "state and table ready" }
func (f *fakeService) LoopAlive() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.stuck {
		f.loop = time.Now()
	}
	return f.loop
}

func (f *fakeService) setStuck(v bool) {
	f.mu.Lock()
	f.stuck = v
	f.mu.Unlock()
}

// serviceManager sends READY=1 once the agent is ready, then WATCHDOG=1
// only while the apply loop goes round: a stuck loop starves systemd's
// watchdog (which then restarts the service), a loop going again feeds it.
func TestServiceManagerReadyAndWatchdog(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("WATCHDOG_USEC", "200000") // 200 ms: keepalives every 100 ms
	t.Setenv("WATCHDOG_PID", "")
	sd, err := sdnotify.New(sock)
	if err != nil {
		t.Fatal(err)
	}
	type msg struct {
		at   time.Time
		text string
	}
	msgs := make(chan msg, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- msg{time.Now(), strings.TrimSuffix(string(buf[:n]), "\n")}
		}
	}()
	f := &fakeService{ready: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { serviceManager(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), sd, f); close(done) }()
	defer func() { cancel(); <-done }()

	next := func(within time.Duration) (msg, bool) {
		select {
		case m := <-msgs:
			return m, true
		case <-time.After(within):
			return msg{}, false
		}
	}
	if m, ok := next(300 * time.Millisecond); ok {
		t.Fatalf("sent %q before the agent was ready", m.text)
	}
	close(f.ready)
	m, ok := next(time.Second)
	if !ok || !strings.Contains(m.text, "READY=1") || !strings.Contains(m.text, "STATUS=serving (state and table ready)") {
		t.Fatalf("first message %q (%v), want READY=1 with the status", m.text, ok)
	}
	for i := 0; i < 3; i++ {
		if m, ok := next(500 * time.Millisecond); !ok || m.text != "WATCHDOG=1" {
			t.Fatalf("keepalive %d: %q (%v)", i, m.text, ok)
		}
	}
	f.setStuck(true)
	time.Sleep(150 * time.Millisecond) // at most one keepalive was in flight
	for len(msgs) > 0 {
		<-msgs
	}
	if m, ok := next(600 * time.Millisecond); ok {
		t.Fatalf("fed the watchdog with the loop stuck: %q", m.text)
	}
	f.setStuck(false)
	if m, ok := next(500 * time.Millisecond); !ok || m.text != "WATCHDOG=1" {
		t.Fatalf("after the loop went round again: %q (%v)", m.text, ok)
	}
}
