package vrrp

import (
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// runtimeIO is the node's Linux side: a netlink handle and a link
// subscription in the node's namespace, and the AF_PACKET socket for
// GARP/NA.
type runtimeIO struct {
	ns      *nsContext
	h       *netlink.Handle
	grat    *gratuitous
	filter  *acceptFilter
	log     *slog.Logger
	updates chan netlink.LinkUpdate
	done    chan struct{}
	vm      vmacState // owned by the node's event goroutine
}

func openRuntimeIO(nsPath string, log *slog.Logger) (*runtimeIO, error) {
	ns, err := openNS(nsPath)
	if err != nil {
		return nil, err
	}
	r := &runtimeIO{ns: ns, log: log, updates: make(chan netlink.LinkUpdate, 256), done: make(chan struct{})}
	r.filter = &acceptFilter{ns: ns}
	if nsPath == "" {
		r.h, err = netlink.NewHandle()
	} else {
		r.h, err = netlink.NewHandleAt(ns.h)
	}
	if err != nil {
		ns.close()
		return nil, fmt.Errorf("vrrp: netlink handle: %w", err)
	}
	if err := ns.do(func() error { var e error; r.grat, e = openGratuitous(); return e }); err != nil {
		r.h.Close()
		ns.close()
		return nil, fmt.Errorf("vrrp: %w", err)
	}
	opts := netlink.LinkSubscribeOptions{ErrorCallback: func(err error) {
		select {
		case <-r.done: // closing
		default:
			log.Warn("vrrp link subscription", "err", err)
		}
	}}
	if nsPath != "" {
		opts.Namespace = &ns.h
	}
	if err := netlink.LinkSubscribeWithOptions(r.updates, r.done, opts); err != nil {
		r.grat.close()
		r.h.Close()
		ns.close()
		return nil, fmt.Errorf("vrrp: subscribe to link updates: %w", err)
	}
	return r, nil
}

func (r *runtimeIO) close() {
	close(r.done)
	r.filter.close()
	r.grat.close()
	r.h.Close()
	r.ns.close()
}

func (r *runtimeIO) linkStates() map[string]bool {
	out := map[string]bool{}
	links, err := r.h.LinkList()
	if err != nil {
		r.log.Warn("vrrp: list links", "err", err)
		return out
	}
	for _, l := range links {
		out[l.Attrs().Name] = linkUp(l)
	}
	return out
}

// watchLinks calls fn for every link update until close.
func (r *runtimeIO) watchLinks(fn func(name string, up bool)) {
	go func() {
		for {
			select {
			case <-r.done:
				return
			case u, ok := <-r.updates:
				if !ok {
					return
				}
				up := u.Header.Type != unix.RTM_DELLINK && linkUp(u.Link)
				fn(u.Attrs().Name, up)
			}
		}
	}()
}

// instanceIO is one instance's advert socket.
type instanceIO struct {
	conn   *advertConn
	closed atomic.Bool
}

func (io *instanceIO) close() {
	if io.closed.CompareAndSwap(false, true) {
		io.conn.close()
	}
}

func (io *instanceIO) isClosed() bool { return io.closed.Load() }

// openInstance resolves the interface and source address and opens the
// advert socket in the node's namespace.
func (r *runtimeIO) openInstance(c InstanceConfig) (*instanceIO, netip.Addr, error) {
	link, err := r.h.LinkByName(c.Interface)
	if err != nil {
		return nil, netip.Addr{}, fmt.Errorf("interface %s: %w", c.Interface, err)
	}
	self := c.UnicastSrc
	if !self.IsValid() {
		self = c.McastSrc
	}
	if !self.IsValid() {
		if self, err = primaryAddr(r.h, link, c.IPv6, c.VIPs); err != nil {
			return nil, netip.Addr{}, err
		}
	}
	if !c.UnicastSrc.IsValid() && !c.McastSrc.IsValid() && c.VMAC != nil && c.VMAC.IPVLANAddr.IsValid() {
		self = c.VMAC.IPVLANAddr.Addr()
	}
	ioName, ioLink := c.ioInterface(), link
	if ioName != c.Interface {
		if ioLink, err = r.h.LinkByName(ioName); err != nil {
			return nil, netip.Addr{}, fmt.Errorf("VMAC interface %s: %w", ioName, err)
		}
		if c.IPv6 && !c.VMAC.IPVLAN && self.IsLinkLocalUnicast() {
			if err := r.vmacLinkLocal(c, self); err != nil {
				return nil, netip.Addr{}, fmt.Errorf("VMAC %s link-local address: %w", ioName, err)
			}
		}
	}
	var conn *advertConn
	err = r.ns.do(func() error {
		var e error
		conn, e = openAdvertConn(ioName, ioLink.Attrs().Index, c.IPv6, !c.Unicast())
		return e
	})
	if err != nil {
		return nil, netip.Addr{}, err
	}
	return &instanceIO{conn: conn}, self, nil
}

// sendAdvert encodes and sends one advert to the group or to every
// unicast peer (the IPv4 v3 pseudo-header checksum uses each real
// destination).
func (io *instanceIO) sendAdvert(c InstanceConfig, self netip.Addr, a Advert) error {
	dsts := c.UnicastPeers
	if !c.Unicast() {
		g := GroupIPv4
		if c.IPv6 {
			g = GroupIPv6
		}
		dsts = []netip.Addr{g}
	}
	var firstErr error
	for _, dst := range dsts {
		src := self
		if c.IPv6 {
			src = netip.Addr{} // kernel computes the checksum (IPV6_CHECKSUM)
		}
		pdu, err := a.Marshal(c.IPv6, src, dst, c.V3ChecksumAsV2)
		if err == nil {
			err = io.conn.send(pdu, self, dst)
		}
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("send advert to %v: %w", dst, err)
		}
	}
	return firstErr
}

