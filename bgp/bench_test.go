package bgp

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"quadrature/internal/netnstest"
)

// ecmpLab is a BIRD router and n director speakers on one LAN.
func ecmpLab(b *testing.B, n int) (*netnstest.Lab, *netnstest.NS, []*director, []*netnstest.NS, []string) {
	lab := netnstest.NewLab(b)
	rt := lab.AddHost("rtr", "192.0.2.1/24", "2001:db8::1/64")
	var dirs []*director
	var nss []*netnstest.NS
	var hops []string
	var neighbors []netip.Addr
	for i := 1; i <= n; i++ {
		a := netip.MustParseAddr(fmt.Sprintf("192.0.2.%d", 10+i))
		a6 := netip.MustParseAddr(fmt.Sprintf("2001:db8::%d", 10+i))
		ns := lab.AddHost(fmt.Sprintf("d%d", i), a.String()+"/24", a6.String()+"/64")
		nss, hops, neighbors = append(nss, ns), append(hops, a.String()), append(neighbors, a, a6)
		dirs = append(dirs, startDirector(b, ns, Config{LocalAS: directorAS, RouterID: a,
			Neighbors: []Neighbor{
				{Address: netip.MustParseAddr("192.0.2.1"), RemoteAS: routerAS, HoldTime: 3 * time.Second},
				{Address: netip.MustParseAddr("2001:db8::1"), RemoteAS: routerAS, HoldTime: 3 * time.Second},
			}}))
	}
	bird{}.start(b, rt, b.TempDir(), neighbors)
	return lab, rt, dirs, nss, hops
}

func countRoutes(b *testing.B, rt *netnstest.NS) int {
	out, err := rt.Run("ip", "-6", "route", "show", "proto", "bird")
	if err != nil {
		b.Fatal(err)
	}
	return strings.Count(string(out), "\n")
}

// BenchmarkAnnounce1000VIPs: one director announces 1,000 VIPs to BIRD;
// it prints the time until all 1,000 routes are in the router's kernel
// (announcement convergence) and until all are gone after a withdrawal.
func BenchmarkAnnounce1000VIPs(b *testing.B) {
	netnstest.RequireRoot(b)
	_, rt, dirs, _, _ := ecmpLab(b, 1)
	var routes []Route
	for i := range 1000 {
		// IPv6: the IPv4 documentation ranges hold fewer than 1,000 hosts.
		a := netip.MustParseAddr("2001:db8:100::").As16()
		a[14], a[15] = byte(i>>8), byte(i)
		routes = append(routes, Route{Prefix: netip.PrefixFrom(netip.AddrFrom16(a), 128)})
	}
	// Session up first: one route, waited for.
	dirs[0].announce(routes[0])
	wait := func(want int, limit time.Duration) time.Duration {
		start := time.Now()
		for countRoutes(b, rt) != want {
			if time.Since(start) > limit {
				b.Fatalf("router has %d routes after %v, want %d", countRoutes(b, rt), limit, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
		return time.Since(start)
	}
	wait(1, 60*time.Second)
	b.ResetTimer()
	var up, down time.Duration
	for range b.N {
		start := time.Now()
		dirs[0].announce(routes...)
		wait(1000, 60*time.Second)
		up += time.Since(start)
		start = time.Now()
		dirs[0].announce(routes[0])
		wait(1, 60*time.Second)
		down += time.Since(start)
	}
	b.StopTimer()
	n := time.Duration(b.N)
	fmt.Printf("1000 VIPs: announced to all in the router's kernel in %v, withdrawn in %v (mean of %d)\n",
		(up / n).Round(time.Millisecond), (down / n).Round(time.Millisecond), b.N)
	b.ReportMetric(float64((up / n).Milliseconds()), "ms-announce")
	b.ReportMetric(float64((down / n).Milliseconds()), "ms-withdraw")
}

// BenchmarkECMPDirectorLoss: three directors announce one VIP; the
// router's kernel (Linux, L4 multipath hash) is asked where each of 3,000
// client flows (250 clients in 198.51.100.0/24, 12 ports each) goes, before and after one director withdraws. It prints
// how many flows move: the lost director's share must move, a flow of a
// surviving director that moves is a flow ECMP itself broke (Linux's
// hash-threshold multipath remaps more than the lost share). With
// identical tables and a hash of the client only (sh in nftables, mh in
// IPVS) a moved flow still reaches the same real server; see docs/bgp.md.
func BenchmarkECMPDirectorLoss(b *testing.B) {
	netnstest.RequireRoot(b)
	_, rt, dirs, _, hops := ecmpLab(b, 3)
	rt.MustRun("sysctl", "-qw", "net.ipv4.fib_multipath_hash_policy=1", "net.ipv4.ip_forward=1")
	vip := netip.MustParsePrefix("203.0.113.10/32")
	for _, d := range dirs {
		d.announce(Route{Prefix: vip})
	}
	waitNexthops(b, rt, vip, 60*time.Second, hops...)
	const flows = 3000
	route := func() []string {
		out := make([]string, flows)
		// ip -batch: one process for every lookup.
		var cmds strings.Builder
		for i := range flows {
			src := netip.AddrFrom4([4]byte{198, 51, 100, byte(1 + i%250)})
			fmt.Fprintf(&cmds, "route get %s from %s iif eth0 ipproto tcp sport %d dport 80\n", vip.Addr(), src, 1024+i)
		}
		o, err := runBatch(rt, cmds.String())
		if err != nil {
			b.Fatalf("%v: %.500s", err, o)
		}
		i := 0
		for _, l := range strings.Split(o, "\n") {
			if m := nexthopRe.FindStringSubmatch(l); m != nil && i < flows {
				out[i] = m[1]
				i++
			}
		}
		if i != flows {
			b.Fatalf("%d lookups answered, want %d", i, flows)
		}
		return out
	}
	// The router needs a route back to the clients' sources for "from".
	rt.MustRun("ip", "route", "add", "198.51.100.0/24", "dev", "eth0")
	b.ResetTimer()
	for range b.N {
		before := route()
		dirs[2].announce()
		waitNexthops(b, rt, vip, 10*time.Second, hops[0], hops[1])
		after := route()
		lost, movedLost, movedOther := 0, 0, 0
		for i := range flows {
			if before[i] == hops[2] {
				lost++
			}
			if before[i] != after[i] {
				if before[i] == hops[2] {
					movedLost++
				} else {
					movedOther++
				}
			}
		}
		fmt.Printf("director loss (1 of 3), %d flows: lost director's share %d (%.1f%%), moved %d; flows of surviving directors moved: %d (%.1f%%); ratio moved/lost share %.2f\n",
			flows, lost, 100*float64(lost)/flows, movedLost, movedOther, 100*float64(movedOther)/flows, float64(movedLost+movedOther)/float64(max(lost, 1)))
		dirs[2].announce(Route{Prefix: vip})
		waitNexthops(b, rt, vip, 10*time.Second, hops...)
	}
}

func runBatch(ns *netnstest.NS, cmds string) (string, error) {
	cmd := ns.Command("ip", "-batch", "-")
	cmd.Stdin = strings.NewReader(cmds)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
