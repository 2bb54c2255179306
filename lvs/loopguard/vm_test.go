package loopguard

// The end-to-end proof with real IPVS. It runs inside the VM that
// lvs/vmtest/run.sh boots (its /init sets QUADRATURE_VM=1) and skips
// everywhere else.
//
// Topology (the iWash case): three director namespaces d1..d3 and a
// client on one bridge. Every director programs the same IPVS DR service
// VIP:3128 wrr with all three as real servers (weights 10, 20, 20, as the
// reference deck shows them) and runs an application on 0.0.0.0:3128. The
// VIP is on d1 (the VRRP master's stand-in); the client's neighbour entry
// for the VIP points at the owner's MAC (what a gratuitous ARP does).

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"quadrature/lvs"
	"quadrature/lvs/ipvs"
)

func requireVM(t testing.TB) {
	t.Helper()
	if os.Getenv("QUADRATURE_VM") != "1" {
		t.Skip("needs a kernel with IPVS: runs inside the VM of lvs/vmtest/run.sh (QUADRATURE_VM=1)")
	}
}

const aaPort = 3128

// aaFam is one address family of the topology.
type aaFam struct {
	name    string
	network string // for the application's listener
	vip     string
	client  string
	dirs    []string // d1..d3
	bits    int
}

var (
	aa4 = aaFam{"v4", "tcp4", "203.0.113.10", "203.0.113.100", []string{"203.0.113.11", "203.0.113.12", "203.0.113.13"}, 32}
	aa6 = aaFam{"v6", "tcp6", "2001:db8:aa::10", "2001:db8:aa::100", []string{"2001:db8:aa::11", "2001:db8:aa::12", "2001:db8:aa::13"}, 128}
	// aaWeights are the reference deck's weights (iwash1 10, the others 20).
	aaWeights = []int32{10, 20, 20}
)

func (f aaFam) key() lvs.ServiceKey {
	a := mustAddr(f.vip)
	return lvs.ServiceKey{Family: lvs.FamilyOf(a), Protocol: lvs.TCP, Addr: a, Port: aaPort}
}

func (f aaFam) prefix() int {
	if f.bits == 32 {
		return 24
	}
	return 64
}

type aaLab struct {
	t      *testing.T
	lab    *lab
	client *host
	dirs   []*host
	apps   map[string][]*app // per family
	ipvs   []*ipvs.IPVS
	guards []*Guard
	table  lvs.Table
	owner  int  // index of the director holding the VIP
	ran    bool // a run happened: IPVS counters may still lag
}

// aaTable is the one IPVS table every director programs: the same DR
// service in both families.
func aaTable() lvs.Table {
	var t lvs.Table
	for _, f := range []aaFam{aa4, aa6} {
		s := lvs.Service{Key: f.key(), Scheduler: "wrr"}
		for i, d := range f.dirs {
			s.Destinations = append(s.Destinations, lvs.Destination{Addr: mustAddr(d), Port: aaPort, Weight: aaWeights[i], Method: lvs.DR})
		}
		t.Services = append(t.Services, s)
	}
	return t
}

