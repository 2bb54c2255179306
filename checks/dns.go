package checks

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
)

// DNSSpec is DNS_CHECK.
type DNSSpec struct {
	Type string // type: A, NS, CNAME, SOA (default), MX, TXT, AAAA
	Name string // name (default ".")
}

var dnsTypes = map[string]uint16{"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "MX": 15, "TXT": 16, "AAAA": 28}

func (d *DNSSpec) validate() error {
	if d.Type != "" {
		if _, ok := dnsTypes[strings.ToUpper(d.Type)]; !ok {
			return fmt.Errorf("dns type %q: want A, NS, CNAME, SOA, MX, TXT or AAAA", d.Type)
		}
	}
	_, err := encodeDNSName(nil, d.Name)
	return err
}

// encodeDNSName appends name in wire format.
func encodeDNSName(b []byte, name string) ([]byte, error) {
	name = strings.TrimSuffix(name, ".")
	if name == "" {
		return append(b, 0), nil
	}
	total := 1
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return nil, fmt.Errorf("dns name %q: bad label %q", name, label)
		}
		total += 1 + len(label)
		b = append(b, byte(len(label)))
		b = append(b, label...)
	}
	if total > 255 {
		return nil, fmt.Errorf("dns name %q: longer than 255 octets", name)
	}
	return append(b, 0), nil
}

// BuildDNSQuery builds a standard query with recursion desired.
func BuildDNSQuery(id uint16, name string, qtype uint16) ([]byte, error) {
	b := make([]byte, 12, 64)
	binary.BigEndian.PutUint16(b[0:], id)
	b[2] = 0x01 // RD
	binary.BigEndian.PutUint16(b[4:], 1)
	b, err := encodeDNSName(b, name)
	if err != nil {
		return nil, err
	}
	b = binary.BigEndian.AppendUint16(b, qtype)
	return binary.BigEndian.AppendUint16(b, 1), nil // class IN
}

// DNSHeader is the decoded fixed header of a DNS message.
type DNSHeader struct {
	ID      uint16
	QR      bool
	Opcode  uint8
	RCode   uint8
	QDCount uint16
	ANCount uint16
	NSCount uint16
	ARCount uint16
}

// ErrShortDNS reports a message shorter than a DNS header.
var ErrShortDNS = errors.New("dns: message shorter than 12 bytes")

// ParseDNSReply decodes the header of a reply and skips its question
// section, checking that the message is well formed up to there.
func ParseDNSReply(b []byte) (DNSHeader, error) {
	if len(b) < 12 {
		return DNSHeader{}, ErrShortDNS
	}
	h := DNSHeader{
		ID:      binary.BigEndian.Uint16(b[0:]),
		QR:      b[2]&0x80 != 0,
		Opcode:  (b[2] >> 3) & 0x0f,
		RCode:   b[3] & 0x0f,
		QDCount: binary.BigEndian.Uint16(b[4:]),
		ANCount: binary.BigEndian.Uint16(b[6:]),
		NSCount: binary.BigEndian.Uint16(b[8:]),
		ARCount: binary.BigEndian.Uint16(b[10:]),
	}
	off := 12
	for i := 0; i < int(h.QDCount); i++ {
		n, err := skipDNSName(b, off)
		if err != nil {
			return h, fmt.Errorf("dns: question %d: %w", i, err)
		}
		off = n + 4
		if off > len(b) {
			return h, fmt.Errorf("dns: question %d truncated", i)
		}
	}
	return h, nil
}

// skipDNSName returns the offset after the name at off (compression pointers
// end a name).
func skipDNSName(b []byte, off int) (int, error) {
	for hops := 0; hops < 128; hops++ {
		if off >= len(b) {
			return 0, errors.New("name truncated")
		}
		l := int(b[off])
		switch {
		case l == 0:
			return off + 1, nil
		case l&0xc0 == 0xc0:
			if off+2 > len(b) {
				return 0, errors.New("pointer truncated")
			}
			return off + 2, nil
		case l&0xc0 != 0:
			return 0, fmt.Errorf("bad label type 0x%x", l&0xc0)
		}
		off += 1 + l
	}
	return 0, errors.New("name has too many labels")
}

// dnsChecker is DNS_CHECK: one UDP query; up when a reply with our ID, QR
// set and RCODE NOERROR arrives within connect_timeout.
type dnsChecker struct {
	opts  dialOpts
	name  string
	qtype uint16
	tname string
}

func newDNSChecker(s *Spec) (*dnsChecker, error) {
	d := DNSSpec{}
	if s.DNS != nil {
		d = *s.DNS
	}
	if d.Type == "" {
		d.Type = "SOA"
	}
	if d.Name == "" {
		d.Name = "."
	}
	if err := d.validate(); err != nil {
		return nil, err
	}
	return &dnsChecker{opts: dialOptsFor(s), name: d.Name, qtype: dnsTypes[strings.ToUpper(d.Type)], tname: strings.ToUpper(d.Type)}, nil
}

func (c *dnsChecker) Check(ctx context.Context) Result {
	id := uint16(rand.Uint32())
	q, err := BuildDNSQuery(id, c.name, c.qtype)
	if err != nil {
		return down("error", "dns query: %v", err)
	}
	conn, err := c.opts.dial(ctx, "udp")
	if err != nil {
		return down(classify(err), "dns %s: %v", c.opts.target, err)
	}
	defer conn.Close()
	setDeadline(ctx, conn, c.opts.timeout)
	if _, err := conn.Write(q); err != nil {
		return down(classify(err), "dns %s: send: %v", c.opts.target, err)
	}
	buf := make([]byte, 1500)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return down(classify(err), "dns %s %s %s: %v", c.opts.target, c.tname, c.name, err)
		}
		h, err := ParseDNSReply(buf[:n])
		if err != nil {
			return down("bad_response", "dns %s: %v", c.opts.target, err)
		}
		if h.ID != id {
			continue // a late reply to an earlier query; keep waiting
		}
		switch {
		case !h.QR:
			return down("bad_response", "dns %s: reply without QR bit", c.opts.target)
		case h.RCode != 0:
			return down("bad_rcode", "dns %s %s %s: rcode %d", c.opts.target, c.tname, c.name, h.RCode)
		}
		return up(fmt.Sprintf("rcode 0, %d answer(s)", h.ANCount))
	}
}
