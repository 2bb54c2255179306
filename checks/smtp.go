package checks

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// SMTPSpec is SMTP_CHECK.
type SMTPSpec struct {
	HeloName string // helo_name (default smtpchecker.keepalived.org, as keepalived)
}

// SMTPReply is one (possibly multi-line) SMTP reply.
type SMTPReply struct {
	Code  int
	Lines []string
}

// maxSMTPLine and maxSMTPLines bound a reply (RFC 5321 §4.5.3.1.5: 512
// octets per line).
const (
	maxSMTPLine  = 1024
	maxSMTPLines = 64
)

// ReadSMTPReply reads one reply: lines "NNN-text" continue, "NNN text" (or
// a bare "NNN") ends it; every line must carry the same code.
func ReadSMTPReply(r *bufio.Reader) (SMTPReply, error) {
	var rep SMTPReply
	for n := 0; n < maxSMTPLines; n++ {
		line, err := readLimitedLine(r, maxSMTPLine)
		if err != nil {
			return rep, err
		}
		code, more, text, err := ParseSMTPLine(line)
		if err != nil {
			return rep, err
		}
		if n > 0 && code != rep.Code {
			return rep, fmt.Errorf("smtp: reply code changed from %d to %d", rep.Code, code)
		}
		rep.Code = code
		rep.Lines = append(rep.Lines, text)
		if !more {
			return rep, nil
		}
	}
	return rep, errors.New("smtp: reply has too many lines")
}

// ParseSMTPLine parses one reply line (without CRLF).
func ParseSMTPLine(line string) (code int, more bool, text string, err error) {
	if len(line) < 3 {
		return 0, false, "", fmt.Errorf("smtp: short reply line %q", line)
	}
	for i := 0; i < 3; i++ {
		if line[i] < '0' || line[i] > '9' {
			return 0, false, "", fmt.Errorf("smtp: bad reply code in %q", line)
		}
	}
	if line[0] < '2' || line[0] > '5' {
		return 0, false, "", fmt.Errorf("smtp: reply code %s out of range", line[:3])
	}
	code, _ = strconv.Atoi(line[:3])
	if len(line) == 3 {
		return code, false, "", nil
	}
	switch line[3] {
	case '-':
		return code, true, line[4:], nil
	case ' ':
		return code, false, line[4:], nil
	}
	return 0, false, "", fmt.Errorf("smtp: bad separator in %q", line)
}

func readLimitedLine(r *bufio.Reader, max int) (string, error) {
	var b []byte
	for {
		frag, isPrefix, err := r.ReadLine()
		if err != nil {
			if err == io.EOF && len(b) > 0 {
				return "", io.ErrUnexpectedEOF
			}
			return "", err
		}
		b = append(b, frag...)
		if len(b) > max {
			return "", fmt.Errorf("smtp: reply line longer than %d bytes", max)
		}
		if !isPrefix {
			return string(b), nil
		}
	}
}

// DefaultHeloName is keepalived's SMTP_DEFAULT_HELO.
const DefaultHeloName = "smtpchecker.keepalived.org"

// smtpChecker is SMTP_CHECK as keepalived's check_smtp.c: a 220 banner,
// HELO answered by 250, then QUIT whose reply is read but not judged.
type smtpChecker struct {
	opts dialOpts
	helo string
}

func newSMTPChecker(s *Spec) *smtpChecker {
	helo := ""
	if s.SMTP != nil {
		helo = s.SMTP.HeloName
	}
	if helo == "" || strings.ContainsAny(helo, "\r\n ") {
		helo = DefaultHeloName
	}
	return &smtpChecker{opts: dialOptsFor(s), helo: helo}
}

func (c *smtpChecker) Check(ctx context.Context) Result {
	conn, err := c.opts.dial(ctx, "tcp")
	if err != nil {
		return down(classify(err), "connect %s: %v", c.opts.target, err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	// want 0: any well-formed reply will do.
	step := func(send string, want int, what string) *Result {
		setDeadline(ctx, conn, c.opts.timeout)
		if send != "" {
			if _, err := io.WriteString(conn, send+"\r\n"); err != nil {
				r := down(classify(err), "smtp %s: write: %v", what, err)
				return &r
			}
		}
		rep, err := ReadSMTPReply(br)
		if err != nil {
			out := classify(err)
			if out == "error" {
				out = "bad_response"
			}
			r := down(out, "smtp %s: %v", what, err)
			return &r
		}
		if want != 0 && rep.Code != want {
			r := down("bad_status", "smtp %s: got %d %s, want %d", what, rep.Code, strings.Join(rep.Lines, " "), want)
			return &r
		}
		return nil
	}
	if r := step("", 220, "banner"); r != nil {
		return *r
	}
	if r := step("HELO "+c.helo, 250, "HELO"); r != nil {
		return *r
	}
	if r := step("QUIT", 0, "QUIT"); r != nil {
		return *r
	}
	return up("smtp ok")
}
