package ipvs

import (
	"bytes"
	"encoding/binary"
	"quadrature/lvs"
	"testing"
	"time"
)

// encodeForDump wraps a nested service/dest attribute the way the kernel's
// dump message carries it (the payload after the genetlink header).
func encodeService(s lvs.Service) []byte {
	var e attrEncoder
	e.service(&s, true)
	return e.b
}

func encodeDest(d lvs.Destination) []byte {
	var e attrEncoder
	e.dest(&d, true)
	return e.b
}

func TestCodecRoundTrip(t *testing.T) {
	for _, s := range []lvs.Service{
		{Key: tcpKey("192.0.2.1", 80), Scheduler: "wrr", Flags: lvs.SchedFlag1 | lvs.SchedFlag2, Persistence: 300 * time.Second, Netmask: 24},
		{Key: lvs.ServiceKey{Family: lvs.IPv6, Protocol: lvs.UDP, Addr: a("2001:db8::1"), Port: 53}, Scheduler: "mh", OnePacket: true, Netmask: 64},
		{Key: lvs.ServiceKey{Family: lvs.IPv6, FWMark: 9}, Scheduler: "rr", Netmask: 128},
		{Key: lvs.ServiceKey{Family: lvs.IPv4, Protocol: lvs.SCTP, Addr: a("192.0.2.9"), Port: 3868}, Scheduler: "sh", Flags: lvs.SchedFlag3, Netmask: 32},
	} {
		got, _, err := decodeServiceMsg(encodeService(s))
		if err != nil {
			t.Fatalf("%s: %v", s.Key, err)
		}
		want := lvs.Table{Services: []lvs.Service{s}}.CanonicalText()
		if g := (lvs.Table{Services: []lvs.Service{got}}).CanonicalText(); g != want {
			t.Errorf("round trip:\n%s\nwant:\n%s", g, want)
		}
	}
	for _, d := range []lvs.Destination{
		{Addr: a("198.51.100.1"), Port: 80, Weight: 5, Method: lvs.NAT, UpperThreshold: 100, LowerThreshold: 10},
		{Addr: a("2001:db8::9"), Port: 443, Weight: 0, Method: lvs.DR},
		{Addr: a("198.51.100.2"), Port: 80, Weight: 1, Method: lvs.TUN, Tunnel: lvs.TunnelGUE, TunnelPort: 6080, TunnelFlags: lvs.TunnelRemCsum},
		{Addr: a("198.51.100.3"), Port: 80, Weight: 1 << 30, Method: lvs.TUN, Tunnel: lvs.TunnelGRE, TunnelFlags: lvs.TunnelCsum},
	} {
		got, _, err := decodeDestMsg(encodeDest(d), lvs.IPv4)
		if err != nil {
			t.Fatalf("%s: %v", d.Key(), err)
		}
		if got != d {
			t.Errorf("round trip %+v, want %+v", got, d)
		}
	}
}

