package config

import (
	"fmt"
	"strings"
	"testing"
)

// bigConfig writes a configuration with vss virtual servers of rss real
// servers each (one TCP_CHECK per real server) and one VRRP instance.
func bigConfig(vss, rss int, prio int) string {
	var b strings.Builder
	// Documentation addresses only (2001:db8::/32), however large.
	fmt.Fprintf(&b, "vrrp_instance VI {\n interface eth0\n virtual_router_id 9\n priority %d\n virtual_ipaddress {\n", prio)
	for i := range vss {
		fmt.Fprintf(&b, "  2001:db8:1::%x/64\n", i+1)
	}
	b.WriteString(" }\n}\n")
	for i := range vss {
		fmt.Fprintf(&b, "virtual_server 2001:db8:1::%x 80 {\n lb_algo wrr ; lb_kind DR ; delay_loop 5\n", i+1)
		for j := range rss {
			fmt.Fprintf(&b, " real_server 2001:db8:2:%x::%x 80 {\n  weight %d\n  TCP_CHECK {\n   connect_timeout 2\n  }\n }\n", i+1, j+1, 1+j%5)
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// BenchmarkLoad measures parsing + validation of a 4000-real-server file.
func BenchmarkLoad(b *testing.B) {
	src := []byte(bigConfig(200, 20, 100))
	lines := strings.Count(string(src), "\n")
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		if _, _, err := LoadBytes("big.conf", src, LoadOptions{Node: "n"}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkMerge merges three 4000-real-server files that differ in one
// line (the priority), the shape of a real cluster merge.
func BenchmarkMerge(b *testing.B) {
	var in []NodeConfig
	for n := range 3 {
		node := fmt.Sprintf("n%d", n)
		cfg, _, err := LoadBytes(node+".conf", []byte(bigConfig(200, 20, 100+n)), LoadOptions{Node: node})
		if err != nil {
			b.Fatal(err)
		}
		in = append(in, NodeConfig{Node: node, Config: cfg})
	}
	for b.Loop() {
		if _, problems := Merge(in, LoadOptions{}); len(problems) > 0 {
			b.Fatal(problems)
		}
	}
}

func TestMergeLarge(t *testing.T) {
	var in []NodeConfig
	for n := range 2 {
		node := fmt.Sprintf("n%d", n)
		// Different real server counts make the middle part large.
		cfg, _, err := LoadBytes(node+".conf", []byte(bigConfig(3, 300+n*200, 100+n)), LoadOptions{Node: node})
		if err != nil {
			t.Fatal(err)
		}
		in = append(in, NodeConfig{Node: node, Config: cfg})
	}
	_, problems := Merge(in, LoadOptions{})
	for _, p := range problems {
		if strings.Contains(p.Error(), "internal") || strings.Contains(p.Error(), "does not load") {
			t.Fatal(p)
		}
	}
	if len(problems) != 3 {
		t.Fatalf("want one table problem per virtual server, got %v", problems)
	}
}
