package nftables

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"quadrature/internal/netnstest"
	"quadrature/lvs"
)

// BenchmarkThroughVIP compares short TCP connections (connect, read the
// server's line, close) from the client namespace through the director:
// to the VIP (DNAT + masquerade by this backend, rr over three servers)
// and directly to one real server (plain forwarding through the same
// director), alternating within one run. It reports the sequential
// connection rate and p50/p99 latency of each path, the rate of 8
// concurrent clients per path, and the VIP/direct ratios.
//
//	go test -run '^$' -bench ThroughVIP -benchtime 3000x ./lvs/nftables
func BenchmarkThroughVIP(b *testing.B) {
	l := newLBLab(b, Options{})
	l.client.MustRun("ip", "route", "add", "192.0.2.0/24", "via", "198.51.100.1")
	t := table(svc(lvs.TCP, vip4, "rr", 1, 1, 1))
	// QUAD_BENCH_EXTRA_SERVICES=N adds N services (on 192.0.2.x, ports
	// 1..) that sort before the VIP, so every new connection first walks
	// N dispatch rules.
	if n, _ := strconv.Atoi(os.Getenv("QUAD_BENCH_EXTRA_SERVICES")); n > 0 {
		extra := bigTable(n, 2)
		for _, s := range extra.Services {
			s.Key.Addr = netip.AddrFrom4([4]byte{192, 0, 2, s.Key.Addr.As4()[3]})
			t.Services = append(t.Services, s)
		}
	}
	l.sync(b, t)
	vip := netip.AddrPortFrom(vip4, 80)
	direct := netip.AddrPortFrom(rsAddr(0, false), 8080)
	var viaVIP, viaDirect []time.Duration
	once := func(dst netip.AddrPort) (time.Duration, error) {
		start := time.Now()
		c, err := net.DialTimeout("tcp", dst.String(), 2*time.Second)
		if err != nil {
			return 0, err
		}
		c.SetDeadline(time.Now().Add(2 * time.Second))
		_, err = bufio.NewReader(c).ReadString('\n')
		c.Close()
		return time.Since(start), err
	}
	b.ResetTimer()
	err := l.client.Do(func() error {
		for i := 0; i < b.N; i++ {
			for _, p := range []struct {
				dst netip.AddrPort
				out *[]time.Duration
			}{{vip, &viaVIP}, {direct, &viaDirect}} {
				d, err := once(p.dst)
				if err != nil {
					return fmt.Errorf("connection %d to %s: %w", i, p.dst, err)
				}
				*p.out = append(*p.out, d)
			}
		}
		return nil
	})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	// Throughput with 8 concurrent clients, each path on its own.
	parallel := func(dst netip.AddrPort) float64 {
		const workers = 8
		per := max(b.N/workers, 50)
		start := time.Now()
		errs := make(chan error, workers)
		for w := 0; w < workers; w++ {
			go func() {
				errs <- l.client.Do(func() error {
					for i := 0; i < per; i++ {
						if _, err := once(dst); err != nil {
							return err
						}
					}
					return nil
				})
			}()
		}
		for w := 0; w < workers; w++ {
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
		}
		return float64(workers*per) / time.Since(start).Seconds()
	}
	parVIP, parDirect := parallel(vip), parallel(direct)
	b.ReportMetric(parVIP, "vip_par8_conn/s")
	b.ReportMetric(parDirect, "direct_par8_conn/s")
	b.ReportMetric(parVIP/parDirect, "par8_ratio")
	b.Logf("8 concurrent clients: VIP %.0f conn/s, direct %.0f conn/s, ratio %.2f", parVIP, parDirect, parVIP/parDirect)
	v, d := summarize(viaVIP), summarize(viaDirect)
	b.ReportMetric(v.cps, "vip_conn/s")
	b.ReportMetric(d.cps, "direct_conn/s")
	b.ReportMetric(v.cps/d.cps, "cps_ratio")
	b.ReportMetric(float64(v.p50.Microseconds()), "vip_p50_µs")
	b.ReportMetric(float64(v.p99.Microseconds()), "vip_p99_µs")
	b.ReportMetric(float64(d.p50.Microseconds()), "direct_p50_µs")
	b.ReportMetric(float64(d.p99.Microseconds()), "direct_p99_µs")
	b.ReportMetric(float64(v.p50)/float64(d.p50), "p50_ratio")
	b.ReportMetric(float64(v.p99)/float64(d.p99), "p99_ratio")
	b.Logf("n=%d  VIP: %.0f conn/s p50 %v p99 %v | direct: %.0f conn/s p50 %v p99 %v | ratio cps %.2f p50 %.2f p99 %.2f",
		len(viaVIP), v.cps, v.p50, v.p99, d.cps, d.p50, d.p99, v.cps/d.cps, float64(v.p50)/float64(d.p50), float64(v.p99)/float64(d.p99))
}

