package vrrp

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"log/slog"

	"golang.org/x/sys/unix"

	"quadrature/internal/netnstest"
)

func TestParseFileValue(t *testing.T) {
	for _, c := range []struct {
		in   string
		want FileValue
	}{
		{"0", FileValue{Value: 0, Text: "0"}},
		{"  42\n", FileValue{Value: 42, Text: "42"}},
		{"-7 trailing", FileValue{Value: -7, Text: "-7"}},
		{"+9", FileValue{Value: 9, Text: "+9"}},
		{"0x1f", FileValue{Value: 31, Text: "0x1f"}},
		{"010", FileValue{Value: 8, Text: "010"}},
		{"09", FileValue{Value: 0, Text: "0"}}, // strtol stops at the 9
		{"0x", FileValue{Value: 0, Text: "0"}},
		{"abc", FileValue{NoNumber: true}},
		{"", FileValue{NoNumber: true}},
		{"2147483648", FileValue{Value: MaxFileValue, Text: "2147483648"}},
		{"2147483649", FileValue{OutOfRange: true, Text: "2147483649"}},
		{"-2147483648", FileValue{Value: MinFileValue, Text: "-2147483648"}},
		{"-2147483649", FileValue{OutOfRange: true, Text: "-2147483649"}},
		{"99999999999999999999999", FileValue{OutOfRange: true, Text: "99999999999999999999999"}},
	} {
		if got := ParseFileValue([]byte(c.in)); got != c.want {
			t.Errorf("ParseFileValue(%q) = %+v, want %+v", c.in, got, c.want)
		}
	}
}

func FuzzParseFileValue(f *testing.F) {
	for _, s := range []string{"0", "-1", "0x7fffffff", "0777", " 12 ", "junk", "-2147483649", "+0x"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v := ParseFileValue(b)
		if v.Value < MinFileValue || v.Value > MaxFileValue || (v.NoNumber && (v.Value != 0 || v.OutOfRange)) || (v.OutOfRange && v.Value != 0) {
			t.Fatalf("ParseFileValue(%q) = %+v", b, v)
		}
		if !v.NoNumber && !strings.Contains(string(b), v.Text) {
			t.Fatalf("text %q not in %q", v.Text, b)
		}
		d, fault := FileEffect(v.Value, 254, false)
		if !fault && (d < FileFaultLimit || d > FileMaxDelta) {
			t.Fatalf("delta %d", d)
		}
	})
}

func TestFileEffect(t *testing.T) {
	for _, c := range []struct {
		v      int64
		w      int
		rev    bool
		delta  int
		faulty bool
	}{
		{0, 0, false, 0, false},
		{1, 0, false, 0, true},
		{-5, 0, false, 0, true},
		{0, 0, true, 0, true}, // reverse: zero is the failure
		{3, 0, true, 0, false},
		{10, -2, false, -20, false},
		{10, -2, true, 20, false},
		{-10, 5, false, -50, false},
		{127, -2, false, 0, true}, // at the limit: FAULT
		{126, -2, false, -252, false},
		{1000, 1, false, FileMaxDelta, false},
		{MaxFileValue, math.MaxInt32, false, FileMaxDelta, false},
		{MinFileValue, math.MaxInt32, false, 0, true},
	} {
		d, f := FileEffect(c.v, c.w, c.rev)
		if d != c.delta || f != c.faulty {
			t.Errorf("FileEffect(%d, %d, %v) = %d, %v; want %d, %v", c.v, c.w, c.rev, d, f, c.delta, c.faulty)
		}
	}
}

func TestEvaluateTrackingFilesAndProcesses(t *testing.T) {
	in := TrackInput{
		Instance: InstanceConfig{Name: "VI", Interface: "eth0",
			TrackFiles:     []TrackRef{{Name: "f", Weight: -1}, {Name: "unwatched", Weight: 0}},
			TrackProcesses: []TrackRef{{Name: "p", Weight: 20}}},
		Group:      &GroupConfig{TrackFiles: []TrackRef{{Name: "g", Weight: 0}}},
		Base:       100,
		Links:      map[string]bool{"eth0": true},
		FileValues: map[string]int64{"f": 30, "g": 0},
		ProcessUp:  map[string]bool{"p": true},
	}
	r := EvaluateTracking(in)
	if r.Fault || r.Priority != 90 || len(r.Weights) != 2 || r.Weights[0] != (TrackWeight{TrackerFile, "f", -30}) || r.Weights[1] != (TrackWeight{TrackerProcess, "p", 20}) {
		t.Fatalf("got %+v", r)
	}
	in.FileValues = map[string]int64{"f": 30, "g": 1}
	in.ProcessUp = map[string]bool{"p": false}
	r = EvaluateTracking(in)
	if !r.Fault || r.Cause != CauseFault || len(r.Faults) != 1 || r.Faults[0].Tracker != TrackerFile || r.Faults[0].Name != "g" || r.Priority != 70 {
		t.Fatalf("got %+v", r)
	}
	in.Instance.TrackProcesses[0].Weight = 0
	r = EvaluateTracking(in)
	if len(r.Faults) != 2 || r.Faults[1].Tracker != TrackerProcess || !strings.Contains(r.Reason, "tracked process p") {
		t.Fatalf("got %+v", r)
	}
}

