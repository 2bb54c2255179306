package checks

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// tcpChecker is TCP_CHECK: up when a TCP connection is established within
// connect_timeout. Like keepalived it only connects and closes; the close
// is a RST (SO_LINGER 0) so thousands of checks leave no TIME_WAIT behind.
//
// It is the checker that runs by the thousand, so it uses a lean
// non-blocking connect on a raw socket parked on Go's poller instead of
// net.Dialer: no address resolution, no local/peer address look-ups, and
// six system calls per check.
type tcpChecker struct {
	opts dialOpts
	sa   unix.Sockaddr
	fam  int
}

func newTCPChecker(s *Spec) *tcpChecker {
	o := dialOptsFor(s)
	o.linger0 = true
	c := &tcpChecker{opts: o}
	a := o.target.Addr()
	if a.Is4() || a.Is4In6() {
		c.fam, c.sa = unix.AF_INET, &unix.SockaddrInet4{Port: int(o.target.Port()), Addr: a.Unmap().As4()}
	} else {
		c.fam, c.sa = unix.AF_INET6, &unix.SockaddrInet6{Port: int(o.target.Port()), Addr: a.As16(), ZoneId: zoneID(a.Zone())}
	}
	return c
}

func zoneID(zone string) uint32 {
	if zone == "" {
		return 0
	}
	if ifi, err := netInterfaceIndex(zone); err == nil {
		return uint32(ifi)
	}
	return 0
}

// boundsItself: the connect is bounded by connect_timeout and ctx, so the
// scheduler needs no per-run timeout context.
func (c *tcpChecker) boundsItself() {}

func (c *tcpChecker) Check(ctx context.Context) Result {
	err := c.connect(ctx)
	if err != nil {
		return down(classify(err), "connect %s: %v", c.opts.target, err)
	}
	return up("connected")
}

func (c *tcpChecker) setup(fd int) error {
	if err := unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0}); err != nil {
		return fmt.Errorf("set SO_LINGER: %w", err)
	}
	if c.opts.fwmark != 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, int(c.opts.fwmark)); err != nil {
			return fmt.Errorf("set SO_MARK %d: %w", c.opts.fwmark, err)
		}
	}
	if c.opts.bindIf != "" {
		if err := unix.BindToDevice(fd, c.opts.bindIf); err != nil {
			return fmt.Errorf("bind to device %s: %w", c.opts.bindIf, err)
		}
	}
	if c.opts.bindTo.IsValid() || c.opts.bindPt != 0 {
		if c.opts.bindPt != 0 {
			_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		}
		var sa unix.Sockaddr
		if c.fam == unix.AF_INET {
			sa4 := &unix.SockaddrInet4{Port: int(c.opts.bindPt)}
			if c.opts.bindTo.IsValid() {
				sa4.Addr = c.opts.bindTo.Unmap().As4()
			}
			sa = sa4
		} else {
			sa6 := &unix.SockaddrInet6{Port: int(c.opts.bindPt)}
			if c.opts.bindTo.IsValid() {
				sa6.Addr = c.opts.bindTo.As16()
			}
			sa = sa6
		}
		if err := unix.Bind(fd, sa); err != nil {
			return fmt.Errorf("bind %s port %d: %w", c.opts.bindTo, c.opts.bindPt, err)
		}
	}
	return nil
}

func (c *tcpChecker) connect(ctx context.Context) error {
	fd, err := unix.Socket(c.fam, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	if err := c.setup(fd); err != nil {
		unix.Close(fd)
		return err
	}
	err = unix.Connect(fd, c.sa)
	if err == unix.EINPROGRESS {
		// On loopback and fast LANs the handshake is often complete by
		// now: a second connect says so without touching the poller.
		switch e := unix.Connect(fd, c.sa); e {
		case unix.EALREADY, unix.EINPROGRESS:
		case unix.EISCONN:
			err = nil
		default:
			err = e
		}
	}
	switch {
	case err == nil:
		unix.Close(fd)
		return nil
	case err != unix.EALREADY && err != unix.EINPROGRESS:
		unix.Close(fd)
		return os.NewSyscallError("connect", err)
	}
	// Park on the poller until the socket is writable (connected or failed).
	f := os.NewFile(uintptr(fd), "tcp-check")
	defer f.Close()
	deadline := time.Now().Add(c.opts.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := f.SetWriteDeadline(deadline); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = f.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var cerr error
	werr := rc.Write(func(fd uintptr) bool {
		// A second connect reports the state: EALREADY while in progress,
		// EISCONN once connected, or the pending error (ECONNREFUSED...).
		switch e := unix.Connect(int(fd), c.sa); e {
		case unix.EALREADY, unix.EINPROGRESS:
			return false
		case nil, unix.EISCONN:
			return true
		default:
			cerr = os.NewSyscallError("connect", e)
			return true
		}
	})
	switch {
	case cerr != nil:
		return cerr
	case errors.Is(werr, os.ErrDeadlineExceeded):
		if ctx.Err() != nil && time.Now().Before(deadline) {
			return ctx.Err()
		}
		return fmt.Errorf("connect: %w", syscall.ETIMEDOUT)
	case werr != nil:
		return werr
	}
	return nil
}
