package checks

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// pingMode remembers per family whether unprivileged ICMP datagram sockets
// were refused (net.ipv4.ping_group_range), so later checks go straight to
// raw sockets.
type pingMode struct {
	rawOnly4, rawOnly6 atomic.Bool
}

// pingChecker is PING_CHECK: one ICMP or ICMPv6 echo request; up when the
// matching echo reply arrives within connect_timeout.
type pingChecker struct {
	opts dialOpts
	mode *pingMode
}

func newPingChecker(s *Spec, m *pingMode) *pingChecker {
	if m == nil {
		m = &pingMode{}
	}
	return &pingChecker{opts: dialOptsFor(s), mode: m}
}

// openICMP opens an ICMP socket: SOCK_DGRAM (unprivileged ping) when the
// kernel allows it, else SOCK_RAW (needs CAP_NET_RAW).
func (c *pingChecker) openICMP(v6 bool, id uint16) (net.PacketConn, bool, error) {
	family, proto, flag := unix.AF_INET, unix.IPPROTO_ICMP, &c.mode.rawOnly4
	if v6 {
		family, proto, flag = unix.AF_INET6, unix.IPPROTO_ICMPV6, &c.mode.rawOnly6
	}
	if !flag.Load() {
		pc, err := c.socket(family, unix.SOCK_DGRAM, proto, nil)
		if err == nil {
			return pc, false, nil
		}
		if !errors.Is(err, syscall.EACCES) && !errors.Is(err, syscall.EPERM) && !errors.Is(err, syscall.EPROTONOSUPPORT) {
			return nil, false, err
		}
		flag.Store(true)
	}
	pc, err := c.socket(family, unix.SOCK_RAW, proto, echoReplyFilter(v6, id))
	return pc, true, err
}

// echoReplyFilter is a socket filter that passes only echo replies with
// our identifier, so a raw ICMP socket is not woken by every ICMP packet
// the host receives (which matters with many PING_CHECKs).
func echoReplyFilter(v6 bool, id uint16) []bpf.RawInstruction {
	var prog []bpf.Instruction
	if v6 { // raw ICMPv6 sockets see the ICMPv6 header first
		prog = []bpf.Instruction{
			bpf.LoadAbsolute{Off: 0, Size: 1},
			bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(ipv6.ICMPTypeEchoReply), SkipTrue: 3},
			bpf.LoadAbsolute{Off: 4, Size: 2},
			bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(id), SkipTrue: 1},
			bpf.RetConstant{Val: 0xffff},
			bpf.RetConstant{Val: 0},
		}
	} else { // raw ICMP sockets see the IPv4 header first
		prog = []bpf.Instruction{
			bpf.LoadMemShift{Off: 0},
			bpf.LoadIndirect{Off: 0, Size: 1},
			bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(ipv4.ICMPTypeEchoReply), SkipTrue: 3},
			bpf.LoadIndirect{Off: 4, Size: 2},
			bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(id), SkipTrue: 1},
			bpf.RetConstant{Val: 0xffff},
			bpf.RetConstant{Val: 0},
		}
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		panic("checks: echo reply filter does not assemble: " + err.Error()) // static program
	}
	return raw
}

func (c *pingChecker) socket(family, typ, proto int, filter []bpf.RawInstruction) (net.PacketConn, error) {
	fd, err := unix.Socket(family, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	fail := func(what string, err error) (net.PacketConn, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if len(filter) > 0 {
		prog := unix.SockFprog{Len: uint16(len(filter)), Filter: (*unix.SockFilter)(unsafe.Pointer(&filter[0]))}
		if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
			return fail("attach echo reply filter", err)
		}
	}
	if c.opts.fwmark != 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, int(c.opts.fwmark)); err != nil {
			return fail("set SO_MARK", err)
		}
	}
	if c.opts.bindIf != "" {
		if err := unix.BindToDevice(fd, c.opts.bindIf); err != nil {
			return fail("bind to device", err)
		}
	}
	if c.opts.bindTo.IsValid() {
		var sa unix.Sockaddr
		if c.opts.bindTo.Is4() {
			sa = &unix.SockaddrInet4{Addr: c.opts.bindTo.As4()}
		} else {
			sa = &unix.SockaddrInet6{Addr: c.opts.bindTo.As16()}
		}
		if err := unix.Bind(fd, sa); err != nil {
			return fail("bind", err)
		}
	}
	f := os.NewFile(uintptr(fd), "icmp")
	pc, err := net.FilePacketConn(f)
	f.Close()
	return pc, err
}

func (c *pingChecker) Check(ctx context.Context) Result {
	dst := c.opts.target.Addr().Unmap()
	v6 := dst.Is6()
	token := make([]byte, 16)
	_, _ = rand.Read(token)
	id := int(token[0])<<8 | int(token[1])
	pc, raw, err := c.openICMP(v6, uint16(id))
	if err != nil {
		return down("error", "ping %s: %v", dst, err)
	}
	defer pc.Close()
	setDeadline(ctx, pc, c.opts.timeout)

	seq := int(token[2])<<8 | int(token[3])
	var typ icmp.Type = ipv4.ICMPTypeEcho
	proto := 1
	if v6 {
		typ, proto = ipv6.ICMPTypeEchoRequest, 58
	}
	msg := icmp.Message{Type: typ, Body: &icmp.Echo{ID: id, Seq: seq, Data: token}}
	wire, err := msg.Marshal(nil)
	if err != nil {
		return down("error", "ping %s: %v", dst, err)
	}
	var to net.Addr = &net.UDPAddr{IP: dst.AsSlice(), Zone: dst.Zone()}
	if raw {
		to = &net.IPAddr{IP: dst.AsSlice(), Zone: dst.Zone()}
	}
	start := time.Now()
	if _, err := pc.WriteTo(wire, to); err != nil {
		return down(classify(err), "ping %s: send: %v", dst, err)
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return down(classify(err), "ping %s: %v", dst, err)
		}
		if !sameAddr(from, dst) {
			continue
		}
		m, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil {
			continue
		}
		echo, ok := m.Body.(*icmp.Echo)
		isReply := m.Type == ipv4.ICMPTypeEchoReply || m.Type == ipv6.ICMPTypeEchoReply
		if !isReply || !ok || echo.Seq != seq || !bytes.Equal(echo.Data, token) || (raw && echo.ID != id) {
			continue // someone else's ping, or our own request echoed on a raw socket
		}
		return up(fmt.Sprintf("echo reply in %v", time.Since(start).Round(time.Microsecond)))
	}
}

func sameAddr(a net.Addr, want netip.Addr) bool {
	var ip net.IP
	switch v := a.(type) {
	case *net.UDPAddr:
		ip = v.IP
	case *net.IPAddr:
		ip = v.IP
	default:
		return false
	}
	got, ok := netip.AddrFromSlice(ip)
	return ok && got.Unmap() == want
}
