package checks

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestDNSQueryEncoding cross-checks our encoder with miekg/dns.
func TestDNSQueryEncoding(t *testing.T) {
	for name, qt := range dnsTypes {
		for _, qname := range []string{".", "example.test", "www.example.test."} {
			b, err := BuildDNSQuery(0xbeef, qname, qt)
			if err != nil {
				t.Fatal(err)
			}
			var m dns.Msg
			if err := m.Unpack(b); err != nil {
				t.Fatalf("%s %s: miekg cannot parse our query: %v", name, qname, err)
			}
			if m.Id != 0xbeef || m.Response || !m.RecursionDesired || len(m.Question) != 1 ||
				m.Question[0].Qtype != qt || m.Question[0].Name != dns.Fqdn(qname) || m.Question[0].Qclass != dns.ClassINET {
				t.Fatalf("%s %s: decoded as %+v", name, qname, m)
			}
		}
	}
	if _, err := BuildDNSQuery(1, "a..b", 1); err == nil {
		t.Fatal("empty label accepted")
	}
}

// TestDNSReplyDecoding cross-checks our decoder with replies packed by miekg/dns.
func TestDNSReplyDecoding(t *testing.T) {
	q := new(dns.Msg)
	q.SetQuestion("example.test.", dns.TypeA)
	q.Id = 4242
	r := new(dns.Msg)
	r.SetRcode(q, dns.RcodeNameError)
	r.Answer = append(r.Answer, &dns.A{Hdr: dns.RR_Header{Name: "example.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 5}, A: net.IPv4(192, 0, 2, 1)})
	r.Compress = true
	b, err := r.Pack()
	if err != nil {
		t.Fatal(err)
	}
	h, err := ParseDNSReply(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.ID != 4242 || !h.QR || h.RCode != dns.RcodeNameError || h.QDCount != 1 || h.ANCount != 1 {
		t.Fatalf("decoded %+v", h)
	}
	for i := 0; i < 12; i++ {
		if _, err := ParseDNSReply(b[:i]); err == nil {
			t.Fatalf("%d-byte message accepted", i)
		}
	}
	if _, err := ParseDNSReply(b[:12+5]); err == nil {
		t.Fatal("question truncated inside the name accepted")
	}
}

func startDnsmasq(t *testing.T) netip.AddrPort {
	t.Helper()
	bin := requireProgram(t, "/usr/sbin/dnsmasq")
	port := closedPort(t, "udp").Port()
	dir := t.TempDir()
	args := []string{"--keep-in-foreground", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
		fmt.Sprintf("--port=%d", port), "--listen-address=127.0.0.1", "--bind-interfaces",
		"--address=/example.test/192.0.2.1", "--mx-host=example.test,mail.example.test,10",
		"--auth-zone=example.test", "--auth-server=ns.example.test,lo", "--auth-soa=1,hostmaster.example.test",
		"--pid-file=" + filepath.Join(dir, "pid"), "--log-facility=-"}
	if os.Geteuid() == 0 {
		args = append(args, "--user=nobody")
	}
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ap := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)
	// Wait until it answers.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c := mustChecker(t, Spec{Kind: KindDNS, Target: ap, ConnectTimeout: 200 * time.Millisecond, DNS: &DNSSpec{Type: "A", Name: "example.test"}})
		if r := c.Check(context.Background()); r.Up {
			return ap
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("dnsmasq never answered")
	return ap
}

func TestDNSCheckDnsmasq(t *testing.T) {
	ap := startDnsmasq(t)
	cases := []struct {
		typ, name string
		up        bool
		outcome   string
	}{
		{"A", "example.test", true, "ok"},
		{"A", "www.example.test", false, "bad_rcode"}, // NXDOMAIN in the auth zone
		{"AAAA", "example.test", true, "ok"},          // NOERROR, no answer: up (answers are not inspected)
		{"MX", "example.test", true, "ok"},
		{"SOA", "example.test", true, "ok"},
		{"A", "elsewhere.invalid", false, "bad_rcode"}, // no upstream: REFUSED
		{"", "", false, "bad_rcode"},                   // SOA . is not served
	}
	for _, c := range cases {
		r := mustChecker(t, Spec{Kind: KindDNS, Target: ap, ConnectTimeout: 3 * time.Second, DNS: &DNSSpec{Type: c.typ, Name: c.name}}).Check(context.Background())
		if r.Up != c.up || r.Outcome != c.outcome {
			t.Errorf("%s %s: %+v, want up=%v outcome=%s", c.typ, c.name, r, c.up, c.outcome)
		}
	}
	r := mustChecker(t, Spec{Kind: KindDNS, Target: closedPort(t, "udp"), ConnectTimeout: time.Second}).Check(context.Background())
	if r.Up || r.Outcome != "refused" {
		t.Errorf("closed port: %+v (ICMP port unreachable must fail)", r)
	}
}

// fakeDNS answers every query through reply.
func fakeDNS(t *testing.T, reply func(q []byte) [][]byte) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			for _, r := range reply(append([]byte(nil), buf[:n]...)) {
				pc.WriteTo(r, from)
			}
		}
	}()
	return pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

func TestDNSCheckReplyValidation(t *testing.T) {
	answer := func(q []byte, flags2, flags3 byte, idDelta uint16) []byte {
		r := append([]byte(nil), q...)
		id := uint16(r[0])<<8 | uint16(r[1]) + idDelta
		r[0], r[1] = byte(id>>8), byte(id)
		r[2], r[3] = flags2, flags3
		return r
	}
	cases := []struct {
		name    string
		reply   func(q []byte) [][]byte
		up      bool
		outcome string
	}{
		{"good", func(q []byte) [][]byte { return [][]byte{answer(q, 0x81, 0x80, 0)} }, true, "ok"},
		{"wrong id then good", func(q []byte) [][]byte { return [][]byte{answer(q, 0x81, 0x80, 1), answer(q, 0x81, 0x80, 0)} }, true, "ok"},
		{"only wrong id", func(q []byte) [][]byte { return [][]byte{answer(q, 0x81, 0x80, 7)} }, false, "timeout"},
		{"QR not set", func(q []byte) [][]byte { return [][]byte{answer(q, 0x01, 0x80, 0)} }, false, "bad_response"},
		{"SERVFAIL", func(q []byte) [][]byte { return [][]byte{answer(q, 0x81, 0x82, 0)} }, false, "bad_rcode"},
		{"garbage", func(q []byte) [][]byte { return [][]byte{{1, 2, 3}} }, false, "bad_response"},
		{"silence", func(q []byte) [][]byte { return nil }, false, "timeout"},
	}
	for _, c := range cases {
		ap := fakeDNS(t, c.reply)
		timeout := 3 * time.Second // an answer is expected: generous
		if c.outcome == "timeout" {
			timeout = 300 * time.Millisecond
		}
		r := mustChecker(t, Spec{Kind: KindDNS, Target: ap, ConnectTimeout: timeout, DNS: &DNSSpec{Type: "A", Name: "example.test"}}).Check(context.Background())
		if r.Up != c.up || r.Outcome != c.outcome {
			t.Errorf("%s: %+v, want up=%v outcome=%s", c.name, r, c.up, c.outcome)
		}
	}
}
