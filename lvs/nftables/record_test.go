package nftables

import (
	"net/netip"
	"strings"
	"testing"

	"quadrature/lvs"
)

func TestRecordRoundTrip(t *testing.T) {
	recs := []record{
		{Kind: kindInfra, Infra: infraMasq},
		{Kind: kindService, SvcID: 1, Key: lvs.ServiceKey{Family: lvs.IPv4, Protocol: lvs.TCP, Addr: netip.MustParseAddr("192.0.2.1"), Port: 80}, Scheduler: "wrr", Netmask: 32},
		{Kind: kindService, SvcID: 2147483647, Key: lvs.ServiceKey{Family: lvs.IPv6, Protocol: lvs.UDP, Addr: netip.MustParseAddr("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"), Port: 65535}, Scheduler: "sh", Persistence: 4294967295, Netmask: 128},
		{Kind: kindService, SvcID: 3, Key: lvs.ServiceKey{Family: lvs.IPv6, FWMark: 4294967295}, Scheduler: "dh", Persistence: 300, Netmask: 64},
		{Kind: kindSched, SvcID: 9, Slots: 6, Hash: 0xdeadbeef},
		{Kind: kindSched, SvcID: 9, Slots: 0, Hash: 0x1},
		{Kind: kindWeight, SvcID: 9, DestID: 10, Weight: 0},
		{Kind: kindWeight, SvcID: 9, DestID: 10, Weight: 2147483647},
		{Kind: kindEnd, SvcID: 9},
		{Kind: kindDest, SvcID: 9, DestID: 11, Addr: netip.MustParseAddr("2001:db8::1"), Port: 0},
		{Kind: kindInfra, Infra: infraOutOut},
	}
	for _, r := range recs {
		s := r.String()
		if len(s) > maxComment {
			t.Errorf("%q: %d bytes, over the userdata limit", s, len(s))
		}
		got, err := parseRecord(s)
		if err != nil {
			t.Errorf("parse %q: %v", s, err)
			continue
		}
		if got != r {
			t.Errorf("round trip of %q:\n got %+v\nwant %+v", s, got, r)
		}
	}
}

func TestParseRecordErrors(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", "not a quadrature"},
		{"hello world", "not a quadrature"},
		{"q2 svc id=1", "not a quadrature"},
		{"q1 bogus id=1", "unknown kind"},
		{"q1 end", `missing field "id"`},
		{"q1 end id=0", "id 0"},
		{"q1 end id=-1", "invalid syntax"},
		{"q1 end id=2147483648", "out of range"},
		{"q1 end id=1 x=2", `unexpected field "x"`},
		{"q1 end id=1 id=2", "duplicate field"},
		{"q1 end id", "malformed field"},
		{"q1 end =1", "malformed field"},
		{"q1 infra r=nope", "unknown skeleton rule"},
		{"q1 svc id=1 fam=4 proto=6 addr=2001:db8::1 port=80 sched=rr persist=0 mask=32", "not of family"},
		{"q1 svc id=1 fam=5 fwm=3 sched=rr persist=0 mask=32", "bad family"},
		{"q1 svc id=1 fam=4 fwm=0 sched=rr persist=0 mask=32", "fwm=0"},
		{"q1 svc id=1 fam=4 proto=6 addr=192.0.2.1 port=80 sched=wlc persist=0 mask=32", "unknown scheduler"},
		{"q1 svc id=1 fam=4 proto=6 addr=192.0.2.1 port=80 sched=rr persist=0 mask=33", "bad mask"},
		{"q1 svc id=1 fam=4 proto=6 addr=192.0.2.1 port=65536 sched=rr persist=0 mask=32", "out of range"},
		{"q1 svc id=1 fam=6 proto=6 addr=fe80::1%eth0 port=1 sched=rr persist=0 mask=128", "not canonical"},
		{"q1 svc id=1 fam=6 proto=6 addr=::ffff:192.0.2.1 port=1 sched=rr persist=0 mask=128", "not canonical"},
		{"q1 sched id=1 n=3 h=xyz", "invalid syntax"},
		{"q1 w id=1 d=2 w=-1", "invalid syntax"},
		{"q1 st d=1 dir=in", "unknown kind"},
		{"q1 dst id=1 d=2 addr=nope port=1", "ParseAddr"},
		{"q1 end id=1 " + strings.Repeat("x", 300), "too long"},
	}
	for _, c := range cases {
		_, err := parseRecord(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("parseRecord(%q) = %v, want error containing %q", c.in, err, c.want)
		}
	}
}