func TestProcessEffect(t *testing.T) {
	for _, c := range []struct {
		up     bool
		w      int
		rev    bool
		delta  int
		faulty bool
	}{
		{true, 0, false, 0, false},
		{false, 0, false, 0, true},
		{true, 0, true, 0, true},
		{false, 0, true, 0, false},
		{true, 10, false, 10, false},
		{false, 10, false, 0, false},
		{false, -10, false, -10, false},
		{true, -10, false, 0, false},
		{true, 10, true, -10, false},
		{false, -10, true, 10, false},
	} {
		d, f := ProcessEffect(c.up, c.w, c.rev)
		if d != c.delta || f != c.faulty {
			t.Errorf("ProcessEffect(%v, %d, %v) = %d, %v; want %d, %v", c.up, c.w, c.rev, d, f, c.delta, c.faulty)
		}
	}
}

func TestProcessMatches(t *testing.T) {
	cl := func(args ...string) []byte { return []byte(strings.Join(args, "\x00") + "\x00") }
	for _, c := range []struct {
		p    TrackProcessConfig
		comm string
		cmd  []byte
		want bool
	}{
		{TrackProcessConfig{Process: "ssh"}, "sshd", cl("/usr/sbin/sshd"), false},
		{TrackProcessConfig{Process: "sshd"}, "sshd", cl("/usr/sbin/sshd"), true},
		{TrackProcessConfig{Process: "a-very-long-process-name"}, "a-very-long-pro", nil, true},
		{TrackProcessConfig{Process: "/usr/sbin/nginx", FullCommand: true}, "nginx", cl("/usr/sbin/nginx", "-g", "x"), true},
		{TrackProcessConfig{Process: "/usr/sbin/nginx", Params: []string{"-g"}}, "nginx", cl("/usr/sbin/nginx", "-g", "x"), false},
		{TrackProcessConfig{Process: "/usr/sbin/nginx", Params: []string{"-g", "x"}}, "nginx", cl("/usr/sbin/nginx", "-g", "x"), true},
		{TrackProcessConfig{Process: "/usr/sbin/nginx", Params: []string{"-g"}, ParamMatch: ParamPartial}, "nginx", cl("/usr/sbin/nginx", "-g", "x"), true},
		{TrackProcessConfig{Process: "/usr/sbin/nginx", Params: []string{"-"}, ParamMatch: ParamPartial}, "nginx", cl("/usr/sbin/nginx", "-g"), false},
		{TrackProcessConfig{Process: "/usr/sbin/nginx", Params: []string{"-"}, ParamMatch: ParamInitial}, "nginx", cl("/usr/sbin/nginx", "-g"), true},
		{TrackProcessConfig{Process: "/usr/sbin/nginx", ParamMatch: ParamExact}, "nginx", cl("/usr/sbin/nginx", "-g"), false},
		{TrackProcessConfig{Process: "/usr/sbin/nginx", ParamMatch: ParamExact}, "nginx", cl("/usr/sbin/nginx"), true},
		{TrackProcessConfig{Process: "kthreadd", FullCommand: true}, "kthreadd", nil, false},
	} {
		if got := c.p.Matches(c.comm, c.cmd); got != c.want {
			t.Errorf("%+v.Matches(%q, %q) = %v", c.p, c.comm, c.cmd, got)
		}
	}
}

func TestProcessDelay(t *testing.T) {
	t0 := time.Unix(1000, 0)
	d := NewProcessDelay(false, t0)
	// Quorum gained at t0+1s: up only after the 500 ms fork_delay.
	if ch, wake := d.Observe(t0.Add(time.Second), true, 500*ms, 2*time.Second); ch || !wake.Equal(t0.Add(1500*ms)) {
		t.Fatalf("gain: %v %v", ch, wake)
	}
	if ch, _ := d.Observe(t0.Add(1500*ms), true, 500*ms, 2*time.Second); !ch || !d.Up {
		t.Fatalf("not up after fork_delay")
	}
	// Lost and regained within terminate_delay: never reported down.
	if ch, wake := d.Observe(t0.Add(3*time.Second), false, 500*ms, 2*time.Second); ch || !wake.Equal(t0.Add(5*time.Second)) {
		t.Fatalf("loss: %v %v", ch, wake)
	}
	if ch, wake := d.Observe(t0.Add(4*time.Second), true, 500*ms, 2*time.Second); ch || !wake.IsZero() || !d.Up {
		t.Fatalf("bounce: %v %v %v", ch, wake, d.Up)
	}
	if ch, _ := d.Observe(t0.Add(6*time.Second), false, 0, 0); !ch || d.Up {
		t.Fatalf("no delay: not down at once")
	}
}

