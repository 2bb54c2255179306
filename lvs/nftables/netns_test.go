package nftables

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"quadrature/internal/netnstest"
	"quadrature/lvs"
)

// The tests in this file run in network namespaces on the host kernel
// (see lab_test.go). They need root and the nft tool; otherwise they skip,
// and under CI=true they fail.

func table(s ...lvs.Service) lvs.Table { return lvs.Table{Services: s} }

func TestSchedulersSpreadTraffic(t *testing.T) {
	l := newLBLab(t, Options{})
	dst := netip.AddrPortFrom(vip4, 80)
	cases := []struct {
		name    string
		svc     lvs.Service
		n       int
		want    map[string]int
		exactly bool
	}{
		// numgen inc visits the slots in order: exact counts.
		{"wrr 1:2:3", svc(lvs.TCP, vip4, "wrr", 1, 2, 3), 600, map[string]int{"rs1": 100, "rs2": 200, "rs3": 300}, true},
		{"rr ignores weights", svc(lvs.TCP, vip4, "rr", 1, 5, 9), 300, map[string]int{"rs1": 100, "rs2": 100, "rs3": 100}, true},
		{"wrr weight 0 drained", svc(lvs.TCP, vip4, "wrr", 1, 1, 0), 100, map[string]int{"rs1": 50, "rs2": 50}, true},
		{"dh: one virtual address, one server", svc(lvs.TCP, vip4, "dh", 1, 1, 1), 30, nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l.sync(t, table(c.svc))
			got := l.spread(t, "tcp", dst, c.n)
			t.Logf("%d connections: %v", c.n, got)
			if c.want == nil {
				if len(got) != 1 || got["error"] != 0 {
					t.Fatalf("dh spread %v, want every connection on one server", got)
				}
				return
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("spread %v, want %v", got, c.want)
			}
		})
	}
}

func TestSourceHashAndPersistence(t *testing.T) {
	l := newLBLab(t, Options{})
	var sources []netip.Addr
	for i := 20; i < 30; i++ {
		a := netip.MustParseAddr(fmt.Sprintf("198.51.100.%d", i))
		l.client.MustRun("ip", "addr", "add", a.String()+"/32", "dev", "eth0")
		sources = append(sources, a)
	}
	dst := netip.AddrPortFrom(vip4, 80)
	sticky := func(t *testing.T) map[string]bool {
		servers := map[string]bool{}
		for _, src := range sources {
			first := ""
			for i := 0; i < 4; i++ {
				name, err := l.ask(t, "tcp", dst, src)
				if err != nil {
					t.Fatalf("from %s: %v", src, err)
				}
				if first == "" {
					first = name
				} else if name != first {
					t.Fatalf("client %s went to %s then %s", src, first, name)
				}
			}
			servers[first] = true
		}
		return servers
	}
	t.Run("sh", func(t *testing.T) {
		l.sync(t, table(svc(lvs.TCP, vip4, "sh", 1, 1, 1)))
		if s := sticky(t); len(s) < 2 {
			t.Fatalf("10 clients all hashed to %v", s)
		}
	})
	t.Run("rr with persistence", func(t *testing.T) {
		s := svc(lvs.TCP, vip4, "rr", 1, 1, 1)
		s.Persistence = 60 * time.Second
		l.sync(t, table(s))
		if s := sticky(t); len(s) < 2 {
			t.Fatalf("10 persistent clients all on %v", s)
		}
		out := l.director.MustRun("nft", "list", "table", "inet", "quadrature")
		if n := strings.Count(string(out), "expires"); n != len(sources) {
			t.Fatalf("persistence sets hold %d entries, want %d:\n%s", n, len(sources), out)
		}
		st, err := l.dp.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var persist uint32
		for _, d := range st[s.Key].Destinations {
			persist += d.PersistConns
		}
		if persist != uint32(len(sources)) {
			t.Fatalf("PersistConns sum to %d, want %d", persist, len(sources))
		}
	})
	t.Run("persistence netmask /24 keeps the subnet together", func(t *testing.T) {
		s := svc(lvs.TCP, vip4, "rr", 1, 1, 1)
		s.Persistence = 60 * time.Second
		s.Netmask = 24
		l.sync(t, table(s))
		all := map[string]bool{}
		for _, src := range sources {
			name, err := l.ask(t, "tcp", dst, src)
			if err != nil {
				t.Fatal(err)
			}
			all[name] = true
		}
		if len(all) != 1 {
			t.Fatalf("one /24 spread over %v", all)
		}
	})
	t.Run("persistence off removes its maps", func(t *testing.T) {
		l.sync(t, table(svc(lvs.TCP, vip4, "rr", 1, 1, 1)))
		out := string(l.director.MustRun("nft", "list", "table", "inet", "quadrature"))
		if regexp.MustCompile(`map p\d`).MatchString(out) || strings.Contains(out, "update @") {
			t.Fatalf("persistence leftovers:\n%s", out)
		}
		if got := l.spread(t, "tcp", dst, 30); fmt.Sprint(got) != fmt.Sprint(map[string]int{"rs1": 10, "rs2": 10, "rs3": 10}) {
			t.Fatalf("after persistence off: %v", got)
		}
	})
}

