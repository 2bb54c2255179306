package agent_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"quadrature/internal/clustertest"
	"quadrature/internal/netnstest"
)

// An agent with enable_snmp_* in its global_defs serves KEEPALIVED-MIB
// through Debian's snmpd: snmpwalk shows its VRRP instance as master and
// its real server alive, and the real server's row follows the group's
// verdict when the application stops.
func TestAgentSNMP(t *testing.T) {
	netnstest.RequireRoot(t)
	netnstest.RequireBinary(t, "snmpd")
	netnstest.RequireBinary(t, "snmpwalk")
	lab := netnstest.NewLab(t)
	const snmpAddr = "192.0.2.1"
	h := lab.AddHost("snmp", snmpAddr+"/24")
	dir := t.TempDir()
	sock := filepath.Join(dir, "agentx.sock")
	community := "q" + netnstest.RandomPrefix()
	conf := fmt.Sprintf("[snmp] persistentDir %s/persist\nmaster agentx\nagentXSocket %s\nagentXTimeout 2\nagentaddress udp:%s:161\nrocommunity %s 192.0.2.0/24\n",
		dir, sock, snmpAddr, community)
	if err := os.WriteFile(filepath.Join(dir, "snmpd.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var snmpdLog bytes.Buffer
	cmd := h.Command("snmpd", "-f", "-Lo", "-C", "-c", filepath.Join(dir, "snmpd.conf"), "-M", dir, "-m", "")
	cmd.Env = append(os.Environ(), "SNMPCONFPATH="+dir, "MIBDIRS="+dir)
	cmd.Stdout, cmd.Stderr = &snmpdLog, &snmpdLog
	if err := h.Start(cmd); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("snmpd:\n%s", snmpdLog.String())
		}
	})
	walk := func(oid string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c := exec.CommandContext(ctx, "ip", "netns", "exec", h.Name, "snmpwalk", "-v2c", "-c", community, "-On", "-m", "", "-M", dir,
			"-t", "2", "-r", "1", snmpAddr+":161", oid)
		c.Env = append(os.Environ(), "SNMPCONFPATH="+dir, "MIBDIRS="+dir)
		out, err := c.CombinedOutput()
		return string(out), err
	}

	g := clustertest.New(t, clustertest.Options{Nodes: 1, Config: func(p clustertest.ConfigParams) string {
		return strings.Replace(clustertest.DefaultConfig(p), "global_defs {\n",
			"global_defs {\n  enable_snmp_vrrp\n  enable_snmp_checker\n  enable_snmp_rfcv3\n  snmp_socket "+sock+"\n", 1)
	}})
	waitVIPOn(t, g, "n1", 20*time.Second)

	const (
		instName  = ".1.3.6.1.4.1.9586.100.5.2.3.1.2.1"
		instState = ".1.3.6.1.4.1.9586.100.5.2.3.1.4.1"
		rsAlive   = ".1.3.6.1.4.1.9586.100.5.3.4.1.6.1.1" // real server 1 of virtual server 1
	)
	expect := func(what string, want map[string]string) {
		t.Helper()
		g.WaitFor(what, 30*time.Second, func() error {
			for oid, v := range want {
				out, err := walk(oid)
				if err != nil {
					return fmt.Errorf("snmpwalk %s: %v: %s", oid, err, out)
				}
				if !strings.Contains(out, oid+" = "+v) {
					return fmt.Errorf("%s: got %q, want %q", oid, strings.TrimSpace(out), v)
				}
			}
			return nil
		})
	}
	expect("the instance and its real server over SNMP", map[string]string{
		instName:  `STRING: "` + clustertest.Instance + `"`,
		instState: "INTEGER: 2", // master
		rsAlive:   "INTEGER: 1", // alive
	})
	out, _ := walk(".1.3.6.1.4.1.9586.100.5")
	t.Logf("KEEPALIVED-MIB as snmpwalk shows it (first lines):\n%s", firstLines(out, 25))
	v3, err := walk(".1.3.6.1.2.1.207")
	if err != nil || !strings.Contains(v3, ".1.3.6.1.2.1.207.1.1.1.1") {
		t.Fatalf("VRRPv3-MIB not served: %v\n%s", err, v3)
	}

	g.StopApp("n1")
	expect("the real server down over SNMP", map[string]string{rsAlive: "INTEGER: 2"})
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}
