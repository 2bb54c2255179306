package api

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// pipeListener hands out one end of in-memory pipes whose remote address
// the test chooses (documentation addresses, no real network).
type pipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}
func (l *pipeListener) Close() error   { close(l.closed); return nil }
func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 9900} }

type addrConn struct {
	net.Conn
	remote net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.remote }

// dial makes a connection from ip:port and returns the client's end.
func (l *pipeListener) dial(t *testing.T, from string) net.Conn {
	t.Helper()
	srv, cli := net.Pipe()
	ap := netip.MustParseAddrPort(from)
	select {
	case l.conns <- addrConn{Conn: srv, remote: net.TCPAddrFromAddrPort(ap)}:
	case <-time.After(2 * time.Second):
		t.Fatal("the listener stopped accepting")
	}
	return cli
}

// closedByServer reports whether the server closed c (its end of the pipe).
func closedByServer(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	ne, ok := err.(net.Error)
	return err != nil && !(ok && ne.Timeout())
}

// TestLimitListener: beyond the per-address cap a connection is closed at
// accept (and counted), another address is still served, closing frees a
// slot; beyond the global cap every address is refused.
func TestLimitListener(t *testing.T) {
	inner := newPipeListener()
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "r"}, []string{"reason"})
	current := prometheus.NewGauge(prometheus.GaugeOpts{Name: "c"})
	ln := newLimitListener(inner, 5, 3, refused, current)
	defer ln.Close()
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	next := func() net.Conn {
		t.Helper()
		select {
		case c := <-accepted:
			return c
		case <-time.After(2 * time.Second):
			t.Fatal("no connection accepted")
		}
		return nil
	}
	var held, served []net.Conn
	for i := 0; i < 3; i++ {
		held = append(held, inner.dial(t, fmt.Sprintf("192.0.2.66:%d", 40000+i)))
		served = append(served, next())
	}
	if extra := inner.dial(t, "192.0.2.66:40010"); !closedByServer(extra) {
		t.Fatal("a 4th connection from one address was kept")
	}
	// IPv4-mapped IPv6 is the same host.
	if extra := inner.dial(t, "[::ffff:192.0.2.66]:40011"); !closedByServer(extra) {
		t.Fatal("a 4th connection from the same host over IPv6 was kept")
	}
	other := inner.dial(t, "198.51.100.7:40000")
	served = append(served, next())
	if closedByServer(other) {
		t.Fatal("another address was refused")
	}
	if got := testutil.ToFloat64(refused.WithLabelValues("per_ip")); got != 2 {
		t.Fatalf("refused per_ip = %v, want 2", got)
	}
	if got := testutil.ToFloat64(current); got != 4 {
		t.Fatalf("current connections = %v, want 4", got)
	}
	// Releasing one slot lets the first address in again.
	served[0].Close()
	served[0].Close() // closing twice frees one slot only
	again := inner.dial(t, "192.0.2.66:40020")
	served = append(served, next())
	if closedByServer(again) {
		t.Fatal("a freed slot was not reused")
	}
	// A fifth connection fills the global cap, which then refuses every
	// address.
	fifth := inner.dial(t, "203.0.113.9:40000")
	served = append(served, next())
	if closedByServer(fifth) {
		t.Fatal("a fifth connection was refused")
	}
	if c := inner.dial(t, "203.0.113.9:40001"); !closedByServer(c) {
		t.Fatal("a connection beyond the global cap was kept")
	}
	if got := testutil.ToFloat64(refused.WithLabelValues("total")); got != 1 {
		t.Fatalf("refused total = %v, want 1", got)
	}
	if total, from := ln.counts(netip.MustParseAddr("192.0.2.66")); total != 5 || from != 3 {
		t.Fatalf("counts: %d total, %d from 192.0.2.66", total, from)
	}
	for _, c := range served[1:] {
		c.Close()
	}
	if total, _ := ln.counts(netip.Addr{}); total != 0 || testutil.ToFloat64(current) != 0 {
		t.Fatalf("after closing all: %d open, gauge %v", total, testutil.ToFloat64(current))
	}
	for _, c := range append(held, other, again, fifth) {
		c.Close()
	}
}

// TestSlowConnectionsDoNotStarve: one source holding 1,000 connections
// that never finish their headers gets 32 of them (the rest closed at
// accept, counted); another source is served at once, and the caps show
// in /metrics. Runs on a real listener (Start) with the test choosing
// which documentation address a loopback connection stands for.
func TestSlowConnectionsDoNotStarve(t *testing.T) {
	s, err := New(Options{Backend: nilBackend{}, AdminToken: "admin-token-for-tests-only", Listen: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	attacker, legit := netip.MustParseAddr("192.0.2.66"), netip.MustParseAddr("198.51.100.7")
	var legitNow atomic.Bool
	s.connAddr = func(net.Conn) netip.Addr {
		if legitNow.Load() {
			return legit
		}
		return attacker
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(t.Context())
	addr := s.Addr().String()
	const n = 1000
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", addr)
		if errors.Is(err, syscall.ECONNRESET) {
			continue // refused (reset) before connect returned
		}
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		conns = append(conns, c)
		// A slow request: headers never finished.
		_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, held := s.lim.counts(attacker)
		refused := testutil.ToFloat64(s.connRefused.WithLabelValues("per_ip"))
		if held == DefaultMaxConnsPerIP && refused == n-DefaultMaxConnsPerIP {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d slow connections: %d held, %v refused", n, held, refused)
		}
		time.Sleep(20 * time.Millisecond)
	}
	legitNow.Store(true)
	start := time.Now()
	cl := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := cl.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("another source was not served: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("metrics: %d", resp.StatusCode)
	}
	t.Logf("served in %v while %d slow connections were held", time.Since(start), DefaultMaxConnsPerIP)
	for _, want := range []string{
		fmt.Sprintf(`quadrature_api_connections_refused_total{reason="per_ip"} %d`, n-DefaultMaxConnsPerIP),
		fmt.Sprintf("quadrature_api_connections %d", DefaultMaxConnsPerIP+1),
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestServerTimeouts: the listener Start opens bounds headers to 5 s, the
// request, the response and idle connections, and header size.
func TestServerTimeouts(t *testing.T) {
	s, err := New(Options{Backend: nilBackend{}, AdminToken: "admin-token-for-tests-only", Listen: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(t.Context())
	h := s.httpSrv
	if h.ReadHeaderTimeout != 5*time.Second || h.ReadTimeout <= 0 || h.WriteTimeout <= 0 || h.IdleTimeout <= 0 || h.MaxHeaderBytes != 64<<10 {
		t.Fatalf("timeouts: header %v read %v write %v idle %v max header %d",
			h.ReadHeaderTimeout, h.ReadTimeout, h.WriteTimeout, h.IdleTimeout, h.MaxHeaderBytes)
	}
	if s.opts.MaxConns != 512 || s.opts.MaxConnsPerIP != 32 {
		t.Fatalf("caps %d / %d", s.opts.MaxConns, s.opts.MaxConnsPerIP)
	}
	if testing.Short() {
		return
	}
	// A request whose headers never end is closed after ReadHeaderTimeout.
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
	_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	took := time.Since(start)
	if took < 4*time.Second || took > 10*time.Second {
		t.Fatalf("slow headers closed after %v (%q, %v), want about 5 s", took, line, err)
	}
	t.Logf("slow headers: %q %v after %v", strings.TrimSpace(line), err, took)
}
