package ipvs

// An independent reader of the kernel table for the VM tests: a parser of
// ipvsadm's listings (-Ln, -Ln --thresholds, -Ln --tun-info) and a writer
// of ipvsadm-save text for the "ipvsadm -R" baseline of the benchmark.

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"quadrature/lvs"
	"strconv"
	"strings"
	"testing"
	"time"
)

type admMode int

const (
	admPlain admMode = iota
	admThresholds
	admTunInfo
)

// parseIPVSAdmList parses one ipvsadm -Ln listing. Fields the listing does
// not show keep their zero value; mode says which listing it was.
func parseIPVSAdmList(text string) (lvs.Table, admMode, error) {
	var t lvs.Table
	mode := admPlain
	var cur *lvs.Service
	for n, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		bad := func(format string, a ...any) error {
			return fmt.Errorf("ipvsadm line %d %q: %s", n+1, line, fmt.Sprintf(format, a...))
		}
		switch {
		case f[0] == "IP" || f[0] == "Prot" || (f[0] == "->" && len(f) > 1 && f[1] == "RemoteAddress:Port"):
			if strings.Contains(line, "Uthreshold") {
				mode = admThresholds
			}
			if strings.Contains(line, "TunnelInfo") {
				mode = admTunInfo
			}
		case f[0] == "->":
			if cur == nil {
				return lvs.Table{}, 0, bad("destination before any service")
			}
			d, err := parseAdmDest(f[1:], mode)
			if err != nil {
				return lvs.Table{}, 0, bad("%v", err)
			}
			cur.Destinations = append(cur.Destinations, d)
		default:
			s, err := parseAdmService(f)
			if err != nil {
				return lvs.Table{}, 0, bad("%v", err)
			}
			t.Services = append(t.Services, s)
			cur = &t.Services[len(t.Services)-1]
		}
	}
	return t, mode, nil
}

func parseAdmService(f []string) (lvs.Service, error) {
	var s lvs.Service
	i := 0
	switch f[0] {
	case "TCP", "UDP", "SCTP":
		if len(f) < 3 {
			return s, fmt.Errorf("short service line")
		}
		p, _ := lvs.ParseProtocol(f[0])
		ap, err := netip.ParseAddrPort(f[1])
		if err != nil {
			return s, err
		}
		s.Key = lvs.ServiceKey{Family: lvs.FamilyOf(ap.Addr()), Protocol: p, Addr: ap.Addr().Unmap(), Port: ap.Port()}
		i = 2
	case "FWM":
		if len(f) < 3 {
			return s, fmt.Errorf("short fwmark line")
		}
		m, err := strconv.ParseUint(f[1], 10, 32)
		if err != nil || m == 0 {
			return s, fmt.Errorf("bad fwmark %q", f[1])
		}
		s.Key = lvs.ServiceKey{Family: lvs.IPv4, FWMark: uint32(m)}
		i = 2
		if f[2] == "IPv6" {
			s.Key.Family = lvs.IPv6
			i = 3
		}
	default:
		return s, fmt.Errorf("unknown service protocol %q", f[0])
	}
	if i >= len(f) {
		return s, fmt.Errorf("no scheduler")
	}
	s.Scheduler = f[i]
	i++
	for ; i < len(f); i++ {
		switch w := f[i]; {
		case strings.HasPrefix(w, "(") && strings.HasSuffix(w, ")"):
			for _, fl := range strings.Split(strings.Trim(w, "()"), ",") {
				b, err := lvs.ParseSchedFlag("", fl)
				if err != nil {
					return s, err
				}
				s.Flags |= b
			}
		case w == "persistent" && i+1 < len(f):
			n, err := strconv.ParseUint(f[i+1], 10, 32)
			if err != nil {
				return s, fmt.Errorf("persistent %q", f[i+1])
			}
			s.Persistence = time.Duration(n) * time.Second
			i++
		case w == "mask" && i+1 < len(f):
			if s.Key.Family == lvs.IPv6 {
				n, err := strconv.Atoi(f[i+1])
				if err != nil || n < 0 || n > 128 {
					return s, fmt.Errorf("mask %q", f[i+1])
				}
				s.Netmask = n
			} else {
				m, err := netip.ParseAddr(f[i+1])
				if err != nil || !m.Is4() {
					return s, fmt.Errorf("mask %q", f[i+1])
				}
				b := m.As4()
				ones := 0
				v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
				for v&(1<<31) != 0 {
					ones++
					v <<= 1
				}
				if v != 0 {
					return s, fmt.Errorf("non-contiguous mask %q", f[i+1])
				}
				s.Netmask = ones
			}
			i++
		case w == "ops":
			s.OnePacket = true
		case w == "pe" && i+1 < len(f):
			i++ // persistence engine: not modelled
		default:
			return s, fmt.Errorf("unknown service word %q", w)
		}
	}
	return s, nil
}

