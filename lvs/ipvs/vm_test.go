package ipvs

// Tests against a real IPVS kernel. They run inside the VM that
// lvs/vmtest/run.sh boots (its /init sets QUADRATURE_VM=1) and skip
// everywhere else, including ordinary CI runs of go test ./... (CI runs
// them through the VM target instead).

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"quadrature/lvs"
	"slices"
	"strings"
	"testing"
	"time"
)

func requireVM(t testing.TB) {
	t.Helper()
	if os.Getenv("QUADRATURE_VM") != "1" {
		t.Skip("needs a kernel with IPVS: runs inside the VM of lvs/vmtest/run.sh (QUADRATURE_VM=1)")
	}
}

// vmIPVS opens the data plane on an empty table and empties it again at
// the end.
func vmIPVS(t testing.TB) *IPVS {
	t.Helper()
	requireVM(t)
	run(t, "ipvsadm", "-C")
	v, err := New()
	if err != nil {
		t.Fatalf("NewIPVS: %v", err)
	}
	t.Cleanup(func() {
		v.Close()
		exec.Command("ipvsadm", "-C").Run()
	})
	return v
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func moduleLoaded(name string) bool {
	_, err := os.Stat("/sys/module/" + name)
	return err == nil
}

// vmSchedulers returns the schedulers this kernel offers.
func vmSchedulers(t testing.TB) []string {
	var out []string
	for _, s := range lvs.Schedulers {
		if moduleLoaded("ip_vs_" + s) {
			out = append(out, s)
		} else {
			t.Logf("scheduler %s: no ip_vs_%s module in this kernel; not tested", s, s)
		}
	}
	return out
}

// forIPVSAdm maps what ipvsadm cannot show to what it shows: the netmask
// of a non-persistent service.
func forIPVSAdm(t lvs.Table) lvs.Table {
	n := t.Normalize()
	n.Timeouts = nil
	for i := range n.Services {
		s := &n.Services[i]
		if s.Persistence == 0 {
			s.Netmask = 0
		}
	}
	return n.Normalize()
}

// checkKernel asserts that the kernel holds exactly want, read back two
// independent ways: our netlink decoder and ipvsadm's listings.
func checkKernel(t *testing.T, v *IPVS, want lvs.Table) {
	t.Helper()
	got, err := v.Read(t.Context())
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if g, w := got.CanonicalText(), want.CanonicalText(); g != w {
		t.Fatalf("kernel table (netlink) differs:\n%s", lineDiff(g, w))
	}
	if got.Digest() != want.Digest() {
		t.Fatalf("kernel digest %s != desired digest %s", got.Digest(), want.Digest())
	}
	adm, err := parseIPVSAdm(run(t, "ipvsadm", "-Ln"), run(t, "ipvsadm", "-Ln", "--thresholds"), run(t, "ipvsadm", "-Ln", "--tun-info"))
	if err != nil {
		t.Fatalf("parsing ipvsadm: %v", err)
	}
	// ipvsadm shows the kernel's "Local" for local destinations.
	wn := want.Normalize()
	for i := range adm.Services {
		s := &adm.Services[i]
		if ws, ok := wn.Lookup(s.Key); ok {
			for j := range s.Destinations {
				d := &s.Destinations[j]
				for _, wd := range ws.Destinations {
					if d.Method == lvs.LocalNode && wd.Key() == d.Key() {
						d.Method = wd.Method
					}
				}
			}
		}
	}
	if g, w := forIPVSAdm(adm).CanonicalText(), forIPVSAdm(want).CanonicalText(); g != w {
		t.Fatalf("kernel table (ipvsadm -Ln) differs:\n%s", lineDiff(g, w))
	}
	if want.Timeouts != nil {
		var tcp, fin, udp int
		out := run(t, "ipvsadm", "-Ln", "--timeout")
		if _, err := fmt.Sscanf(strings.TrimSpace(out), "Timeout (tcp tcpfin udp): %d %d %d", &tcp, &fin, &udp); err != nil {
			t.Fatalf("ipvsadm --timeout %q: %v", out, err)
		}
		w := want.Timeouts
		if (w.TCP != 0 && time.Duration(tcp)*time.Second != w.TCP) || (w.TCPFin != 0 && time.Duration(fin)*time.Second != w.TCPFin) ||
			(w.UDP != 0 && time.Duration(udp)*time.Second != w.UDP) {
			t.Fatalf("timeouts: ipvsadm says %d %d %d, want %+v", tcp, fin, udp, *w)
		}
	}
}

// lineDiff shows the lines only in got (-) or only in want (+).
func lineDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	var b strings.Builder
	for _, l := range g {
		if !slices.Contains(w, l) {
			b.WriteString("- got:  " + l + "\n")
		}
	}
	for _, l := range w {
		if !slices.Contains(g, l) {
			b.WriteString("+ want: " + l + "\n")
		}
	}
	return b.String()
}

