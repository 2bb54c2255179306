package journal

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
)

func TestHandlerPrefixAndNoTime(t *testing.T) {
	var b bytes.Buffer
	log := slog.New(NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", "n1")
	log.Debug("d")
	log.Info("i", "k", 1)
	log.Warn("w")
	log.Error("e")
	log.WithGroup("g").Info("grouped", "x", "y")
	want := []string{
		`<7>level=DEBUG msg=d node=n1`,
		`<6>level=INFO msg=i node=n1 k=1`,
		`<4>level=WARN msg=w node=n1`,
		`<3>level=ERROR msg=e node=n1`,
		`<6>level=INFO msg=grouped node=n1 g.x=y`,
	}
	got := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestJSONHandler(t *testing.T) {
	var b bytes.Buffer
	slog.New(NewJSONHandler(&b, nil)).Warn("w", "a", "b")
	if got, want := b.String(), "<4>{\"level\":\"WARN\",\"msg\":\"w\",\"a\":\"b\"}\n"; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}

func TestUserReplaceAttrStillApplies(t *testing.T) {
	var b bytes.Buffer
	opts := &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == "secret" {
			a.Value = slog.StringValue("***")
		}
		return a
	}}
	slog.New(NewTextHandler(&b, opts)).Info("m", "secret", "x")
	if got := b.String(); got != "<6>level=INFO msg=m secret=***\n" {
		t.Fatalf("got %q", got)
	}
}

// Concurrent records never get another record's prefix or interleave.
func TestConcurrentLines(t *testing.T) {
	var b bytes.Buffer
	log := slog.New(NewTextHandler(&b, nil))
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				if i%2 == 0 {
					log.Error("e", "i", i)
				} else {
					log.Info("i", "i", i)
				}
			}
		}(i)
	}
	wg.Wait()
	for _, l := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		if !(strings.HasPrefix(l, "<3>level=ERROR msg=e ") || strings.HasPrefix(l, "<6>level=INFO msg=i ")) {
			t.Fatalf("bad line %q", l)
		}
	}
}

func TestPriority(t *testing.T) {
	for l, want := range map[slog.Level]int{slog.LevelDebug: 7, slog.LevelDebug + 2: 7, slog.LevelInfo: 6,
		slog.LevelInfo + 2: 5, slog.LevelWarn: 4, slog.LevelWarn + 2: 3, slog.LevelError: 3, slog.LevelError + 4: 2} {
		if got := Priority(l); got != want {
			t.Errorf("Priority(%v) = %d, want %d", l, got, want)
		}
	}
}

func TestConnected(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "stream")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "JOURNAL_STREAM" {
				return v
			}
			return ""
		}
	}
	match := fmt.Sprintf("%d:%d", st.Dev, st.Ino)
	if !Connected(f, env(match)) {
		t.Fatalf("%s: not connected", match)
	}
	for _, v := range []string{"", match + "1", "x:y", fmt.Sprintf("%d", st.Dev), fmt.Sprintf("%d:%d", st.Dev+1, st.Ino), "-1:-1"} {
		if Connected(f, env(v)) {
			t.Errorf("JOURNAL_STREAM=%q: connected", v)
		}
	}
}
