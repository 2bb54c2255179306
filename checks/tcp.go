package checks

import "context"

// tcpChecker is TCP_CHECK: up when a TCP connection is established within
// connect_timeout. The connection is closed at once with a RST (SO_LINGER
// 0), as keepalived does, so thousands of checks leave no TIME_WAIT behind.
type tcpChecker struct {
	opts dialOpts
}

func newTCPChecker(s *Spec) *tcpChecker {
	o := dialOptsFor(s)
	o.linger0 = true
	return &tcpChecker{opts: o}
}

func (c *tcpChecker) Check(ctx context.Context) Result {
	conn, err := c.opts.dial(ctx, "tcp")
	if err != nil {
		return down(classify(err), "connect %s: %v", c.opts.target, err)
	}
	_ = conn.Close()
	return up("connected")
}
