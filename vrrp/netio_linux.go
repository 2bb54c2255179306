package vrrp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// nsContext opens sockets in a chosen network namespace: with no path
// everything happens in the caller's namespace; with one, socket creation
// runs on a locked thread switched into it (sockets keep their namespace
// for life).
type nsContext struct {
	path string
	h    netns.NsHandle
}

func openNS(path string) (*nsContext, error) {
	if path == "" {
		return &nsContext{h: netns.None()}, nil
	}
	h, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("vrrp: open netns %s: %w", path, err)
	}
	return &nsContext{path: path, h: h}, nil
}

func (c *nsContext) close() {
	if c.path != "" {
		c.h.Close()
	}
}

func (c *nsContext) do(f func() error) error {
	if c.path == "" {
		return f()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return fmt.Errorf("vrrp: current netns: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(c.h); err != nil {
		return fmt.Errorf("vrrp: enter netns %s: %w", c.path, err)
	}
	ferr := f()
	if err := netns.Set(orig); err != nil {
		// Leave the thread locked: the runtime discards it when the
		// goroutine exits instead of reusing a thread in the wrong netns.
		runtime.LockOSThread()
		return errors.Join(ferr, fmt.Errorf("vrrp: return from netns %s: %w", c.path, err))
	}
	return ferr
}

// advertConn is the raw IP protocol 112 socket of one instance, bound to
// its interface (SO_BINDTODEVICE) so no other interface's packets leak in.
type advertConn struct {
	v6      bool
	ifindex int
	ifname  string
	pc      net.PacketConn
	raw4    *ipv4.RawConn
	pc6     *ipv6.PacketConn
}

func bindToDevice(ifname string) func(string, string, syscall.RawConn) error {
	return func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, ifname)
		})
		if err != nil {
			return err
		}
		return serr
	}
}

// openAdvertConn opens the socket (in the caller's namespace) and joins
// the VRRP group when multicast is set.
func openAdvertConn(ifname string, ifindex int, v6, multicast bool) (*advertConn, error) {
	lc := net.ListenConfig{Control: bindToDevice(ifname)}
	ifi := &net.Interface{Index: ifindex, Name: ifname}
	c := &advertConn{v6: v6, ifindex: ifindex, ifname: ifname}
	var err error
	if !v6 {
		c.pc, err = lc.ListenPacket(context.Background(), "ip4:112", "0.0.0.0")
		if err != nil {
			return nil, fmt.Errorf("listen ip4:112 on %s: %w", ifname, err)
		}
		c.raw4, err = ipv4.NewRawConn(c.pc)
		if err == nil {
			err = errors.Join(c.raw4.SetMulticastLoopback(false), c.raw4.SetMulticastInterface(ifi), c.raw4.SetMulticastTTL(TTL))
		}
		if err == nil && multicast {
			err = c.raw4.JoinGroup(ifi, &net.IPAddr{IP: GroupIPv4.AsSlice()})
		}
	} else {
		c.pc, err = lc.ListenPacket(context.Background(), "ip6:112", "::")
		if err != nil {
			return nil, fmt.Errorf("listen ip6:112 on %s: %w", ifname, err)
		}
		c.pc6 = ipv6.NewPacketConn(c.pc)
		err = errors.Join(
			c.pc6.SetChecksum(true, 6),
			c.pc6.SetMulticastLoopback(false),
			c.pc6.SetMulticastInterface(ifi),
			c.pc6.SetMulticastHopLimit(TTL),
			c.pc6.SetHopLimit(TTL),
			c.pc6.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst, true),
		)
		if err == nil && multicast {
			err = c.pc6.JoinGroup(ifi, &net.IPAddr{IP: GroupIPv6.AsSlice()})
		}
	}
	if err != nil {
		c.pc.Close()
		return nil, fmt.Errorf("set up VRRP socket on %s: %w", ifname, err)
	}
	return c, nil
}

func (c *advertConn) close() error { return c.pc.Close() }

// pending reports whether a datagram waits in the socket's receive queue.
func (c *advertConn) pending() bool {
	sc, ok := c.pc.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	n := 0
	_ = rc.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ) })
	return n > 0
}

// send writes one PDU from src to dst with TTL/hop limit 255.
func (c *advertConn) send(pdu []byte, src, dst netip.Addr) error {
	if !c.v6 {
		h := &ipv4.Header{
			Version: 4, Len: ipv4.HeaderLen, TOS: 0xc0, TotalLen: ipv4.HeaderLen + len(pdu),
			TTL: TTL, Protocol: IPProtocol, Src: src.AsSlice(), Dst: dst.AsSlice(),
		}
		return c.raw4.WriteTo(h, pdu, nil)
	}
	cm := &ipv6.ControlMessage{HopLimit: TTL, IfIndex: c.ifindex}
	if src.IsValid() {
		cm.Src = src.AsSlice()
	}
	_, err := c.pc6.WriteTo(pdu, cm, &net.IPAddr{IP: dst.AsSlice()})
	return err
}

