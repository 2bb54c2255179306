package checks

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func md5hex(s string) string { h := md5.Sum([]byte(s)); return hex.EncodeToString(h[:]) }

func serverAddr(t *testing.T, raw string) netip.AddrPort {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return netip.MustParseAddrPort(u.Host)
}

func TestHTTPGet(t *testing.T) {
	var status atomic.Int32
	status.Store(200)
	var delay atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Duration(delay.Load()))
		w.WriteHeader(int(status.Load()))
		fmt.Fprint(w, "service OK v1\n")
	})
	mux.HandleFunc("/vhost", func(w http.ResponseWriter, r *http.Request) {
		if r.Host != "www.example.test" {
			w.WriteHeader(404)
		}
		fmt.Fprintf(w, "host=%s proto=%s close=%v ua=%s", r.Host, r.Proto, r.Close, r.UserAgent())
	})
	mux.HandleFunc("/hostport", func(w http.ResponseWriter, r *http.Request) {
		if r.Host != r.Context().Value(http.LocalAddrContextKey).(net.Addr).String() || r.UserAgent() != "KeepAliveClient" || r.Proto != "HTTP/1.0" {
			w.WriteHeader(400)
		}
	})
	mux.HandleFunc("/proto11", func(w http.ResponseWriter, r *http.Request) {
		if r.Proto != "HTTP/1.1" || !r.Close {
			w.WriteHeader(400)
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	target := serverAddr(t, srv.URL)
	mkT := func(timeout time.Duration, urls []URLSpec, mod ...func(*HTTPSpec)) Checker {
		h := &HTTPSpec{URLs: urls}
		for _, m := range mod {
			m(h)
		}
		return mustChecker(t, Spec{Kind: KindHTTP, Target: target, ConnectTimeout: timeout, HTTP: h})
	}
	// Generous timeouts where an answer is expected, so a loaded machine does not flake.
	mk := func(urls []URLSpec, mod ...func(*HTTPSpec)) Checker { return mkT(3*time.Second, urls, mod...) }
	body := "service OK v1\n"
	cases := []struct {
		name    string
		status  int
		delay   time.Duration
		chk     Checker
		up      bool
		outcome string
	}{
		{"200 default set", 200, 0, mk([]URLSpec{{Path: "/health"}}), true, "ok"},
		{"204 default set", 204, 0, mk([]URLSpec{{Path: "/health"}}), true, "ok"},
		{"500 default set", 500, 0, mk([]URLSpec{{Path: "/health"}}), false, "bad_status"},
		{"301 not in default set", 301, 0, mk([]URLSpec{{Path: "/health"}}), false, "bad_status"},
		{"500 in explicit set", 500, 0, mk([]URLSpec{{Path: "/health", StatusCodes: "200 500-503"}}), true, "ok"},
		{"digest match", 200, 0, mk([]URLSpec{{Path: "/health", Digest: md5hex(body)}}), true, "ok"},
		{"digest mismatch", 200, 0, mk([]URLSpec{{Path: "/health", Digest: md5hex("other")}}), false, "bad_digest"},
		{"regex match", 200, 0, mk([]URLSpec{{Path: "/health", Regex: `OK v[0-9]`}}), true, "ok"},
		{"regex no match", 200, 0, mk([]URLSpec{{Path: "/health", Regex: `FAIL`}}), false, "bad_regex"},
		{"regex_no_match satisfied", 200, 0, mk([]URLSpec{{Path: "/health", Regex: `FAIL`, RegexNoMatch: true}}), true, "ok"},
		{"regex_no_match violated", 200, 0, mk([]URLSpec{{Path: "/health", Regex: `OK`, RegexNoMatch: true}}), false, "bad_regex"},
		{"virtualhost", 200, 0, mk([]URLSpec{{Path: "/vhost"}}, func(h *HTTPSpec) { h.VirtualHost = "www.example.test" }), true, "ok"},
		{"url virtualhost overrides", 200, 0, mk([]URLSpec{{Path: "/vhost", VirtualHost: "www.example.test"}}, func(h *HTTPSpec) { h.VirtualHost = "x" }), true, "ok"},
		{"Host is address:port without virtualhost", 200, 0, mk([]URLSpec{{Path: "/hostport"}}), true, "ok"},
		{"wrong virtualhost", 200, 0, mk([]URLSpec{{Path: "/vhost"}}), false, "bad_status"},
		{"http_protocol 1.1", 200, 0, mk([]URLSpec{{Path: "/proto11"}}, func(h *HTTPSpec) { h.Protocol = "1.1" }), true, "ok"},
		{"http_protocol 1.0 is not 1.1", 200, 0, mk([]URLSpec{{Path: "/proto11"}}), false, "bad_status"},
		{"all urls must pass", 200, 0, mk([]URLSpec{{Path: "/health"}, {Path: "/missing"}}, allURLs), false, "bad_status"},
		{"two good urls", 200, 0, mk([]URLSpec{{Path: "/health"}, {Path: "/vhost", VirtualHost: "www.example.test"}}, allURLs), true, "ok"},
		{"slow server", 200, 1200 * time.Millisecond, mkT(500*time.Millisecond, []URLSpec{{Path: "/health"}}), false, "timeout"},
	}
	for _, c := range cases {
		status.Store(int32(c.status))
		delay.Store(int64(c.delay))
		r := c.chk.Check(context.Background())
		if r.Up != c.up || r.Outcome != c.outcome {
			t.Errorf("%s: %+v, want up=%v outcome=%s", c.name, r, c.up, c.outcome)
		}
	}
	srv.Close()
	if r := mk([]URLSpec{{Path: "/health"}}).Check(context.Background()); r.Up || r.Outcome != "refused" {
		t.Errorf("closed server: %+v", r)
	}
}

func allURLs(h *HTTPSpec) { h.AllURLsPerRun = true }

// TestHTTPGetSteppingURLs follows keepalived's check_http.c: one url per
// run; the cycle's last url makes the checker up; a url failing beyond its
// retries must recover and then every url must pass again.
func TestHTTPGetSteppingURLs(t *testing.T) {
	var bad atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("/a", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/b", func(w http.ResponseWriter, r *http.Request) {
		if bad.Load() {
			w.WriteHeader(500)
		}
	})
	mux.HandleFunc("/c", func(w http.ResponseWriter, r *http.Request) {})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	chk := mustChecker(t, Spec{Kind: KindHTTP, Target: serverAddr(t, srv.URL), Retry: Ptr(1), ConnectTimeout: time.Second,
		HTTP: &HTTPSpec{URLs: []URLSpec{{Path: "/a"}, {Path: "/b"}, {Path: "/c"}}}})
	type want struct {
		up, pending bool
		breakB      bool // set /b failing before this run
		fixB        bool
	}
	steps := []want{
		{up: true, pending: true},             // /a
		{up: true, pending: true},             // /b
		{up: true, pending: false},            // /c: cycle complete
		{up: true, pending: true},             // /a
		{up: false, breakB: true},             // /b fails (retry 1 left)
		{up: false},                           // /b fails again: beyond retries
		{up: false},                           // /b still failing
		{up: true, pending: true, fixB: true}, // /b recovers: restart the cycle
		{up: true, pending: true},             // /a
		{up: true, pending: true},             // /b
		{up: true, pending: false},            // /c: up again
	}
	for i, st := range steps {
		if st.breakB {
			bad.Store(true)
		}
		if st.fixB {
			bad.Store(false)
		}
		r := chk.Check(context.Background())
		if r.Up != st.up || r.Pending != st.pending || r.Again {
			t.Fatalf("step %d: %+v, want up=%v pending=%v, not again", i, r, st.up, st.pending)
		}
	}

	// fast_recovery: the first cycle and a recovery cycle run back to back.
	fast := mustChecker(t, Spec{Kind: KindHTTP, Target: serverAddr(t, srv.URL), Retry: Ptr(0), ConnectTimeout: time.Second,
		HTTP: &HTTPSpec{FastRecovery: true, URLs: []URLSpec{{Path: "/a"}, {Path: "/b"}, {Path: "/c"}}}})
	type fw struct {
		up, pending, again bool
		breakB, fixB       bool
	}
	for i, st := range []fw{
		{up: true, pending: true, again: true},             // first cycle: /a
		{up: true, pending: true, again: true},             // /b
		{up: true},                                         // /c completes
		{up: true, pending: true},                          // steady state: /a, delay_loop
		{up: false, breakB: true},                          // /b fails, retry 0: failed
		{up: true, pending: true, again: true, fixB: true}, // /b recovers: restart at once
		{up: true, pending: true, again: true},             // /a
		{up: true, pending: true, again: true},             // /b
		{up: true},                                         // /c: up
	} {
		if st.breakB {
			bad.Store(true)
		}
		if st.fixB {
			bad.Store(false)
		}
		r := fast.Check(context.Background())
		if r.Up != st.up || r.Pending != st.pending || r.Again != st.again {
			t.Fatalf("fast step %d: %+v, want up=%v pending=%v again=%v", i, r, st.up, st.pending, st.again)
		}
	}
}

func TestSSLGet(t *testing.T) {
	var sni atomic.Value
	sni.Store("")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sni.Store(r.TLS.ServerName)
		fmt.Fprint(w, "secure")
	}))
	srv.StartTLS()
	defer srv.Close()
	target := serverAddr(t, srv.URL)
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	mk := func(h HTTPSpec) Checker {
		h.URLs = []URLSpec{{Path: "/", Digest: md5hex("secure")}}
		return mustChecker(t, Spec{Kind: KindSSL, Target: target, ConnectTimeout: time.Second, HTTP: &h})
	}
	cases := []struct {
		name    string
		spec    HTTPSpec
		up      bool
		outcome string
		sni     string
	}{
		{"no verify, no SNI", HTTPSpec{}, true, "ok", ""},
		{"enable_sni uses virtualhost", HTTPSpec{EnableSNI: true, VirtualHost: "example.com"}, true, "ok", "example.com"},
		{"sni_name wins", HTTPSpec{EnableSNI: true, VirtualHost: "a.example", SNIName: "example.com"}, true, "ok", "example.com"},
		{"verify without CA fails", HTTPSpec{Verify: true}, false, "tls_verify", ""},
		{"verify with CA by IP", HTTPSpec{Verify: true, CAFile: ca}, true, "ok", ""},
		{"verify with CA and SNI", HTTPSpec{Verify: true, CAFile: ca, EnableSNI: true, SNIName: "example.com"}, true, "ok", "example.com"},
		{"verify wrong name", HTTPSpec{Verify: true, CAFile: ca, EnableSNI: true, SNIName: "wrong.example"}, false, "tls_verify", ""},
	}
	for _, c := range cases {
		sni.Store("")
		r := mk(c.spec).Check(context.Background())
		if r.Up != c.up || r.Outcome != c.outcome {
			t.Errorf("%s: %+v, want up=%v outcome=%s", c.name, r, c.up, c.outcome)
			continue
		}
		if c.up && sni.Load().(string) != c.sni {
			t.Errorf("%s: server saw SNI %q, want %q", c.name, sni.Load(), c.sni)
		}
	}
	// Plain HTTP to a TLS port is not a pass.
	if r := mustChecker(t, Spec{Kind: KindHTTP, Target: target, ConnectTimeout: time.Second, HTTP: &HTTPSpec{URLs: []URLSpec{{}}}}).Check(context.Background()); r.Up {
		t.Errorf("HTTP_GET against TLS server passed: %+v", r)
	}
}

