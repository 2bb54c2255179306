package vrrp

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"quadrature/internal/netnstest"
)

// keepalived is a keepalived 2.2.7 VRRP-only process in a namespace.
type keepalived struct {
	ns  *netnstest.NS
	cmd *exec.Cmd
	out *syncBuffer
}

type kaInstance struct {
	version  int
	v6       bool
	prio     int
	interval time.Duration
	auth     string
	vip      string
	extra    string
}

func (k kaInstance) conf(routerID string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global_defs {\n  router_id %s\n  script_user root\n  enable_script_security\n}\n", routerID)
	fmt.Fprintf(&b, "vrrp_instance VI_1 {\n  state BACKUP\n  interface eth0\n  virtual_router_id 42\n")
	fmt.Fprintf(&b, "  priority %d\n  advert_int %g\n  version %d\n", k.prio, k.interval.Seconds(), k.version)
	if k.auth != "" {
		fmt.Fprintf(&b, "  authentication {\n    auth_type PASS\n    auth_pass %s\n  }\n", k.auth)
	}
	b.WriteString(k.extra)
	fmt.Fprintf(&b, "  virtual_ipaddress {\n    %s\n  }\n}\n", k.vip)
	return b.String()
}

func startKeepalived(t *testing.T, ns *netnstest.NS, conf string) *keepalived {
	t.Helper()
	bin := netnstest.RequireBinary(t, "keepalived")
	dir := t.TempDir()
	file := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	k := &keepalived{ns: ns, out: &syncBuffer{}}
	k.cmd = ns.Command(bin, "-P", "-n", "-l", "-D", "-f", file,
		"-p", filepath.Join(dir, "keepalived.pid"), "-r", filepath.Join(dir, "vrrp.pid"))
	k.cmd.Stdout, k.cmd.Stderr = k.out, k.out
	if err := ns.Start(k.cmd); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- keepalived in %s ---\n%s", ns.Name, tail(k.out.String(), 40))
		}
	})
	return k
}

// stop sends SIGTERM (keepalived then sends priority 0) and waits.
func (k *keepalived) stop(t *testing.T) {
	t.Helper()
	_ = k.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- k.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("keepalived did not stop")
	}
}

// kaComplaint matches keepalived's complaints as whole words: a random
// link-local address such as fe80::...:1bad must not count as "bad".
var kaComplaint = regexp.MustCompile(`(?i)\b(invalid|error|bogus|ignoring|mismatch|bad|wrong|unknown keyword|not matching)\b`)

func (k *keepalived) checkLog(t *testing.T) {
	t.Helper()
	for _, line := range strings.Split(k.out.String(), "\n") {
		if kaComplaint.MatchString(line) {
			t.Errorf("keepalived complains: %s", line)
		}
	}
}

// capture runs tcpdump on the LAN bridge; the returned func stops it and
// checks the capture with tshark: VRRP from every sender, nothing
// malformed, every checksum good.
func capture(t *testing.T, lab *netnstest.Lab, senders ...string) func() {
	t.Helper()
	tcpdump := netnstest.RequireBinary(t, "tcpdump")
	tshark := netnstest.RequireBinary(t, "tshark")
	file := filepath.Join(t.TempDir(), "lan.pcap")
	// tcpdump drops privileges to its own user: let it write the file.
	if err := os.Chmod(filepath.Dir(file), 0o777); err != nil {
		t.Fatal(err)
	}
	cmd := lab.LAN.Command(tcpdump, "-i", "br0", "-U", "-w", file, "ip proto 112 or ip6 proto 112 or arp or icmp6")
	if err := lab.LAN.Start(cmd); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * ms)
	return func() {
		t.Helper()
		time.Sleep(100 * ms)
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		out, err := exec.Command(tshark, "-r", file, "-V", "-Y", "vrrp").Output()
		if err != nil {
			t.Fatalf("tshark: %v: %s", err, out)
		}
		text := string(out)
		for _, bad := range []string{"Malformed", "[incorrect", "Checksum Status: Bad", "Expert Info (Error"} {
			if strings.Contains(text, bad) {
				t.Errorf("tshark reports %q in the capture", bad)
			}
		}
		if n := strings.Count(text, "Checksum Status: Good"); n == 0 {
			t.Errorf("tshark verified no VRRP checksum")
		}
		bad, err := exec.Command(tshark, "-r", file, "-Y", "vrrp && vrrp.checksum.status != 1").Output()
		if err != nil {
			t.Fatalf("tshark: %v: %s", err, bad)
		}
		if strings.TrimSpace(string(bad)) != "" {
			t.Errorf("packets without a good VRRP checksum:\n%s", bad)
		}
		for _, s := range senders {
			if !strings.Contains(text, "Src: "+s) {
				t.Errorf("no VRRP packet from %s in the capture", s)
			}
		}
		// Gratuitous ARPs / unsolicited NAs (ours and keepalived's) decode
		// cleanly too.
		g, err := exec.Command(tshark, "-r", file, "-V", "-Y", "arp.isgratuitous == 1 || (icmpv6.type == 136 && icmpv6.nd.na.flag.o == 1)").Output()
		if err != nil {
			t.Fatalf("tshark: %v", err)
		}
		for _, bad := range []string{"Malformed", "[incorrect", "Bad", "Expert Info (Error"} {
			if strings.Contains(string(g), bad) {
				t.Errorf("tshark reports %q in gratuitous ARP/NA", bad)
			}
		}
		if !strings.Contains(string(g), "Address Resolution Protocol") && !strings.Contains(string(g), "Neighbor Advertisement") {
			t.Errorf("no gratuitous ARP / unsolicited NA in the capture")
		}
	}
}

