package nftables

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"quadrature/lvs"
)

func TestRecordRoundTrip(t *testing.T) {
	recs := []record{
		{Kind: kindInfra, Infra: infraMasq},
		{Kind: kindInfra, Infra: infraFwm6},
		{Kind: kindService, SvcID: 1, Key: lvs.ServiceKey{Family: lvs.IPv4, Protocol: lvs.TCP, Addr: netip.MustParseAddr("192.0.2.1"), Port: 80}, Scheduler: "wrr", Netmask: 32},
		{Kind: kindService, SvcID: 32767, Key: lvs.ServiceKey{Family: lvs.IPv6, Protocol: lvs.UDP, Addr: netip.MustParseAddr("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"), Port: 65535}, Scheduler: "sh", Persistence: 4294967295, Netmask: 128},
		{Kind: kindService, SvcID: 3, Key: lvs.ServiceKey{Family: lvs.IPv6, FWMark: 4294967295}, Scheduler: "dh", Persistence: 300, Netmask: 64},
		{Kind: kindSched, SvcID: 9, Slots: 6},
		{Kind: kindSched, SvcID: 9, Slots: 65535},
		{Kind: kindPersistLookup, SvcID: 9},
		{Kind: kindPersistStale, SvcID: 9},
		{Kind: kindCount, SvcID: 9},
		{Kind: kindPick, SvcID: 9},
		{Kind: kindNAT, SvcID: 9},
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
	for _, c := range []struct {
		svc uint32
		w   int32
	}{{1, 0}, {2147483647, 2147483647}} {
		s, w, err := parseDestComment(destComment(c.svc, c.w))
		if err != nil || s != c.svc || w != c.w {
			t.Errorf("destination comment %d %d: %d %d %v", c.svc, c.w, s, w, err)
		}
	}
	for _, bad := range []string{"", "q2", "q2 s=1", "q2 s=0 w=1", "q2 s=1 w=-1", "q2 s=1 s=2", "q3 s=1 w=1", "q2 s=1 x=1", "q2 s=1 w=1 w=2"} {
		if _, _, err := parseDestComment(bad); err == nil {
			t.Errorf("parseDestComment(%q) accepted", bad)
		}
	}
}

func TestParseRecordErrors(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", "not a quadrature"},
		{"hello world", "not a quadrature"},
		{"q1 svc id=1", "not a quadrature"},
		{"q2 bogus id=1", "unknown kind"},
		{"q2 cnt", `missing field "id"`},
		{"q2 cnt id=0", "id 0"},
		{"q2 cnt id=-1", "invalid syntax"},
		{"q2 cnt id=2147483648", "out of range"},
		{"q2 cnt id=1 x=2", `unexpected field "x"`},
		{"q2 cnt id=1 id=2", "duplicate field"},
		{"q2 cnt id", "malformed field"},
		{"q2 cnt =1", "malformed field"},
		{"q2 infra r=nope", "unknown skeleton rule"},
		{"q2 svc id=1 fam=4 proto=6 addr=2001:db8::1 port=80 sched=rr persist=0 mask=32", "not of family"},
		{"q2 svc id=1 fam=5 fwm=3 sched=rr persist=0 mask=32", "bad family"},
		{"q2 svc id=1 fam=4 fwm=0 sched=rr persist=0 mask=32", "fwm=0"},
		{"q2 svc id=1 fam=4 proto=6 addr=192.0.2.1 port=80 sched=wlc persist=0 mask=32", "unknown scheduler"},
		{"q2 svc id=1 fam=4 proto=6 addr=192.0.2.1 port=80 sched=rr persist=0 mask=33", "bad mask"},
		{"q2 svc id=1 fam=4 proto=6 addr=192.0.2.1 port=65536 sched=rr persist=0 mask=32", "out of range"},
		{"q2 svc id=1 fam=6 proto=6 addr=fe80::1%eth0 port=1 sched=rr persist=0 mask=128", "not canonical"},
		{"q2 svc id=1 fam=6 proto=6 addr=::ffff:192.0.2.1 port=1 sched=rr persist=0 mask=128", "not canonical"},
		{"q2 sched id=1 n=x", "invalid syntax"},
		{"q2 sched id=1 n=0", "n=0"},
		{"q2 sched id=1 n=65536", "out of range"},
		{"q2 nat id=1 p=1", `unexpected field "p"`},
		{"q2 svc id=32768 fam=4 fwm=3 sched=rr persist=0 mask=32", "above"},
		{"q2 w id=1 d=2 w=1", "unknown kind"},
		{"q2 cnt id=1 " + strings.Repeat("x", 300), "too long"},
	}
	for _, c := range cases {
		_, err := parseRecord(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("parseRecord(%q) = %v, want error containing %q", c.in, err, c.want)
		}
	}
}

