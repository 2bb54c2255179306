package vrrp

import (
	"fmt"
	"math"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"quadrature/internal/netnstest"
)

// TestTakeoverBench measures VIP takeover time for quadrature and for
// keepalived 2.2.7 with identical settings (VRRPv3, master priority 150,
// backup 100), after kill -9 of the master and after a graceful stop
// (SIGTERM), and prints median and p99 per case and the ratios.
// Takeover = from the signal to the VIP appearing on the backup, seen
// through a netlink address subscription in the backup's namespace.
//
//	QUADRATURE_BENCH=1 go test ./vrrp -run TestTakeoverBench -v -timeout 30m
//
// QUADRATURE_BENCH_TRIALS (default 20) trials run at advert_int 0.1 s,
// QUADRATURE_BENCH_TRIALS_1S (default 5) at 1 s (0 skips them).
func TestTakeoverBench(t *testing.T) {
	if os.Getenv("QUADRATURE_BENCH") == "" {
		t.Skip("benchmark: set QUADRATURE_BENCH=1")
	}
	netnstest.RequireRoot(t)
	netnstest.RequireBinary(t, "keepalived")
	envInt := func(k string, def int) int {
		if v, err := strconv.Atoi(os.Getenv(k)); err == nil {
			return v
		}
		return def
	}
	type row struct {
		impl      string
		interval  time.Duration
		mode      string
		samples   []time.Duration
		discarded int
	}
	var rows []*row
	lab := netnstest.NewLab(t)
	a := lab.AddHost("a", "192.0.2.1/24")
	b := lab.AddHost("b", "192.0.2.2/24")
	for _, iv := range []struct {
		interval time.Duration
		trials   int
	}{{100 * ms, envInt("QUADRATURE_BENCH_TRIALS", 20)}, {time.Second, envInt("QUADRATURE_BENCH_TRIALS_1S", 5)}} {
		if iv.trials <= 0 {
			continue
		}
		for _, mode := range []string{"kill-9", "sigterm"} {
			for _, impl := range []string{"quadrature", "keepalived"} {
				r := &row{impl: impl, interval: iv.interval, mode: mode}
				rows = append(rows, r)
				for i := 0; i < iv.trials; {
					d, ok := takeoverTrial(t, a, b, impl, iv.interval, mode)
					if !ok {
						r.discarded++
						if r.discarded > iv.trials {
							t.Fatalf("%s: too many discarded trials", impl)
						}
						continue
					}
					i++
					t.Logf("%s %v %s trial %d: %v", impl, iv.interval, mode, i, d)
					r.samples = append(r.samples, d)
				}
			}
		}
	}
	pct := func(s []time.Duration, p float64) time.Duration {
		s = slices.Clone(s)
		slices.Sort(s)
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return s[max(i, 0)]
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%-11s %-8s %-8s %4s %4s %12s %12s %12s %12s\n", "impl", "interval", "mode", "n", "disc", "median", "p99", "bound", "p99-bound")
	for _, r := range rows {
		bound := MasterDownInterval(3, 100, r.interval)
		if r.mode == "sigterm" {
			bound = SkewTime(3, 100, r.interval)
		}
		p99 := pct(r.samples, 0.99)
		fmt.Fprintf(&sb, "%-11s %-8v %-8s %4d %4d %12v %12v %12v %12v\n", r.impl, r.interval, r.mode, len(r.samples), r.discarded,
			pct(r.samples, 0.5).Round(10*time.Microsecond), p99.Round(10*time.Microsecond), bound, (p99 - bound).Round(10*time.Microsecond))
	}
	fmt.Fprintf(&sb, "\nratio quadrature/keepalived:\n")
	for i := 0; i+1 < len(rows); i += 2 {
		q, k := rows[i], rows[i+1]
		fmt.Fprintf(&sb, "  %-8v %-8s median %.3f  p99 %.3f\n", q.interval, q.mode,
			float64(pct(q.samples, 0.5))/float64(pct(k.samples, 0.5)), float64(pct(q.samples, 0.99))/float64(pct(k.samples, 0.99)))
	}
	t.Log(sb.String())
	fmt.Print(sb.String())
}

// vrrpPeer is either implementation running in a namespace.
type vrrpPeer interface {
	kill(sig syscall.Signal)
	waitExit(t *testing.T)
}

type qPeer struct{ p *proc }

func (q qPeer) kill(sig syscall.Signal) {
	if sig == syscall.SIGKILL {
		_ = syscall.Kill(-q.p.cmd.Process.Pid, sig)
		return
	}
	_ = q.p.cmd.Process.Signal(sig)
}
func (q qPeer) waitExit(t *testing.T) { q.p.wait(t, 10*time.Second) }

type kPeer struct{ k *keepalived }

func (k kPeer) kill(sig syscall.Signal) {
	if sig == syscall.SIGKILL {
		_ = syscall.Kill(-k.k.cmd.Process.Pid, sig) // parent and VRRP child
		return
	}
	_ = k.k.cmd.Process.Signal(sig)
}
func (k kPeer) waitExit(t *testing.T) {
	done := make(chan struct{})
	go func() { _ = k.k.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("keepalived did not exit")
	}
}

func startPeer(t *testing.T, ns *netnstest.NS, impl string, prio int, interval time.Duration, vip string) vrrpPeer {
	if impl == "quadrature" {
		return qPeer{startNode(t, ns, lanConfig(prio, interval, vip+"/32"))}
	}
	return kPeer{startKeepalived(t, ns, kaInstance{version: 3, prio: prio, interval: interval, vip: vip + "/32"}.conf("k"+ns.Name))}
}

// takeoverTrial starts a master on a and a backup on b, then kills or
// stops the master and returns the time until the VIP is on b. A trial
// in which the backup took the VIP before the master was stopped (a
// scheduling stall on the loaded host) is discarded (ok false) and
// counted in the table.
func takeoverTrial(t *testing.T, a, b *netnstest.NS, impl string, interval time.Duration, mode string) (took time.Duration, ok bool) {
	t.Helper()
	const vip = "192.0.2.100"
	master := startPeer(t, a, impl, 150, interval, vip)
	waitAddr(t, a, vip, true, MasterDownInterval(3, 150, interval)+5*time.Second)
	backup := startPeer(t, b, impl, 100, interval, vip)
	time.Sleep(MasterDownInterval(3, 100, interval) + 2*interval) // backup settled under the master
	cleanup := func(ps ...vrrpPeer) {
		for _, p := range ps {
			p.kill(syscall.SIGTERM)
			p.waitExit(t)
		}
		for _, ns := range []*netnstest.NS{a, b} {
			_, _ = ns.Run("ip", "addr", "del", vip+"/32", "dev", "eth0")
		}
	}
	if hasAddr(t, b, vip) {
		t.Logf("%s: backup took the VIP before the master was stopped; trial discarded", impl)
		cleanup(master, backup)
		return 0, false
	}
	h, err := b.Handle()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ch := make(chan netlink.AddrUpdate, 64)
	done := make(chan struct{})
	defer close(done)
	if err := netlink.AddrSubscribeWithOptions(ch, done, netlink.AddrSubscribeOptions{Namespace: &h}); err != nil {
		t.Fatal(err)
	}
	want := net.ParseIP(vip)
	sig := syscall.SIGKILL
	if mode == "sigterm" {
		sig = syscall.SIGTERM
	}
	start := time.Now()
	master.kill(sig)
	timeout := time.After(MasterDownInterval(3, 100, interval) + 5*time.Second)
wait:
	for {
		select {
		case u := <-ch:
			if u.NewAddr && u.LinkAddress.IP.Equal(want) {
				took = time.Since(start)
				break wait
			}
		case <-timeout:
			t.Fatalf("%s: VIP did not move to the backup", impl)
		}
	}
	master.waitExit(t)
	cleanup(backup)
	return took, true
}
