package lvs

import (
	"context"
	"net/netip"
	"reflect"
	"testing"
	"time"
)

// isNormal must agree with Normalize: a table it accepts is exactly what
// Normalize returns for it, and Normalize's output is always accepted
// (SetDesired and Digest skip the copy on its word).
func FuzzNormalForm(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7})
	f.Add([]byte{9, 9, 1, 0, 200, 3, 3, 3, 17, 2, 1, 5})
	f.Add([]byte{255, 0, 128, 7, 64, 1, 2, 250, 251, 252})
	f.Fuzz(func(t *testing.T, b []byte) {
		tab := tableFromBytes(b)
		norm := tab.Normalize()
		if !norm.isNormal() {
			t.Fatalf("Normalize's output is not normal: %+v", norm)
		}
		if tab.isNormal() && !reflect.DeepEqual(stripEmpty(tab), stripEmpty(norm)) {
			t.Fatalf("isNormal accepted a table Normalize changes:\n%+v\n%+v", tab, norm)
		}
		if tab.Digest() != norm.Digest() {
			t.Fatal("Digest differs between a table and its normal form")
		}
	})
}

// stripEmpty makes nil and empty destination lists compare equal
// (Normalize clones nil into nil, but a fuzzed table may hold either).
func stripEmpty(t Table) Table {
	out := Table{Timeouts: t.Timeouts, Services: make([]Service, len(t.Services))}
	for i, s := range t.Services {
		if len(s.Destinations) == 0 {
			s.Destinations = nil
		}
		out.Services[i] = s
	}
	return out
}

// tableFromBytes builds a small table, unsorted and not canonical as the
// bytes say: families left zero, 4-in-6 addresses, fwmark services with
// addresses, tunnel fields on NAT destinations, sub-second persistence.
func tableFromBytes(b []byte) Table {
	next := func() byte {
		if len(b) == 0 {
			return 0
		}
		c := b[0]
		b = b[1:]
		return c
	}
	var t Table
	for n := int(next() % 5); n > 0; n-- {
		c := next()
		var s Service
		switch c % 4 {
		case 0:
			s.Key = ServiceKey{Protocol: TCP, Addr: netip.AddrFrom4([4]byte{192, 0, 2, next() % 4}), Port: uint16(next() % 3)}
		case 1:
			a := netip.AddrFrom4([4]byte{198, 51, 100, next() % 4})
			s.Key = ServiceKey{Protocol: UDP, Addr: netip.AddrFrom16(a.As16()), Port: 53} // 4-in-6
		case 2:
			s.Key = ServiceKey{FWMark: uint32(next()%3 + 1), Family: Family(next() % 2 * uint8(IPv6))}
			if c&8 != 0 {
				s.Key.Protocol, s.Key.Port = TCP, 80
			}
		default:
			s.Key = ServiceKey{Protocol: TCP, Addr: netip.MustParseAddr("2001:db8::1"), Port: uint16(next() % 3), Family: IPv6}
		}
		if c&16 != 0 {
			s.Key.Family = FamilyOf(s.Key.Addr)
			s.Netmask = 32
			if s.Key.Family == IPv6 {
				s.Netmask = 128
			}
		}
		if c&32 != 0 {
			s.Persistence = time.Duration(next()) * 100 * time.Millisecond
		}
		for m := int(next() % 4); m > 0; m-- {
			d := next()
			dest := Destination{Addr: netip.AddrFrom4([4]byte{203, 0, 113, d % 5}), Port: 80, Weight: int32(d % 3), Method: Method(d % 3)}
			if d&64 != 0 {
				dest.Tunnel, dest.TunnelPort = TunnelGRE, 4754
			}
			if d&128 != 0 {
				dest.Addr = netip.AddrFrom16(dest.Addr.As16())
			}
			s.Destinations = append(s.Destinations, dest)
		}
		t.Services = append(t.Services, s)
	}
	return t
}

