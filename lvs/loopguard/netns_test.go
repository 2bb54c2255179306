package loopguard

// The guard's nftables behaviour in network namespaces on this host
// (which has no IPVS): a client, a "master" and a "peer" on one bridge.
// The master forwards the client's packets for the VIP to the peer (as an
// IPVS director in DR mode does: destination still the VIP, source MAC
// the master's); the peer's guard must hand them to its local
// application, which answers from the VIP. Packets for the VIP from any
// other MAC must pass untouched.

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"quadrature/lvs"
)

const (
	tnClient  = "203.0.113.1"
	tnMaster  = "203.0.113.2"
	tnPeer    = "203.0.113.3"
	tnVIP     = "203.0.113.10"
	tnClient6 = "2001:db8:aa::1"
	tnMaster6 = "2001:db8:aa::2"
	tnPeer6   = "2001:db8:aa::3"
	tnVIP6    = "2001:db8:aa::10"
	tnPort    = 8080
)

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestNetnsPeerForwardedServedLocally(t *testing.T) {
	requireRoot(t)
	l := newLab(t)
	client := l.addHost("client", tnClient+"/24", tnClient6+"/64")
	master := l.addHost("master", tnMaster+"/24", tnMaster6+"/64")
	peer := l.addHost("peer", tnPeer+"/24", tnPeer6+"/64")
	// The client reaches the VIP through the master, which forwards to
	// the peer: the peer sees dst=VIP with the master's source MAC.
	client.route(tnVIP, tnMaster)
	client.route(tnVIP6, tnMaster6)
	client.sysctl("net/ipv4/conf/all/accept_redirects", "0")
	client.sysctl("net/ipv4/conf/eth0/accept_redirects", "0")
	client.sysctl("net/ipv6/conf/all/accept_redirects", "0")
	client.sysctl("net/ipv6/conf/eth0/accept_redirects", "0")
	master.sysctl("net/ipv4/ip_forward", "1")
	master.sysctl("net/ipv6/conf/all/forwarding", "1")
	master.sysctl("net/ipv4/conf/all/send_redirects", "0")
	master.sysctl("net/ipv4/conf/eth0/send_redirects", "0")
	master.route(tnVIP, tnPeer)
	master.route(tnVIP6, tnPeer6)
	app4 := peer.startApp("tcp4", tnPort)
	app6 := peer.startApp("tcp6", tnPort)

	// A foreign table in the peer's namespace must survive everything.
	foreign := addForeignTable(t, peer)

	reg := prometheus.NewRegistry()
	g, err := New(Options{NetNSPath: peer.path(), Registerer: reg, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { g.Close() })
	ctx := context.Background()
	vip4 := netip.AddrPortFrom(mustAddr(tnVIP), tnPort)
	vip6 := netip.AddrPortFrom(mustAddr(tnVIP6), tnPort)

	// Without the guard the peer does not own the VIP: nothing answers.
	for _, r := range client.dialFrom(vip4, 1, 1, 700*time.Millisecond) {
		if r.err == nil {
			t.Fatalf("without the guard a connection to %s succeeded (served by %s)", vip4, r.server)
		}
	}

	want := Desired{
		Peers: []net.HardwareAddr{master.mac},
		Targets: []Target{
			{Protocol: lvs.TCP, VIP: mustAddr(tnVIP), Port: tnPort, Local: mustAddr(tnPeer), LocalPort: tnPort},
			{Protocol: lvs.TCP, VIP: mustAddr(tnVIP6), Port: tnPort, Local: mustAddr(tnPeer6)},
			{Protocol: lvs.UDP, VIP: mustAddr(tnVIP), Port: 53, Local: mustAddr(tnPeer)},
			{Protocol: lvs.SCTP, VIP: mustAddr(tnVIP), Port: 0, Local: mustAddr(tnPeer)},
		},
	}
	if err := g.Set(ctx, want); err != nil {
		t.Fatalf("Set: %v", err)
	}
	writes := func(reason string) float64 {
		var m dto.Metric
		if err := g.metrics.writes.WithLabelValues(reason).Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetCounter().GetValue()
	}
	if writes("change") != 1 {
		t.Fatalf("writes{change} = %v after the first Set", writes("change"))
	}
	norm, err := want.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	st, err := g.Read(ctx)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if !st.Present || len(st.Drift) > 0 || !st.Desired.Equal(norm) {
		t.Fatalf("read back %+v (drift %q), want %s", st.Desired, st.Drift, norm)
	}
	// Setting the same state again writes nothing.
	if err := g.Set(ctx, want); err != nil {
		t.Fatalf("Set again: %v", err)
	}
	if writes("change")+writes("drift") != 1 {
		t.Fatalf("an unchanged Set wrote the table (change %v, drift %v)", writes("change"), writes("drift"))
	}

	const n = 20
	for _, tc := range []struct {
		dst   netip.AddrPort
		app   *app
		local string
	}{{vip4, app4, tnPeer}, {vip6, app6, tnPeer6}} {
		rs := client.dialFrom(tc.dst, n, 1, 3*time.Second)
		for _, r := range rs {
			if r.err != nil {
				t.Fatalf("connection to %s through the master: %v", tc.dst, r.err)
			}
			if r.server != "peer" || r.local != mustAddr(tc.local) {
				t.Fatalf("connection to %s answered by %s on %s; want peer on %s (rewritten)", tc.dst, r.server, r.local, tc.local)
			}
		}
		acc, total := tc.app.snapshot()
		if total != n || len(acc) != n {
			t.Fatalf("%s: peer accepted %d connections from %d client ports, want %d", tc.dst, total, len(acc), n)
		}
	}
	// UDP: a datagram to VIP:53 through the master is answered from
	// VIP:53 (the client's connected socket accepts nothing else).
	udpEcho(t, peer, "0.0.0.0:53")
	err = client.do(func() error {
		c, err := net.Dial("udp4", tnVIP+":53")
		if err != nil {
			return err
		}
		defer c.Close()
		buf := make([]byte, 64)
		for try := 0; ; try++ {
			if _, err := c.Write([]byte("ping")); err != nil {
				return err
			}
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			n, err := c.Read(buf)
			if err == nil {
				if string(buf[:n]) != "peer:ping" {
					return fmt.Errorf("udp answer %q", buf[:n])
				}
				return nil
			}
			if try == 2 {
				return fmt.Errorf("no UDP answer from %s:53: %w", tnVIP, err)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err = g.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range norm.Targets {
		if tg.Protocol == lvs.UDP && st.Packets[tg] == 0 {
			t.Errorf("target %s counted no packet", tg)
		}
		if tg.Protocol == lvs.TCP && st.Packets[tg] < n {
			t.Errorf("target %s counted %d packets, want at least %d", tg, st.Packets[tg], n)
		}
	}

	// The same VIP from a MAC that is not a peer's (the client straight
	// to the peer, which now holds the VIP on lo like a classic DR real
	// server) is not rewritten: the application sees the VIP.
	peer.addAddr("lo", tnVIP+"/32")
	peer.addAddr("lo", tnVIP6+"/128")
	peer.sysctl("net/ipv4/conf/all/arp_ignore", "1")
	peer.sysctl("net/ipv4/conf/all/arp_announce", "2")
	client.route(tnVIP, tnPeer)
	client.route(tnVIP6, tnPeer6)
	before := st.Packets
	for _, tc := range []struct {
		dst netip.AddrPort
		app *app
	}{{vip4, app4}, {vip6, app6}} {
		for _, r := range client.dialFrom(tc.dst, 5, 1, 3*time.Second) {
			if r.err != nil {
				t.Fatalf("connection to %s straight to the peer: %v", tc.dst, r.err)
			}
			if r.local != tc.dst.Addr() {
				t.Fatalf("connection from a non-peer MAC was rewritten: app saw %s, want %s", r.local, tc.dst.Addr())
			}
		}
		tc.app.snapshot()
	}
	st, err = g.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for tg, p := range st.Packets {
		if p != before[tg] {
			t.Errorf("target %s counted %d packets from a non-peer, before %d", tg, p, before[tg])
		}
	}

	// Drift: another program deletes an element and adds a rule to our
	// chain; the next Set repairs both in one write.
	damage(t, peer, g.table)
	st, err = g.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Drift) == 0 || len(st.Desired.Peers) != 0 {
		t.Fatalf("damage not seen: drift %q, peers %v", st.Drift, st.Desired.Peers)
	}
	t.Logf("drift seen: %q", st.Drift)
	if err := g.Set(ctx, want); err != nil {
		t.Fatalf("repairing Set: %v", err)
	}
	if writes("drift") != 1 {
		t.Fatalf("writes{drift} = %v after a repair", writes("drift"))
	}
	if st, err = g.Read(ctx); err != nil || len(st.Drift) > 0 || !st.Desired.Equal(norm) {
		t.Fatalf("after repair: %+v drift %q err %v", st.Desired, st.Drift, err)
	}

	// A peer change is one write; the rules keep working.
	want.Peers = append(want.Peers, client.mac)
	if err := g.Set(ctx, want); err != nil {
		t.Fatal(err)
	}
	if st, err = g.Read(ctx); err != nil || len(st.Desired.Peers) != 2 {
		t.Fatalf("after adding a peer: %v %v", st.Desired.Peers, err)
	}
	// Now the client's own MAC counts as a peer's: its direct packets are
	// rewritten too (the set is what decides).
	for _, r := range client.dialFrom(vip4, 3, 1, 3*time.Second) {
		if r.err != nil || r.local != mustAddr(tnPeer) {
			t.Fatalf("with the client's MAC in the set: %+v", r)
		}
	}

	// Bad input leaves the kernel alone.
	if err := g.Set(ctx, Desired{Peers: []net.HardwareAddr{{1, 2, 3}}, Targets: want.Targets}); err == nil {
		t.Fatal("Set accepted a 3-byte MAC")
	}
	if st, err = g.Read(ctx); err != nil || len(st.Desired.Peers) != 2 || len(st.Drift) > 0 {
		t.Fatalf("a rejected Set changed the table: %v %q %v", st.Desired.Peers, st.Drift, err)
	}

	// No peers: the table goes away.
	if err := g.Set(ctx, Desired{Targets: want.Targets}); err != nil {
		t.Fatal(err)
	}
	if st, err = g.Read(ctx); err != nil || st.Present {
		t.Fatalf("empty desired state left the table: %+v %v", st, err)
	}
	if err := g.Set(ctx, want); err != nil {
		t.Fatal(err)
	}
	// Detach (an agent restart) leaves the table serving; the next guard
	// adopts it without a write, and Close removes it.
	if err := g.Detach(); err != nil {
		t.Fatalf("Detach: %v", err)
	}
	if err := g.Close(); err != nil {
		t.Fatalf("Close after Detach: %v", err)
	}
	checkTables(t, peer, foreign, DefaultTableName)
	for _, r := range client.dialFrom(vip4, 2, 1, 3*time.Second) {
		if r.err != nil || r.local != mustAddr(tnPeer) {
			t.Fatalf("after Detach: %+v", r)
		}
	}
	reg2 := prometheus.NewRegistry()
	g2, err := New(Options{NetNSPath: peer.path(), Registerer: reg2, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := g2.Set(ctx, want); err != nil {
		t.Fatal(err)
	}
	if n, err := testCounter(reg2, "quadrature_loopguard_writes_total"); err != nil || n != 0 {
		t.Fatalf("adopting an intact table wrote %v times (%v)", n, err)
	}
	if err := g2.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := g2.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	checkTables(t, peer, foreign)
	if _, err := g2.Read(ctx); err == nil {
		t.Fatal("Read after Close succeeded")
	}

	// What the agent publishes for the peer: the MAC of the interface
	// that holds its addresses.
	err = peer.do(func() error {
		addrs, err := LocalAddrs()
		if err != nil {
			return err
		}
		ms, err := InterfaceMACs(addrs)
		if err != nil {
			return err
		}
		if FormatMACs(ms) != peer.mac.String() {
			t.Errorf("InterfaceMACs(%v) = %v, want %s", addrs, ms, peer.mac)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// testCounter sums a counter family of reg.
func testCounter(reg *prometheus.Registry, name string) (float64, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return 0, err
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum, nil
}

// addForeignTable creates "inet foreign" with one chain in h.
func addForeignTable(t *testing.T, h *host) string {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(h.ns)))
	if err != nil {
		t.Fatal(err)
	}
	tb := c.AddTable(&nftables.Table{Name: "foreign", Family: nftables.TableFamilyINet})
	c.AddChain(&nftables.Chain{Name: "input", Table: tb, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter})
	if err := c.Flush(); err != nil {
		t.Fatalf("foreign table: %v", err)
	}
	return "foreign"
}

// checkTables asserts that h holds exactly the named inet tables.
func checkTables(t *testing.T, h *host, names ...string) {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(h.ns)))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tb := range ts {
		got = append(got, tb.Name)
	}
	if len(got) != len(names) {
		t.Fatalf("tables %v, want %v", got, names)
	}
	for i := range got {
		if got[i] != names[i] {
			t.Fatalf("tables %v, want %v", got, names)
		}
	}
}

// damage empties the peers set and appends a rule to the guard's chain,
// as another program could.
func damage(t *testing.T, h *host, table *nftables.Table) {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(h.ns)))
	if err != nil {
		t.Fatal(err)
	}
	c.FlushSet(&nftables.Set{Table: table, Name: setName})
	c.AddRule(&nftables.Rule{Table: table, Chain: &nftables.Chain{Name: chainName, Table: table},
		Exprs: []expr.Any{&expr.Counter{}}})
	if err := c.Flush(); err != nil {
		t.Fatalf("damage: %v", err)
	}
}

// udpEcho answers every datagram on addr in h with "peer:" + payload.
func udpEcho(t *testing.T, h *host, addr string) {
	t.Helper()
	var pc net.PacketConn
	err := h.do(func() error {
		var err error
		pc, err = net.ListenPacket("udp4", addr)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { pc.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 64)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo(append([]byte("peer:"), buf[:n]...), from)
		}
	}()
}
