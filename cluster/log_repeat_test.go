package cluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// A repeated raft message is logged once per window, then with the
// count of the ones held back; other messages are not held back by it.
func TestHCLogRepeatsHeldBack(t *testing.T) {
	var b bytes.Buffer
	clk := &fakeClock{t: time.Unix(1000, 0)}
	h := newHCLog(slog.New(slog.NewTextHandler(&b, nil)), "raft")
	h.rep = newRepeats(10*time.Second, clk.now)
	named := h.With("peer", "n3") // shares the limiter
	for i := 0; i < 50; i++ {
		h.Warn("heartbeat timeout reached, starting election", "last-leader-id", "")
		named.Error("failed to appendEntries to", "error", "EOF")
		clk.add(100 * time.Millisecond) // 5 s in all
	}
	h.Info("entering candidate state")
	h.Info("entering candidate state") // state changes are all kept
	if got := strings.Count(b.String(), "starting election"); got != 1 {
		t.Fatalf("election warning logged %d times in 5 s:\n%s", got, b.String())
	}
	if got := strings.Count(b.String(), "appendEntries"); got != 1 {
		t.Fatalf("replication error logged %d times:\n%s", got, b.String())
	}
	if got := strings.Count(b.String(), "entering candidate state"); got != 2 {
		t.Fatalf("info lines held back (%d of 2):\n%s", got, b.String())
	}
	clk.add(6 * time.Second)
	b.Reset()
	h.Warn("heartbeat timeout reached, starting election", "last-leader-id", "")
	if !strings.Contains(b.String(), "repeated=49") {
		t.Fatalf("after the window: %q", b.String())
	}
}

// Raft's structs become text, not a Go struct dump or a nested object.
func TestHCLogValues(t *testing.T) {
	var b bytes.Buffer
	h := newHCLog(slog.New(slog.NewJSONHandler(&b, nil)), "raft")
	h.Error("failed to appendEntries to",
		"peer", raft.Server{Suffrage: raft.Voter, ID: "n3", Address: "203.0.113.13:9901"},
		"error", errors.New("EOF"), "id", raft.ServerID("n2"), "map", map[string]int{"a": 1}, "n", 3)
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"peer": "n3@203.0.113.13:9901 (Voter)", "error": "EOF", "id": "n2", "map": "map[a:1]", "n": float64(3)} {
		if m[k] != want {
			t.Errorf("%s = %#v, want %#v (line %s)", k, m[k], want, b.String())
		}
	}
}
