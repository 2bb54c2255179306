package lvs

import (
	"strings"
	"testing"
	"time"
)

func TestParseGroupEntry(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string // String() of the entry, or "error: substring"
		n    int    // addresses
	}{
		{"192.0.2.10 80", "192.0.2.10 80", 1},
		{"192.0.2.10-20 80", "192.0.2.10-192.0.2.20 80", 11},
		{"192.0.2.10-192.0.2.12 443", "192.0.2.10-192.0.2.12 443", 3},
		{"192.0.2.0/30 80", "192.0.2.0-192.0.2.3 80", 4},
		{"192.0.2.7/32", "192.0.2.7", 1},
		{"2001:db8::10-1f 443", "2001:db8::10-2001:db8::1f 443", 16},
		{"2001:db8::/126 53", "2001:db8::-2001:db8::3 53", 4},
		{"fwmark 7", "fwmark 7", 0},
		{"FWMARK 7 inet6", "fwmark 7 inet6", 0},
		{"192.0.2.20-10 80", "error: end before start", 0},
		{"192.0.2.10-256 80", "error: want 0-255", 0},
		{"192.0.2.10-2001:db8::1", "error: mixed families", 0},
		{"10.0.0.0/8 80", "error: more than", 0},
		{"2001:db8::/64", "error: more than", 0},
		{"192.0.2.1 99999", "error: out of range", 0},
		{"192.0.2.1 80 90", "error: want", 0},
		{"fwmark 0", "error: fwmark", 0},
		{"fwmark 7 inet5", "error: family", 0},
		{"fe80::1%eth0 80", "error: bad address", 0},
		{"", "error: empty", 0},
	} {
		e, err := ParseGroupEntry(strings.Fields(c.in))
		if strings.HasPrefix(c.want, "error: ") {
			if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(c.want, "error: ")) {
				t.Errorf("%q: err %v, want %s", c.in, err, c.want)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if e.String() != c.want {
			t.Errorf("%q: %s, want %s", c.in, e, c.want)
		}
		if e.FWMark == 0 && rangeSize(e.First, e.Last) != c.n {
			t.Errorf("%q: %d addresses, want %d", c.in, rangeSize(e.First, e.Last), c.n)
		}
	}
}

func TestExpandGroup(t *testing.T) {
	var entries []GroupEntry
	for _, l := range []string{"192.0.2.10-12 80", "192.0.2.20 8080", "fwmark 3", "fwmark 4 inet6"} {
		e, err := ParseGroupEntry(strings.Fields(l))
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
	}
	tmpl := Service{Key: ServiceKey{Protocol: TCP}, Scheduler: "wlc", Persistence: time.Minute, Destinations: []Destination{
		{Addr: a("198.51.100.1"), Weight: 2, Method: DR},
		{Addr: a("198.51.100.2"), Port: 9000, Weight: 1},
		{Addr: a("2001:db8::9"), Weight: 1, Method: TUN},
	}}
	got, err := ExpandGroup(entries[:3], tmpl)
	if err != nil {
		t.Fatal(err)
	}
	text := Table{Services: got}.CanonicalText()
	want := `TCP 192.0.2.10:80 sched=wlc flags=0x0 persist=1m0s mask=32 ops=false
  -> 198.51.100.1:80 DR w=2 u=0 l=0
  -> 198.51.100.2:9000 NAT w=1 u=0 l=0
  -> [2001:db8::9]:80 TUN w=1 tun=ipip port=0 tflags=0x0 u=0 l=0
TCP 192.0.2.11:80 sched=wlc flags=0x0 persist=1m0s mask=32 ops=false
  -> 198.51.100.1:80 DR w=2 u=0 l=0
  -> 198.51.100.2:9000 NAT w=1 u=0 l=0
  -> [2001:db8::9]:80 TUN w=1 tun=ipip port=0 tflags=0x0 u=0 l=0
TCP 192.0.2.12:80 sched=wlc flags=0x0 persist=1m0s mask=32 ops=false
  -> 198.51.100.1:80 DR w=2 u=0 l=0
  -> 198.51.100.2:9000 NAT w=1 u=0 l=0
  -> [2001:db8::9]:80 TUN w=1 tun=ipip port=0 tflags=0x0 u=0 l=0
TCP 192.0.2.20:8080 sched=wlc flags=0x0 persist=1m0s mask=32 ops=false
  -> 198.51.100.1:8080 DR w=2 u=0 l=0
  -> 198.51.100.2:9000 NAT w=1 u=0 l=0
  -> [2001:db8::9]:8080 TUN w=1 tun=ipip port=0 tflags=0x0 u=0 l=0
`
	// fwmark services: IPv4 one takes all three (TUN crosses), IPv6 one
	// refuses the IPv4 NAT destination: expand them separately.
	if !strings.HasPrefix(text, want) {
		t.Errorf("expanded:\n%s\nwant prefix:\n%s", text, want)
	}
	if !strings.Contains(text, "FWM 3 sched=wlc") {
		t.Errorf("fwmark 3 missing:\n%s", text)
	}
	// The copies are independent.
	got[0].Destinations[0].Weight = 99
	if got[1].Destinations[0].Weight != 2 || tmpl.Destinations[0].Weight != 2 {
		t.Error("expanded services share destination storage")
	}
	// Errors.
	if _, err := ExpandGroup(entries[:1], Service{Scheduler: "rr"}); err == nil {
		t.Error("range without protocol accepted")
	}
	if _, err := ExpandGroup(append(entries[:1:1], entries[0]), tmpl); err == nil {
		t.Error("duplicate service accepted")
	}
	if _, err := ExpandGroup(entries[3:], Service{Scheduler: "rr", Destinations: []Destination{{Addr: a("198.51.100.1"), Weight: 1}}}); err == nil {
		t.Error("IPv4 NAT destination accepted in an IPv6 fwmark service")
	}
}

