package lvs

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func svc(addr string, port uint16, sched string, dests ...Destination) Service {
	return Service{Key: tcpKey(addr, port), Scheduler: sched, Destinations: dests}
}

func dst(addr string, port uint16, w int32) Destination {
	return Destination{Addr: a(addr), Port: port, Weight: w}
}

func TestDiff(t *testing.T) {
	base := Table{Services: []Service{
		svc("192.0.2.1", 80, "wrr", dst("198.51.100.1", 80, 1), dst("198.51.100.2", 80, 1)),
		svc("192.0.2.2", 80, "rr", dst("198.51.100.3", 80, 1)),
	}}
	mod := func(f func(t *Table)) Table {
		n := base.Normalize()
		for i := range n.Services {
			n.Services[i].Destinations = slices.Clone(n.Services[i].Destinations)
		}
		f(&n)
		return n
	}
	k1, k2 := tcpKey("192.0.2.1", 80), tcpKey("192.0.2.2", 80)
	for _, c := range []struct {
		name    string
		obs     Table
		des     Table
		opts    Options
		want    string // summary of the plan
		wantOps int
	}{
		{"equal", base, base, Options{}, "", 0},
		{"from empty", Table{}, base, Options{}, "+svc tcp/192.0.2.1:80\n+svc tcp/192.0.2.2:80\n", 5},
		{"weight is an update", base, mod(func(t *Table) { t.Services[0].Destinations[1].Weight = 0 }), Options{},
			"~dest tcp/192.0.2.1:80 198.51.100.2:80\n", 1},
		{"method is an update", base, mod(func(t *Table) { t.Services[0].Destinations[0].Method = DR }), Options{},
			"~dest tcp/192.0.2.1:80 198.51.100.1:80\n", 1},
		{"thresholds are an update", base, mod(func(t *Table) { t.Services[1].Destinations[0].UpperThreshold = 10 }), Options{},
			"~dest tcp/192.0.2.2:80 198.51.100.3:80\n", 1},
		{"scheduler is a service update", base, mod(func(t *Table) { t.Services[1].Scheduler = "wlc" }), Options{},
			"~svc tcp/192.0.2.2:80\n", 1},
		{"persistence is a service update", base, mod(func(t *Table) { t.Services[1].Persistence = time.Minute }), Options{},
			"~svc tcp/192.0.2.2:80\n", 1},
		{"dest added and removed", base, mod(func(t *Table) {
			t.Services[0].Destinations[1] = dst("198.51.100.9", 80, 1)
		}), Options{}, "+dest tcp/192.0.2.1:80 198.51.100.9:80\n-dest tcp/192.0.2.1:80 198.51.100.2:80\n", 2},
		{"unowned service left alone", base, mod(func(t *Table) { t.Services = t.Services[:1] }), Options{}, "", 0},
		{"owned service deleted", base, mod(func(t *Table) { t.Services = t.Services[:1] }), Options{Owned: OwnedSet{k2: {}}},
			"-svc tcp/192.0.2.2:80\n", 1},
		{"whole table", base, mod(func(t *Table) { t.Services = t.Services[1:] }), Options{OwnWholeTable: true},
			"-svc tcp/192.0.2.1:80\n", 1},
		{"owned set of another key", base, mod(func(t *Table) { t.Services = t.Services[1:] }), Options{Owned: OwnedSet{k2: {}}}, "", 0},
		{"extra dest in desired service deleted", mod(func(t *Table) {
			t.Services[1].Destinations = append(t.Services[1].Destinations, dst("198.51.100.77", 80, 1))
		}), base, Options{}, "-dest tcp/192.0.2.2:80 198.51.100.77:80\n", 1},
		{"timeouts", base, mod(func(t *Table) { t.Timeouts = &Timeouts{UDP: time.Minute} }), Options{}, "timeouts\n", 1},
		{"equal timeouts", mod(func(t *Table) { t.Timeouts = &Timeouts{TCP: 900 * time.Second, UDP: time.Minute} }),
			mod(func(t *Table) { t.Timeouts = &Timeouts{UDP: time.Minute} }), Options{}, "", 0},
		{"local node matches any method", mod(func(t *Table) { t.Services[1].Destinations[0].Method = LocalNode }),
			mod(func(t *Table) { t.Services[1].Destinations[0].Method = DR }), Options{}, "", 0},
		{"sub-second persistence ignored", base, mod(func(t *Table) {}), Options{}, "", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := Diff(c.obs, c.des, c.opts)
			if got := summarize(p); got != c.want {
				t.Errorf("plan:\n%s\nwant:\n%s", got, c.want)
			}
			if p.Ops() != c.wantOps {
				t.Errorf("ops %d, want %d", p.Ops(), c.wantOps)
			}
			if p.Empty() != (c.wantOps == 0) {
				t.Errorf("Empty() = %v", p.Empty())
			}
			// Applying the plan yields the desired table (for what is ours).
			after := p.ApplyTo(c.obs)
			if rest := Diff(after, c.des, c.opts); !rest.Empty() {
				t.Errorf("after applying, plan is still %s", summarize(rest))
			}
		})
	}
	_ = k1
}

