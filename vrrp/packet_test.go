package vrrp

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"path/filepath"
	"testing"
	"time"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	src4 = netip.MustParseAddr("192.0.2.1")
	src6 = netip.MustParseAddr("fe80::1")
)

// Golden encodings laid out by hand from RFC 3768 §5.1 / RFC 5798 §5.1;
// the checksums are the ones keepalived 2.2.7 sent for the same adverts
// (testdata/*.pcap). keepalived 2.2.7 does not know v3_checksum_as_v2, so
// that mode is checked by property instead.
func TestMarshalGolden(t *testing.T) {
	cases := []struct {
		name     string
		a        Advert
		v6       bool
		src, dst netip.Addr
		noPseudo bool
		want     string
	}{
		{
			name: "v2 PASS",
			a: Advert{Version: 2, VRID: 51, Priority: 100, Interval: time.Second, AuthType: AuthPass,
				AuthData: [8]byte{'s', 'e', 'c', 'r', 'e', 't', '1', '2'},
				Addrs:    []netip.Addr{netip.MustParseAddr("192.0.2.100")}},
			src: src4, dst: GroupIPv4,
			// 2|1 VRID prio naddr | PASS 1s | cksum | 192.0.2.100 | "secret12"
			want: "21336401 0101 49e7 c0000264 7365637265743132",
		},
		{
			name: "v3 IPv4 with pseudo-header",
			a:    Advert{Version: 3, VRID: 52, Priority: 150, Interval: 500 * time.Millisecond, Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.100")}},
			src:  src4, dst: GroupIPv4,
			want: "31349601 0032 d3a2 c0000264",
		},
		{
			name: "v3 IPv4 without pseudo-header (v3_checksum_as_v2)",
			a:    Advert{Version: 3, VRID: 53, Priority: 150, Interval: 500 * time.Millisecond, Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.100")}},
			src:  src4, dst: GroupIPv4, noPseudo: true,
			want: "31359601 0032 XXXX c0000264",
		},
		{
			name: "v3 IPv6",
			a: Advert{Version: 3, VRID: 54, Priority: 120, Interval: 500 * time.Millisecond,
				Addrs: []netip.Addr{netip.MustParseAddr("fe80::100")}},
			v6: true, src: src6, dst: GroupIPv6,
			want: "31367801 0032 58f6 fe800000000000000000000000000100",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.a.Marshal(c.v6, c.src, c.dst, c.noPseudo)
			if err != nil {
				t.Fatal(err)
			}
			want := bytes.ReplaceAll([]byte(c.want), []byte(" "), nil)
			if i := bytes.Index(want, []byte("XXXX")); i >= 0 {
				// Checksum not given literally: it must verify as a plain
				// internet checksum over the PDU alone.
				copy(want[i:], hex.EncodeToString(got[6:8]))
				if !VerifyChecksum(got, 3, false, netip.Addr{}, netip.Addr{}, true) {
					t.Errorf("checksum does not verify without pseudo-header")
				}
				if VerifyChecksum(got, 3, false, c.src, c.dst, false) {
					t.Errorf("checksum also verifies with pseudo-header")
				}
			}
			if hex.EncodeToString(got) != string(want) {
				t.Errorf("Marshal =\n %x\nwant\n %s", got, want)
			}
			back, err := Decode(got, c.v6)
			if err != nil {
				t.Fatalf("Decode(Marshal) = %v", err)
			}
			if back.VRID != c.a.VRID || back.Priority != c.a.Priority || back.Interval != c.a.Interval || len(back.Addrs) != len(c.a.Addrs) || back.AuthData != c.a.AuthData {
				t.Errorf("round trip = %+v, want %+v", back, c.a)
			}
		})
	}
}

// TestKeepalivedCaptures decodes adverts captured from keepalived 2.2.7
// (tcpdump -w in a namespace; configs in testdata/keepalived-*.conf),
// verifies their checksums the way each mode defines them, and checks
// that Marshal reproduces every packet byte for byte.
func TestKeepalivedCaptures(t *testing.T) {
	cases := []struct {
		file     string
		version  int
		v6       bool
		vrid     uint8
		prio     uint8
		interval time.Duration
		naddr    int
		noPseudo bool
		pass     string
	}{
		{"v2pass.pcap", 2, false, 51, 100, time.Second, 1, false, "secret12"},
		{"v3v4.pcap", 3, false, 52, 150, 500 * time.Millisecond, 1, false, ""},
		{"v3v6.pcap", 3, true, 54, 120, 500 * time.Millisecond, 1, false, ""},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			pkts, err := readPcap(filepath.Join("testdata", c.file))
			if err != nil {
				t.Fatal(err)
			}
			if len(pkts) < 2 {
				t.Fatalf("%d packets in capture, want at least 2", len(pkts))
			}
			sawStop := false
			for i, p := range pkts {
				if p.TTL != TTL {
					t.Errorf("packet %d: TTL %d", i, p.TTL)
				}
				a, err := Decode(p.PDU, c.v6)
				if err != nil {
					t.Fatalf("packet %d: %v", i, err)
				}
				if a.Version != c.version || a.VRID != c.vrid || a.Interval != c.interval || len(a.Addrs) != c.naddr {
					t.Errorf("packet %d: decoded %+v", i, a)
				}
				if a.Priority == 0 {
					sawStop = true
				} else if a.Priority != c.prio {
					t.Errorf("packet %d: priority %d, want %d", i, a.Priority, c.prio)
				}
				if c.pass != "" && (a.AuthType != AuthPass || string(a.AuthData[:]) != c.pass) {
					t.Errorf("packet %d: auth %d %q", i, a.AuthType, a.AuthData)
				}
				if !VerifyChecksum(p.PDU, a.Version, c.v6, p.Src, p.Dst, c.noPseudo) {
					t.Errorf("packet %d: checksum %#04x does not verify", i, a.Checksum)
				}
				if c.version == 3 && !c.v6 && VerifyChecksum(p.PDU, a.Version, c.v6, p.Src, p.Dst, !c.noPseudo) {
					t.Errorf("packet %d: checksum also verifies in the other v3 mode", i)
				}
				re := a
				re.Checksum = 0
				got, err := re.Marshal(c.v6, p.Src, p.Dst, c.noPseudo)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, p.PDU) {
					t.Errorf("packet %d: Marshal =\n %x\nkeepalived sent\n %x", i, got, p.PDU)
				}
			}
			if !sawStop {
				t.Errorf("no priority-0 advert at keepalived's shutdown in the capture")
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	v3 := func(mod func(b []byte) []byte) []byte {
		a := Advert{Version: 3, VRID: 52, Priority: 150, Interval: 500 * time.Millisecond, Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.100")}}
		b, _ := a.Marshal(false, src4, GroupIPv4, false)
		return mod(b)
	}
	cases := []struct {
		name string
		b    []byte
		v6   bool
		want DropReason
	}{
		{"empty", nil, false, DropTooShort},
		{"seven bytes", make([]byte, 7), false, DropTooShort},
		{"version 1", v3(func(b []byte) []byte { b[0] = 0x11; return b }), false, DropVersion},
		{"version 4", v3(func(b []byte) []byte { b[0] = 0x41; return b }), false, DropVersion},
		{"v2 over IPv6", v3(func(b []byte) []byte { b[0] = 0x21; return b }), true, DropVersion},
		{"type 2", v3(func(b []byte) []byte { b[0] = 0x32; return b }), false, DropType},
		{"count too large", v3(func(b []byte) []byte { b[3] = 2; return b }), false, DropLength},
		{"v6 count needs 16 bytes", v3(func(b []byte) []byte { return b }), true, DropLength},
		{"vrid 0", v3(func(b []byte) []byte { b[1] = 0; return b }), false, DropVRID},
		{"interval 0", v3(func(b []byte) []byte { b[4], b[5] = 0xf0, 0; return b }), false, DropInterval},
		{"v2 truncated auth", mustHex(t, "2133640101010000c0000264"), false, DropLength},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(c.b, c.v6)
			if err == nil {
				t.Fatalf("Decode accepted %x", c.b)
			}
			if r := ReasonOf(err); r != c.want {
				t.Errorf("reason %q, want %q (%v)", r, c.want, err)
			}
		})
	}
}

func TestDecodeToleratesPadding(t *testing.T) {
	a := Advert{Version: 3, VRID: 9, Priority: 1, Interval: 10 * time.Millisecond, Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.9")}}
	b, err := a.Marshal(false, src4, GroupIPv4, false)
	if err != nil {
		t.Fatal(err)
	}
	padded := append(b, make([]byte, 6)...)
	got, err := Decode(padded, false)
	if err != nil || got.VRID != 9 || len(got.Addrs) != 1 {
		t.Fatalf("Decode(padded) = %+v, %v", got, err)
	}
}

func TestMarshalRejects(t *testing.T) {
	cases := []struct {
		name string
		a    Advert
		v6   bool
	}{
		{"v2 over IPv6", Advert{Version: 2, VRID: 1, Interval: time.Second}, true},
		{"v2 sub-second", Advert{Version: 2, VRID: 1, Interval: 500 * time.Millisecond}, false},
		{"v3 too long", Advert{Version: 3, VRID: 1, Interval: 41 * time.Second}, false},
		{"family mismatch", Advert{Version: 3, VRID: 1, Interval: time.Second, Addrs: []netip.Addr{src6}}, false},
		{"version 5", Advert{Version: 5, VRID: 1, Interval: time.Second}, false},
	}
	for _, c := range cases {
		if _, err := c.a.Marshal(c.v6, netip.Addr{}, netip.Addr{}, false); err == nil {
			t.Errorf("%s: Marshal accepted", c.name)
		}
	}
}

// FuzzDecode: Decode never panics, and whatever it accepts re-encodes to
// the same bytes (apart from the checksum and v3's reserved bits).
func FuzzDecode(f *testing.F) {
	for _, file := range []string{"v2pass.pcap", "v3v4.pcap", "v3v6.pcap"} {
		pkts, err := readPcap(filepath.Join("testdata", file))
		if err != nil {
			f.Fatal(err)
		}
		for _, p := range pkts[:1] {
			f.Add(p.PDU, p.Src.Is6())
		}
	}
	f.Add([]byte{}, false)
	f.Add([]byte{0x31, 1, 100, 0, 0, 100, 0, 0}, true)
	f.Fuzz(func(t *testing.T, b []byte, v6 bool) {
		a, err := Decode(b, v6)
		if err != nil {
			_ = ReasonOf(err)
			return
		}
		n := PacketLen(a.Version, v6, len(a.Addrs))
		if a.Version == 3 && b[4]&0xf0 != 0 {
			return
		}
		src, dst := src4, GroupIPv4
		if v6 {
			src, dst = src6, GroupIPv6
		}
		out, err := a.Marshal(v6, src, dst, false)
		if err != nil {
			t.Fatalf("Marshal of decoded %+v: %v", a, err)
		}
		if len(out) != n {
			t.Fatalf("length %d, want %d", len(out), n)
		}
		want := append([]byte(nil), b[:n]...)
		copy(want[6:8], out[6:8])
		if !bytes.Equal(out, want) {
			t.Fatalf("re-encoded\n %x\nfrom\n %x", out, want)
		}
		if !VerifyChecksum(out, a.Version, v6, src, dst, false) {
			t.Fatalf("own checksum does not verify")
		}
	})
}