func TestNameParsers(t *testing.T) {
	for _, s := range Schedulers {
		if got, err := ParseScheduler(strings.ToUpper(s)); err != nil || got != s {
			t.Errorf("ParseScheduler(%s) = %q, %v", s, got, err)
		}
	}
	if _, err := ParseScheduler("wrrr"); err == nil {
		t.Error("bad scheduler accepted")
	}
	for _, c := range []struct {
		sched, flag string
		want        SchedFlags
		ok          bool
	}{
		{"sh", "sh-port", SchedFlag2, true}, {"sh", "sh-fallback", SchedFlag1, true},
		{"mh", "mh-port", SchedFlag2, true}, {"mh", "mh-fallback", SchedFlag1, true},
		{"rr", "flag-3", SchedFlag3, true}, {"", "sh-port", SchedFlag2, true},
		{"mh", "sh-port", 0, false}, {"sh", "bogus", 0, false},
	} {
		got, err := ParseSchedFlag(c.sched, c.flag)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseSchedFlag(%s, %s) = %v, %v", c.sched, c.flag, got, err)
		}
	}
	for in, want := range map[string]Method{"NAT": NAT, "dr": DR, "Tun": TUN} {
		if got, err := ParseMethod(in); err != nil || got != want {
			t.Errorf("ParseMethod(%s) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseMethod("PAT"); err == nil {
		t.Error("PAT accepted")
	}
	for in, want := range map[string]Protocol{"tcp": TCP, "UDP": UDP, "sctp": SCTP} {
		if got, err := ParseProtocol(in); err != nil || got != want {
			t.Errorf("ParseProtocol(%s) = %v, %v", in, got, err)
		}
	}
	for _, c := range []struct {
		in    string
		typ   TunnelType
		port  uint16
		flags TunnelFlags
		ok    bool
	}{
		{"", TunnelIPIP, 0, 0, true},
		{"type ipip", TunnelIPIP, 0, 0, true},
		{"type gue port 6080", TunnelGUE, 6080, 0, true},
		{"type gue port 6080 remcsum", TunnelGUE, 6080, TunnelRemCsum, true},
		{"type gre csum", TunnelGRE, 0, TunnelCsum, true},
		{"type gre nocsum", TunnelGRE, 0, 0, true},
		{"type gue", 0, 0, 0, false},
		{"type gue port 0", 0, 0, 0, false},
		{"type gre remcsum", 0, 0, 0, false},
		{"csum", 0, 0, 0, false},
		{"type vxlan", 0, 0, 0, false},
		{"type gre csum nocsum", 0, 0, 0, false},
	} {
		typ, port, flags, err := ParseTunnel(strings.Fields(c.in))
		if (err == nil) != c.ok || (c.ok && (typ != c.typ || port != c.port || flags != c.flags)) {
			t.Errorf("ParseTunnel(%q) = %v %d %v %v", c.in, typ, port, flags, err)
		}
	}
}

func TestValidate(t *testing.T) {
	good := svc("192.0.2.1", 80, "wrr", dst("198.51.100.1", 80, 1))
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(s *Service){
		"scheduler":   func(s *Service) { s.Scheduler = "nope" },
		"flags":       func(s *Service) { s.Flags = 0x1 },
		"persistence": func(s *Service) { s.Persistence = time.Millisecond },
		"netmask":     func(s *Service) { s.Netmask = 33 },
		"ops on tcp":  func(s *Service) { s.OnePacket = true },
		"weight":      func(s *Service) { s.Destinations[0].Weight = -1 },
		"thresholds":  func(s *Service) { s.Destinations[0].UpperThreshold, s.Destinations[0].LowerThreshold = 5, 10 },
		"family":      func(s *Service) { s.Destinations[0].Addr = a("2001:db8::1") },
		"gue port":    func(s *Service) { s.Destinations[0].Method, s.Destinations[0].Tunnel = TUN, TunnelGUE },
		"remcsum gre": func(s *Service) {
			s.Destinations[0].Method, s.Destinations[0].Tunnel, s.Destinations[0].TunnelFlags = TUN, TunnelGRE, TunnelRemCsum
		},
		"duplicate":    func(s *Service) { s.Destinations = append(s.Destinations, s.Destinations[0]) },
		"local method": func(s *Service) { s.Destinations[0].Method = LocalNode },
		"protocol":     func(s *Service) { s.Key.Protocol = 1 },
	} {
		s := good
		s.Destinations = append([]Destination(nil), good.Destinations...)
		mod(&s)
		if err := s.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	dup := Table{Services: []Service{good, good}}
	if err := dup.Validate(); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate service: %v", err)
	}
}

func FuzzParseGroupEntry(f *testing.F) {
	for _, s := range []string{"192.0.2.10-20 80", "192.0.2.0/28 80", "2001:db8::10-1f 443", "fwmark 7 inet6",
		"192.0.2.1-192.0.2.9", "255.255.255.250-255", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff0-ffff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseGroupEntry(strings.Fields(s))
		if err != nil {
			return
		}
		if e.FWMark != 0 {
			return
		}
		if n := rangeSize(e.First, e.Last); n < 1 || n > MaxGroupExpansion {
			t.Fatalf("%q: %d addresses", s, n)
		}
		svcs, err := ExpandGroup([]GroupEntry{e}, Service{Key: ServiceKey{Protocol: TCP}, Scheduler: "rr"})
		if err != nil {
			t.Fatalf("%q: expand: %v", s, err)
		}
		if len(svcs) != rangeSize(e.First, e.Last) {
			t.Fatalf("%q: %d services for %d addresses", s, len(svcs), rangeSize(e.First, e.Last))
		}
	})
}