// The whole-table apply path normalizes a table once: fsm builds it in
// Normalize form, SetDesired keeps that table (no copy), and Run's passes
// use it as it is. A patch afterwards must then copy, never write to the
// caller's table; the applied and desired tables stay apart (a draining
// destination is in one, not the other).
func TestRunSharesNormalizedTable(t *testing.T) {
	dp := NewMemDataPlane()
	clk := &fakeClock{now: time.Unix(1000, 0)}
	r := newMemReconciler(t, dp, func(c *Config) { c.Now = clk.Now; c.DrainTimeout = time.Minute })
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()

	mine := ScaleTable().NormalizeInPlace()
	before := mine.Normalize() // a private copy to compare against
	r.SetDesired(mine)
	waitUntil(t, func() bool { return dp.Table().Digest() == before.Digest() })
	r.syncMu.Lock()
	shared := len(r.lastDesired.Services) > 0 && &r.lastDesired.Services[0] == &mine.Services[0]
	r.syncMu.Unlock()
	if !shared {
		t.Fatal("Run copied a table that was already normalized")
	}
	if got, ok := r.Desired(); !ok || &got.Services[0] != &mine.Services[0] {
		t.Fatal("Desired is not the table SetDesired was given")
	}

	// A destination leaves service 3 while busy: it drains (kept in the
	// applied table with weight 0, absent from the desired one); another
	// service gets a new weight.
	s3 := mine.Services[3]
	gone := s3.Destinations[0]
	dp.SetDestStats(s3.Key, gone.Key(), DestStats{ActiveConns: 4})
	s3.Destinations = append([]Destination(nil), s3.Destinations[1:]...)
	s9 := mine.Services[9]
	s9.Destinations = append([]Destination(nil), s9.Destinations...)
	s9.Destinations[0].Weight += 7
	if _, err := r.Patch(t.Context(), []Service{s3, s9}, nil); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(mine, before) {
		t.Fatal("Patch wrote to the table handed to SetDesired")
	}
	des, _ := r.Desired()
	if d, _ := des.Lookup(s3.Key); len(d.Destinations) != len(s3.Destinations) {
		t.Fatalf("desired service 3 has %d destinations, want %d (the draining one leaked into it)", len(d.Destinations), len(s3.Destinations))
	}
	r.syncMu.Lock()
	a, _ := r.applied.Lookup(s3.Key)
	r.syncMu.Unlock()
	if len(a.Destinations) != len(s3.Destinations)+1 {
		t.Fatalf("applied service 3 has %d destinations, want %d with the draining one", len(a.Destinations), len(s3.Destinations)+1)
	}
	// A second patch goes in place (the reconciler owns its copy now) and
	// still leaves the caller's table alone.
	s9.Destinations = append([]Destination(nil), s9.Destinations...)
	s9.Destinations[1].Weight += 3
	if _, err := r.Patch(t.Context(), []Service{s9}, nil); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(mine, before) {
		t.Fatal("second Patch wrote to the table handed to SetDesired")
	}
	got, _ := dp.Table().Lookup(s9.Key)
	if !reflect.DeepEqual(got.Destinations, s9.Destinations) {
		t.Fatalf("kernel after patches: %+v, want %+v", got.Destinations, s9.Destinations)
	}
}

// Digest and SetDesired do not copy a normalized table: their
// allocations do not grow with the table.
func TestNormalizedTableNotCopied(t *testing.T) {
	big := ScaleTable().Normalize()
	small := twoServices().Normalize()
	if a, b := testing.AllocsPerRun(5, func() { _ = big.Digest() }), testing.AllocsPerRun(5, func() { _ = small.Digest() }); a > b+2 {
		t.Errorf("Digest of a normalized table allocates %v times for %d services, %v for %d", a, len(big.Services), b, len(small.Services))
	}
	r := newMemReconciler(t, NewMemDataPlane(), nil)
	if a := testing.AllocsPerRun(5, func() { r.SetDesired(big) }); a > 2 {
		t.Errorf("SetDesired of a normalized table: %v allocations", a)
	}
}