// newAALab builds the topology. vipOnLo puts the VIP on the backups' lo
// with arp_ignore/arp_announce (the classic keepalived DR real-server
// setup, needed without the guard); guarded installs the guard on every
// director with the two other directors' MACs.
func newAALab(t *testing.T, guarded, vipOnLo bool) *aaLab {
	t.Helper()
	l := &aaLab{t: t, lab: newLab(t), table: aaTable(), apps: map[string][]*app{}}
	l.client = l.lab.addHost("client", fmt.Sprintf("%s/%d", aa4.client, aa4.prefix()), fmt.Sprintf("%s/%d", aa6.client, aa6.prefix()))
	for i := range aa4.dirs {
		d := l.lab.addHost(fmt.Sprintf("d%d", i+1), fmt.Sprintf("%s/%d", aa4.dirs[i], aa4.prefix()), fmt.Sprintf("%s/%d", aa6.dirs[i], aa6.prefix()))
		for _, k := range []string{"all", "default", "eth0"} {
			d.sysctl("net/ipv4/conf/"+k+"/rp_filter", "0")
		}
		d.sysctl("net/ipv4/conf/all/arp_ignore", "1")
		d.sysctl("net/ipv4/conf/all/arp_announce", "2")
		l.dirs = append(l.dirs, d)
		for _, f := range []aaFam{aa4, aa6} {
			l.apps[f.name] = append(l.apps[f.name], d.startApp(f.network, aaPort))
		}
	}
	for _, f := range []aaFam{aa4, aa6} {
		vip := fmt.Sprintf("%s/%d", f.vip, f.bits)
		l.dirs[0].addAddr("eth0", vip)
		if vipOnLo {
			for _, d := range l.dirs[1:] {
				d.addAddr("lo", vip)
			}
		}
		l.client.neigh(f.vip, l.dirs[0].mac)
	}
	ctx := context.Background()
	for _, d := range l.dirs {
		var v *ipvs.IPVS
		err := d.do(func() error {
			var err error
			if v, err = ipvs.New(); err != nil {
				return err
			}
			return v.Apply(ctx, lvs.Diff(lvs.Table{}, l.table, lvs.Options{OwnWholeTable: true}))
		})
		if err != nil {
			t.Fatalf("IPVS in %s: %v", d.name, err)
		}
		t.Cleanup(func() { v.Close() })
		l.ipvs = append(l.ipvs, v)
	}
	if guarded {
		// What the agent does: each node publishes the MACs of its
		// interfaces (cluster.Meta.MACs; here InterfaceMACs(LocalAddrs()))
		// and guards with PeerMACs of the others and TargetsFor(its
		// table, LocalAddrs()).
		published := map[string][]string{}
		own := map[string][]net.HardwareAddr{}
		self := map[string][]netip.Addr{}
		for _, d := range l.dirs {
			err := d.do(func() error {
				addrs, err := LocalAddrs()
				if err != nil {
					return err
				}
				m, err := InterfaceMACs(addrs)
				if err != nil {
					return err
				}
				if len(m) != 1 || m[0].String() != d.mac.String() {
					return fmt.Errorf("InterfaceMACs(%v) = %v, want eth0's %s", addrs, m, d.mac)
				}
				own[d.name], published[d.name], self[d.name] = m, strings.Split(FormatMACs(m), ","), addrs
				return nil
			})
			if err != nil {
				t.Fatalf("%s: %v", d.name, err)
			}
		}
		for _, d := range l.dirs {
			peers, err := PeerMACs(published, d.name, own[d.name])
			if err != nil || len(peers) != 2 {
				t.Fatalf("%s: peer MACs %v, %v", d.name, peers, err)
			}
			targets, skipped := TargetsFor(l.table, self[d.name])
			if len(targets) != 2 || len(skipped) != 0 {
				t.Fatalf("%s: targets %v skipped %v", d.name, targets, skipped)
			}
			g, err := New(Options{NetNSPath: d.path(), Logger: testLogger(t)})
			if err != nil {
				t.Fatalf("guard in %s: %v", d.name, err)
			}
			t.Cleanup(func() { g.Close() })
			if err := g.Set(ctx, Desired{Peers: peers, Targets: targets}); err != nil {
				t.Fatalf("guard in %s: Set: %v", d.name, err)
			}
			l.guards = append(l.guards, g)
		}
	}
	return l
}

// moveVIP puts the VIP on director i instead of the current owner.
func (l *aaLab) moveVIP(i int) {
	for _, f := range []aaFam{aa4, aa6} {
		vip := fmt.Sprintf("%s/%d", f.vip, f.bits)
		l.dirs[l.owner].delAddr("eth0", vip)
		l.dirs[i].addAddr("eth0", vip)
		l.client.neigh(f.vip, l.dirs[i].mac)
	}
	l.owner = i
}

// ipvsConns returns the connections each director's IPVS has scheduled
// for the family's service so far.
func (l *aaLab) ipvsConns(f aaFam) []uint64 {
	out := make([]uint64, len(l.dirs))
	key := f.key()
	for i, d := range l.dirs {
		err := d.do(func() error {
			st, err := l.ipvs[i].Stats(context.Background())
			out[i] = st[key].Connections
			return err
		})
		if err != nil {
			l.t.Fatalf("IPVS stats of %s: %v", d.name, err)
		}
	}
	return out
}

// settledConns returns ipvsConns once the counters stopped moving. IPVS
// folds its per-CPU counters into what netlink reports from its rate
// estimator, every 2 s, so a read right after traffic lags.
func (l *aaLab) settledConns(f aaFam) []uint64 {
	prev := l.ipvsConns(f)
	for range 5 {
		time.Sleep(2200 * time.Millisecond)
		cur := l.ipvsConns(f)
		if slices.Equal(cur, prev) {
			return cur
		}
		prev = cur
	}
	l.t.Fatalf("IPVS connection counters still moving: %v", prev)
	return nil
}