func TestChainIDs(t *testing.T) {
	cases := []struct {
		name      string
		svc, dest uint32
		ok        bool
	}{
		{"s1", 1, 0, true},
		{"s12d40", 12, 40, true},
		{"t40", 0, 0, false},
		{"s0", 0, 0, false},
		{"s01", 0, 0, false},
		{"sd1", 0, 0, false},
		{"s1d", 0, 0, false},
		{"services", 0, 0, false},
		{"stats_pre", 0, 0, false},
		{"s99999999999", 0, 0, false},
		{"prerouting", 0, 0, false},
	}
	for _, c := range cases {
		s, d, ok := chainIDs(c.name)
		if ok != c.ok || (ok && (s != c.svc || d != c.dest)) {
			t.Errorf("chainIDs(%q) = %d %d %v, want %d %d %v", c.name, s, d, ok, c.svc, c.dest, c.ok)
		}
	}
	if n := destChainName(12, 40); n != "s12d40" {
		t.Errorf("destChainName = %q", n)
	}
}

func TestLayout(t *testing.T) {
	ids := []uint32{5, 6, 7}
	cases := []struct {
		sched   string
		weights []int32
		want    []slot
		total   uint32
	}{
		{"wrr", []int32{1, 2, 3}, []slot{{5, 0, 1}, {6, 1, 2}, {7, 3, 3}}, 6},
		{"sh", []int32{1, 2, 3}, []slot{{5, 0, 1}, {6, 1, 2}, {7, 3, 3}}, 6},
		{"rr", []int32{1, 2, 3}, []slot{{5, 0, 1}, {6, 1, 1}, {7, 2, 1}}, 3},
		{"dh", []int32{9, 0, 3}, []slot{{5, 0, 1}, {7, 1, 1}}, 2},
		{"wrr", []int32{0, 4, 0}, []slot{{6, 0, 4}}, 4},
		{"wrr", []int32{0, 0, 0}, nil, 0},
	}
	for _, c := range cases {
		got, n := layout(c.sched, ids, c.weights)
		if n != c.total || len(got) != len(c.want) {
			t.Errorf("%s %v: %v total %d, want %v total %d", c.sched, c.weights, got, n, c.want, c.total)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s %v: slot %d = %v, want %v", c.sched, c.weights, i, got[i], c.want[i])
			}
		}
	}
	a, _ := layout("wrr", ids, []int32{1, 2, 3})
	b, _ := layout("wrr", ids, []int32{1, 3, 2})
	if layoutHash(a) == layoutHash(b) {
		t.Error("different layouts hash equal")
	}
}

func FuzzParseRecord(f *testing.F) {
	for _, s := range []string{
		"q1 svc id=1 fam=4 proto=6 addr=192.0.2.1 port=80 sched=wrr persist=0 mask=32",
		"q1 svc id=3 fam=6 fwm=7 sched=dh persist=300 mask=64",
		"q1 sched id=9 n=6 h=deadbeef", "q1 w id=9 d=10 w=3", "q1 end id=9",
		"q1 dst id=9 d=11 addr=2001:db8::1 port=0", "q1 infra r=stoo", "q1 infra r=masq",
		"q1 w id=1 d=1 w=1 w=2", "q1", "", "q1 svc",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseRecord(s)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to a record that decodes the same.
		again, err := parseRecord(r.String())
		if err != nil {
			t.Fatalf("re-encoding of %q (%q) does not parse: %v", s, r.String(), err)
		}
		if again != r {
			t.Fatalf("unstable: %q → %+v → %q → %+v", s, r, r.String(), again)
		}
	})
}