func TestHTTPSpecValidation(t *testing.T) {
	bad := []HTTPSpec{
		{},
		{URLs: []URLSpec{{Path: "no-slash"}}},
		{URLs: []URLSpec{{Digest: "xyz"}}},
		{URLs: []URLSpec{{StatusCodes: "200-100"}}},
		{URLs: []URLSpec{{Regex: "("}}},
		{URLs: []URLSpec{{}}, Protocol: "2"},
		{URLs: []URLSpec{{}}, CertFile: "x"},
	}
	for i, h := range bad {
		s := Spec{Kind: KindHTTP, Target: netip.MustParseAddrPort("127.0.0.1:80"), HTTP: &h}
		if err := s.Validate(); err == nil {
			t.Errorf("case %d: %+v accepted", i, h)
		} else if !strings.Contains(err.Error(), "HTTP_GET") {
			t.Errorf("case %d: error lacks context: %v", i, err)
		}
	}
}

func TestHTTPGetIPv6HostHeader(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		skipOrFail(t, "no IPv6 loopback: %v", err)
		return
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != ln.Addr().String() { // "[::1]:port", as keepalived's IPv6 template
			w.WriteHeader(400)
		}
	}))
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	ap := ln.Addr().(*net.TCPAddr).AddrPort()
	r := mustChecker(t, Spec{Kind: KindHTTP, Target: ap, HTTP: &HTTPSpec{URLs: []URLSpec{{Path: "/"}}}}).Check(context.Background())
	if !r.Up {
		t.Fatalf("%+v", r)
	}
}
