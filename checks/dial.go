package checks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// dialOpts are the connection options shared by the network checkers.
type dialOpts struct {
	target  netip.AddrPort
	bindTo  netip.Addr
	bindPt  uint16
	bindIf  string
	fwmark  uint32
	timeout time.Duration
	linger0 bool // close with RST (SO_LINGER 0): no TIME_WAIT on the checker side
}

func dialOptsFor(s *Spec) dialOpts {
	return dialOpts{
		target:  s.ConnectAddr(),
		bindTo:  s.BindTo,
		bindPt:  s.BindPort,
		bindIf:  s.BindIf,
		fwmark:  s.FWMark,
		timeout: s.EffectiveConnectTimeout(),
	}
}

func (o *dialOpts) control(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		if o.fwmark != 0 {
			if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, int(o.fwmark)); e != nil {
				serr = fmt.Errorf("set SO_MARK %d: %w", o.fwmark, e)
				return
			}
		}
		if o.bindIf != "" {
			if e := unix.BindToDevice(int(fd), o.bindIf); e != nil {
				serr = fmt.Errorf("bind to device %s: %w", o.bindIf, e)
				return
			}
		}
		if o.bindPt != 0 {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		}
	})
	if err != nil {
		return err
	}
	return serr
}

func (o *dialOpts) localAddr(network string) net.Addr {
	if !o.bindTo.IsValid() && o.bindPt == 0 {
		return nil
	}
	ap := netip.AddrPortFrom(o.bindTo, o.bindPt)
	if network == "udp" {
		return net.UDPAddrFromAddrPort(ap)
	}
	return net.TCPAddrFromAddrPort(ap)
}

// dial connects with bindto/bind_port/bind_if/fwmark and connect_timeout
// (bounded further by ctx).
func (o *dialOpts) dial(ctx context.Context, network string) (net.Conn, error) {
	d := net.Dialer{
		Timeout:   o.timeout,
		LocalAddr: o.localAddr(network),
		Control:   o.control,
	}
	c, err := d.DialContext(ctx, network, o.target.String())
	if err != nil {
		return nil, err
	}
	if o.linger0 {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
	}
	return c, nil
}

// classify maps a network error to a metrics outcome.
func classify(err error) string {
	var ne net.Error
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "unreachable"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "reset"
	}
	return "error"
}

// setDeadline gives the connection the earlier of ctx's deadline and now+d.
func setDeadline(ctx context.Context, c interface{ SetDeadline(time.Time) error }, d time.Duration) {
	dl := time.Now().Add(d)
	if cd, ok := ctx.Deadline(); ok && cd.Before(dl) {
		dl = cd
	}
	_ = c.SetDeadline(dl)
}

func netInterfaceIndex(name string) (int, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return 0, err
	}
	return ifi.Index, nil
}
