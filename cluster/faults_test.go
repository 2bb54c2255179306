package cluster

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// faultSet is the test implementation of faultHook: it cuts this node off from chosen peer
// addresses (Raft and gossip "ip:port"): dials fail, established outgoing
// connections are closed and gossip packets are dropped both ways. A
// partition is made by blocking on both sides.
type faultSet struct {
	mu      sync.Mutex
	blocks  map[string]bool
	tracked map[string]map[net.Conn]struct{}
}

func newFaultSet() *faultSet {
	return &faultSet{blocks: map[string]bool{}, tracked: map[string]map[net.Conn]struct{}{}}
}

func (f *faultSet) blocked(addr string) bool {
	if f == nil {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.blocks[addr]
}

// block cuts addrs off and closes the connections this node dialled to them.
func (f *faultSet) block(addrs ...string) {
	f.mu.Lock()
	var toClose []net.Conn
	for _, a := range addrs {
		f.blocks[a] = true
		for c := range f.tracked[a] {
			toClose = append(toClose, c)
		}
	}
	f.mu.Unlock()
	for _, c := range toClose {
		_ = c.Close()
	}
}

func (f *faultSet) unblock(addrs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range addrs {
		delete(f.blocks, a)
	}
}

// track remembers a dialled connection so block can close it.
func (f *faultSet) track(addr string, c net.Conn) net.Conn {
	if f == nil {
		return c
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.tracked[addr]
	if m == nil {
		m = map[net.Conn]struct{}{}
		f.tracked[addr] = m
	}
	m[c] = struct{}{}
	return &trackedConn{Conn: c, addr: addr, f: f}
}

type trackedConn struct {
	net.Conn
	addr string
	f    *faultSet
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.f.mu.Lock()
		delete(c.f.tracked[c.addr], c.Conn)
		c.f.mu.Unlock()
	})
	return c.Conn.Close()
}

// faultTransport wraps memberlist's network transport with the fault set.
type faultTransport struct {
	*memberlist.NetTransport
	faults   *faultSet
	packetCh chan *memberlist.Packet
	stopCh   chan struct{} // closed when shutdown starts: drop packets
	doneCh   chan struct{} // closed when the inner transport is down
	stopOnce sync.Once
}

var _ memberlist.NodeAwareTransport = (*faultTransport)(nil)

func (f *faultSet) wrapGossip(nt *memberlist.NetTransport) memberlist.Transport {
	return newFaultTransport(nt, f)
}

func newFaultTransport(nt *memberlist.NetTransport, f *faultSet) *faultTransport {
	t := &faultTransport{NetTransport: nt, faults: f, packetCh: make(chan *memberlist.Packet), stopCh: make(chan struct{}), doneCh: make(chan struct{})}
	go t.pump()
	return t
}

func (t *faultTransport) pump() {
	in := t.NetTransport.PacketCh()
	for {
		select {
		case p := <-in:
			if p.From != nil && t.faults.blocked(p.From.String()) {
				continue
			}
			select {
			case t.packetCh <- p:
			case <-t.stopCh: // shutting down: keep draining, drop
			}
		case <-t.doneCh:
			return
		}
	}
}

var errFaultBlocked = errors.New("blocked by fault injection")

func (t *faultTransport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }

func (t *faultTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	if t.faults.blocked(addr) {
		return time.Now(), nil
	}
	return t.NetTransport.WriteTo(b, addr)
}

func (t *faultTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	return t.WriteTo(b, a.Addr)
}

func (t *faultTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	if t.faults.blocked(addr) {
		return nil, errFaultBlocked
	}
	return t.NetTransport.DialTimeout(addr, timeout)
}

func (t *faultTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.DialTimeout(a.Addr, timeout)
}

// Shutdown keeps draining the inner transport's packets while it stops:
// its UDP reader blocks on an unread channel otherwise.
func (t *faultTransport) Shutdown() error {
	var err error
	t.stopOnce.Do(func() {
		close(t.stopCh)
		err = t.NetTransport.Shutdown()
		close(t.doneCh)
	})
	return err
}