// ipvsChoices reads the owner's IPVS connection table: client port →
// real server chosen, for connections from the client to the VIP.
func (l *aaLab) ipvsChoices(fam aaFam) map[uint16]netip.Addr {
	out := map[uint16]netip.Addr{}
	err := l.dirs[l.owner].do(func() error {
		f, err := os.Open("/proc/thread-self/net/ip_vs_conn")
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// Pro FromIP FPrt ToIP TPrt DestIP DPrt State Expires ...
			f := strings.Fields(sc.Text())
			if len(f) < 7 || f[0] != "TCP" {
				continue
			}
			cip, ok1 := connAddr(f[1])
			cport, err1 := strconv.ParseUint(f[2], 16, 16)
			vip, ok2 := connAddr(f[3])
			dip, ok3 := connAddr(f[5])
			if !ok1 || !ok2 || !ok3 || err1 != nil || cip != mustAddr(fam.client) || vip != mustAddr(fam.vip) {
				continue
			}
			out[uint16(cport)] = dip
		}
		return sc.Err()
	})
	if err != nil {
		l.t.Fatalf("ip_vs_conn of %s: %v", l.dirs[l.owner].name, err)
	}
	return out
}

// connAddr reads an address of /proc/net/ip_vs_conn: 8 hex digits for
// IPv4, the colon form for IPv6.
func connAddr(s string) (netip.Addr, bool) {
	if strings.Contains(s, ":") {
		a, err := netip.ParseAddr(s)
		return a, err == nil && a.Is6()
	}
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil || len(s) != 8 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

// aaResult counts what happened to n connections.
type aaResult struct {
	n          int
	ok, failed int
	answered   map[string]int // replies per director
	accepts    []int          // accept() per director
	dupAccepts int            // accepts beyond the first for one client port
	unanswered int            // accepted connections the client got no answer for
	decisions  []uint64       // IPVS scheduling decisions per director
	mismatch   int            // served by another node than the owner's IPVS chose
	firstErr   error
}

func (r aaResult) String() string {
	var names []string
	for k := range r.answered {
		names = append(names, k)
	}
	sort.Strings(names)
	var ans []string
	for _, k := range names {
		ans = append(ans, fmt.Sprintf("%s:%d", k, r.answered[k]))
	}
	return fmt.Sprintf("conns=%d ok=%d failed=%d answered=[%s] accepts=%v dup_accepts=%d ipvs_decisions=%v mismatch=%d",
		r.n, r.ok, r.failed, strings.Join(ans, " "), r.accepts, r.dupAccepts, r.decisions, r.mismatch)
}

// run opens n connections from the client to the family's VIP and counts.
func (l *aaLab) run(f aaFam, n, parallel int, timeout time.Duration) aaResult {
	apps := l.apps[f.name]
	for _, a := range apps {
		a.snapshot()
	}
	before := make([]uint64, len(l.dirs))
	if l.ran {
		before = l.settledConns(f)
	}
	l.ran = true
	replies := l.client.dialFrom(netip.AddrPortFrom(mustAddr(f.vip), aaPort), n, parallel, timeout)
	time.Sleep(100 * time.Millisecond) // late accepts of timed-out attempts
	r := aaResult{n: n, answered: map[string]int{}}
	for _, rp := range replies {
		if rp.err != nil {
			r.failed++
			if r.firstErr == nil {
				r.firstErr = rp.err
			}
			continue
		}
		r.ok++
		r.answered[rp.server]++
	}
	servedBy := map[uint16][]int{}
	for i, a := range apps {
		acc, total := a.snapshot()
		r.accepts = append(r.accepts, total)
		for cp, c := range acc {
			if cp.Addr() != mustAddr(f.client) {
				continue
			}
			for range c {
				servedBy[cp.Port()] = append(servedBy[cp.Port()], i)
			}
		}
	}
	for _, s := range servedBy {
		r.dupAccepts += len(s) - 1
	}
	after := l.settledConns(f)
	for i := range after {
		r.decisions = append(r.decisions, after[i]-before[i])
	}
	chosen := l.ipvsChoices(f)
	for _, rp := range replies {
		if rp.err != nil {
			continue
		}
		c, ok := chosen[rp.client.Port()]
		s := servedBy[rp.client.Port()]
		if !ok || len(s) != 1 || mustAddr(f.dirs[s[0]]) != c {
			r.mismatch++
		}
	}
	return r
}

// requireOnce asserts that every connection was handled exactly once, by
// the node the owner's IPVS chose, and that all three directors served.
func (l *aaLab) requireOnce(r aaResult) {
	t := l.t
	t.Helper()
	if r.failed != 0 || r.ok != r.n {
		t.Errorf("%d of %d connections failed (first: %v)", r.failed, r.n, r.firstErr)
	}
	total := 0
	for i, a := range r.accepts {
		total += a
		if a == 0 {
			t.Errorf("%s served no connection", l.dirs[i].name)
		}
	}
	if total != r.n || r.dupAccepts != 0 {
		t.Errorf("%d accepts (%d duplicate) for %d connections", total, r.dupAccepts, r.n)
	}
	for i, d := range r.decisions {
		want := uint64(0)
		if i == l.owner {
			want = uint64(r.n)
		}
		if d != want {
			t.Errorf("IPVS of %s scheduled %d connections, want %d (only the VIP owner balances)", l.dirs[i].name, d, want)
		}
	}
	if r.mismatch != 0 {
		t.Errorf("%d connections served by another node than IPVS chose", r.mismatch)
	}
}

// TestVMActiveActiveDR: with the guard every connection is balanced once
// (by the VIP owner's IPVS) and served once (by the node it chose); the
// same topology without the guard loops or balances twice. Then the VIP
// moves and every connection is still handled once.
func TestVMActiveActiveDR(t *testing.T) {
	requireVM(t)
	requireRoot(t)
	const n = 300
	var summary []string
	record := func(t *testing.T, what string, f aaFam, r aaResult) {
		t.Logf("%s %s: %s", what, f.name, r)
		if r.firstErr != nil {
			t.Logf("%s %s: first failure: %v", what, f.name, r.firstErr)
		}
		summary = append(summary, fmt.Sprintf("%s %s %s", what, f.name, r))
	}

	t.Run("guarded", func(t *testing.T) {
		// The recommended deployment: the VIP on the master only.
		l := newAALab(t, true, false)
		for _, c := range []struct {
			f aaFam
			n int
		}{{aa4, n}, {aa6, n / 3}} {
			r := l.run(c.f, c.n, 1, 3*time.Second)
			record(t, "guarded", c.f, r)
			l.requireOnce(r)
		}
		l.moveVIP(1)
		for _, c := range []struct {
			f aaFam
			n int
		}{{aa4, n / 2}, {aa6, n / 5}} {
			r := l.run(c.f, c.n, 1, 3*time.Second)
			record(t, "vip_moved_to_d2", c.f, r)
			l.requireOnce(r)
		}
		for i, g := range l.guards {
			st, err := g.Read(context.Background())
			if err != nil || len(st.Drift) > 0 {
				t.Fatalf("guard of d%d: %v drift %q", i+1, err, st.Drift)
			}
			t.Logf("guard of d%d rewrote %v packets", i+1, st.Packets)
		}
	})

	t.Run("guarded_classic", func(t *testing.T) {
		// The control's exact topology (VIP also on the backups' lo), guarded.
		l := newAALab(t, true, true)
		r := l.run(aa4, n, 1, 3*time.Second)
		record(t, "guarded_classic", aa4, r)
		l.requireOnce(r)
	})

	t.Run("control", func(t *testing.T) {
		// The classic keepalived DR setup without the guard: the backups
		// hold the VIP on lo, so their IPVS sees forwarded packets.
		l := newAALab(t, false, true)
		for _, c := range []struct {
			f aaFam
			n int
		}{{aa4, n}, {aa6, n / 3}} {
			r := l.run(c.f, c.n, 20, 2*time.Second)
			record(t, "control", c.f, r)
			var peerDecisions uint64
			for i, d := range r.decisions {
				if i != l.owner {
					peerDecisions += d
				}
			}
			if r.failed == 0 && r.dupAccepts == 0 && peerDecisions == 0 && r.mismatch == 0 {
				t.Errorf("the %s control run shows no problem, so the guarded run proves nothing: %s", c.f.name, r)
			}
		}
	})

	t.Run("control_plain", func(t *testing.T) {
		// Without the guard and without the VIP on the backups, whatever
		// the master forwards to a peer is dropped there.
		l := newAALab(t, false, false)
		r := l.run(aa4, n/5, 20, 2*time.Second)
		record(t, "control_plain", aa4, r)
		if r.failed == 0 {
			t.Fatalf("the plain control run shows no failure: %s", r)
		}
	})
	for _, s := range summary {
		fmt.Println("LOOPGUARD " + s)
	}
}