func TestWeightChangesAndRemoval(t *testing.T) {
	l := newLBLab(t, Options{})
	dst := netip.AddrPortFrom(vip4, 80)
	l.sync(t, table(svc(lvs.TCP, vip4, "rr", 1, 1, 1)))
	// A UDP flow established to one server keeps going there after its
	// weight drops to 0 (conntrack), while new flows avoid it.
	us := svc(lvs.UDP, vip4, "rr", 1, 1, 1)
	l.sync(t, table(svc(lvs.TCP, vip4, "rr", 1, 1, 1), us))
	var c net.Conn
	if err := l.client.Do(func() (err error) { c, err = dialUDP(netip.AddrPortFrom(vip4, 80)); return err }); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	flow, err := udpAsk(c)
	if err != nil {
		t.Fatal(err)
	}
	i := int(flow[2] - '1')
	us.Destinations[i].Weight = 0
	l.sync(t, table(svc(lvs.TCP, vip4, "rr", 1, 1, 1), us))
	for k := 0; k < 3; k++ {
		again, err := udpAsk(c)
		if err != nil {
			t.Fatal(err)
		}
		if again != flow {
			t.Fatalf("established flow moved from %s to %s", flow, again)
		}
	}
	got := l.spread(t, "udp", dst, 30)
	if got[flow] != 0 || got["error"] != 0 || len(got) != 2 {
		t.Fatalf("new UDP flows %v, want none on drained %s", got, flow)
	}

	// Removing a destination moves new connections to the others.
	s := svc(lvs.TCP, vip4, "rr", 1, 1, 1)
	s.Destinations = s.Destinations[1:]
	l.sync(t, table(s, us))
	got = l.spread(t, "tcp", dst, 30)
	if fmt.Sprint(got) != fmt.Sprint(map[string]int{"rs2": 15, "rs3": 15}) {
		t.Fatalf("after removing rs1: %v", got)
	}
}

func TestIPv6AndUDP(t *testing.T) {
	l := newLBLab(t, Options{})
	want := map[string]int{"rs1": 20, "rs2": 20, "rs3": 20}
	for _, c := range []struct {
		network string
		proto   lvs.Protocol
		vip     netip.Addr
	}{{"tcp", lvs.TCP, vip6}, {"udp", lvs.UDP, vip6}, {"udp", lvs.UDP, vip4}} {
		t.Run(c.network+" "+c.vip.String(), func(t *testing.T) {
			l.sync(t, table(svc(c.proto, c.vip, "wrr", 2, 2, 2)))
			got := l.spread(t, c.network, netip.AddrPortFrom(c.vip, 80), 60)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("spread %v, want %v", got, want)
			}
		})
	}
}

