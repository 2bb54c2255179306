package checks

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// smtpServer is a small SMTP server speaking RFC 5321 greetings: a banner,
// HELO/EHLO, QUIT. mode selects failure variants.
func smtpServer(t *testing.T, mode string) (netip.AddrPort, <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	helos := make(chan string, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveSMTP(c, mode, helos)
		}
	}()
	return ln.Addr().(*net.TCPAddr).AddrPort(), helos
}

func serveSMTP(c net.Conn, mode string, helos chan<- string) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	w := func(s string) { c.Write([]byte(s + "\r\n")) }
	switch mode {
	case "silent":
		time.Sleep(3 * time.Second)
		return
	case "421":
		w("421 mx.example.test Service not available, closing channel")
		return
	case "garbage":
		w("hello there")
		return
	}
	w("220-mx.example.test ESMTP quadrature-test")
	w("220 ready")
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "HELO", "EHLO":
			select {
			case helos <- arg:
			default:
			}
			if mode == "reject-helo" {
				w("550 go away")
				continue
			}
			w("250 mx.example.test greets " + arg)
		case "QUIT":
			switch mode {
			case "bad-quit":
				w("500 what")
				return
			case "close-on-quit":
				return
			}
			w("221 2.0.0 Bye")
			return
		default:
			w("502 command not implemented")
		}
	}
}

func TestSMTPCheck(t *testing.T) {
	cases := []struct {
		mode    string
		up      bool
		outcome string
	}{
		{"ok", true, "ok"},
		{"421", false, "bad_status"},
		{"reject-helo", false, "bad_status"},
		{"bad-quit", true, "ok"},                 // keepalived reads the QUIT reply but does not judge it
		{"close-on-quit", false, "bad_response"}, // no reply at all
		{"garbage", false, "bad_response"},
		{"silent", false, "timeout"},
	}
	for _, c := range cases {
		ap, helos := smtpServer(t, c.mode)
		timeout := 3 * time.Second // an answer is expected: generous
		if c.mode == "silent" {
			timeout = 400 * time.Millisecond
		}
		chk := mustChecker(t, Spec{Kind: KindSMTP, Target: ap, ConnectTimeout: timeout, SMTP: &SMTPSpec{HeloName: "director.example.test"}})
		if c.mode == "ok" {
			def := mustChecker(t, Spec{Kind: KindSMTP, Target: ap, ConnectTimeout: timeout})
			if r := def.Check(context.Background()); !r.Up {
				t.Fatalf("default helo: %+v", r)
			}
			if h := <-helos; h != DefaultHeloName {
				t.Errorf("default HELO %q", h)
			}
		}
		r := chk.Check(context.Background())
		if r.Up != c.up || r.Outcome != c.outcome {
			t.Errorf("%s: %+v, want up=%v outcome=%s", c.mode, r, c.up, c.outcome)
		}
		if c.mode == "ok" {
			if h := <-helos; h != "director.example.test" {
				t.Errorf("HELO %q", h)
			}
		}
	}
	r := mustChecker(t, Spec{Kind: KindSMTP, Target: closedPort(t, "tcp")}).Check(context.Background())
	if r.Up || r.Outcome != "refused" {
		t.Errorf("closed port: %+v", r)
	}
	if (&Spec{Kind: KindSMTP, Target: netip.MustParseAddrPort("192.0.2.1:0")}).ConnectAddr().Port() != 25 {
		t.Error("SMTP default port is not 25")
	}
}

func TestSMTPReplyParser(t *testing.T) {
	cases := []struct {
		in    string
		code  int
		lines int
		ok    bool
	}{
		{"220 ready\r\n", 220, 1, true},
		{"220-a\r\n220-b\r\n220 c\r\n", 220, 3, true},
		{"250\r\n", 250, 1, true},
		{"220-a\r\n250 b\r\n", 0, 0, false},
		{"22 short\r\n", 0, 0, false},
		{"abc def\r\n", 0, 0, false},
		{"620 bad\r\n", 0, 0, false},
		{"220_x\r\n", 0, 0, false},
		{"220-a\r\n", 0, 0, false},
		{"220 " + strings.Repeat("x", 2000) + "\r\n", 0, 0, false},
	}
	for _, c := range cases {
		rep, err := ReadSMTPReply(bufio.NewReader(strings.NewReader(c.in)))
		if (err == nil) != c.ok || (c.ok && (rep.Code != c.code || len(rep.Lines) != c.lines)) {
			t.Errorf("%q: %+v %v", c.in, rep, err)
		}
	}
}
