package snmp

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"quadrature/internal/netnstest"
)

// syncBuffer collects a process's output for failure messages.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// snmpLab is a network namespace with its own snmpd (AgentX master on a
// unix socket in a temporary directory, SNMP on 192.0.2.1:161) and,
// optionally, an snmptrapd receiving snmpd's traps on 192.0.2.1:16162.
type snmpLab struct {
	t         *testing.T
	host      *netnstest.NS
	dir       string
	sock      string
	community string
	snmpd     *exec.Cmd
	snmpdLog  *syncBuffer
	trapLog   *syncBuffer
	ifIndex   int
}

const labAddr = "192.0.2.1"

func newSnmpLab(t *testing.T, traps bool) *snmpLab {
	t.Helper()
	netnstest.RequireRoot(t)
	netnstest.RequireBinary(t, "snmpd")
	netnstest.RequireBinary(t, "snmpwalk")
	if traps {
		netnstest.RequireBinary(t, "snmptrapd")
	}
	lab := netnstest.NewLab(t)
	h := lab.AddHost("snmp", labAddr+"/24")
	dir := t.TempDir()
	l := &snmpLab{t: t, host: h, dir: dir, sock: filepath.Join(dir, "agentx.sock"), community: "q" + netnstest.RandomPrefix()}
	idx, err := h.Run("cat", "/sys/class/net/eth0/ifindex")
	if err != nil {
		t.Fatal(err)
	}
	if l.ifIndex, err = strconv.Atoi(strings.TrimSpace(string(idx))); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`[snmp] persistentDir %s/persist
master agentx
agentXSocket %s
agentXTimeout 2
agentaddress udp:%s:161
rocommunity %s 192.0.2.0/24
`, dir, l.sock, labAddr, l.community)
	if traps {
		conf += fmt.Sprintf("trap2sink udp:%s:16162 %s\n", labAddr, l.community)
		tconf := fmt.Sprintf("[snmp] persistentDir %s/trappersist\nauthCommunity log %s\n", dir, l.community)
		if err := os.WriteFile(filepath.Join(dir, "snmptrapd.conf"), []byte(tconf), 0o600); err != nil {
			t.Fatal(err)
		}
		l.trapLog = &syncBuffer{}
		cmd := h.Command("snmptrapd", "-f", "-Lo", "-C", "-c", filepath.Join(dir, "snmptrapd.conf"),
			"-On", "-m", "", "-M", dir, "udp:"+labAddr+":16162")
		cmd.Env = l.env()
		cmd.Stdout, cmd.Stderr = l.trapLog, l.trapLog
		if err := h.Start(cmd); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { stopByPID(cmd) })
	}
	if err := os.WriteFile(filepath.Join(dir, "snmpd.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	l.startSnmpd()
	t.Cleanup(func() {
		if l.snmpd != nil {
			stopByPID(l.snmpd)
		}
		if t.Failed() {
			t.Logf("snmpd output:\n%s", tail(l.snmpdLog.String(), 40))
			if l.trapLog != nil {
				t.Logf("snmptrapd output:\n%s", tail(l.trapLog.String(), 40))
			}
		}
	})
	return l
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// env keeps net-snmp's tools off the host's configuration and persistent
// state and away from MIB files.
func (l *snmpLab) env() []string {
	return append(os.Environ(), "SNMPCONFPATH="+l.dir, "SNMP_PERSISTENT_DIR="+filepath.Join(l.dir, "clientpersist"), "MIBS=", "MIBDIRS="+l.dir)
}

// stopByPID ends a process this test started: SIGTERM, then SIGKILL.
func stopByPID(cmd *exec.Cmd) {
	if cmd.Process == nil || cmd.ProcessState != nil {
		return
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

func (l *snmpLab) startSnmpd() {
	l.t.Helper()
	_ = os.Remove(l.sock)
	l.snmpdLog = &syncBuffer{}
	cmd := l.host.Command("snmpd", "-f", "-Lo", "-C", "-c", filepath.Join(l.dir, "snmpd.conf"), "-M", l.dir, "-m", "")
	cmd.Env = l.env()
	cmd.Stdout, cmd.Stderr = l.snmpdLog, l.snmpdLog
	if err := l.host.Start(cmd); err != nil {
		l.t.Fatalf("start snmpd: %v", err)
	}
	l.snmpd = cmd
	// Ready once it answers SNMP and its AgentX socket accepts.
	l.poll("snmpd to serve", func() error {
		if _, err := l.snmp("snmpget", "1.3.6.1.2.1.1.3.0"); err != nil {
			return err
		}
		c, err := net.Dial("unix", l.sock)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

func (l *snmpLab) stopSnmpd() {
	stopByPID(l.snmpd)
	l.snmpd = nil
}

func (l *snmpLab) poll(what string, f func() error) {
	l.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("waiting for %s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// snmp runs one net-snmp client in the namespace against the lab's
// snmpd with numeric OIDs and raw time ticks.
func (l *snmpLab) snmp(tool string, args ...string) (string, error) {
	full := append([]string{"-v2c", "-c", l.community, "-On", "-Ot", "-m", "", "-M", l.dir, "-t", "3", "-r", "1", labAddr + ":161"}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.host.Name, tool}, full...)...)
	cmd.Env = l.env()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", tool, strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

// walk returns "OID = TYPE: value" lines as a map from OID (leading dot)
// to "TYPE: value", in order.
func parseWalk(out string) (map[string]string, []string) {
	m := map[string]string{}
	var order []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, ok := strings.Cut(line, " = ")
		if !ok {
			continue
		}
		m[k] = strings.TrimSpace(v)
		order = append(order, k)
	}
	return m, order
}

func TestSnmpdIntegration(t *testing.T) {
	l := newSnmpLab(t, true)
	up := time.Now().Add(-90 * time.Second)
	src := &memSource{snap: fixture(l.ifIndex, up)}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := New(Options{Socket: "unix:" + l.sock, MIBs: allMIBs, Traps: true, CacheTTL: -1,
		Timeout: 2 * time.Second, ReconnectMin: 100 * time.Millisecond, ReconnectMax: time.Second}, src, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	})
	l.poll("the subagent to register", func() error {
		if !a.Connected() {
			return fmt.Errorf("not connected")
		}
		return nil
	})

	ka := ".1.3.6.1.4.1.9586.100.5"
	ifx := strconv.Itoa(l.ifIndex)
	want := map[string]string{
		// global
		ka + ".1.1.0": `STRING: "quadrature test"`,
		ka + ".1.2.0": `STRING: "lb1"`,
		ka + ".1.4.0": `INTEGER: 1`,
		// vrrpInstanceTable: name, vrid, state, initial state, priorities, interface, adv int, preempt, auth, sync group, version
		ka + ".2.3.1.2.1":  `STRING: "VI_1"`,
		ka + ".2.3.1.3.1":  `Gauge32: 51`,
		ka + ".2.3.1.4.1":  `INTEGER: 2`,
		ka + ".2.3.1.5.1":  `INTEGER: 1`,
		ka + ".2.3.1.7.1":  `INTEGER: 100`,
		ka + ".2.3.1.8.1":  `INTEGER: 150`,
		ka + ".2.3.1.10.1": `STRING: "eth0"`,
		ka + ".2.3.1.12.1": `Gauge32: 100`,
		ka + ".2.3.1.13.1": `INTEGER: 1`,
		ka + ".2.3.1.30.1": `INTEGER: 3`,
		ka + ".2.3.1.2.2":  `STRING: "VI_2"`,
		ka + ".2.3.1.4.2":  `INTEGER: 1`,
		ka + ".2.3.1.12.2": `Gauge32: 2`,
		ka + ".2.3.1.13.2": `INTEGER: 2`,
		ka + ".2.3.1.14.2": `Gauge32: 5`,
		ka + ".2.3.1.15.2": `INTEGER: 1`,
		ka + ".2.3.1.18.2": `STRING: "G1"`,
		ka + ".2.3.1.4.3":  `INTEGER: 3`,
		// vrrpAddressTable of VI_1
		ka + ".2.6.1.3.1.1": `Hex-STRING: C0 00 02 64`,
		ka + ".2.6.1.5.1.2": `Gauge32: 24`,
		// sync group and member
		ka + ".2.1.1.2.1":   `STRING: "G1"`,
		ka + ".2.2.1.2.1.1": `STRING: "VI_2"`,
		// virtualServerTable
		ka + ".3.3.1.2.1":  `INTEGER: 2`,
		ka + ".3.3.1.6.1":  `Hex-STRING: CB 00 71 0A`,
		ka + ".3.3.1.7.1":  `Gauge32: 80`,
		ka + ".3.3.1.8.1":  `INTEGER: 1`,
		ka + ".3.3.1.9.1":  `INTEGER: 4`,
		ka + ".3.3.1.10.1": `INTEGER: 2`,
		ka + ".3.3.1.14.1": `Gauge32: 300`,
		ka + ".3.3.1.20.1": `Gauge32: 2`,
		ka + ".3.3.1.21.1": `Gauge32: 1`,
		ka + ".3.3.1.28.1": `Counter32: 5`,
		ka + ".3.3.1.30.1": `Counter64: 1099511627776`,
		ka + ".3.3.1.39.1": `Counter64: 4294967301`,
		ka + ".3.3.1.47.1": `Gauge32: 1`,
		ka + ".3.3.1.48.1": `Gauge32: 1`,
		ka + ".3.3.1.71.1": `STRING: "web"`,
		ka + ".3.3.1.2.2":  `INTEGER: 1`,
		ka + ".3.3.1.4.2":  `Gauge32: 7`,
		ka + ".3.3.1.11.2": `INTEGER: 2`,
		// realServerTable
		ka + ".3.4.1.4.1.1":  `Hex-STRING: CB 00 71 15`,
		ka + ".3.4.1.5.1.1":  `Gauge32: 8080`,
		ka + ".3.4.1.6.1.1":  `INTEGER: 1`,
		ka + ".3.4.1.7.1.1":  `INTEGER: 3`,
		ka + ".3.4.1.15.1.1": `Gauge32: 1`,
		ka + ".3.4.1.6.1.2":  `INTEGER: 2`,
		ka + ".3.4.1.13.1.2": `Gauge32: 2`,
		ka + ".3.4.1.40.1.2": `INTEGER: 1`,
		ka + ".3.4.1.40.1.1": `INTEGER: 2`,
		ka + ".3.4.1.2.1.3":  `INTEGER: 2`,
	}
	v3 := ".1.3.6.1.2.1.207"
	i1 := "." + ifx + ".51.1"
	v3want := map[string]string{
		v3 + ".1.1.1.1.3" + i1:                    `Hex-STRING: C0 00 02 01`, // master: our primary address
		v3 + ".1.1.1.1.5" + i1:                    `Hex-STRING: 00 00 5E 00 01 33`,
		v3 + ".1.1.1.1.6" + i1:                    `INTEGER: 3`,
		v3 + ".1.1.1.1.7" + i1:                    `Gauge32: 150`,
		v3 + ".1.1.1.1.8" + i1:                    `INTEGER: 2`,
		v3 + ".1.1.1.1.9" + i1:                    `INTEGER: 100`,
		v3 + ".1.1.1.1.13" + i1:                   `INTEGER: 1`,
		v3 + ".1.1.2.1.2" + i1 + ".4.192.0.2.100": `INTEGER: 1`,
		v3 + ".1.1.2.1.2" + i1 + ".4.192.0.2.101": `INTEGER: 1`,
		v3 + ".1.2.1.0":                           `Counter64: 2`,
		v3 + ".1.2.3.0":                           `Counter64: 5`,
		v3 + ".1.2.5.1.1" + i1:                    `Counter32: 3`,
		v3 + ".1.2.5.1.2" + i1:                    `INTEGER: 2`,
		v3 + ".1.2.5.1.3" + i1:                    `Counter64: 8589934592`,
		// the IPv6 instance, in FAULT
		v3 + ".1.1.1.1.6." + ifx + ".53.2":                                         `INTEGER: 1`,
		v3 + ".1.1.1.1.9." + ifx + ".53.2":                                         `INTEGER: 50`,
		v3 + ".1.1.2.1.2." + ifx + ".53.2.16.32.1.13.184.0.0.0.0.0.0.0.0.0.0.0.83": `INTEGER: 1`,
	}
	v2 := ".1.3.6.1.2.1.68"
	i2 := "." + ifx + ".52"
	v2want := map[string]string{
		v2 + ".1.1.0":                           `INTEGER: 2`,
		v2 + ".1.3.1.3" + i2:                    `INTEGER: 2`,
		v2 + ".1.3.1.7" + i2:                    `IpAddress: 192.0.2.3`,
		v2 + ".1.3.1.8" + i2:                    `IpAddress: 192.0.2.1`,
		v2 + ".1.3.1.9" + i2:                    `INTEGER: 2`,
		v2 + ".1.3.1.11" + i2:                   `INTEGER: 2`,
		v2 + ".1.4.1.2" + i2 + ".198.51.100.10": `INTEGER: 1`,
		v2 + ".2.1.0":                           `Counter32: 7`,
		v2 + ".2.4.1.2" + i2:                    `Counter32: 42`,
		v2 + ".2.4.1.4" + i2:                    `Counter32: 1`,
	}

	checkWalk := func(tool, root string, want map[string]string, absent ...string) map[string]string {
		t.Helper()
		out, err := l.snmp(tool, root)
		if err != nil {
			t.Fatalf("%s %s: %v", tool, root, err)
		}
		got, order := parseWalk(out)
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s %s: %s = %q, want %q", tool, root, k, got[k], v)
			}
		}
		for _, k := range absent {
			if _, ok := got[k]; ok {
				t.Errorf("%s %s: %s present (%s), want absent", tool, root, k, got[k])
			}
		}
		for i := 1; i < len(order); i++ {
			if MustOID(order[i-1]).Compare(MustOID(order[i])) >= 0 {
				t.Errorf("%s %s: %s before %s", tool, root, order[i-1], order[i])
			}
		}
		if t.Failed() {
			t.Logf("%s %s output:\n%s", tool, root, tail(out, 400))
		}
		return got
	}
	uptimeOID := v3 + ".1.1.1.1.12" + i1
	got := checkWalk("snmpwalk", ka, want, ka+".3.3.1.6.2", ka+".2.3.1.18.1")
	bulk := checkWalk("snmpbulkwalk", ka, want)
	if len(got) != len(bulk) {
		t.Errorf("snmpwalk found %d objects, snmpbulkwalk %d", len(got), len(bulk))
	}
	v3got := checkWalk("snmpwalk", v3, v3want, v3+".1.1.1.1.6"+i2+".1") // the v2 instance is not in RFC 6527
	checkWalk("snmpbulkwalk", v3, v3want)
	checkWalk("snmpwalk", v2, v2want, v2+".1.3.1.3."+ifx+".51") // nor the v3 one in RFC 2787
	// UpTime counts from UpSince: at least the 90 s the fixture set.
	if tt, err := strconv.Atoi(strings.TrimPrefix(v3got[uptimeOID], "Timeticks: ")); err != nil || tt < 9000 {
		t.Errorf("vrrpv3OperationsUpTime = %q, want >= 9000 ticks", v3got[uptimeOID])
	}

	// Get: an instance, a missing instance, a missing object.
	out, err := l.snmp("snmpget", ka+".2.3.1.2.2", ka+".2.3.1.2.9", ka+".2.3.1.99.1")
	if err != nil {
		t.Fatal(err)
	}
	g, _ := parseWalk(out)
	if g[ka+".2.3.1.2.2"] != `STRING: "VI_2"` ||
		!strings.Contains(g[ka+".2.3.1.2.9"], "No Such Instance") ||
		!strings.Contains(g[ka+".2.3.1.99.1"], "No Such Object") {
		t.Errorf("snmpget:\n%s", out)
	}

	// The tables follow the Source.
	src.set(func(s *Snapshot) { s.Instances[0].State = StateBackup; s.Instances[0].EffectivePriority = 99 })
	out, err = l.snmp("snmpget", ka+".2.3.1.4.1", ka+".2.3.1.8.1")
	if err != nil {
		t.Fatal(err)
	}
	if g, _ := parseWalk(out); g[ka+".2.3.1.4.1"] != "INTEGER: 1" || g[ka+".2.3.1.8.1"] != "INTEGER: 99" {
		t.Errorf("after the change:\n%s", out)
	}

	// Notifications: a state change to MASTER sends keepalived's and
	// RFC 6527's traps; snmpd forwards them to snmptrapd.
	src.set(func(s *Snapshot) { s.Instances[0].State = StateMaster })
	if err := a.NotifyStateChange(src.Snapshot().Instances[0]); err != nil {
		t.Fatal(err)
	}
	l.poll("the traps", func() error {
		s := l.trapLog.String()
		for _, w := range []string{
			".1.3.6.1.6.3.1.1.4.1.0 = OID: " + ka + ".2.10.0.2",
			ka + ".2.3.1.2.1 = STRING: \"VI_1\"",
			ka + ".2.3.1.4.1 = INTEGER: 2",
			ka + ".1.2.0 = STRING: \"lb1\"",
			".1.3.6.1.6.3.1.1.4.1.0 = OID: " + v3 + ".0.1",
			v3 + ".1.1.1.1.3" + i1 + " = Hex-STRING: C0 00 02 01",
			v3 + ".1.2.5.1.2" + i1 + " = INTEGER: 2",
		} {
			if !strings.Contains(s, w) {
				return fmt.Errorf("trap log lacks %q", w)
			}
		}
		return nil
	})

	// snmpd restarts: the subagent reconnects and registers again.
	l.stopSnmpd()
	l.poll("the subagent to notice", func() error {
		if a.Connected() {
			return fmt.Errorf("still connected")
		}
		return nil
	})
	l.startSnmpd()
	l.poll("the subagent to register again", func() error {
		if !a.Connected() || a.Sessions() < 2 {
			return fmt.Errorf("connected %v, sessions %d", a.Connected(), a.Sessions())
		}
		return nil
	})
	checkWalk("snmpwalk", ka+".2.3", map[string]string{ka + ".2.3.1.2.1": `STRING: "VI_1"`, ka + ".2.3.1.4.1": `INTEGER: 2`})
	checkWalk("snmpbulkwalk", ka+".3", map[string]string{ka + ".3.4.1.7.1.1": `INTEGER: 3`})
}

// testWriter sends log lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
