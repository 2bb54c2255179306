package api

import (
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestLimitListener: beyond the per-IP cap a connection is closed at
// accept; another source is still served; closing frees a slot.
func TestLimitListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "r"}, []string{"reason"})
	ln := newLimitListener(inner, 10, 3, refused)
	defer ln.Close()
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func(local string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		c, err := d.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	closedByServer := func(c net.Conn) bool {
		_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		_, err := c.Read(make([]byte, 1))
		ne, ok := err.(net.Error)
		return err != nil && !(ok && ne.Timeout())
	}
	var held, served []net.Conn
	for i := 0; i < 3; i++ {
		held = append(held, dial("127.0.0.2"))
		served = append(served, <-accepted)
	}
	extra := dial("127.0.0.2")
	if !closedByServer(extra) {
		t.Fatal("a 4th connection from one address was kept")
	}
	other := dial("127.0.0.3")
	select {
	case <-accepted:
	case <-time.After(2 * time.Second):
		t.Fatal("another address was not served")
	}
	if closedByServer(other) {
		t.Fatal("another address was refused")
	}
	if got := testutil.ToFloat64(refused.WithLabelValues("per_ip")); got != 1 {
		t.Fatalf("refused per_ip = %v", got)
	}
	// Releasing one slot lets the first address in again.
	served[0].Close() // the server ends one of them
	held[0].Close()
	again := dial("127.0.0.2")
	select {
	case <-accepted:
	case <-time.After(2 * time.Second):
		t.Fatal("a freed slot was not reused")
	}
	again.Close()
	other.Close()
	for _, c := range held[1:] {
		c.Close()
	}
}
