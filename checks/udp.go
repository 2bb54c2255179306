package checks

import (
	"context"
	"errors"
	"fmt"
)

// UDPSpec is UDP_CHECK.
type UDPSpec struct {
	Payload        string // payload: hex bytes sent (default: an empty datagram)
	RequireReply   bool   // a reply must arrive (implied by ReplyPattern)
	ReplyPattern   string // require_reply HEX: the reply must match ("x" = any nibble)
	MinReplyLength int    // min_reply_length (default 0)
	MaxReplyLength int    // max_reply_length (default 255, as keepalived)
}

// DefaultMaxReplyLength is keepalived's max_reply_length default.
const DefaultMaxReplyLength = 255

// HexPattern is a byte string in which some nibbles may be wildcards.
type HexPattern struct {
	Bytes []byte
	Mask  []byte // bits set in Mask[i] are "don't care" in Bytes[i]
}

// ParseHexPattern parses keepalived's hex strings (read_hex_str): hex
// digits, blanks between bytes allowed; a byte is two digits, or one digit
// followed by a blank or the end; with wildcards, "x" or "X" is a nibble
// that matches anything. An empty string is an empty pattern.
func ParseHexPattern(s string, wildcards bool) (HexPattern, error) {
	var p HexPattern
	nibble := func(c byte) (val, mask byte, ok bool) {
		switch {
		case c >= '0' && c <= '9':
			return c - '0', 0, true
		case c >= 'a' && c <= 'f':
			return c - 'a' + 10, 0, true
		case c >= 'A' && c <= 'F':
			return c - 'A' + 10, 0, true
		case wildcards && (c == 'x' || c == 'X'):
			return 0, 0x0f, true
		}
		return 0, 0, false
	}
	for i := 0; i < len(s); {
		if s[i] == ' ' || s[i] == '\t' {
			i++
			continue
		}
		v, m, ok := nibble(s[i])
		if !ok {
			return HexPattern{}, fmt.Errorf("hex %q: bad character %q at %d", s, s[i], i)
		}
		i++
		if i < len(s) && s[i] != ' ' && s[i] != '\t' {
			v2, m2, ok := nibble(s[i])
			if !ok {
				return HexPattern{}, fmt.Errorf("hex %q: bad character %q at %d", s, s[i], i)
			}
			v, m = v<<4|v2, m<<4|m2
			i++
		}
		p.Bytes = append(p.Bytes, v)
		p.Mask = append(p.Mask, m)
	}
	return p, nil
}

// Match applies keepalived's check_udp_reply: the first min(len(data),
// len(pattern)) octets must match outside the wildcard nibbles.
func (p HexPattern) Match(data []byte) bool {
	n := min(len(data), len(p.Bytes))
	for i := 0; i < n; i++ {
		if (data[i]^p.Bytes[i])&^p.Mask[i] != 0 {
			return false
		}
	}
	return true
}

func (u *UDPSpec) validate() error {
	var errs []error
	if _, err := ParseHexPattern(u.Payload, false); err != nil {
		errs = append(errs, fmt.Errorf("payload: %w", err))
	}
	if _, err := ParseHexPattern(u.ReplyPattern, true); err != nil {
		errs = append(errs, fmt.Errorf("require_reply: %w", err))
	}
	maxLen := u.MaxReplyLength
	if maxLen == 0 {
		maxLen = DefaultMaxReplyLength
	}
	if u.MinReplyLength < 0 || u.MaxReplyLength < 0 || maxLen < u.MinReplyLength {
		errs = append(errs, fmt.Errorf("reply length bounds %d..%d always fail", u.MinReplyLength, maxLen))
	}
	return errors.Join(errs...)
}

// udpChecker is UDP_CHECK: send the payload on a connected socket; an ICMP
// unreachable (ECONNREFUSED) is a failure; without require_reply silence
// until connect_timeout is success; with it a reply is needed, its length
// within min/max_reply_length and its first octets matching the pattern.
type udpChecker struct {
	opts    dialOpts
	payload []byte
	spec    UDPSpec
	pattern HexPattern
}

func newUDPChecker(s *Spec) (*udpChecker, error) {
	c := &udpChecker{opts: dialOptsFor(s)}
	if s.UDP != nil {
		c.spec = *s.UDP
	}
	p, err := ParseHexPattern(c.spec.Payload, false)
	if err != nil {
		return nil, err
	}
	c.payload = p.Bytes
	if c.pattern, err = ParseHexPattern(c.spec.ReplyPattern, true); err != nil {
		return nil, err
	}
	if len(c.pattern.Bytes) > 0 {
		c.spec.RequireReply = true
	}
	if c.spec.MaxReplyLength == 0 {
		c.spec.MaxReplyLength = DefaultMaxReplyLength
	}
	return c, nil
}

func (c *udpChecker) Check(ctx context.Context) Result {
	conn, err := c.opts.dial(ctx, "udp")
	if err != nil {
		return down(classify(err), "udp %s: %v", c.opts.target, err)
	}
	defer conn.Close()
	setDeadline(ctx, conn, c.opts.timeout)
	if _, err := conn.Write(c.payload); err != nil {
		return down(classify(err), "udp %s: send: %v", c.opts.target, err)
	}
	buf := make([]byte, 65536)
	n, err := conn.Read(buf)
	if err != nil {
		out := classify(err)
		if out == "timeout" && !c.spec.RequireReply {
			return up("no reply and no ICMP error")
		}
		return down(out, "udp %s: %v", c.opts.target, err)
	}
	reply := buf[:n]
	if !c.spec.RequireReply {
		return up(fmt.Sprintf("reply of %d bytes", n))
	}
	switch {
	case n < c.spec.MinReplyLength:
		return down("bad_reply", "udp %s: reply of %d bytes, want at least %d", c.opts.target, n, c.spec.MinReplyLength)
	case n > c.spec.MaxReplyLength:
		return down("bad_reply", "udp %s: reply of %d bytes, want at most %d", c.opts.target, n, c.spec.MaxReplyLength)
	case !c.pattern.Match(reply):
		return down("bad_reply", "udp %s: reply %x does not match %s", c.opts.target, reply[:min(n, 32)], c.spec.ReplyPattern)
	}
	return up(fmt.Sprintf("reply of %d bytes", n))
}