// recv reads one packet; malformed is set when the IP header could not be
// parsed (the packet is then reported as too short).
func (c *advertConn) recv(buf []byte, now func() time.Time) (EvPacket, error) {
	if !c.v6 {
		h, p, _, err := c.raw4.ReadFrom(buf)
		if err != nil {
			if h == nil && p == nil && isParseError(err) {
				return EvPacket{Now: now(), TTL: -1}, nil
			}
			return EvPacket{}, err
		}
		src, _ := netip.AddrFromSlice(h.Src.To4())
		dst, _ := netip.AddrFromSlice(h.Dst.To4())
		if tl := h.TotalLen; tl >= h.Len && tl-h.Len < len(p) {
			p = p[:tl-h.Len]
		}
		return EvPacket{Now: now(), Src: src, Dst: dst, TTL: h.TTL, Data: append([]byte(nil), p...)}, nil
	}
	n, cm, from, err := c.pc6.ReadFrom(buf)
	if err != nil {
		return EvPacket{}, err
	}
	ev := EvPacket{Now: now(), TTL: -1, Data: append([]byte(nil), buf[:n]...), ChecksumVerified: true}
	if ia, ok := from.(*net.IPAddr); ok {
		ev.Src, _ = netip.AddrFromSlice(ia.IP)
	}
	if cm != nil {
		ev.TTL = cm.HopLimit
		ev.Dst, _ = netip.AddrFromSlice(cm.Dst)
	}
	return ev, nil
}

func isParseError(err error) bool {
	var ne net.Error
	return !errors.As(err, &ne)
}

// gratuitous sends GARPs (IPv4) and unsolicited NAs (IPv6) on one
// interface through an AF_PACKET socket that never receives.
type gratuitous struct {
	mu     sync.RWMutex // close waits for sends in flight (fd reuse)
	fd     int
	closed bool
}

func openGratuitous() (*gratuitous, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open AF_PACKET socket: %w", err)
	}
	return &gratuitous{fd: fd}, nil
}

func (g *gratuitous) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.closed {
		g.closed = true
		unix.Close(g.fd)
	}
}

func (g *gratuitous) send(ifindex int, mac net.HardwareAddr, vip netip.Addr, router bool) error {
	if len(mac) != 6 {
		return fmt.Errorf("interface %d has no Ethernet address", ifindex)
	}
	var frame []byte
	var proto uint16
	if vip.Is4() {
		frame, proto = garpFrame(mac, vip), unix.ETH_P_ARP
	} else {
		frame, proto = naFrame(mac, vip, router), unix.ETH_P_IPV6
	}
	sa := &unix.SockaddrLinklayer{Ifindex: ifindex, Protocol: htons(proto), Halen: 6}
	copy(sa.Addr[:], frame[0:6])
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.closed {
		return net.ErrClosed
	}
	return unix.Sendto(g.fd, frame, 0, sa)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

var broadcastMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// garpFrame builds a gratuitous ARP request: sender = target = vip,
// Ethernet and target hardware address broadcast.
func garpFrame(mac net.HardwareAddr, vip netip.Addr) []byte {
	f := make([]byte, 14+28)
	copy(f[0:6], broadcastMAC)
	copy(f[6:12], mac)
	binary.BigEndian.PutUint16(f[12:14], unix.ETH_P_ARP)
	a := f[14:]
	binary.BigEndian.PutUint16(a[0:2], 1)      // Ethernet
	binary.BigEndian.PutUint16(a[2:4], 0x0800) // IPv4
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:8], 1) // request
	ip := vip.As4()
	copy(a[8:14], mac)
	copy(a[14:18], ip[:])
	copy(a[18:24], broadcastMAC)
	copy(a[24:28], ip[:])
	return f
}

var allNodes = netip.MustParseAddr("ff02::1")

// naFrame builds an unsolicited neighbour advertisement for vip to
// ff02::1 with the Override flag, hop limit 255 and a target link-layer
// address option.
func naFrame(mac net.HardwareAddr, vip netip.Addr, router bool) []byte {
	const icmpLen = 24 + 8
	f := make([]byte, 14+40+icmpLen)
	copy(f[0:6], []byte{0x33, 0x33, 0, 0, 0, 1})
	copy(f[6:12], mac)
	binary.BigEndian.PutUint16(f[12:14], unix.ETH_P_IPV6)
	ip := f[14:54]
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:6], icmpLen)
	ip[6] = unix.IPPROTO_ICMPV6
	ip[7] = 255
	src, dst := vip.As16(), allNodes.As16()
	copy(ip[8:24], src[:])
	copy(ip[24:40], dst[:])
	icmp := f[54:]
	icmp[0] = 136               // neighbour advertisement
	flags := uint32(0x20000000) // Override
	if router {
		flags |= 0x80000000
	}
	binary.BigEndian.PutUint32(icmp[4:8], flags)
	copy(icmp[8:24], src[:])
	icmp[24], icmp[25] = 2, 1 // target link-layer address, 8 bytes
	copy(icmp[26:32], mac)
	var sum uint32
	sum = sumBytes(sum, src[:])
	sum = sumBytes(sum, dst[:])
	sum += icmpLen + unix.IPPROTO_ICMPV6
	sum = sumBytes(sum, icmp)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(icmp[2:4], ^uint16(sum))
	return f
}
