package checks

import (
	"bufio"
	"context"
	"crypto/md5"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
)

// HTTPSpec is HTTP_GET and SSL_GET.
type HTTPSpec struct {
	URLs        []URLSpec
	Protocol    string // http_protocol: "1.0" (default), "1.0C" (adds Connection: close) or "1.1"
	VirtualHost string // virtualhost: Host header (and SNI name with EnableSNI)
	// AllURLsPerRun fetches every url on every run (quadrature extension).
	// Default: keepalived's stepping, one url per run.
	AllURLsPerRun bool
	// FastRecovery (fast_recovery): while the checker has not completed a
	// cycle yet, or is coming back after a failed url recovered, the next
	// url is fetched at once instead of after delay_loop.
	FastRecovery bool

	// SSL_GET only.
	EnableSNI bool   // enable_sni: send SNI (sni_name, else virtualhost)
	SNIName   string // sni_name
	// Verify checks the server certificate chain and name (against CAFile,
	// or the system roots). keepalived never verifies; off by default.
	Verify   bool
	CAFile   string
	CertFile string // client certificate (keepalived SSL{certificate})
	KeyFile  string // client key (keepalived SSL{key})
}

// URLSpec is one url{} block.
type URLSpec struct {
	Path         string // path (default "/")
	Digest       string // digest: hex MD5 of the body
	StatusCodes  string // status_code: codes and ranges (default 200-299)
	Regex        string // regex (Go RE2 syntax, not PCRE)
	RegexNoMatch bool   // regex_no_match: the regex must not match
	VirtualHost  string // virtualhost of this URL (overrides the checker's)
}

// maxRegexBody bounds how much of a body a regex sees (keepalived bounds it
// with regex_max_offset); the digest always covers the whole body.
const maxRegexBody = 4 << 20

func (h *HTTPSpec) validate() error {
	var errs []error
	if len(h.URLs) == 0 {
		errs = append(errs, errors.New("no url block"))
	}
	switch h.Protocol {
	case "", "1.0", "1.0C", "1.1":
	default:
		errs = append(errs, fmt.Errorf("http_protocol %q: want 1.0, 1.0C or 1.1", h.Protocol))
	}
	for i, u := range h.URLs {
		if _, err := compileURL(u); err != nil {
			errs = append(errs, fmt.Errorf("url %d: %w", i, err))
		}
	}
	if (h.CertFile == "") != (h.KeyFile == "") {
		errs = append(errs, errors.New("client certificate and key go together"))
	}
	return errors.Join(errs...)
}

type compiledURL struct {
	path    string
	digest  []byte
	codes   StatusSet
	re      *regexp.Regexp
	noMatch bool
	vhost   string
}

func compileURL(u URLSpec) (compiledURL, error) {
	c := compiledURL{path: u.Path, noMatch: u.RegexNoMatch, vhost: u.VirtualHost}
	if c.path == "" {
		c.path = "/"
	}
	if !strings.HasPrefix(c.path, "/") || strings.ContainsAny(c.path, " \r\n") {
		return c, fmt.Errorf("path %q: must start with / and contain no blanks", u.Path)
	}
	var err error
	if c.codes, err = ParseStatusCodes(u.StatusCodes); err != nil {
		return c, err
	}
	if u.Digest != "" {
		d, err := hex.DecodeString(u.Digest)
		if err != nil || len(d) != md5.Size {
			return c, fmt.Errorf("digest %q: want 32 hex digits (MD5)", u.Digest)
		}
		c.digest = d
	}
	if u.Regex != "" {
		if c.re, err = regexp.Compile(u.Regex); err != nil {
			return c, fmt.Errorf("regex: %w", err)
		}
	}
	return c, nil
}

type httpChecker struct {
	opts  dialOpts
	urls  []compiledURL
	proto string
	vhost string
	tls   *tls.Config // nil for HTTP_GET

	// keepalived's url stepping (check_http.c epilog)
	all        bool
	fast       bool
	retry      int
	next       int  // url to fetch on the next run
	fails      int  // consecutive failures of that url
	failed     bool // that url failed beyond its retries
	ran        bool // a cycle completed, or a url failed beyond its retries
	recovering bool // the failed url passed again: re-checking every url
}

func newHTTPChecker(s *Spec) (*httpChecker, error) {
	c := &httpChecker{opts: dialOptsFor(s), proto: s.HTTP.Protocol, vhost: s.HTTP.VirtualHost,
		all: s.HTTP.AllURLsPerRun, fast: s.HTTP.FastRecovery, retry: s.EffectiveRetry()}
	if c.proto == "" {
		c.proto = "1.0"
	}
	for _, u := range s.HTTP.URLs {
		cu, err := compileURL(u)
		if err != nil {
			return nil, err
		}
		c.urls = append(c.urls, cu)
	}
	if s.Kind == KindSSL {
		cfg, err := tlsConfig(s.HTTP, c.opts.target.Addr().String())
		if err != nil {
			return nil, err
		}
		c.tls = cfg
	}
	return c, nil
}

