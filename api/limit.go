package api

import (
	"net"
	"net/netip"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Connection limits of the API listener (Options.MaxConns, MaxConnsPerIP).
const (
	DefaultMaxConns      = 512
	DefaultMaxConnsPerIP = 64
)

// limitListener closes, at accept, a connection beyond the global or the
// per-source cap: it never blocks accepting, so one host holding many
// slow connections cannot starve the others.
type limitListener struct {
	net.Listener
	max, perIP int
	refused    *prometheus.CounterVec

	mu    sync.Mutex
	total int
	byIP  map[netip.Addr]int
}

func newLimitListener(ln net.Listener, max, perIP int, refused *prometheus.CounterVec) *limitListener {
	return &limitListener{Listener: ln, max: max, perIP: perIP, refused: refused, byIP: map[netip.Addr]int{}}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := netip.Addr{}
		if ap, perr := netip.ParseAddrPort(c.RemoteAddr().String()); perr == nil {
			ip = ap.Addr().Unmap()
		}
		l.mu.Lock()
		reason := ""
		switch {
		case l.total >= l.max:
			reason = "total"
		case l.byIP[ip] >= l.perIP:
			reason = "per_ip"
		default:
			l.total++
			l.byIP[ip]++
		}
		l.mu.Unlock()
		if reason != "" {
			if l.refused != nil {
				l.refused.WithLabelValues(reason).Inc()
			}
			_ = c.Close()
			continue
		}
		return &limitedConn{Conn: c, l: l, ip: ip}, nil
	}
}

func (l *limitListener) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
}

type limitedConn struct {
	net.Conn
	l    *limitListener
	ip   netip.Addr
	once sync.Once
}

func (c *limitedConn) Close() error {
	c.once.Do(func() { c.l.release(c.ip) })
	return c.Conn.Close()
}