type latency struct {
	cps      float64
	p50, p99 time.Duration
}

func summarize(ds []time.Duration) latency {
	s := slices.Clone(ds)
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	pct := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	return latency{cps: float64(len(s)) / sum.Seconds(), p50: pct(0.50), p99: pct(0.99)}
}

// bigTable is services × dests: TCP services on 198.51.100.0/24 and
// 203.0.113.0/24 ports 1.., wrr over 192.0.2.x:8080 with weights 1..3.
func bigTable(services, dests int) lvs.Table {
	var t lvs.Table
	for i := 0; i < services; i++ {
		s := lvs.Service{Key: lvs.ServiceKey{Family: lvs.IPv4, Protocol: lvs.TCP,
			Addr: netip.AddrFrom4([4]byte{198, 51, 100, byte(1 + i%200)}), Port: uint16(1 + i/200)}, Scheduler: "wrr"}
		for j := 0; j < dests; j++ {
			s.Destinations = append(s.Destinations, lvs.Destination{Addr: netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + j)}), Port: 8080, Weight: int32(1 + (i+j)%3)})
		}
		t.Services = append(t.Services, s)
	}
	return t.Normalize()
}

// BenchmarkApply1000x10 times reconciling a table of 1,000 services × 10
// destinations in a fresh namespace: from an empty kernel, after one
// destination's weight changes, and a resync that finds nothing to do.
// Each operation is Read + lvs.Diff + Apply, as the reconciler does it.
//
//	go test -run '^$' -bench Apply1000x10 -benchtime 5x ./lvs/nftables
func BenchmarkApply1000x10(b *testing.B) {
	lab := netnstest.NewLab(b)
	ns := lab.AddHost("dir")
	dp, err := New(Options{NetNSPath: "/run/netns/" + ns.Name})
	if err != nil {
		b.Fatal(err)
	}
	defer dp.Close()
	ctx := context.Background()
	desired := bigTable(1000, 10)
	pass := func(b *testing.B, want lvs.Table) int {
		obs, err := dp.Read(ctx)
		if err != nil {
			b.Fatal(err)
		}
		p := lvs.Diff(obs, want, lvs.Options{OwnWholeTable: true})
		if !p.Empty() {
			if err := dp.Apply(ctx, p); err != nil {
				b.Fatal(err)
			}
		}
		return p.Ops()
	}
	check := func(b *testing.B, want lvs.Table) {
		got, err := dp.Read(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if got.Digest() != want.Digest() {
			b.Fatalf("read-back digest differs after apply")
		}
	}
	b.Run("from-empty", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			ns.MustRun("nft", "add", "table", "inet", DefaultTableName)
			ns.MustRun("nft", "delete", "table", "inet", DefaultTableName)
			b.StartTimer()
			ops := pass(b, desired)
			b.StopTimer()
			check(b, desired)
			b.ReportMetric(float64(ops), "kernel_ops")
			b.StartTimer()
		}
	})
	b.Run("one-dest-change", func(b *testing.B) {
		pass(b, desired)
		cur := desired
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			next := lvs.Table{Services: slices.Clone(cur.Services)}
			k := (i * 37) % len(next.Services)
			next.Services[k].Destinations = slices.Clone(next.Services[k].Destinations)
			next.Services[k].Destinations[i%10].Weight = int32(4 + i%5)
			b.StartTimer()
			ops := pass(b, next)
			b.StopTimer()
			check(b, next)
			b.ReportMetric(float64(ops), "kernel_ops")
			cur = next
			b.StartTimer()
		}
	})
	b.Run("no-change-resync", func(b *testing.B) {
		want, _ := dp.Read(ctx)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if ops := pass(b, want); ops != 0 {
				b.Fatalf("resync of an unchanged table planned %d ops", ops)
			}
		}
	})
}
