package vrrp

import (
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSplitCommand(t *testing.T) {
	cases := []struct {
		in   string
		want []string
		err  bool
	}{
		{"", nil, false},
		{"/bin/true", []string{"/bin/true"}, false},
		{"  a  b\tc ", []string{"a", "b", "c"}, false},
		{`/x "two words" 'single $q' back\ slash`, []string{"/x", "two words", "single $q", "back slash"}, false},
		{`a "esc \" q" ""`, []string{"a", `esc " q`, ""}, false},
		{`a "open`, nil, true},
		{`a \`, nil, true},
	}
	for _, c := range cases {
		got, err := splitCommand(c.in)
		if (err != nil) != c.err || (!c.err && !reflect.DeepEqual(got, c.want)) {
			t.Errorf("splitCommand(%q) = %q, %v; want %q, err %v", c.in, got, err, c.want, c.err)
		}
	}
}

func FuzzSplitCommand(f *testing.F) {
	for _, s := range []string{`a "b c" 'd'`, `\`, `"`, `x\ y`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := splitCommand(s)
		if err == nil && len(words) > len(s) {
			t.Fatalf("%d words from %d bytes", len(words), len(s))
		}
	})
}

func TestScriptRiseFall(t *testing.T) {
	r := newScriptRunner(ScriptConfig{Name: "s", Command: "true", Rise: 2, Fall: 3}, slog.Default(), nil)
	seq := []struct {
		ok      bool
		changed bool
		state   bool
	}{
		{false, false, true}, {false, false, true}, {false, true, false}, // fall 3
		{true, false, false}, {false, false, false}, {true, false, false}, {true, true, true}, // rise 2, streak reset
	}
	for i, s := range seq {
		if ch := r.observe(s.ok); ch != s.changed || r.ok != s.state {
			t.Fatalf("step %d: changed %v ok %v, want %v %v", i, ch, r.ok, s.changed, s.state)
		}
	}
	if r := newScriptRunner(ScriptConfig{Name: "s", Command: "true", InitFail: true}, slog.Default(), nil); r.ok {
		t.Errorf("init_fail script starts ok")
	}
}

func TestNotifyJobs(t *testing.T) {
	nc := NotifyConfig{Master: "/m", Backup: "/b", Fault: "/f", Stop: "/s", Generic: "/g x"}
	got := notifyJobs(nc, "INSTANCE", "VI_1", StateMaster, 150)
	want := []notifyJob{{line: "/m"}, {line: "/g x", args: []string{"INSTANCE", "VI_1", "MASTER", "150"}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("notifyJobs = %+v, want %+v", got, want)
	}
	if got := notifyJobs(NotifyConfig{Generic: "/g"}, "GROUP", "G", StateStopped, 0); got[0].args[2] != "STOP" {
		t.Errorf("stop state name %q", got[0].args[2])
	}
}

// Notify scripts run asynchronously but in order, each bounded by the
// timeout.
func TestNotifierOrderAndTimeout(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	script := filepath.Join(dir, "n.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n[ \"$1\" = slow ] && sleep 0.2\n[ \"$1\" = hang ] && sleep 30\necho \"$@\" >> "+out+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	n := newNotifier(slog.Default(), time.Second)
	start := time.Now()
	n.enqueue(notifyJob{line: script, args: []string{"slow", "1"}}, notifyJob{line: script, args: []string{"fast", "2"}})
	n.enqueue(notifyJob{line: script, args: []string{"hang"}}, notifyJob{line: script + " third", args: []string{"3"}})
	if time.Since(start) > 100*time.Millisecond {
		t.Fatalf("enqueue blocked")
	}
	n.wait(10 * time.Second)
	b, _ := os.ReadFile(out)
	if got := strings.TrimSpace(string(b)); got != "slow 1\nfast 2\nthird 3" {
		t.Errorf("notify output %q", got)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("hung script not bounded by the timeout: %v", d)
	}
}
