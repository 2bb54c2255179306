package loopguard

import (
	"net"
	"strings"
	"testing"
)

func TestParseMACs(t *testing.T) {
	got, err := ParseMACs("02:00:00:00:00:0B,02:00:00:00:00:0a,02:00:00:00:00:0b")
	if err != nil || FormatMACs(got) != "02:00:00:00:00:0a,02:00:00:00:00:0b" {
		t.Fatalf("ParseMACs: %v %v", got, err)
	}
	if got, err := ParseMACs(""); err != nil || len(got) != 0 {
		t.Fatalf("empty: %v %v", got, err)
	}
	for _, s := range []string{
		",", "02:00:00:00:00:0a,", "02-00-00-00-00-0a", "0200.0000.000a",
		"03:00:00:00:00:0a", "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00", "02:00:00:00:00",
		"00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01", " 02:00:00:00:00:0a",
		strings.Repeat("02:00:00:00:00:0a,", 64) + "02:00:00:00:00:0a",
	} {
		if m, err := ParseMACs(s); err == nil {
			t.Errorf("ParseMACs(%q) = %v, want an error", s, m)
		}
	}
}

func FuzzParseMACs(f *testing.F) {
	for _, s := range []string{"", "02:00:00:00:00:0a", "02:00:00:00:00:0a,0a:8d:95:76:d9:6b", "02:00:00:00:00:0A", ",,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := ParseMACs(s)
		if err != nil {
			return
		}
		// What parses renders back to a list that parses to the same.
		again, err := ParseMACs(FormatMACs(ms))
		if err != nil || FormatMACs(again) != FormatMACs(ms) {
			t.Fatalf("%q: round trip %v %v", s, again, err)
		}
		if _, err := (Desired{Peers: ms}).Normalize(); err != nil {
			t.Fatalf("%q parses but Normalize rejects it: %v", s, err)
		}
	})
}

func TestPeerMACs(t *testing.T) {
	own := []net.HardwareAddr{mac("02:00:00:00:00:01")}
	pub := map[string][]string{
		"iwash1": {"02:00:00:00:00:01"},
		"iwash2": {"02:00:00:00:00:02", "02:00:00:00:00:01"}, // also lists ours: never a peer
		"iwash3": {"02:00:00:00:00:03", "not a mac"},
		"bad":    {"ff:ff:ff:ff:ff:ff"},
		"many":   make([]string, 65),
	}
	got, err := PeerMACs(pub, "iwash1", own)
	if FormatMACs(got) != "02:00:00:00:00:02,02:00:00:00:00:03" {
		t.Fatalf("PeerMACs = %s", FormatMACs(got))
	}
	for _, want := range []string{"node bad", "node iwash3", "node many"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("error %v: want one naming %s", err, want)
		}
	}
	if got, err := PeerMACs(nil, "x", nil); got != nil || err != nil {
		t.Fatalf("no peers: %v %v", got, err)
	}
}

func TestMACsOf(t *testing.T) {
	ifs := []net.Interface{
		{Name: "lo", Flags: net.FlagUp | net.FlagLoopback, HardwareAddr: nil},
		{Name: "eth0", Flags: net.FlagUp, HardwareAddr: mac("02:00:00:00:00:02")},
		{Name: "eth0.10", Flags: net.FlagUp, HardwareAddr: mac("02:00:00:00:00:02")},
		{Name: "eth1", Flags: 0, HardwareAddr: mac("02:00:00:00:00:03")},
		{Name: "ib0", Flags: net.FlagUp, HardwareAddr: make(net.HardwareAddr, 20)},
		{Name: "tun0", Flags: net.FlagUp},
	}
	if got := FormatMACs(macsOf(ifs)); got != "02:00:00:00:00:02" {
		t.Fatalf("macsOf = %s", got)
	}
	if _, err := LocalMACs(); err != nil {
		t.Fatalf("LocalMACs: %v", err)
	}
	addrs, err := LocalAddrs()
	if err != nil {
		t.Fatalf("LocalAddrs: %v", err)
	}
	for _, a := range addrs {
		if a.IsLoopback() || a.IsLinkLocalUnicast() || a.Is4In6() {
			t.Fatalf("LocalAddrs returned %s", a)
		}
	}
}