// TestKeepalivedInterop runs one quadrature node and one keepalived
// 2.2.7 in the same VRID for v2 (PASS), v3 IPv4 and v3 IPv6, once with
// each implementation holding the higher priority. The higher one must
// win, each side must accept the other's adverts (no drops here, no
// complaints in keepalived's log, clean tshark decode), and a graceful
// stop of the winner must hand the VIP to the other.
func TestKeepalivedInterop(t *testing.T) {
	netnstest.RequireRoot(t)
	netnstest.RequireBinary(t, "keepalived")
	protos := []struct {
		name     string
		version  int
		v6       bool
		interval time.Duration
		auth     string
	}{
		{"v2-ipv4-pass", 2, false, time.Second, "secret12"},
		{"v3-ipv4", 3, false, 100 * ms, ""},
		{"v3-ipv6", 3, true, 100 * ms, ""},
	}
	for _, pr := range protos {
		for _, winner := range []string{"keepalived", "quadrature"} {
			t.Run(pr.name+"/"+winner+"-wins", func(t *testing.T) {
				lab := netnstest.NewLab(t)
				vip, kAddr, qAddr := "192.0.2.100", "192.0.2.1", "192.0.2.2"
				if pr.v6 {
					vip, kAddr, qAddr = "2001:db8::100", "2001:db8::1", "2001:db8::2"
				}
				plen := "/24"
				if pr.v6 {
					plen = "/64"
				}
				k := lab.AddHost("ka", kAddr+plen)
				q := lab.AddHost("qd", qAddr+plen)
				kPrio, qPrio := 150, 100
				if winner == "quadrature" {
					kPrio, qPrio = 100, 150
				}
				kLL, qLL := kAddr, qAddr
				if pr.v6 {
					kLL, qLL = linkLocal(t, k), linkLocal(t, q)
				}
				stopCapture := capture(t, lab, kLL, qLL)
				ka := startKeepalived(t, k, kaInstance{version: pr.version, v6: pr.v6, prio: kPrio, interval: pr.interval,
					auth: pr.auth, vip: vip + plen}.conf("k"))
				qn := startNode(t, q, lanConfig(qPrio, pr.interval, vip+plen, func(c *InstanceConfig) {
					c.Version, c.AuthPass = pr.version, pr.auth
				}))
				bound := 2*MasterDownInterval(pr.version, 100, pr.interval) + 2*time.Second
				if winner == "keepalived" {
					waitAddr(t, k, vip, true, bound)
					qn.waitState(t, "VI_1", StateBackup, bound)
					time.Sleep(3 * pr.interval)
					st := qn.Status()[0]
					if st.State != StateBackup || st.MasterAddr != netip.MustParseAddr(kLL) {
						t.Fatalf("quadrature: %v, master %v; want BACKUP under %s", st.State, st.MasterAddr, kLL)
					}
					noDrops(t, qn)
					if st.Counters.AddrListMismatch != 0 {
						t.Errorf("address list mismatch counted: %d", st.Counters.AddrListMismatch)
					}
					ka.stop(t)
					qn.waitState(t, "VI_1", StateMaster, MasterDownInterval(pr.version, qPrio, pr.interval)+time.Second)
					if st := qn.Status()[0]; !strings.Contains(st.LastReason, "priority 0") {
						t.Errorf("takeover reason %q, want keepalived's priority-0 release", st.LastReason)
					}
					waitAddr(t, q, vip, true, time.Second)
					waitAddr(t, k, vip, false, time.Second)
					time.Sleep(pr.interval + 100*ms) // quadrature's adverts into the capture
				} else {
					qn.waitState(t, "VI_1", StateMaster, bound)
					waitAddr(t, q, vip, true, time.Second)
					time.Sleep(MasterDownInterval(pr.version, kPrio, pr.interval) + pr.interval)
					if hasAddr(t, k, vip) {
						t.Fatalf("keepalived took the VIP from a higher-priority quadrature master")
					}
					noDrops(t, qn)
					qn.signal(syscall.SIGTERM)
					waitAddr(t, k, vip, true, MasterDownInterval(pr.version, kPrio, pr.interval)+time.Second)
					qn.wait(t, 5*time.Second)
					waitAddr(t, q, vip, false, time.Second)
					time.Sleep(2 * pr.interval)
					ka.stop(t)
					if !strings.Contains(ka.out.String(), "Entering MASTER STATE") {
						t.Errorf("keepalived did not log its MASTER transition")
					}
				}
				ka.checkLog(t)
				stopCapture()
			})
		}
	}
}

// linkLocal returns the kernel-generated fe80:: address of eth0.
func linkLocal(t *testing.T, ns *netnstest.NS) string {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(50 * ms) {
		out, _ := ns.Run("ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "link")
		for _, f := range strings.Fields(string(out)) {
			if strings.HasPrefix(f, "fe80::") {
				return strings.Split(f, "/")[0]
			}
		}
	}
	t.Fatalf("%s: no link-local address", ns.Name)
	return ""
}