func parseAdmDest(f []string, mode admMode) (lvs.Destination, error) {
	var d lvs.Destination
	if len(f) < 1 {
		return d, fmt.Errorf("empty destination")
	}
	ap, err := netip.ParseAddrPort(f[0])
	if err != nil {
		return d, err
	}
	d.Addr, d.Port = ap.Addr().Unmap(), ap.Port()
	cols := f[1:]
	num := func(s string) (uint32, error) {
		n, err := strconv.ParseUint(s, 10, 32)
		return uint32(n), err
	}
	method := func(s string) error {
		switch s {
		case "Masq":
			d.Method = lvs.NAT
		case "Route":
			d.Method = lvs.DR
		case "Tunnel":
			d.Method = lvs.TUN
		case "Local":
			d.Method = lvs.LocalNode
		default:
			return fmt.Errorf("unknown forward %q", s)
		}
		return nil
	}
	switch mode {
	case admPlain:
		if len(cols) != 4 {
			return d, fmt.Errorf("want 4 columns, have %d", len(cols))
		}
		if err := method(cols[0]); err != nil {
			return d, err
		}
		w, err := num(cols[1])
		if err != nil || w > 1<<31-1 {
			return d, fmt.Errorf("weight %q", cols[1])
		}
		d.Weight = int32(w)
	case admThresholds:
		if len(cols) != 4 {
			return d, fmt.Errorf("want 4 columns, have %d", len(cols))
		}
		if d.UpperThreshold, err = num(cols[0]); err != nil {
			return d, fmt.Errorf("uthreshold %q", cols[0])
		}
		if d.LowerThreshold, err = num(cols[1]); err != nil {
			return d, fmt.Errorf("lthreshold %q", cols[1])
		}
	case admTunInfo:
		if len(cols) != 5 {
			return d, fmt.Errorf("want 5 columns, have %d", len(cols))
		}
		if err := method(cols[0]); err != nil {
			return d, err
		}
		if err := parseAdmTunnel(cols[1], &d); err != nil {
			return d, err
		}
		w, err := num(cols[2])
		if err != nil || w > 1<<31-1 {
			return d, fmt.Errorf("weight %q", cols[2])
		}
		d.Weight = int32(w)
	}
	return d, nil
}

// parseAdmTunnel parses ipvsadm's TunnelInfo column: n/a, ipip,
// gue:PORT[:FLAGS], gre[:FLAGS] with FLAGS -c (nocsum), +c (csum) or r+c
// (remcsum).
func parseAdmTunnel(s string, d *lvs.Destination) error {
	if s == "n/a" {
		return nil
	}
	parts := strings.Split(s, ":")
	flags := ""
	switch parts[0] {
	case "ipip":
		if len(parts) != 1 {
			return fmt.Errorf("tunnel %q", s)
		}
		d.Tunnel = lvs.TunnelIPIP
	case "gre":
		d.Tunnel = lvs.TunnelGRE
		if len(parts) > 2 {
			return fmt.Errorf("tunnel %q", s)
		}
		if len(parts) == 2 {
			flags = parts[1]
		}
	case "gue":
		d.Tunnel = lvs.TunnelGUE
		if len(parts) < 2 || len(parts) > 3 {
			return fmt.Errorf("tunnel %q", s)
		}
		p, err := parsePort(parts[1])
		if err != nil {
			return fmt.Errorf("tunnel %q: %v", s, err)
		}
		d.TunnelPort = p
		if len(parts) == 3 {
			flags = parts[2]
		}
	default:
		return fmt.Errorf("tunnel %q", s)
	}
	switch flags {
	case "", "-c":
	case "+c":
		d.TunnelFlags = lvs.TunnelCsum
	case "r+c":
		d.TunnelFlags = lvs.TunnelRemCsum
	default:
		return fmt.Errorf("tunnel flags %q", flags)
	}
	return nil
}

// parseIPVSAdm merges the three listings into one table: services,
// methods and weights from plain, thresholds and tunnels from the others.
func parseIPVSAdm(plain, thresholds, tun string) (lvs.Table, error) {
	t, m, err := parseIPVSAdmList(plain)
	if err != nil || m != admPlain {
		return lvs.Table{}, fmt.Errorf("plain listing (mode %d): %v", m, err)
	}
	th, m, err := parseIPVSAdmList(thresholds)
	if err != nil || m != admThresholds {
		return lvs.Table{}, fmt.Errorf("thresholds listing (mode %d): %v", m, err)
	}
	tu, m, err := parseIPVSAdmList(tun)
	if err != nil || m != admTunInfo {
		return lvs.Table{}, fmt.Errorf("tunnel listing (mode %d): %v", m, err)
	}
	if len(th.Services) != len(t.Services) || len(tu.Services) != len(t.Services) {
		return lvs.Table{}, fmt.Errorf("listings disagree: %d/%d/%d services", len(t.Services), len(th.Services), len(tu.Services))
	}
	for i := range t.Services {
		s := &t.Services[i]
		if th.Services[i].Key != s.Key || tu.Services[i].Key != s.Key ||
			len(th.Services[i].Destinations) != len(s.Destinations) || len(tu.Services[i].Destinations) != len(s.Destinations) {
			return lvs.Table{}, fmt.Errorf("listings disagree on %s", s.Key)
		}
		for j := range s.Destinations {
			d := &s.Destinations[j]
			a, b := th.Services[i].Destinations[j], tu.Services[i].Destinations[j]
			if a.Key() != d.Key() || b.Key() != d.Key() || b.Method != d.Method || b.Weight != d.Weight {
				return lvs.Table{}, fmt.Errorf("listings disagree on %s -> %s", s.Key, d.Key())
			}
			d.UpperThreshold, d.LowerThreshold = a.UpperThreshold, a.LowerThreshold
			d.Tunnel, d.TunnelPort, d.TunnelFlags = b.Tunnel, b.TunnelPort, b.TunnelFlags
		}
	}
	return t, nil
}