// TestEncodeBytes pins the wire format of a destination: attribute order,
// lengths, padding, byte orders (ports big-endian, the rest host order).
func TestEncodeBytes(t *testing.T) {
	var e attrEncoder
	e.dest(&lvs.Destination{Addr: a("198.51.100.1"), Port: 80, Weight: 2, Method: lvs.DR}, true)
	ne := binary.NativeEndian
	var want []byte
	attr := func(typ uint16, v []byte) {
		want = ne.AppendUint16(want, uint16(4+len(v)))
		want = ne.AppendUint16(want, typ)
		want = append(want, v...)
		for len(want)%4 != 0 {
			want = append(want, 0)
		}
	}
	nest := len(want)
	want = append(want, 0, 0, 0, 0)
	attr(ipvsDestAttrAddr, []byte{198, 51, 100, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	attr(ipvsDestAttrPort, []byte{0, 80})
	attr(ipvsDestAttrAddrFamily, ne.AppendUint16(nil, afINET))
	attr(ipvsDestAttrFwdMethod, ne.AppendUint32(nil, ipvsFwdDroute))
	attr(ipvsDestAttrWeight, ne.AppendUint32(nil, 2))
	attr(ipvsDestAttrUThresh, ne.AppendUint32(nil, 0))
	attr(ipvsDestAttrLThresh, ne.AppendUint32(nil, 0))
	ne.PutUint16(want[nest:], uint16(len(want)-nest))
	ne.PutUint16(want[nest+2:], ipvsCmdAttrDest|nlaFNested)
	if !bytes.Equal(e.b, want) {
		t.Errorf("encoded\n% x\nwant\n% x", e.b, want)
	}
	if got := netmaskBytes(lvs.IPv4, 24); !bytes.Equal(got, []byte{255, 255, 255, 0}) {
		t.Errorf("netmask /24 = % x", got)
	}
	if got := netmaskBytes(lvs.IPv6, 64); ne.Uint32(got) != 64 {
		t.Errorf("netmask /64 = % x", got)
	}
}

func TestDecodeErrors(t *testing.T) {
	good := encodeService(lvs.Service{Key: tcpKey("192.0.2.1", 80), Scheduler: "rr", Netmask: 32})
	for name, b := range map[string][]byte{
		"empty":      nil,
		"truncated":  good[:len(good)-3],
		"bad length": {0xff, 0xff, 1, 0},
		"short hdr":  {8, 0},
	} {
		if _, _, err := decodeServiceMsg(b); err == nil {
			t.Errorf("%s: no error", name)
		}
		if _, _, err := decodeDestMsg(b, lvs.IPv4); err == nil {
			t.Errorf("%s: no error (dest)", name)
		}
	}
	// A service without an address family.
	var e attrEncoder
	off := e.nest(ipvsCmdAttrService)
	e.u32(ipvsSvcAttrFWMark, 3)
	e.end(off)
	if _, _, err := decodeServiceMsg(e.b); err == nil {
		t.Error("service without family accepted")
	}
	if err := walkMsgs([]byte{100, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, func(uint16, uint32, []byte) error { return nil }); err == nil {
		t.Error("oversized netlink message accepted")
	}
}

func FuzzDecodeService(f *testing.F) {
	f.Add(encodeService(lvs.Service{Key: tcpKey("192.0.2.1", 80), Scheduler: "wrr", Persistence: time.Minute, Netmask: 24}))
	f.Add(encodeService(lvs.Service{Key: lvs.ServiceKey{Family: lvs.IPv6, FWMark: 4}, Scheduler: "rr", Netmask: 64}))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, _, err := decodeServiceMsg(b)
		if err != nil {
			return
		}
		_ = lvs.Table{Services: []lvs.Service{s}}.CanonicalText()
		// What decodes re-encodes and decodes to the same service.
		s2, _, err := decodeServiceMsg(encodeService(normService(s)))
		if err != nil {
			t.Fatalf("re-decode of %+v: %v", s, err)
		}
		if s2.Key != normService(s).Key {
			t.Fatalf("key %v became %v", s.Key, s2.Key)
		}
	})
}

func FuzzDecodeDest(f *testing.F) {
	f.Add(encodeDest(lvs.Destination{Addr: a("198.51.100.1"), Port: 80, Weight: 5, Method: lvs.TUN, Tunnel: lvs.TunnelGUE, TunnelPort: 9}))
	f.Add(encodeDest(lvs.Destination{Addr: a("2001:db8::1"), Port: 80, Weight: 0, Method: lvs.DR}))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _ = decodeDestMsg(b, lvs.IPv4)
		_, _, _ = decodeDestMsg(b, lvs.IPv6)
	})
}

func FuzzWalkMsgs(f *testing.F) {
	f.Add(appendMsg(nil, 0x20, nlmFRequest, 7, ipvsCmdGetService, 1, encodeService(lvs.Service{Key: tcpKey("192.0.2.1", 80), Scheduler: "rr"})))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = walkMsgs(b, func(typ uint16, seq uint32, p []byte) error {
			if typ == nlmsgError {
				_, _ = errCode(p)
			}
			_, _, _ = decodeServiceMsg(p)
			return nil
		})
	})
}

func normService(s lvs.Service) lvs.Service {
	return lvs.Table{Services: []lvs.Service{s}}.Normalize().Services[0]
}