func procEventMsg(what uint32, words ...uint32) []byte {
	d := make([]byte, 16+4*len(words))
	binary.NativeEndian.PutUint32(d, what)
	for i, w := range words {
		binary.NativeEndian.PutUint32(d[16+4*i:], w)
	}
	m := make([]byte, unix.SizeofNlMsghdr+cnMsgLen+len(d))
	binary.NativeEndian.PutUint32(m, uint32(len(m)))
	binary.NativeEndian.PutUint16(m[4:], unix.NLMSG_DONE)
	cn := m[unix.SizeofNlMsghdr:]
	binary.NativeEndian.PutUint32(cn, cnIdxProc)
	binary.NativeEndian.PutUint32(cn[4:], cnValProc)
	binary.NativeEndian.PutUint16(cn[16:], uint16(len(d)))
	copy(cn[cnMsgLen:], d)
	return m
}

func TestDecodeProcEvents(t *testing.T) {
	b := append(procEventMsg(procEventFork, 10, 10, 11, 11), procEventMsg(procEventExit, 11, 11, 0, 9)...)
	b = append(b, procEventMsg(procEventExec, 12, 12)...)
	evs, ok := decodeProcEvents(b)
	want := []procEvent{{procEventFork, 11, 11}, {procEventExit, 11, 11}, {procEventExec, 12, 12}}
	if !ok || fmt.Sprint(evs) != fmt.Sprint(want) {
		t.Fatalf("got %v %v", evs, ok)
	}
	if _, ok := decodeProcEvents(b[:len(b)-3]); ok {
		t.Fatal("a truncated datagram decoded")
	}
}

func FuzzDecodeProcEvents(f *testing.F) {
	f.Add(procEventMsg(procEventFork, 1, 1, 2, 2))
	f.Add(procEventMsg(procEventComm, 3, 3))
	f.Add(append(procEventMsg(procEventExit, 4, 4, 0, 0), 1, 2, 3))
	f.Fuzz(func(t *testing.T, b []byte) {
		evs, _ := decodeProcEvents(b)
		if len(evs) > len(b)/(unix.SizeofNlMsghdr+cnMsgLen) {
			t.Fatalf("%d events from %d bytes", len(evs), len(b))
		}
	})
}

// uniqueProcess copies sleep under a name no other process has and
// returns its path (comm is its base name).
func uniqueProcess(t *testing.T) string {
	t.Helper()
	src, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), fmt.Sprintf("qtp%08x", rand.Uint32()))
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// startSleeper starts a process and kills it (by PID) at cleanup.
func startSleeper(t *testing.T, path string) *exec.Cmd {
	t.Helper()
	c := exec.Command(path, "600")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	return c
}

func stopSleeper(c *exec.Cmd) { c.Process.Kill(); c.Wait() }

// The /proc polling fallback counts real processes (no root needed).
func TestProcMonitorPolling(t *testing.T) {
	path := uniqueProcess(t)
	pc := TrackProcessConfig{Name: "p", Process: filepath.Base(path), Quorum: 1, QuorumMax: math.MaxInt}
	first := startSleeper(t, path)
	got := make(chan map[string]int, 16)
	m, now := startProcMonitor([]TrackProcessConfig{pc}, "/proc", true, testLogger(t), func(c map[string]int) { got <- c })
	defer m.close()
	if now["p"] != 1 {
		t.Fatalf("initial scan counted %d, want 1", now["p"])
	}
	startSleeper(t, path)
	waitCount(t, got, 2)
	stopSleeper(first)
	waitCount(t, got, 1)
}