// ipvsadmSave renders t as ipvsadm-save text (ipvsadm -R input).
func ipvsadmSave(t lvs.Table) string {
	var b strings.Builder
	for _, s := range t.Normalize().Services {
		var key string
		switch {
		case s.Key.IsFWMark():
			key = fmt.Sprintf("-f %d", s.Key.FWMark)
			if s.Key.Family == lvs.IPv6 {
				key += " -6"
			}
		case s.Key.Protocol == lvs.UDP:
			key = "-u " + netip.AddrPortFrom(s.Key.Addr, s.Key.Port).String()
		case s.Key.Protocol == lvs.SCTP:
			key = "--sctp-service " + netip.AddrPortFrom(s.Key.Addr, s.Key.Port).String()
		default:
			key = "-t " + netip.AddrPortFrom(s.Key.Addr, s.Key.Port).String()
		}
		fmt.Fprintf(&b, "-A %s -s %s", key, s.Scheduler)
		if s.Persistence > 0 {
			fmt.Fprintf(&b, " -p %d", s.Persistence/time.Second)
		}
		if s.OnePacket {
			b.WriteString(" -o")
		}
		b.WriteByte('\n')
		for _, d := range s.Destinations {
			m := map[lvs.Method]string{lvs.NAT: "-m", lvs.DR: "-g", lvs.TUN: "-i"}[d.Method]
			fmt.Fprintf(&b, "-a %s -r %s %s -w %d", key, netip.AddrPortFrom(d.Addr, d.Port), m, d.Weight)
			if d.UpperThreshold != 0 || d.LowerThreshold != 0 {
				fmt.Fprintf(&b, " -x %d -y %d", d.UpperThreshold, d.LowerThreshold)
			}
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func TestParseIPVSAdmGolden(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	got, err := parseIPVSAdm(read("ipvsadm-Ln.txt"), read("ipvsadm-Ln-thresholds.txt"), read("ipvsadm-Ln-tun-info.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		if err := os.WriteFile(filepath.Join("testdata", "ipvsadm-parsed.golden"), []byte(got.CanonicalText()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := read("ipvsadm-parsed.golden")
	if got.CanonicalText() != want {
		t.Errorf("parsed ipvsadm listing:\n%s\nwant:\n%s", got.CanonicalText(), want)
	}
	// The listing that the kernel produced for this table must round-trip
	// through the writer: every service and destination is present.
	save := ipvsadmSave(got)
	if strings.Count(save, "\n-A")+1 != len(got.Services) {
		t.Errorf("ipvsadm-save has %d services, want %d:\n%s", strings.Count(save, "\n-A")+1, len(got.Services), save)
	}
}

func TestParseIPVSAdmErrors(t *testing.T) {
	for _, in := range []string{
		"  -> 198.51.100.1:80 Masq 1 0 0",                      // destination before service
		"TCP 192.0.2.1:80 rr\n  -> nonsense",                   // bad address
		"TCP 192.0.2.1:80 rr\n  -> 198.51.100.1:80 Masq x 0 0", // bad weight
		"TCP 192.0.2.1:80 rr bogus",                            // unknown flag
		"XYZ 192.0.2.1:80 rr",                                  // bad protocol
		"FWM 0 rr",                                             // bad mark
		"TCP 192.0.2.1:80 rr persistent 300 mask 255.0.255.0",  // non-contiguous
	} {
		if _, _, err := parseIPVSAdmList(in); err == nil {
			t.Errorf("parseIPVSAdmList(%q): no error", in)
		}
	}
}

func FuzzParseIPVSAdmList(f *testing.F) {
	for _, name := range []string{"ipvsadm-Ln.txt", "ipvsadm-Ln-thresholds.txt", "ipvsadm-Ln-tun-info.txt"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("FWM  7 IPv6 rr\n  -> [2001:db8::6]:0 Route 1 0 0\n")
	f.Fuzz(func(t *testing.T, s string) {
		tab, _, err := parseIPVSAdmList(s)
		if err != nil {
			return
		}
		_ = tab.CanonicalText()
	})
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	return uint16(n), err
}
