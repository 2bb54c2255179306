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
	DefaultMaxConnsPerIP = 32
)

// limitListener closes, at accept, a connection beyond the global or the
// per-source cap: it never blocks accepting, so one host holding many
// slow connections cannot starve the others (whose connections are
// accepted and served while the attacker's excess ones are closed).
type limitListener struct {
	net.Listener
	max, perIP int
	refused    *prometheus.CounterVec // by reason: total, per_ip
	current    prometheus.Gauge       // connections held open
	addrOf     func(net.Conn) netip.Addr

	mu    sync.Mutex
	total int
	byIP  map[netip.Addr]int
}

func newLimitListener(ln net.Listener, max, perIP int, refused *prometheus.CounterVec, current prometheus.Gauge) *limitListener {
	return &limitListener{Listener: ln, max: max, perIP: perIP, refused: refused, current: current,
		addrOf: remoteIP, byIP: map[netip.Addr]int{}}
}

// remoteIP is the source address of c (IPv4-mapped IPv6 unmapped, so one
// host counts once whatever the socket family); the zero Addr if unknown.
func remoteIP(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			return ip.Unmap()
		}
	}
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := l.addrOf(c)
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
			// Linger 0: the slot is freed at once, without a FIN_WAIT
			// the attacker could stretch.
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			_ = c.Close()
			continue
		}
		if l.current != nil {
			l.current.Inc()
		}
		return &limitedConn{Conn: c, l: l, ip: ip}, nil
	}
}

func (l *limitListener) release(ip netip.Addr) {
	l.mu.Lock()
	l.total--
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
	l.mu.Unlock()
	if l.current != nil {
		l.current.Dec()
	}
}

// counts reports the connections held open, overall and from ip.
func (l *limitListener) counts(ip netip.Addr) (total, fromIP int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total, l.byIP[ip]
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