func TestMasqueradeOffRoutesThroughDirector(t *testing.T) {
	l := newLBLab(t, Options{Masquerade: MasqueradeOff})
	l.sync(t, table(svc(lvs.TCP, vip4, "rr", 1, 1, 1)))
	// Without masquerade the real server sees the client's own address.
	var line string
	err := l.client.Do(func() error {
		var err error
		line, err = tcpLine(netip.AddrPortFrom(vip4, 80))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(line, "198.51.100.2:") {
		t.Fatalf("server saw %q, want the client address", line)
	}
	l2 := newLBLab(t, Options{})
	l2.sync(t, table(svc(lvs.TCP, vip4, "rr", 1, 1, 1)))
	err = l2.client.Do(func() error {
		var err error
		line, err = tcpLine(netip.AddrPortFrom(vip4, 80))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(line, "192.0.2.1:") {
		t.Fatalf("server saw %q, want the director (masquerade)", line)
	}
}

// TestFWMarkAndForeignTable marks packets in a foreign table, balances the
// mark, repairs drift with the lvs reconciler and never touches the
// foreign table.
func TestFWMarkAndForeignTable(t *testing.T) {
	l := newLBLab(t, Options{})
	for _, cmd := range []string{
		"add table ip foreign",
		"add chain ip foreign mangle { type filter hook prerouting priority mangle ; }",
		"add rule ip foreign mangle ip daddr 198.51.100.10 tcp dport 81 counter meta mark set 7 comment \"q1 svc id=1\"",
		"add chain ip foreign s1",
		"add rule ip foreign s1 counter",
	} {
		l.director.MustRun("nft", cmd)
	}
	foreign := func() string {
		out := string(l.director.MustRun("nft", "list", "table", "ip", "foreign"))
		return regexp.MustCompile(`packets \d+ bytes \d+`).ReplaceAllString(out, "")
	}
	before := foreign()

	fw := lvs.Service{Key: lvs.ServiceKey{Family: lvs.IPv4, FWMark: 7}, Scheduler: "wrr"}
	for i := 0; i < 3; i++ {
		fw.Destinations = append(fw.Destinations, lvs.Destination{Addr: rsAddr(i, false), Port: 8080, Weight: 1})
	}
	desired := table(fw, svc(lvs.TCP, vip4, "wrr", 1, 1, 1), svc(lvs.TCP, vip6, "sh", 1, 2, 3))
	r, err := lvs.NewReconciler(lvs.Config{DataPlane: l.dp, DrainTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res, err := r.Sync(ctx, desired)
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if res.Digest != desired.Digest() {
		t.Fatalf("digest after sync %s, want %s", res.Digest, desired.Digest())
	}
	got := l.spread(t, "tcp", netip.AddrPortFrom(vip4, 81), 30)
	if fmt.Sprint(got) != fmt.Sprint(map[string]int{"rs1": 10, "rs2": 10, "rs3": 10}) {
		t.Fatalf("fwmark spread %v", got)
	}

	handle := func(chain, pattern string) string {
		out := string(l.director.MustRun("nft", "-a", "list", "chain", "inet", "quadrature", chain))
		m := regexp.MustCompile(pattern + `.*# handle (\d+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no rule %q in %s:\n%s", pattern, chain, out)
		}
		return m[1]
	}
	service := func(key lvs.ServiceKey) (*state, *svcState) {
		st, _, err := l.dp.readState(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		return st, st.Services[key]
	}
	// The service chain, its ID and its destination's mark are resolved
	// when used: a repair may renumber them.
	s4, mark, id4 := "SVC", "MARK", "ID"
	drifts := []struct {
		name string
		cmd  []string
	}{
		{"delete a destination element", []string{"delete", "element", "inet", "quadrature", setDst4, "{", mark, "}"}},
		{"delete a slot element", []string{"delete", "element", "inet", "quadrature", setSlots, "{", id4, "}"}},
		{"delete the dispatch element", []string{"delete", "element", "inet", "quadrature", setSvc4, "{", "tcp", ".", vip4.String(), ".", "80", "}"}},
		{"delete a counter element", []string{"delete", "element", "inet", "quadrature", statsNew, "{", mark, "}"}},
		{"flush a service chain", []string{"flush", "chain", "inet", "quadrature", s4}},
		{"delete the scheduler rule", []string{"delete", "rule", "inet", "quadrature", s4, "handle", "S"}},
		{"delete the DNAT rule", []string{"delete", "rule", "inet", "quadrature", s4, "handle", "N"}},
		{"flush the DNAT chain", []string{"flush", "chain", "inet", "quadrature", chainNat4}},
		{"flush the slot chain", []string{"flush", "chain", "inet", "quadrature", chainPick}},
		{"flush the dispatch chain", []string{"flush", "chain", "inet", "quadrature", "services"}},
		{"delete the masquerade rule", []string{"delete", "rule", "inet", "quadrature", "postrouting", "handle", "M"}},
		{"delete the table", []string{"delete", "table", "inet", "quadrature"}},
	}
	for _, d := range drifts {
		t.Run(d.name, func(t *testing.T) {
			cmd := append([]string(nil), d.cmd...)
			for i, a := range cmd {
				_, ss := service(desired.Services[1].Key)
				switch a {
				case "SVC":
					cmd[i] = svcChainName(ss.ID)
				case "ID": // its slot 1
					cmd[i] = fmt.Sprintf("0x%08x", ss.ID<<16|1)
				case "MARK":
					cmd[i] = fmt.Sprintf("0x%08x", markOf(ss.DestIDs[lvs.DestKey{Addr: rsAddr(0, false), Port: 8080}]))
				case "S":
					cmd[i] = handle(svcChainName(ss.ID), "q2 sched")
				case "N":
					cmd[i] = handle(svcChainName(ss.ID), "q2 nat id=")
				case "M":
					cmd[i] = handle("postrouting", "masquerade")
				}
			}
			l.director.MustRun("nft", cmd...)
			if tb, _ := l.dp.Read(ctx); tb.Digest() == desired.Digest() {
				t.Fatalf("drift %q not visible in Read", d.name)
			}
			res, err := r.Sync(ctx, desired)
			if err != nil {
				t.Fatalf("resync: %v", err)
			}
			if !res.Drift || res.Digest != desired.Digest() {
				t.Fatalf("resync: drift=%v digest ok=%v", res.Drift, res.Digest == desired.Digest())
			}
			if got := l.spread(t, "tcp", netip.AddrPortFrom(vip4, 80), 30); got["error"] != 0 || len(got) != 3 {
				t.Fatalf("after repair: %v\n%s", got, l.ruleset(t))
			}
			if after := foreign(); after != before {
				t.Fatalf("foreign table changed:\n%s\nwas:\n%s", after, before)
			}
		})
	}
	// Emptying the desired table removes every service chain and map.
	if _, err := r.Sync(ctx, lvs.Table{}); err != nil {
		t.Fatal(err)
	}
	out := string(l.director.MustRun("nft", "list", "table", "inet", "quadrature"))
	if regexp.MustCompile(`chain s\d`).MatchString(out) || strings.Contains(out, "map p") || strings.Contains(out, "elements") {
		t.Fatalf("leftovers after emptying the table:\n%s", out)
	}
	if after := foreign(); after != before {
		t.Fatalf("foreign table changed")
	}
}

func TestStatsCounters(t *testing.T) {
	l := newLBLab(t, Options{})
	s := svc(lvs.TCP, vip4, "wrr", 1, 2, 0)
	l.sync(t, table(s))
	l.spread(t, "tcp", netip.AddrPortFrom(vip4, 80), 30)
	st, err := l.dp.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ss, ok := st[s.Key]
	if !ok {
		t.Fatalf("no stats for %s: %v", s.Key, st)
	}
	t.Logf("service: %+v", ss.Counters)
	for i, want := range []uint64{10, 20, 0} {
		d := ss.Destinations[s.Destinations[i].Key()]
		t.Logf("%s: %+v", s.Destinations[i].Key(), d.Counters)
		if d.Connections != want {
			t.Errorf("%s: %d connections, want %d", s.Destinations[i].Key(), d.Connections, want)
		}
		// A TCP exchange is at least 3 packets each way (SYN, ACK, FIN...).
		if want > 0 && (d.PacketsIn < 3*want || d.PacketsOut < 3*want || d.BytesIn == 0 || d.BytesOut <= d.BytesIn/2) {
			t.Errorf("%s: implausible traffic counters %+v", s.Destinations[i].Key(), d.Counters)
		}
	}
	if ss.Connections != 30 {
		t.Errorf("service connections %d, want 30", ss.Connections)
	}
}

// TestGracefulDrain: conntrack gauges let the lvs reconciler drain a
// removed destination (weight 0) until its open connection closes.
func TestGracefulDrain(t *testing.T) {
	l := newLBLab(t, Options{})
	s := svc(lvs.TCP, vip4, "rr", 1, 1, 1)
	for i := range s.Destinations {
		s.Destinations[i].Port = 8081 // holding servers
	}
	r, err := lvs.NewReconciler(lvs.Config{DataPlane: l.dp, DrainTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := r.Sync(ctx, table(s)); err != nil {
		t.Fatal(err)
	}
	// One open connection per server.
	var conns []net.Conn
	byServer := map[string]net.Conn{}
	err = l.client.Do(func() error {
		for i := 0; i < 3; i++ {
			c, err := net.DialTimeout("tcp", netip.AddrPortFrom(vip4, 80).String(), 2*time.Second)
			if err != nil {
				return err
			}
			conns = append(conns, c)
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				return err
			}
			name, _, _ := strings.Cut(line, " ")
			byServer[name] = c
		}
		return nil
	})
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	if err != nil || len(byServer) != 3 {
		t.Fatalf("open connections: %v %v", err, byServer)
	}
	st, err := l.dp.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range s.Destinations {
		if g := st[s.Key].Destinations[d.Key()]; g.ActiveConns != 1 {
			t.Fatalf("%s: %d active connections, want 1 (%+v)", d.Key(), g.ActiveConns, g)
		}
	}
	// Remove rs1: it stays with weight 0 while its connection is open.
	less := s
	less.Destinations = s.Destinations[1:]
	if _, err := r.Sync(ctx, table(less)); err != nil {
		t.Fatal(err)
	}
	got, _ := l.dp.Read(ctx)
	ss, _ := got.Lookup(s.Key)
	if len(ss.Destinations) != 3 || ss.Destinations[0].Weight != 0 {
		t.Fatalf("rs1 not draining at weight 0: %s", got.CanonicalText())
	}
	byServer["rs1"].Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := r.Sync(ctx, table(less)); err != nil {
			t.Fatal(err)
		}
		got, _ = l.dp.Read(ctx)
		if got.Digest() == table(less).Digest() {
			break
		}
		if time.Now().After(deadline) {
			st, _ := l.dp.Stats(ctx)
			t.Fatalf("rs1 still in the table after its connection closed: %s %+v", got.CanonicalText(), st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestDirectorIsRealServer covers the project's own topology: the director
// runs the application too (a real server on its own address), and a
// client on the director itself connects to the VIP (output hook).
func TestDirectorIsRealServer(t *testing.T) {
	l := newLBLab(t, Options{})
	startEcho(t, l.director, "dir")
	s := svc(lvs.TCP, vip4, "rr", 1, 1)
	s.Destinations = append(s.Destinations, lvs.Destination{Addr: netip.MustParseAddr("192.0.2.1"), Port: 8080, Weight: 1})
	l.sync(t, table(s))
	got := l.spread(t, "tcp", netip.AddrPortFrom(vip4, 80), 30)
	if fmt.Sprint(got) != fmt.Sprint(map[string]int{"dir": 10, "rs1": 10, "rs2": 10}) {
		t.Fatalf("remote client: %v", got)
	}
	local := map[string]int{}
	err := l.director.Do(func() error {
		for i := 0; i < 30; i++ {
			line, err := tcpLine(netip.AddrPortFrom(vip4, 80))
			if err != nil {
				return err
			}
			name, _, _ := strings.Cut(line, " ")
			local[name]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(local) != fmt.Sprint(map[string]int{"dir": 10, "rs1": 10, "rs2": 10}) {
		t.Fatalf("client on the director: %v", local)
	}
	st, err := l.dp.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	d := st[s.Key].Destinations[lvs.DestKey{Addr: netip.MustParseAddr("192.0.2.1"), Port: 8080}]
	if d.Connections != 20 || d.PacketsIn == 0 || d.PacketsOut == 0 {
		t.Fatalf("local destination counters %+v", d.Counters)
	}
}

func TestIPv6Persistence(t *testing.T) {
	l := newLBLab(t, Options{})
	s := svc(lvs.TCP, vip6, "rr", 1, 1, 1)
	s.Persistence = 30 * time.Second
	s.Netmask = 64
	l.sync(t, table(s))
	got := l.spread(t, "tcp", netip.AddrPortFrom(vip6, 80), 12)
	if len(got) != 1 || got["error"] != 0 {
		t.Fatalf("one persistent IPv6 client spread over %v", got)
	}
}

// TestRandomTablesRoundTrip drives one namespace through random tables
// (each applied as the reconciler would: Read, lvs.Diff, Apply) and
// checks after every step that the kernel reads back as desired.
func TestRandomTablesRoundTrip(t *testing.T) {
	lab := netnstest.NewLab(t)
	netnstest.RequireBinary(t, "nft")
	ns := lab.AddHost("dir")
	dp, err := New(Options{NetNSPath: "/run/netns/" + ns.Name})
	if err != nil {
		t.Fatal(err)
	}
	defer dp.Close()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(7, 11))
	for i := 0; i < 60; i++ {
		want := randomTable(r)
		obs, err := dp.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := dp.Apply(ctx, lvs.Diff(obs, want, lvs.Options{OwnWholeTable: true})); err != nil {
			t.Fatalf("step %d: %v\nwant:\n%s", i, err, want.CanonicalText())
		}
		got, err := dp.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got.Digest() != want.Digest() {
			out, _ := ns.Run("nft", "list", "table", "inet", DefaultTableName)
			t.Fatalf("step %d: read back\n%s\nwant\n%s\n%s", i, got.CanonicalText(), want.CanonicalText(), out)
		}
	}
	// Back to empty: only the skeleton may remain.
	if _, err := dp.Sync(ctx, lvs.Table{}); err != nil {
		t.Fatal(err)
	}
	out := string(ns.MustRun("nft", "list", "table", "inet", DefaultTableName))
	if regexp.MustCompile(`(chain s\d|map p\d|elements)`).MatchString(out) {
		t.Fatalf("leftovers after emptying:\n%s", out)
	}
}

// TestApplyRebuildsWhenBatchFails: the table changes between Read and
// Apply (a service chain emptied, the element of the destination the plan
// removes deleted), so the incremental batch computed from the kept state
// no longer fits; the kernel refuses it (the ruleset generation moved),
// Apply reads the table and tries again, and the result is still exactly
// the desired table.
func TestApplyRebuildsWhenBatchFails(t *testing.T) {
	lab := netnstest.NewLab(t)
	netnstest.RequireBinary(t, "nft")
	ns := lab.AddHost("dir")
	dp, err := New(Options{NetNSPath: "/run/netns/" + ns.Name})
	if err != nil {
		t.Fatal(err)
	}
	defer dp.Close()
	ctx := context.Background()
	full := table(svc(lvs.TCP, vip4, "wrr", 1, 2, 3), svc(lvs.UDP, vip6, "sh", 1, 1))
	if _, err := dp.Sync(ctx, full); err != nil {
		t.Fatal(err)
	}
	obs, err := dp.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	less := table(svc(lvs.TCP, vip4, "wrr", 0, 2, 3), svc(lvs.UDP, vip6, "sh", 1, 1))
	less.Services[0].Destinations = less.Services[0].Destinations[1:]
	ss := dp.cur.Services[full.Services[0].Key]
	did := ss.DestIDs[full.Services[0].Destinations[0].Key()]
	ns.MustRun("nft", "flush", "chain", "inet", DefaultTableName, svcChainName(ss.ID))
	ns.MustRun("nft", "delete", "element", "inet", DefaultTableName, setDst4, "{", fmt.Sprintf("0x%08x", markOf(did)), "}")
	if err := dp.Apply(ctx, lvs.Diff(obs, less, lvs.Options{})); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	got, err := dp.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest() != less.Digest() {
		t.Fatalf("after rebuild:\n%s\nwant\n%s", got.CanonicalText(), less.CanonicalText())
	}
	// A batch that fails in the kernel (here: it rewrites an element that
	// is gone, with the generation check defeated) makes Apply rebuild
	// the table.
	heavier := table(svc(lvs.TCP, vip4, "wrr", 0, 5, 3), svc(lvs.UDP, vip6, "sh", 1, 1))
	heavier.Services[0].Destinations = heavier.Services[0].Destinations[1:]
	ss = dp.cur.Services[less.Services[0].Key]
	did = ss.DestIDs[less.Services[0].Destinations[0].Key()]
	ns.MustRun("nft", "delete", "element", "inet", DefaultTableName, setDst4, "{", fmt.Sprintf("0x%08x", markOf(did)), "}")
	if dp.gen, err = getGen(dp.nl); err != nil {
		t.Fatal(err)
	}
	if err := dp.Apply(ctx, lvs.Diff(less, heavier, lvs.Options{})); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if got, _ := dp.Read(ctx); got.Digest() != heavier.Digest() {
		t.Fatalf("after rebuild:\n%s\nwant\n%s", got.CanonicalText(), heavier.CanonicalText())
	}
}

// TestRandomTablesIncremental drives one data plane through random tables
// with Apply only (the plans computed from the previous desired table,
// never from a read), so every batch is diffed against the kept state;
// a second data plane on the same namespace reads each result back.
func TestRandomTablesIncremental(t *testing.T) {
	lab := netnstest.NewLab(t)
	netnstest.RequireBinary(t, "nft")
	ns := lab.AddHost("dir")
	dp, err := New(Options{NetNSPath: "/run/netns/" + ns.Name})
	if err != nil {
		t.Fatal(err)
	}
	defer dp.Close()
	reader, err := New(Options{NetNSPath: "/run/netns/" + ns.Name})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(3, 5))
	prev := lvs.Table{}
	for i := 0; i < 60; i++ {
		want := randomTable(r)
		if err := dp.Apply(ctx, lvs.Diff(prev, want, lvs.Options{OwnWholeTable: true})); err != nil {
			t.Fatalf("step %d: %v\nwant:\n%s", i, err, want.CanonicalText())
		}
		if dp.dirty && i > 0 {
			t.Fatalf("step %d: the kept state was replaced by a read", i)
		}
		got, err := reader.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got.Digest() != want.Digest() {
			out, _ := ns.Run("nft", "list", "table", "inet", DefaultTableName)
			t.Fatalf("step %d: read back\n%s\nwant\n%s\n%s", i, got.CanonicalText(), want.CanonicalText(), out)
		}
		prev = want
	}
}

// TestSlicedResync: the reconciler's sliced resync runs on ReadSlice (no
// full pass while nothing changes), and a change behind its back is found
// by the next Resync and repaired.
func TestSlicedResync(t *testing.T) {
	lab := netnstest.NewLab(t)
	netnstest.RequireBinary(t, "nft")
	ns := lab.AddHost("dir")
	dp, err := New(Options{NetNSPath: "/run/netns/" + ns.Name})
	if err != nil {
		t.Fatal(err)
	}
	defer dp.Close()
	ctx := context.Background()
	desired := bigTable(6, 3)
	r, err := lvs.NewReconciler(lvs.Config{DataPlane: dp, DrainTimeout: -1, ResyncSliceServices: 2, OwnWholeTable: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Sync(ctx, desired); err != nil {
		t.Fatal(err)
	}
	if r.Slices() != 3 {
		t.Fatalf("%d slices, want 3", r.Slices())
	}
	for i := 0; i < 6; i++ {
		res, err := r.Resync(ctx, desired)
		if err != nil {
			t.Fatal(err)
		}
		if res.Slice != i%3+1 || res.Drift {
			t.Fatalf("resync %d: slice %d of %d, drift %v: want a verified slice", i, res.Slice, res.Slices, res.Drift)
		}
	}
	// Behind its back: a destination element goes.
	ss := dp.cur.Services[desired.Services[4].Key]
	did := ss.DestIDs[desired.Services[4].Destinations[1].Key()]
	ns.MustRun("nft", "delete", "element", "inet", DefaultTableName, setDst4, "{", fmt.Sprintf("0x%08x", markOf(did)), "}")
	res, err := r.Resync(ctx, desired)
	if err != nil {
		t.Fatal(err)
	}
	if res.Slice != 0 || !res.Drift || res.Digest != desired.Digest() {
		t.Fatalf("after drift: slice %d, drift %v, digest ok %v", res.Slice, res.Drift, res.Digest == desired.Digest())
	}
	if got, _ := dp.Read(ctx); got.Digest() != desired.Digest() {
		t.Fatal("not repaired")
	}
}