func waitCount(t *testing.T, ch chan map[string]int, want int) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case c := <-ch:
			if c["p"] == want {
				return
			}
		case <-deadline:
			t.Fatalf("count did not reach %d", want)
		}
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, nil))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// writeFileAtomic replaces a file by a rename, as most tools do.
func writeFileAtomic(t *testing.T, path, s string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func waitPriority(t *testing.T, p *proc, want int, d time.Duration) InstanceStatus {
	t.Helper()
	var s InstanceStatus
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(20 * ms) {
		if s = p.Status()[0]; s.Priority == want {
			return s
		}
	}
	t.Fatalf("%s: priority %d, want %d (fault %q)", p.name, s.Priority, want, s.Fault)
	return s
}

// Two nodes; the master tracks a file: a value lowering its priority
// below the backup's hands the VIP over, junk reads as 0 (the master
// comes back), a product at or below -254 is a FAULT, deleting the file
// clears it; init_file created the file.
func TestTrackFileFailover(t *testing.T) {
	lab := netnstest.NewLab(t)
	a := lab.AddHost("a", "192.0.2.1/24")
	b := lab.AddHost("b", "192.0.2.2/24")
	file := filepath.Join(t.TempDir(), "prio")
	cfgA := lanConfig(150, 100*ms, "192.0.2.100/32", func(c *InstanceConfig) {
		c.TrackFiles = []TrackRef{{Name: "maint", Weight: -1}}
	})
	cfgA.Files = []TrackFileConfig{{Name: "maint", Path: file, Weight: -1, InitFile: true, InitValue: 0}}
	pa := startNode(t, a, cfgA)
	pa.waitState(t, "VI_1", StateMaster, 3*time.Second)
	if b, err := os.ReadFile(file); err != nil || strings.TrimSpace(string(b)) != "0" {
		t.Fatalf("init_file: %q %v", b, err)
	}
	pb := startNode(t, b, lanConfig(120, 100*ms, "192.0.2.100/32"))
	pb.waitState(t, "VI_1", StateBackup, 3*time.Second)

	start := time.Now()
	if err := os.WriteFile(file, []byte("50\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitPriority(t, pa, 100, 2*time.Second)
	t.Logf("priority followed the file in %v", time.Since(start).Round(time.Millisecond))
	pb.waitState(t, "VI_1", StateMaster, 3*time.Second)
	pa.waitState(t, "VI_1", StateBackup, time.Second)
	exactlyOneMaster(t, []*netnstest.NS{a, b}, b, "192.0.2.100")

	writeFileAtomic(t, file, "not a number")
	waitPriority(t, pa, 150, 2*time.Second)
	pa.waitState(t, "VI_1", StateMaster, 3*time.Second)

	writeFileAtomic(t, file, "300")
	pa.waitState(t, "VI_1", StateFault, 2*time.Second)
	if s := pa.Status()[0]; !strings.Contains(s.Fault, "tracked file maint holds 300") {
		t.Errorf("fault %q", s.Fault)
	}
	pb.waitState(t, "VI_1", StateMaster, 3*time.Second)
	// Out of range: ignored, the FAULT stays.
	writeFileAtomic(t, file, "99999999999")
	time.Sleep(300 * ms)
	if st := pa.state("VI_1"); st != StateFault {
		t.Errorf("after an out-of-range value: %v, want FAULT kept", st)
	}
	if !strings.Contains(pa.stderr.String(), "outside -2147483648..2147483648") {
		t.Errorf("no log of the out-of-range value")
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	pa.waitState(t, "VI_1", StateMaster, 3*time.Second)
}

// track_process with a quorum of 2 and a terminate_delay: the instance
// is in FAULT until two processes run, and goes back to FAULT only
// terminate_delay after one of them is killed.
func TestTrackProcessQuorumDelay(t *testing.T) {
	lab := netnstest.NewLab(t)
	a := lab.AddHost("a", "192.0.2.1/24")
	path := uniqueProcess(t)
	cfg := lanConfig(150, 100*ms, "192.0.2.100/32", func(c *InstanceConfig) {
		c.TrackProcesses = []TrackRef{{Name: "svc"}, {Name: "extra", Weight: -40}}
	})
	cfg.Processes = []TrackProcessConfig{
		{Name: "svc", Process: filepath.Base(path), Quorum: 2, QuorumMax: math.MaxInt, TerminateDelay: 800 * ms},
		{Name: "extra", Process: path, FullCommand: true, Quorum: 3, QuorumMax: math.MaxInt, Weight: -40},
	}
	first := startSleeper(t, path)
	pa := startNode(t, a, cfg)
	pa.waitState(t, "VI_1", StateFault, 3*time.Second)
	if s := pa.Status()[0]; !strings.Contains(s.Fault, "tracked process svc") || s.Priority != 110 {
		t.Errorf("status: fault %q priority %d (want 150-40)", s.Fault, s.Priority)
	}
	startSleeper(t, path)
	pa.waitState(t, "VI_1", StateMaster, 3*time.Second)
	third := startSleeper(t, path)
	waitPriority(t, pa, 150, 2*time.Second)
	stopSleeper(third)
	waitPriority(t, pa, 110, 2*time.Second)

	killed := time.Now()
	stopSleeper(first)
	time.Sleep(300 * ms)
	if st := pa.state("VI_1"); st != StateMaster {
		t.Fatalf("%v 300 ms after the kill, want MASTER for the 800 ms terminate_delay", st)
	}
	pa.waitState(t, "VI_1", StateFault, 3*time.Second)
	if d := time.Since(killed); d < 800*ms {
		t.Errorf("FAULT %v after the kill, before terminate_delay", d)
	}
}
