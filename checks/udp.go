package checks

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// UDPSpec is UDP_CHECK.
type UDPSpec struct {
	Payload        string // payload: hex bytes sent (default: an empty datagram)
	RequireReply   bool   // require_reply: a reply must arrive
	ReplyPattern   string // require_reply HEX: the reply must start with these bytes ("??" = any byte)
	MinReplyLength int    // min_reply_length
	MaxReplyLength int    // max_reply_length (0: no bound)
}

// HexPattern is a byte pattern in which some bytes are wildcards.
type HexPattern struct {
	Bytes []byte
	Any   []bool // Any[i]: byte i matches anything
}

// ParseHexPattern parses hex digits in pairs, ignoring blanks, ':' and '-'
// separators and an optional leading "0x"; "??" is a wildcard byte when
// wildcards are allowed.
func ParseHexPattern(s string, wildcards bool) (HexPattern, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		s = s[2:]
	}
	clean := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', ':', '-':
			return -1
		}
		return r
	}, s)
	if len(clean)%2 != 0 {
		return HexPattern{}, fmt.Errorf("hex %q: odd number of digits", s)
	}
	p := HexPattern{Bytes: make([]byte, len(clean)/2), Any: make([]bool, len(clean)/2)}
	for i := 0; i < len(clean); i += 2 {
		pair := clean[i : i+2]
		if pair == "??" {
			if !wildcards {
				return HexPattern{}, fmt.Errorf("hex %q: wildcard not allowed here", s)
			}
			p.Any[i/2] = true
			continue
		}
		b, err := hex.DecodeString(pair)
		if err != nil {
			return HexPattern{}, fmt.Errorf("hex %q: bad digits %q", s, pair)
		}
		p.Bytes[i/2] = b[0]
	}
	return p, nil
}

// MatchPrefix reports whether data starts with the pattern.
func (p HexPattern) MatchPrefix(data []byte) bool {
	if len(data) < len(p.Bytes) {
		return false
	}
	for i, b := range p.Bytes {
		if !p.Any[i] && data[i] != b {
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
	if u.MinReplyLength < 0 || u.MaxReplyLength < 0 || (u.MaxReplyLength > 0 && u.MaxReplyLength < u.MinReplyLength) {
		errs = append(errs, fmt.Errorf("bad reply length bounds %d..%d", u.MinReplyLength, u.MaxReplyLength))
	}
	return errors.Join(errs...)
}

// udpChecker is UDP_CHECK: send the payload on a connected socket; an ICMP
// unreachable (ECONNREFUSED) is a failure; without require_reply silence
// until connect_timeout is success; with it a matching reply is needed.
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
	if len(c.pattern.Bytes) > 0 || c.spec.MinReplyLength > 0 || c.spec.MaxReplyLength > 0 {
		c.spec.RequireReply = true
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
	switch {
	case n < c.spec.MinReplyLength:
		return down("bad_reply", "udp %s: reply of %d bytes, want at least %d", c.opts.target, n, c.spec.MinReplyLength)
	case c.spec.MaxReplyLength > 0 && n > c.spec.MaxReplyLength:
		return down("bad_reply", "udp %s: reply of %d bytes, want at most %d", c.opts.target, n, c.spec.MaxReplyLength)
	case !c.pattern.MatchPrefix(reply):
		return down("bad_reply", "udp %s: reply %x does not match %s", c.opts.target, reply[:min(n, 32)], c.spec.ReplyPattern)
	}
	return up(fmt.Sprintf("reply of %d bytes", n))
}