func tlsConfig(h *HTTPSpec, ip string) (*tls.Config, error) {
	cfg := &tls.Config{InsecureSkipVerify: !h.Verify, MinVersion: tls.VersionTLS10}
	if h.EnableSNI {
		cfg.ServerName = h.SNIName
		if cfg.ServerName == "" {
			cfg.ServerName = h.VirtualHost
		}
	}
	if h.Verify && cfg.ServerName == "" {
		cfg.ServerName = ip // verified against IP SANs; Go sends no SNI for an IP
	}
	if h.CAFile != "" {
		pem, err := os.ReadFile(h.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca %s: no PEM certificate", h.CAFile)
		}
		cfg.RootCAs = pool
	}
	if h.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(h.CertFile, h.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// Check fetches on a fresh connection (keepalived does not reuse
// connections) and applies status_code, digest and regex.
//
// By default it steps through the urls like keepalived: one url per run;
// a passing url that is not the last one is a Pending result (state kept,
// next run after delay_loop); the last one completes the cycle and is up.
// A failing url is retried by the scheduler; once it failed beyond its
// retries, its recovery restarts the cycle from the first url, so the
// checker comes back up only after every url passed again.
func (c *httpChecker) Check(ctx context.Context) Result {
	if c.all {
		for _, u := range c.urls {
			if r := c.fetch(ctx, u); !r.Up {
				return r
			}
		}
		return up(fmt.Sprintf("%d url(s) ok", len(c.urls)))
	}
	u := c.urls[c.next]
	r := c.fetch(ctx, u)
	if !r.Up {
		c.fails++
		if c.fails > c.retry {
			c.failed, c.ran, c.recovering = true, true, false
		}
		return r
	}
	c.fails = 0
	if c.failed {
		c.failed, c.next, c.recovering = false, 0, true
		return Result{Up: true, Pending: true, Again: c.fast, Outcome: "ok",
			Reason: fmt.Sprintf("GET %s recovered; checking every url again", u.path)}
	}
	c.next++
	if c.next < len(c.urls) {
		return Result{Up: true, Pending: true, Again: c.fast && (!c.ran || c.recovering), Outcome: "ok",
			Reason: fmt.Sprintf("GET %s ok", u.path)}
	}
	c.next, c.ran, c.recovering = 0, true, false
	return up(fmt.Sprintf("all %d url(s) ok", len(c.urls)))
}

// host is the Host header as keepalived builds it: the url's virtualhost,
// else the checker's, else "address:port" (IPv6 in brackets).
func (c *httpChecker) host(u compiledURL) string {
	switch {
	case u.vhost != "":
		return u.vhost
	case c.vhost != "":
		return c.vhost
	}
	return c.opts.target.String()
}

// request renders keepalived's GET: HTTP/1.0 unless http_protocol 1.1, and
// "Connection: close" for 1.0C and 1.1.
func (c *httpChecker) request(u compiledURL) string {
	v := "1.0"
	if c.proto == "1.1" {
		v = "1.1"
	}
	conn := ""
	if c.proto != "1.0" {
		conn = "Connection: close\r\n"
	}
	return fmt.Sprintf("GET %s HTTP/%s\r\nUser-Agent: KeepAliveClient\r\n%sHost: %s\r\n\r\n", u.path, v, conn, c.host(u))
}

func (c *httpChecker) fetch(ctx context.Context, u compiledURL) Result {
	conn, err := c.opts.dial(ctx, "tcp")
	if err != nil {
		return down(classify(err), "connect %s: %v", c.opts.target, err)
	}
	defer conn.Close()
	setDeadline(ctx, conn, 2*c.opts.timeout)
	if c.tls != nil {
		tc := tls.Client(conn, c.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return down(tlsOutcome(err), "tls handshake with %s: %v", c.opts.target, err)
		}
		conn = tc
	}
	if _, err := io.WriteString(conn, c.request(u)); err != nil {
		return down(classify(err), "GET %s: write: %v", u.path, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		out := classify(err)
		if out == "error" {
			out = "bad_response"
		}
		return down(out, "GET %s: read response: %v", u.path, err)
	}
	defer resp.Body.Close()
	if !u.codes.Contains(resp.StatusCode) {
		return down("bad_status", "GET %s: status %d not in %s", u.path, resp.StatusCode, u.codes)
	}
	if u.digest == nil && u.re == nil {
		return up("ok")
	}
	h := md5.New()
	var body []byte
	var rd io.Reader = resp.Body
	if u.re != nil {
		buf := &limitedBuffer{max: maxRegexBody}
		rd = io.TeeReader(rd, buf)
		if _, err := io.Copy(h, rd); err != nil {
			return down(classify(err), "GET %s: read body: %v", u.path, err)
		}
		body = buf.b
	} else if _, err := io.Copy(h, rd); err != nil {
		return down(classify(err), "GET %s: read body: %v", u.path, err)
	}
	if u.digest != nil {
		if sum := h.Sum(nil); string(sum) != string(u.digest) {
			return down("bad_digest", "GET %s: digest %x, want %x", u.path, sum, u.digest)
		}
	}
	if u.re != nil {
		if m := u.re.Match(body); m == u.noMatch {
			if u.noMatch {
				return down("bad_regex", "GET %s: body matches regex_no_match %q", u.path, u.re)
			}
			return down("bad_regex", "GET %s: body does not match regex %q", u.path, u.re)
		}
	}
	return up("ok")
}

func tlsOutcome(err error) string {
	if o := classify(err); o != "error" {
		return o
	}
	var ce *tls.CertificateVerificationError
	var he x509.HostnameError
	if errors.As(err, &ce) || errors.As(err, &he) {
		return "tls_verify"
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return "error"
	}
	return "tls"
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	b   []byte
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}