func summarize(p Plan) string {
	var b strings.Builder
	for _, s := range p.AddServices {
		b.WriteString("+svc " + s.Key.String() + "\n")
	}
	for _, s := range p.UpdateServices {
		b.WriteString("~svc " + s.Key.String() + "\n")
	}
	for _, k := range p.DeleteServices {
		b.WriteString("-svc " + k.String() + "\n")
	}
	for _, c := range p.AddDests {
		b.WriteString("+dest " + c.Service.String() + " " + c.Dest.Key().String() + "\n")
	}
	for _, c := range p.UpdateDests {
		b.WriteString("~dest " + c.Service.String() + " " + c.Dest.Key().String() + "\n")
	}
	for _, c := range p.DeleteDests {
		b.WriteString("-dest " + c.Service.String() + " " + c.Dest.Key().String() + "\n")
	}
	if p.Timeouts != nil {
		b.WriteString("timeouts\n")
	}
	return b.String()
}

func TestDiffIsDeterministicAndMinimalAtScale(t *testing.T) {
	want := ScaleTable()
	if p := Diff(want, want, Options{}); !p.Empty() {
		t.Fatalf("self-diff not empty: %d ops", p.Ops())
	}
	p := Diff(Table{}, want, Options{})
	if p.Ops() != ScaleServices+ScaleDests {
		t.Fatalf("from empty: %d ops, want %d", p.Ops(), ScaleServices+ScaleDests)
	}
	changed := want.Normalize()
	changed.Services[100].Destinations[2].Weight = 0
	if p := Diff(want, changed, Options{}); p.Ops() != 1 || len(p.UpdateDests) != 1 {
		t.Fatalf("one change: %s", summarize(p))
	}
	// Input order does not matter.
	rev := want.Normalize()
	slices.Reverse(rev.Services)
	if p := Diff(want, rev, Options{}); !p.Empty() {
		t.Fatalf("reordered table differs: %d ops", p.Ops())
	}
}

func TestPlanSplit(t *testing.T) {
	want := ScaleTable()
	p := Diff(Table{}, want, Options{})
	parts := p.Split(1000)
	total := 0
	acc := Table{}
	for _, part := range parts {
		if part.Ops() > 1000 {
			t.Fatalf("part of %d ops", part.Ops())
		}
		total += part.Ops()
		acc = part.ApplyTo(acc)
	}
	if total != p.Ops() {
		t.Fatalf("split ops %d, want %d", total, p.Ops())
	}
	if acc.Digest() != want.Digest() {
		t.Fatal("applying the parts in order does not give the table")
	}
	// A service larger than a batch is split into the service and its
	// destinations.
	big := Table{Services: []Service{svc("192.0.2.1", 80, "rr")}}
	for i := range 10 {
		big.Services[0].Destinations = append(big.Services[0].Destinations, dst("198.51.100.1", uint16(8000+i), 1))
	}
	parts = Diff(Table{}, big, Options{}).Split(3)
	if len(parts) != 4 {
		t.Fatalf("%d parts, want 4", len(parts))
	}
	acc = Table{}
	for _, part := range parts {
		acc = part.ApplyTo(acc)
	}
	if acc.Digest() != big.Digest() {
		t.Fatal("split of a big service does not rebuild it")
	}
	if got := (Plan{}).Split(10); got != nil {
		t.Fatalf("empty plan split into %d", len(got))
	}
}

func TestNormalizeCanonical(t *testing.T) {
	in := Table{Services: []Service{
		{Key: ServiceKey{FWMark: 5, Protocol: TCP, Port: 80}, Scheduler: "rr", Persistence: 1500 * time.Millisecond,
			Destinations: []Destination{{Addr: a("::ffff:198.51.100.1"), Weight: 1, Method: DR, Tunnel: TunnelGUE, TunnelPort: 9}}},
		{Key: tcpKey("192.0.2.1", 80), Scheduler: "rr", Destinations: []Destination{
			{Addr: a("198.51.100.1"), Method: TUN, Tunnel: TunnelIPIP, TunnelPort: 9, TunnelFlags: TunnelCsum},
			{Addr: a("198.51.100.2"), Method: TUN, Tunnel: TunnelGRE, TunnelPort: 9, TunnelFlags: TunnelCsum},
		}},
	}}
	got := in.Normalize().CanonicalText()
	want := `TCP 192.0.2.1:80 sched=rr flags=0x0 persist=0s mask=32 ops=false
  -> 198.51.100.1:0 TUN w=0 tun=ipip port=0 tflags=0x0 u=0 l=0
  -> 198.51.100.2:0 TUN w=0 tun=gre port=0 tflags=0x1 u=0 l=0
FWM 5 sched=rr flags=0x0 persist=1s mask=32 ops=false
  -> 198.51.100.1:0 DR w=1 u=0 l=0
`
	if got != want {
		t.Errorf("canonical text:\n%s\nwant:\n%s", got, want)
	}
}