func a(s string) netip.Addr { return netip.MustParseAddr(s) }

func tcpKey(addr string, port uint16) lvs.ServiceKey {
	return lvs.ServiceKey{Family: lvs.FamilyOf(a(addr)), Protocol: lvs.TCP, Addr: a(addr), Port: port}
}

// featureTable exercises everything the model expresses.
func featureTable(t *testing.T, scheds []string) lvs.Table {
	var tab lvs.Table
	for i, s := range scheds {
		svc := lvs.Service{Key: tcpKey(fmt.Sprintf("192.0.2.%d", 10+i), 80), Scheduler: s, Destinations: []lvs.Destination{
			{Addr: a("198.51.100.1"), Port: 80, Weight: 0},
			{Addr: a("198.51.100.2"), Port: 8080, Weight: 1, UpperThreshold: 100, LowerThreshold: 10},
			{Addr: a("198.51.100.3"), Port: 80, Weight: 5},
		}}
		switch s {
		case "sh":
			svc.Flags = lvs.SchedFlag1 | lvs.SchedFlag2 // sh-fallback, sh-port
		case "mh":
			svc.Flags = lvs.SchedFlag2 // mh-port
		}
		tab.Services = append(tab.Services, svc)
	}
	tab.Services = append(tab.Services,
		lvs.Service{Key: tcpKey("192.0.2.50", 80), Scheduler: "wrr", Flags: lvs.SchedFlag3, Destinations: []lvs.Destination{
			{Addr: a("198.51.100.1"), Port: 80, Weight: 1, Method: lvs.NAT},
			{Addr: a("198.51.100.2"), Port: 80, Weight: 2, Method: lvs.DR},
			{Addr: a("198.51.100.3"), Port: 80, Weight: 3, Method: lvs.TUN, Tunnel: lvs.TunnelIPIP},
			{Addr: a("198.51.100.4"), Port: 80, Weight: 4, Method: lvs.TUN, Tunnel: lvs.TunnelGUE, TunnelPort: 6080},
			{Addr: a("198.51.100.5"), Port: 80, Weight: 5, Method: lvs.TUN, Tunnel: lvs.TunnelGUE, TunnelPort: 6081, TunnelFlags: lvs.TunnelCsum},
			{Addr: a("198.51.100.6"), Port: 80, Weight: 6, Method: lvs.TUN, Tunnel: lvs.TunnelGUE, TunnelPort: 6082, TunnelFlags: lvs.TunnelRemCsum},
			{Addr: a("198.51.100.7"), Port: 80, Weight: 7, Method: lvs.TUN, Tunnel: lvs.TunnelGRE},
			{Addr: a("198.51.100.8"), Port: 80, Weight: 8, Method: lvs.TUN, Tunnel: lvs.TunnelGRE, TunnelFlags: lvs.TunnelCsum},
		}},
		lvs.Service{Key: tcpKey("2001:db8::100", 443), Scheduler: "wlc", Persistence: 600 * time.Second, Netmask: 64, Destinations: []lvs.Destination{
			{Addr: a("2001:db8::5"), Port: 443, Weight: 2},
			{Addr: a("2001:db8:1::6"), Port: 443, Weight: 3, Method: lvs.DR},
			{Addr: a("198.51.100.20"), Port: 443, Weight: 1, Method: lvs.TUN}, // TUN crosses families
		}},
		lvs.Service{Key: lvs.ServiceKey{Protocol: lvs.UDP, Addr: a("192.0.2.60"), Port: 53}, Scheduler: "rr", OnePacket: true, Destinations: []lvs.Destination{
			{Addr: a("198.51.100.10"), Port: 53, Weight: 1},
			{Addr: a("198.51.100.11"), Port: 53, Weight: 1},
		}},
		lvs.Service{Key: lvs.ServiceKey{Protocol: lvs.SCTP, Addr: a("192.0.2.61"), Port: 3868}, Scheduler: "wlc", Destinations: []lvs.Destination{
			{Addr: a("198.51.100.12"), Port: 3868, Weight: 1},
		}},
		lvs.Service{Key: tcpKey("192.0.2.62", 0), Scheduler: "rr", Persistence: 360 * time.Second, Netmask: 24, Destinations: []lvs.Destination{
			{Addr: a("198.51.100.13"), Port: 0, Weight: 1, Method: lvs.DR},
		}},
		lvs.Service{Key: lvs.ServiceKey{Family: lvs.IPv4, FWMark: 7}, Scheduler: "rr", Persistence: 300 * time.Second, Netmask: 24, Destinations: []lvs.Destination{
			{Addr: a("198.51.100.30"), Weight: 1, Method: lvs.DR},
		}},
		lvs.Service{Key: lvs.ServiceKey{Family: lvs.IPv6, FWMark: 8}, Scheduler: "wlc", Destinations: []lvs.Destination{
			{Addr: a("2001:db8::7"), Weight: 1, Method: lvs.DR},
		}},
	)
	var entries []lvs.GroupEntry
	for _, l := range []string{"192.0.2.70-73 8080", "192.0.2.80/31 8443", "2001:db8::200-201 8080", "fwmark 11", "fwmark 12 inet6"} {
		e, err := lvs.ParseGroupEntry(strings.Fields(l))
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
	}
	v4, err := lvs.ExpandGroup(entries[:2], lvs.Service{Key: lvs.ServiceKey{Protocol: lvs.TCP}, Scheduler: "wrr",
		Destinations: []lvs.Destination{{Addr: a("198.51.100.40"), Weight: 3, Method: lvs.DR}, {Addr: a("198.51.100.41"), Weight: 0, Method: lvs.DR}}})
	if err != nil {
		t.Fatal(err)
	}
	v6, err := lvs.ExpandGroup(entries[2:3], lvs.Service{Key: lvs.ServiceKey{Protocol: lvs.TCP}, Scheduler: "wrr",
		Destinations: []lvs.Destination{{Addr: a("2001:db8::40"), Weight: 3, Method: lvs.DR}}})
	if err != nil {
		t.Fatal(err)
	}
	fw4, err := lvs.ExpandGroup(entries[3:4], lvs.Service{Scheduler: "rr", Destinations: []lvs.Destination{{Addr: a("198.51.100.42"), Weight: 1, Method: lvs.DR}}})
	if err != nil {
		t.Fatal(err)
	}
	fw6, err := lvs.ExpandGroup(entries[4:], lvs.Service{Scheduler: "rr", Destinations: []lvs.Destination{{Addr: a("2001:db8::42"), Weight: 1, Method: lvs.DR}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(v4) != 6 || len(v6) != 2 || len(fw4) != 1 || len(fw6) != 1 {
		t.Fatalf("group expansion: %d %d %d %d services", len(v4), len(v6), len(fw4), len(fw6))
	}
	tab.Services = slices.Concat(tab.Services, v4, v6, fw4, fw6)
	tab.Timeouts = &lvs.Timeouts{TCP: 1000 * time.Second, TCPFin: 60 * time.Second, UDP: 200 * time.Second}
	if err := tab.Validate(); err != nil {
		t.Fatal(err)
	}
	return tab
}

func newVMReconciler(t *testing.T, v *IPVS, mod func(*lvs.Config)) *lvs.Reconciler {
	cfg := lvs.Config{DataPlane: v, DrainTimeout: -1}
	if mod != nil {
		mod(&cfg)
	}
	r, err := lvs.NewReconciler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestVMEveryFeature(t *testing.T) {
	v := vmIPVS(t)
	want := featureTable(t, vmSchedulers(t))
	r := newVMReconciler(t, v, nil)
	res, err := r.Sync(t.Context(), want)
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	t.Logf("programmed %d services, %d ops in %s", len(want.Services), res.Plan.Ops(), res.Duration)
	checkKernel(t, v, want)
	if res.Digest != want.Digest() {
		t.Errorf("SyncResult.Digest %s != desired %s", res.Digest, want.Digest())
	}
	// A second pass has nothing to do and sees no drift.
	res, err = r.Sync(t.Context(), want)
	if err != nil || !res.Plan.Empty() || res.Drift {
		t.Fatalf("no-change resync: err=%v drift=%v plan ops=%d %+v", err, res.Drift, res.Plan.Ops(), res.Plan)
	}
	// Statistics are readable for every service and destination.
	st, err := v.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range want.Normalize().Services {
		if len(st[s.Key].Destinations) != len(s.Destinations) {
			t.Errorf("stats of %s: %d destinations, want %d", s.Key, len(st[s.Key].Destinations), len(s.Destinations))
		}
	}
}

func TestVMUpdateInPlace(t *testing.T) {
	v := vmIPVS(t)
	r := newVMReconciler(t, v, nil)
	base := featureTable(t, []string{"rr", "wrr"})
	if _, err := r.Sync(t.Context(), base); err != nil {
		t.Fatal(err)
	}
	next := base.Normalize()
	var changed lvs.ServiceKey
	for i := range next.Services {
		s := &next.Services[i]
		if s.Key == tcpKey("192.0.2.50", 80) {
			changed = s.Key
			s.Scheduler = "wlc"
			s.Persistence = 120 * time.Second
			s.Netmask = 28
			s.Flags = 0
			s.Destinations[0].Weight = 42                                                                          // weight
			s.Destinations[1].Method = lvs.NAT                                                                     // DR -> NAT
			s.Destinations[2].UpperThreshold, s.Destinations[2].LowerThreshold = 500, 50                           // thresholds
			s.Destinations[3].TunnelFlags = lvs.TunnelRemCsum                                                      // gue flags
			s.Destinations[4].Tunnel, s.Destinations[4].TunnelPort = lvs.TunnelGRE, 0                              // gue -> gre
			s.Destinations = slices.Delete(s.Destinations, 5, 6)                                                   // removed
			s.Destinations = append(s.Destinations, lvs.Destination{Addr: a("198.51.100.9"), Port: 80, Weight: 9}) // added
		}
	}
	next.Timeouts = &lvs.Timeouts{UDP: 77 * time.Second}
	res, err := r.Update(t.Context(), next)
	if err != nil {
		t.Fatal(err)
	}
	p := res.Plan
	if len(p.AddServices) != 0 || len(p.DeleteServices) != 0 || len(p.UpdateServices) != 1 || p.UpdateServices[0].Key != changed ||
		len(p.UpdateDests) != 5 || len(p.AddDests) != 1 || len(p.DeleteDests) != 1 || p.Timeouts == nil {
		t.Fatalf("plan is not a minimal in-place update: %+v", p)
	}
	want := next.Normalize()
	want.Timeouts = &lvs.Timeouts{TCP: 1000 * time.Second, TCPFin: 60 * time.Second, UDP: 77 * time.Second}
	checkKernel(t, v, want)
}

func TestVMDriftRepair(t *testing.T) {
	v := vmIPVS(t)
	r := newVMReconciler(t, v, nil)
	want := featureTable(t, []string{"rr", "wlc"})
	want.Timeouts = nil
	if _, err := r.Sync(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	// Behind the reconciler's back: change a weight, delete a
	// destination, delete an owned service, add an unowned service.
	run(t, "ipvsadm", "-e", "-t", "192.0.2.10:80", "-r", "198.51.100.3:80", "-m", "-w", "99")
	run(t, "ipvsadm", "-d", "-t", "192.0.2.11:80", "-r", "198.51.100.2:8080")
	run(t, "ipvsadm", "-D", "-u", "192.0.2.60:53")
	run(t, "ipvsadm", "-A", "-t", "203.0.113.1:80", "-s", "rr")
	run(t, "ipvsadm", "-a", "-t", "203.0.113.1:80", "-r", "198.51.100.99:80", "-m")
	run(t, "ipvsadm", "-a", "-t", "192.0.2.50:80", "-r", "198.51.100.98:80", "-m") // extra dest in an owned service
	res, err := r.Sync(t.Context(), want)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Drift {
		t.Error("drift not reported")
	}
	t.Logf("drift repair plan: %d ops", res.Plan.Ops())
	// The unowned service stays; everything else is as desired.
	foreign := lvs.Service{Key: tcpKey("203.0.113.1", 80), Scheduler: "rr", Destinations: []lvs.Destination{{Addr: a("198.51.100.99"), Port: 80, Weight: 1}}}
	expect := want
	expect.Services = append(slices.Clone(want.Services), foreign)
	checkKernel(t, v, expect)
	// With OwnWholeTable the foreign service goes.
	r2 := newVMReconciler(t, v, func(c *lvs.Config) { c.OwnWholeTable = true })
	if _, err := r2.Sync(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	checkKernel(t, v, want)
}

// TestVMRunRepairsDrift: the Run loop's periodic resync repairs an
// ipvsadm edit without being told.
func TestVMRunRepairsDrift(t *testing.T) {
	v := vmIPVS(t)
	r := newVMReconciler(t, v, func(c *lvs.Config) { c.ResyncInterval = 200 * time.Millisecond })
	want := featureTable(t, []string{"rr"})
	want.Timeouts = nil
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	r.SetDesired(want)
	waitFor(t, 20*time.Second, func() bool { return r.Status().LastSuccess.After(time.Time{}) })
	run(t, "ipvsadm", "-e", "-t", "192.0.2.10:80", "-r", "198.51.100.3:80", "-m", "-w", "99")
	// A second, independent netlink reader.
	v2, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	waitFor(t, 20*time.Second, func() bool {
		got, err := v2.Read(t.Context())
		return err == nil && got.Digest() == want.Digest()
	})
	checkKernel(t, v2, want)
	if st := r.Status(); st.Last.Plan.Ops() == 0 && !st.Last.Drift {
		t.Logf("status after repair: %+v", st.Last)
	}
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestVMGracefulDrain: a destination with an established connection
// leaves the desired table; it is set to weight 0 and deleted only once
// its connection ends. The director is its own real server here (the
// kernel reports such destinations as "Local"), which is the
// quadrature topology.
func TestVMGracefulDrain(t *testing.T) {
	v := vmIPVS(t)
	vip := "192.0.2.200"
	run(t, "ip", "addr", "add", vip+"/32", "dev", "lo")
	defer exec.Command("ip", "addr", "del", vip+"/32", "dev", "lo").Run()
	ln, err := net.Listen("tcp", ":18080")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	key := tcpKey(vip, 18080)
	local := lvs.Destination{Addr: a("192.0.2.1"), Port: 18080, Weight: 1, Method: lvs.DR} // dummy0's address: local
	other := lvs.Destination{Addr: a("198.51.100.50"), Port: 18080, Weight: 0, Method: lvs.DR}
	now := time.Now()
	clock := func() time.Time { return now }
	r := newVMReconciler(t, v, func(c *lvs.Config) { c.DrainTimeout = time.Minute; c.Now = clock })
	full := lvs.Table{Services: []lvs.Service{{Key: key, Scheduler: "rr", Destinations: []lvs.Destination{local, other}}}}
	if _, err := r.Sync(t.Context(), full); err != nil {
		t.Fatal(err)
	}
	checkKernel(t, v, full)
	// One established connection through IPVS to the local destination.
	c, err := net.DialTimeout("tcp", vip+":18080", 5*time.Second)
	if err != nil {
		t.Fatalf("connect through IPVS: %v", err)
	}
	defer c.Close()
	srv := <-accepted
	// Gauges are immediate; counters follow the kernel's estimator (~2s).
	waitFor(t, 15*time.Second, func() bool {
		st, err := v.Stats(t.Context())
		if err != nil {
			return false
		}
		d := st[key].Destinations[local.Key()]
		return d.ActiveConns > 0 && d.Connections > 0 && st[key].Connections > 0 && d.PacketsIn > 0
	})
	st, _ := v.Stats(t.Context())
	t.Logf("stats of %s: service %+v, destination %+v", local.Key(), st[key].Counters, st[key].Destinations[local.Key()])
	// The local destination leaves the desired table: weight 0, kept.
	only := lvs.Table{Services: []lvs.Service{{Key: key, Scheduler: "rr", Destinations: []lvs.Destination{other}}}}
	res, err := r.Sync(t.Context(), only)
	if err != nil {
		t.Fatal(err)
	}
	drained := local
	drained.Weight = 0
	checkKernel(t, v, lvs.Table{Services: []lvs.Service{{Key: key, Scheduler: "rr", Destinations: []lvs.Destination{drained, other}}}})
	if s := r.Status().Services[key]; s.State != lvs.StateDraining || s.Draining != 1 {
		t.Fatalf("status %+v, want draining 1 (plan %+v)", s, res.Plan)
	}
	// Still busy: still there.
	if _, err := r.Sync(t.Context(), only); err != nil {
		t.Fatal(err)
	}
	checkKernel(t, v, lvs.Table{Services: []lvs.Service{{Key: key, Scheduler: "rr", Destinations: []lvs.Destination{drained, other}}}})
	// The connection ends: the destination goes at the next pass.
	c.Close()
	srv.Close()
	waitFor(t, 10*time.Second, func() bool {
		st, err := v.Stats(t.Context())
		return err == nil && st[key].Destinations[local.Key()].ActiveConns == 0
	})
	if _, err := r.Sync(t.Context(), only); err != nil {
		t.Fatal(err)
	}
	checkKernel(t, v, only)
}

// TestVMDrainIdle: a destination without connections leaves at once.
func TestVMDrainIdle(t *testing.T) {
	v := vmIPVS(t)
	now := time.Now()
	r := newVMReconciler(t, v, func(c *lvs.Config) { c.DrainTimeout = 10 * time.Second; c.Now = func() time.Time { return now } })
	key := tcpKey("192.0.2.201", 80)
	d1 := lvs.Destination{Addr: a("198.51.100.60"), Port: 80, Weight: 5}
	d2 := lvs.Destination{Addr: a("198.51.100.61"), Port: 80, Weight: 5}
	if _, err := r.Sync(t.Context(), lvs.Table{Services: []lvs.Service{{Key: key, Scheduler: "rr", Destinations: []lvs.Destination{d1, d2}}}}); err != nil {
		t.Fatal(err)
	}
	// No traffic: nothing active, so removal is immediate.
	only := lvs.Table{Services: []lvs.Service{{Key: key, Scheduler: "rr", Destinations: []lvs.Destination{d1}}}}
	if _, err := r.Sync(t.Context(), only); err != nil {
		t.Fatal(err)
	}
	checkKernel(t, v, only)
}
