package fsm

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// benchConfig has vss virtual servers with rss real servers each.
func benchConfig(vss, rss int) string {
	var b strings.Builder
	for v := 0; v < vss; v++ {
		fmt.Fprintf(&b, "virtual_server 192.0.2.%d 80 {\n lb_algo wrr\n lb_kind DR\n", v+1)
		for r := 0; r < rss; r++ {
			fmt.Fprintf(&b, " real_server 198.51.100.%d 80 {\n  MISC_CHECK {\n   misc_path \"/bin/true\"\n   misc_dynamic\n  }\n }\n", r+1)
		}
		b.WriteString("}\n")
	}
	return b.String()
}

var benchNodes = []string{"n1", "n2", "n3", "n4", "n5"}

func benchHarness(b *testing.B, vss, rss int) *harness {
	h := newHarness(b)
	h.must(SetLiveNodes{Nodes: benchNodes})
	h.must(configCmd(b, benchConfig(vss, rss), 0, benchNodes...))
	// Every node reports every real server once.
	for _, n := range benchNodes {
		rv := ReportVerdicts{Node: n, Full: true}
		for v := 0; v < vss; v++ {
			for r := 0; r < rss; r++ {
				rv.Observations = append(rv.Observations, Observation{VS: fmt.Sprintf("tcp/192.0.2.%d:80", v+1),
					RS: netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(r + 1)}), 80), Up: true, Weight: 10 + r})
			}
		}
		h.must(rv)
	}
	return h
}

// BenchmarkApplyReport applies a 10-observation report on a state with
// 20 virtual servers x 10 real servers x 5 nodes (1000 observations), and
// reports the cost relative to decoding the same entry alone.
func BenchmarkApplyReport(b *testing.B) {
	h := benchHarness(b, 20, 10)
	var entries [][]byte
	for i := 0; i < 64; i++ {
		rv := ReportVerdicts{Node: benchNodes[i%5]}
		for j := 0; j < 10; j++ {
			rv.Observations = append(rv.Observations, Observation{VS: fmt.Sprintf("tcp/192.0.2.%d:80", (i+j)%20+1),
				RS: netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(j + 1)}), 80), Up: (i+j)%3 > 0, Weight: j})
		}
		entries = append(entries, MustEncode(rv))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.idx++
		if r := h.f.ApplyCommand(h.idx, entries[i%len(entries)]); r.Err != nil {
			b.Fatal(r.Err)
		}
	}
	b.StopTimer()
	applyNs := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := Decode(entries[i%len(entries)]); err != nil {
			b.Fatal(err)
		}
	}
	decodeNs := float64(time.Since(start).Nanoseconds()) / float64(b.N)
	b.ReportMetric(applyNs/decodeNs, "x-decode")
}

// BenchmarkDesiredTable derives the table of the same state.
func BenchmarkDesiredTable(b *testing.B) {
	h := benchHarness(b, 20, 10)
	s := h.state()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if t := s.DesiredTable(); len(t.Services) != 20 {
			b.Fatal(len(t.Services))
		}
	}
}

// BenchmarkSnapshot encodes the same state and reports its size.
func BenchmarkSnapshot(b *testing.B) {
	h := benchHarness(b, 20, 10)
	s := h.state()
	var n int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf, err := s.MarshalSnapshot()
		if err != nil {
			b.Fatal(err)
		}
		n = len(buf)
	}
	b.ReportMetric(float64(n), "bytes/snapshot")
}

// BenchmarkSetConfig applies a 20x10 config evaluated for 5 nodes.
func BenchmarkSetConfig(b *testing.B) {
	conf := benchConfig(20, 10)
	hosts := testHosts(b)
	f := New(Options{})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := SetConfig{ExpectVersion: uint64(i), Main: mainName, Files: []File{{mainName, []byte(conf)}}, Hosts: hosts, Nodes: benchNodes}
		if r := f.ApplyCommand(uint64(i+1), MustEncode(c)); r.Err != nil {
			b.Fatal(r.Err)
		}
	}
}

// BenchmarkVerdictWork is the work one real server's verdict change asks
// of every node's apply loop, on a table of 2,000 virtual servers x 16
// real servers: deriving the whole table and its digest (what the apply
// loop did for every committed state, and on every 500 ms tick) against
// State.TableChanges (what it does now: the changed virtual servers only).
// It reports both, per change, and their ratio.
func BenchmarkVerdictWork(b *testing.B) {
	const vss, rss = 2000, 16
	var conf strings.Builder
	vsID := func(v int) string { return fmt.Sprintf("tcp/192.0.2.%d:%d", v%250+1, 1000+v/250) }
	rsAddr := func(r int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(r + 1)}), 80)
	}
	for v := 0; v < vss; v++ {
		fmt.Fprintf(&conf, "virtual_server 192.0.2.%d %d {\n protocol TCP\n lb_algo wrr\n lb_kind DR\n", v%250+1, 1000+v/250)
		for r := 0; r < rss; r++ {
			fmt.Fprintf(&conf, " real_server %s 80 {\n  TCP_CHECK {\n  }\n }\n", rsAddr(r).Addr())
		}
		conf.WriteString("}\n")
	}
	nodes := []string{"n1", "n2", "n3"}
	h := newHarness(b)
	h.must(SetLiveNodes{Nodes: nodes})
	h.must(configCmd(b, conf.String(), 0, nodes...))
	for _, n := range nodes {
		rv := ReportVerdicts{Node: n, Full: true}
		for v := 0; v < vss; v++ {
			for r := 0; r < rss; r++ {
				rv.Observations = append(rv.Observations, Observation{VS: vsID(v), RS: rsAddr(r), Up: true, Weight: 1})
			}
		}
		h.must(rv)
	}
	// Pairs of states one verdict apart: all three nodes report one real
	// server down (or up again).
	type pair struct{ prev, next *State }
	var pairs []pair
	for i := 0; i < 16; i++ {
		prev := h.state()
		for _, n := range nodes {
			h.must(ReportVerdicts{Node: n, Observations: []Observation{{VS: vsID(i / 2 * 97 % vss), RS: rsAddr(i / 2 % rss), Up: i%2 == 1, Weight: 1}}})
		}
		pairs = append(pairs, pair{prev, h.state()})
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		p := pairs[i%len(pairs)]
		ups, ok := p.next.TableChanges(p.prev)
		if !ok || len(ups) != 1 {
			b.Fatalf("%d services changed (ok %v), want 1", len(ups), ok)
		}
	}
	patchNs := float64(time.Since(start).Nanoseconds()) / float64(b.N)
	b.StopTimer()
	n := max(b.N/50, 3)
	start = time.Now()
	for i := 0; i < n; i++ {
		p := pairs[i%len(pairs)]
		if t := p.next.DesiredTable(); t.Digest() == "" {
			b.Fatal("no digest")
		}
	}
	fullNs := float64(time.Since(start).Nanoseconds()) / float64(n)
	b.ReportMetric(patchNs/1e3, "µs/patch")
	b.ReportMetric(fullNs/1e3, "µs/full")
	b.ReportMetric(fullNs/patchNs, "full/patch")
}