func FuzzParseNames(f *testing.F) {
	f.Add("wrr", "sh-port", "TUN", "type gue port 6080 csum", "SCTP")
	f.Add("mh", "mh-fallback", "dr", "type gre", "udp")
	f.Fuzz(func(t *testing.T, sched, flag, method, tunnel, proto string) {
		if s, err := ParseScheduler(sched); err == nil {
			if _, err := ParseScheduler(s); err != nil {
				t.Fatalf("scheduler %q does not re-parse", s)
			}
		}
		_, _ = ParseSchedFlag(sched, flag)
		if m, err := ParseMethod(method); err == nil && m > TUN {
			t.Fatalf("method %q parsed to %v", method, m)
		}
		typ, port, flags, err := ParseTunnel(strings.Fields(tunnel))
		if err == nil {
			d := Destination{Addr: a("198.51.100.1"), Method: TUN, Tunnel: typ, TunnelPort: port, TunnelFlags: flags, Weight: 1}
			s := Service{Key: tcpKey("192.0.2.1", 80), Scheduler: "rr", Destinations: []Destination{d}}
			if err := s.Validate(); err != nil {
				t.Fatalf("tunnel %q parsed to an invalid destination: %v", tunnel, err)
			}
		}
		_, _ = ParseProtocol(proto)
	})
}