func TestChainID(t *testing.T) {
	cases := []struct {
		name string
		id   uint32
		ok   bool
	}{
		{"s1", 1, true},
		{"s32767", 32767, true},
		{"s32768", 0, false},
		{"s12d40", 0, false},
		{"t40", 0, false},
		{"s0", 0, false},
		{"s01", 0, false},
		{"s", 0, false},
		{"services", 0, false},
		{"stats_pre", 0, false},
		{"s99999999999", 0, false},
		{"s2147483648", 0, false},
		{"prerouting", 0, false},
	}
	for _, c := range cases {
		id, ok := chainID(c.name)
		if ok != c.ok || (ok && id != c.id) {
			t.Errorf("chainID(%q) = %d %v, want %d %v", c.name, id, ok, c.id, c.ok)
		}
	}
	if id, ok := persistSetID(persistSetName(record{SvcID: 12, Persistence: 300, Netmask: 24, Key: lvs.ServiceKey{Family: lvs.IPv4}})); !ok || id != 12 {
		t.Errorf("persistSetID = %d %v", id, ok)
	}
	for _, bad := range []string{"p12_300_24", "q12_300_24_4", "p0_1_1_4", "px_1_1_4", "stats_in"} {
		if _, ok := persistSetID(bad); ok {
			t.Errorf("persistSetID(%q) accepted", bad)
		}
	}
}

func TestSlotCounts(t *testing.T) {
	cases := []struct {
		sched   string
		weights []int32
		want    []uint32
		total   uint32
	}{
		{"wrr", []int32{1, 2, 3}, []uint32{1, 2, 3}, 6},
		{"sh", []int32{1, 2, 3}, []uint32{1, 2, 3}, 6},
		{"rr", []int32{1, 2, 3}, []uint32{1, 1, 1}, 3},
		{"dh", []int32{9, 0, 3}, []uint32{1, 0, 1}, 2},
		{"wrr", []int32{0, 4, 0}, []uint32{0, 4, 0}, 4},
		{"wrr", []int32{0, 0, 0}, []uint32{0, 0, 0}, 0},
		// Above maxSlots the shares scale, every live destination keeps one.
		{"wrr", []int32{1 << 20, 1 << 20, 1}, []uint32{32767, 32767, 1}, 65535},
		{"sh", []int32{3 << 16, 1 << 16}, []uint32{49151, 16383}, 65534},
	}
	for _, c := range cases {
		got, n := slotCounts(c.sched, c.weights)
		if n != c.total || !slices.Equal(got, c.want) {
			t.Errorf("%s %v: %v total %d, want %v total %d", c.sched, c.weights, got, n, c.want, c.total)
		}
	}
}

func FuzzParseRecord(f *testing.F) {
	for _, s := range []string{
		"q2 svc id=1 fam=4 proto=6 addr=192.0.2.1 port=80 sched=wrr persist=0 mask=32",
		"q2 svc id=3 fam=6 fwm=7 sched=dh persist=300 mask=64",
		"q2 sched id=9 n=6 h=deadbeef", "q2 w id=9 d=10 w=3", "q2 cnt id=9",
		"q2 dst id=9 d=11 addr=2001:db8::1 port=0", "q2 infra r=stoo", "q2 infra r=masq",
		"q2 w id=1 d=1 w=1 w=2", "q1", "", "q2 svc",
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

func TestIDAllocWraps(t *testing.T) {
	a := &idAlloc{used: map[uint32]bool{}, next: maxServiceID - 1, limit: maxServiceID, fill: func(used map[uint32]bool) { used[1], used[2] = true, true }}
	var got []uint32
	for range 3 {
		got = append(got, a.get())
	}
	if want := []uint32{maxServiceID, 3, 4}; !slices.Equal(got, want) {
		t.Fatalf("IDs %v, want %v", got, want)
	}
}