func (r *runtimeIO) vipLink(c InstanceConfig, v VIP) (netlink.Link, error) {
	dev := v.Dev
	if dev == "" {
		dev = c.vipInterface()
	}
	l, err := r.h.LinkByName(dev)
	if err != nil {
		return nil, fmt.Errorf("interface %s for %v: %w", dev, v.Prefix, err)
	}
	return l, nil
}

func allVIPs(c InstanceConfig) []VIP {
	return append(append([]VIP(nil), c.VIPs...), c.ExcludedVIPs...)
}

// addVIPs adds the instance's addresses, then its virtual routes and
// rules (a route's src or gateway may need a VIP).
func (r *runtimeIO) addVIPs(c InstanceConfig) []error {
	var errs []error
	for _, v := range allVIPs(c) {
		l, err := r.vipLink(c, v)
		if err == nil {
			err = addVIP(r.h, l, v)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return append(errs, r.addRoutesRules(c.VirtualRoutes, c.VirtualRules)...)
}

// delVIPs removes the instance's virtual rules and routes, then its
// addresses.
func (r *runtimeIO) delVIPs(c InstanceConfig) []error {
	errs := r.delRoutesRules(c.VirtualRoutes, c.VirtualRules)
	for _, v := range allVIPs(c) {
		l, err := r.vipLink(c, v)
		if err == nil {
			err = delVIP(r.h, l, v)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// gratuitous sends repeat GARPs / unsolicited NAs for every address.
func (r *runtimeIO) gratuitous(c InstanceConfig, repeat int, log *slog.Logger) {
	type target struct {
		idx    int
		mac    []byte
		vip    netip.Addr
		router bool
	}
	var ts []target
	for _, v := range allVIPs(c) {
		l, err := r.vipLink(c, v)
		if err != nil {
			log.Warn("gratuitous ARP/NA", "err", err)
			continue
		}
		if l.Attrs().RawFlags&unix.IFF_NOARP != 0 {
			continue
		}
		t := target{idx: l.Attrs().Index, mac: l.Attrs().HardwareAddr, vip: v.Prefix.Addr()}
		if t.vip.Is6() {
			_ = r.ns.do(func() error { t.router = forwarding(l.Attrs().Name); return nil })
		}
		ts = append(ts, t)
	}
	send := func() {
		for i := range repeat {
			if i > 0 && c.GARP.Interval > 0 {
				time.Sleep(c.GARP.Interval)
			}
			for _, t := range ts {
				if err := r.grat.send(t.idx, t.mac, t.vip, t.router); err != nil {
					log.Debug("gratuitous ARP/NA", "vip", t.vip, "err", err)
				}
			}
		}
	}
	if c.GARP.Interval > 0 {
		go send()
	} else {
		send()
	}
}

// noAccept installs or removes an instance's no_accept drop rules: the
// address owner (priority 255) always accepts.
func (r *runtimeIO) noAccept(c InstanceConfig, on bool) error {
	if on && c.NoAccept && c.Priority != PriorityOwner {
		return r.filter.set(c)
	}
	return r.filter.clear(c)
}
