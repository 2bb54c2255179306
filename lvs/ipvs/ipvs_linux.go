//go:build linux

package ipvs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"quadrature/lvs"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/cloudflare/ipvs"
	"golang.org/x/sys/unix"
)

// IPVS is the DataPlane over the kernel's IPVS, through generic netlink.
//
// Reading and writing the table use a codec of the IPVS netlink family
// (ipvscodec.go) on one long-lived netlink socket, because the hot paths
// need what github.com/cloudflare/ipvs v0.12.0 does not offer: pipelined
// writes (many operations per sendmsg, acknowledged once per batch; the
// library waits for an acknowledgement per operation, like ipvsadm), a
// destination dump that returns statistics and table entries in one pass,
// and an empty table that is not an error (the library returns
// os.ErrNotExist for it). The library is used for what it does well: the
// global timeouts (Config/SetConfig) and the version (Info). The library
// does cover the tunnel attributes (type, GUE port, checksum flags) and the
// thresholds; it lacks the persistence engine (IPVS_SVC_ATTR_PE_NAME,
// keepalived's persistence_engine sip) and the sync daemon commands, which
// this package does not model either.
//
// An IPVS value is safe for concurrent use; its calls are serialized on
// its one socket.
type IPVS struct {
	mu sync.Mutex
	*nlSock
	family uint16
	// pool holds extra sockets for parallel destination dumps (the kernel
	// runs one dump at a time per socket, and on a busy or emulated host
	// the round trip, not the kernel's work, dominates).
	pool []*nlSock
	lib  ipvs.Client
	ver  [3]int
	// methods remembers the method programmed for each destination, to
	// report it when the kernel shows LocalNode (local addresses).
	methods map[lvs.ServiceKey]map[lvs.DestKey]lvs.Destination
}

var _ lvs.DataPlane = (*IPVS)(nil)

const (
	genlIDCtrl    = 0x10
	ctrlCmdGetFam = 3
	ctrlAttrFamID = 1
	ctrlAttrName  = 2
	netlinkCapAck = 10
	batchBytes    = 48 << 10
)

// New opens the IPVS data plane. When the kernel has no IPVS or the
// process lacks CAP_NET_ADMIN it returns an error wrapping ErrUnavailable
// that says what to do.
func New() (*IPVS, error) {
	s, err := openNLSock(recvBatch*servicePart, 8<<20)
	if err != nil {
		return nil, fmt.Errorf("%w: ipvs: %v", lvs.ErrUnavailable, err)
	}
	v := &IPVS{nlSock: s, methods: make(map[lvs.ServiceKey]map[lvs.DestKey]lvs.Destination)}
	if err := v.init(); err != nil {
		unix.Close(s.fd)
		return nil, err
	}
	// The dump sockets are opened now, in the caller's network namespace
	// (a socket stays in the namespace it was created in; opening them
	// later from another thread could land in another namespace).
	for range dumpWorkers - 1 {
		ps, err := openNLSock(recvBatch*recvPart, 1<<20)
		if err != nil {
			break // dumps use fewer sockets
		}
		v.pool = append(v.pool, ps)
	}
	return v, nil
}

// nlSock is one generic netlink socket with its sequence numbers.
type nlSock struct {
	fd   int
	seq  uint32
	rbuf []byte
}

func openNLSock(rbuf, sockbuf int) (*nlSock, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_GENERIC)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind netlink socket: %w", err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, netlinkCapAck, 1)
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, sockbuf) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, sockbuf)
	}
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 30})
	return &nlSock{fd: fd, rbuf: make([]byte, rbuf)}, nil
}

// dumpWorkers is the number of sockets dumping destinations in parallel
// (a variable for the benchmark's scaling measurement).
var dumpWorkers = 2

func (v *IPVS) init() error {
	// Resolve the IPVS generic netlink family.
	var e attrEncoder
	e.put(ctrlAttrName, append([]byte("IPVS"), 0))
	err := v.request(genlIDCtrl, ctrlCmdGetFam, 1, e.b, nlmFRequest, func(p []byte) error {
		a := attrs{b: p}
		for a.next() {
			if a.typ == ctrlAttrFamID {
				id, err := a.u16()
				v.family = id
				return err
			}
		}
		return a.err
	})
	if errors.Is(err, unix.ENOENT) || (err == nil && v.family == 0) {
		return fmt.Errorf("%w: ipvs: the kernel has no IPVS (generic netlink family \"IPVS\" not found): "+
			"load it with \"modprobe ip_vs\" (CONFIG_IP_VS), or use the nftables backend", lvs.ErrUnavailable)
	}
	if err != nil {
		return fmt.Errorf("%w: ipvs: resolving the IPVS netlink family: %v", lvs.ErrUnavailable, err)
	}
	// IPVS commands need CAP_NET_ADMIN; GET_INFO proves we have it.
	err = v.request(v.family, ipvsCmdGetInfo, ipvsGenlVers, nil, nlmFRequest, func(p []byte) error { return nil })
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("%w: ipvs: permission denied: run as root or grant CAP_NET_ADMIN", lvs.ErrUnavailable)
	}
	if err != nil {
		return fmt.Errorf("%w: ipvs: get info: %v", lvs.ErrUnavailable, err)
	}
	lib, err := ipvs.New()
	if err != nil {
		return fmt.Errorf("%w: ipvs: %v", lvs.ErrUnavailable, err)
	}
	v.lib = lib
	if info, err := lib.Info(); err == nil {
		v.ver = info.Version
	}
	return nil
}

// Name is "ipvs".
func (v *IPVS) Name() string { return "ipvs" }

// Version is the kernel's IPVS version (for example 1.2.1).
func (v *IPVS) Version() string { return fmt.Sprintf("%d.%d.%d", v.ver[0], v.ver[1], v.ver[2]) }

// Close closes the netlink sockets.
func (v *IPVS) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	var err error
	if v.lib != nil {
		if c, ok := v.lib.(interface{ Close() error }); ok {
			err = c.Close()
		}
	}
	if v.fd >= 0 {
		err = errors.Join(err, unix.Close(v.fd))
		v.fd = -1
	}
	for _, s := range v.pool {
		err = errors.Join(err, unix.Close(s.fd))
	}
	v.pool = nil
	return err
}

// Supports reports whether IPVS can program s: anything Validate accepts.
func (v *IPVS) Supports(s lvs.Service) error {
	if err := s.Validate(); err != nil {
		return err
	}
	return nil
}

// Read dumps the table: one service dump, then one destination dump per
// service (the kernel dumps destinations per service only), and the global
// timeouts.
func (v *IPVS) Read(ctx context.Context) (lvs.Table, error) {
	t, _, err := v.read(ctx, false, nil)
	return t, err
}

// ReadSlice dumps every service's settings and the global timeouts but
// the destinations of the services withDests selects only (one dump each);
// the other services come back with no destinations. It is what a sliced
// resync reads (Reconciler.Resync).
func (v *IPVS) ReadSlice(ctx context.Context, withDests func(lvs.ServiceKey) bool) (lvs.Table, error) {
	if withDests == nil {
		withDests = func(lvs.ServiceKey) bool { return false }
	}
	t, _, err := v.read(ctx, false, withDests)
	return t, err
}

// Stats reads per-service and per-destination counters (the same dumps as
// Read).
func (v *IPVS) Stats(ctx context.Context) (map[lvs.ServiceKey]lvs.ServiceStats, error) {
	_, st, err := v.read(ctx, true, nil)
	return st, err
}

// StatsOf reads the counters of the named services only (one destination
// dump each); missing services are absent from the result.
func (v *IPVS) StatsOf(ctx context.Context, keys []lvs.ServiceKey) (map[lvs.ServiceKey]lvs.ServiceStats, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	svcs := make([]lvs.Service, len(keys))
	for i, k := range keys {
		svcs[i] = lvs.Table{Services: []lvs.Service{{Key: k}}}.Normalize().Services[0]
		svcs[i].Destinations = nil
	}
	dstats := make([]map[lvs.DestKey]lvs.DestStats, len(svcs))
	if err := v.dumpDests(ctx, svcs, dstats, true); err != nil {
		return nil, err
	}
	out := make(map[lvs.ServiceKey]lvs.ServiceStats, len(svcs))
	for i, s := range svcs {
		if dstats[i] == nil || (len(dstats[i]) == 0 && len(s.Destinations) == 0) {
			continue
		}
		var c lvs.Counters
		for _, d := range dstats[i] {
			c.Connections += d.Connections
			c.PacketsIn += d.PacketsIn
			c.PacketsOut += d.PacketsOut
			c.BytesIn += d.BytesIn
			c.BytesOut += d.BytesOut
		}
		out[s.Key] = lvs.ServiceStats{Counters: c, Destinations: dstats[i]}
	}
	return out, nil
}

// read dumps the services, then the destinations of every service (or of
// those withDests selects, when it is not nil).
func (v *IPVS) read(ctx context.Context, withStats bool, withDests func(lvs.ServiceKey) bool) (lvs.Table, map[lvs.ServiceKey]lvs.ServiceStats, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	var t lvs.Table
	var stats map[lvs.ServiceKey]lvs.ServiceStats
	var svcCounters []lvs.Counters
	err := v.request(v.family, ipvsCmdGetService, ipvsGenlVers, nil, nlmFRequest|nlmFDump, func(p []byte) error {
		s, c, err := decodeServiceMsgStats(p, withStats)
		if err != nil {
			return err
		}
		t.Services = append(t.Services, s)
		svcCounters = append(svcCounters, c)
		return nil
	})
	if err != nil {
		return lvs.Table{}, nil, v.opErr("dump services", err)
	}
	if withStats {
		stats = make(map[lvs.ServiceKey]lvs.ServiceStats, len(t.Services))
	}
	dstats := make([]map[lvs.DestKey]lvs.DestStats, len(t.Services))
	if withDests == nil {
		if err := v.dumpDests(ctx, t.Services, dstats, withStats); err != nil {
			return lvs.Table{}, nil, err
		}
	} else {
		var sel []lvs.Service
		var at []int
		for i, s := range t.Services {
			if withDests(s.Key) {
				sel, at = append(sel, s), append(at, i)
			}
		}
		if err := v.dumpDests(ctx, sel, dstats[:len(sel)], withStats); err != nil {
			return lvs.Table{}, nil, err
		}
		for j, i := range at {
			t.Services[i].Destinations = sel[j].Destinations
		}
	}
	if withStats {
		for i, s := range t.Services {
			stats[s.Key] = lvs.ServiceStats{Counters: svcCounters[i], Destinations: dstats[i]}
		}
	}
	if !withStats {
		cfg, err := v.lib.Config()
		if err != nil {
			return lvs.Table{}, nil, v.opErr("get timeouts", err)
		}
		t.Timeouts = &lvs.Timeouts{
			TCP:    time.Duration(cfg.TCPTimeout) * time.Second,
			TCPFin: time.Duration(cfg.TCPFinTimeout) * time.Second,
			UDP:    time.Duration(cfg.UDPTimeout) * time.Second,
		}
	}
	return t, stats, nil
}

// dumpDests fills svcs[i].Destinations (and stats[i]) with one
// destination dump per service, spread over a pool of sockets.
func (v *IPVS) dumpDests(ctx context.Context, svcs []lvs.Service, stats []map[lvs.DestKey]lvs.DestStats, withStats bool) error {
	workers := min(dumpWorkers, len(svcs))
	// New opened dumpWorkers-1 sockets; more (the benchmark's scaling
	// runs raise dumpWorkers) are opened here, in the calling thread's
	// namespace.
	for len(v.pool) < workers-1 {
		s, err := openNLSock(recvBatch*recvPart, 1<<20)
		if err != nil {
			workers = len(v.pool) + 1
			break
		}
		v.pool = append(v.pool, s)
	}
	socks := append([]*nlSock{v.nlSock}, v.pool[:max(workers-1, 0)]...)
	var next atomic.Int64
	errs := make([]error, len(socks))
	var wg sync.WaitGroup
	for w, sock := range socks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var e attrEncoder
			for {
				i := int(next.Add(1) - 1)
				if i >= len(svcs) {
					return
				}
				if err := ctx.Err(); err != nil {
					errs[w] = err
					return
				}
				s := &svcs[i]
				e.b = e.b[:0]
				e.service(s, false)
				var st map[lvs.DestKey]lvs.DestStats
				if withStats {
					st = make(map[lvs.DestKey]lvs.DestStats)
					stats[i] = st
				}
				known := v.methods[s.Key]
				err := sock.request(v.family, ipvsCmdGetDest, ipvsGenlVers, e.b, nlmFRequest|nlmFDump, func(p []byte) error {
					d, ds, err := decodeDestMsgStats(p, s.Key.Family, withStats)
					if err != nil {
						return err
					}
					if d.Method == lvs.LocalNode {
						if m, ok := known[d.Key()]; ok {
							d.Method, d.Tunnel, d.TunnelPort, d.TunnelFlags = m.Method, m.Tunnel, m.TunnelPort, m.TunnelFlags
						}
					}
					s.Destinations = append(s.Destinations, d)
					if st != nil {
						st[d.Key()] = ds
					}
					return nil
				})
				if errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENOENT) {
					continue // deleted between the dumps
				}
				if err != nil {
					errs[w] = v.opErr("dump destinations of "+s.Key.String(), err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// opErr wraps a whole-request failure, turning EPERM into ErrUnavailable.
func (v *IPVS) opErr(what string, err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("%w: ipvs: %s: permission denied: run as root or grant CAP_NET_ADMIN", lvs.ErrUnavailable, what)
	}
	return fmt.Errorf("ipvs: %s: %w", what, err)
}

// pending is one queued write.
type pending struct {
	cmd  uint8
	attr []byte
	op   lvs.Op
	svc  lvs.ServiceKey
	dest *lvs.DestKey
}

// Apply performs the plan in pipelined batches: many operations per
// sendmsg, only the last of a batch asks for an acknowledgement, and the
// kernel reports every failed operation (netlink always answers errors).
// Failures do not stop the batch; they come back joined as *OpError.
func (v *IPVS) Apply(ctx context.Context, p lvs.Plan) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	var q []pending
	add := func(cmd uint8, op lvs.Op, k lvs.ServiceKey, d *lvs.Destination, build func(e *attrEncoder)) {
		var e attrEncoder
		build(&e)
		w := pending{cmd: cmd, attr: e.b, op: op, svc: k}
		if d != nil {
			dk := d.Key()
			w.dest = &dk
		}
		q = append(q, w)
	}
	for _, c := range p.DeleteDests {
		c := c
		add(ipvsCmdDelDest, lvs.OpDeleteDest, c.Service, &c.Dest, func(e *attrEncoder) {
			e.service(&lvs.Service{Key: c.Service}, false)
			e.dest(&c.Dest, false)
		})
	}
	for _, k := range p.DeleteServices {
		k := k
		add(ipvsCmdDelService, lvs.OpDeleteService, k, nil, func(e *attrEncoder) { e.service(&lvs.Service{Key: k}, false) })
	}
	for i := range p.AddServices {
		s := &p.AddServices[i]
		add(ipvsCmdNewService, lvs.OpAddService, s.Key, nil, func(e *attrEncoder) { e.service(s, true) })
		for j := range s.Destinations {
			d := &s.Destinations[j]
			add(ipvsCmdNewDest, lvs.OpAddDest, s.Key, d, func(e *attrEncoder) {
				e.service(&lvs.Service{Key: s.Key}, false)
				e.dest(d, true)
			})
		}
	}
	for i := range p.UpdateServices {
		s := &p.UpdateServices[i]
		add(ipvsCmdSetService, lvs.OpUpdateService, s.Key, nil, func(e *attrEncoder) { e.service(s, true) })
	}
	for _, list := range []struct {
		cmd uint8
		op  lvs.Op
		cs  []lvs.DestChange
	}{{ipvsCmdNewDest, lvs.OpAddDest, p.AddDests}, {ipvsCmdSetDest, lvs.OpUpdateDest, p.UpdateDests}} {
		for i := range list.cs {
			c := &list.cs[i]
			add(list.cmd, list.op, c.Service, &c.Dest, func(e *attrEncoder) {
				e.service(&lvs.Service{Key: c.Service}, false)
				e.dest(&c.Dest, true)
			})
		}
	}
	v.remember(p)
	errs := v.pipeline(ctx, q)
	if p.Timeouts != nil {
		cfg := ipvs.Config{
			TCPTimeout:    uint32(p.Timeouts.TCP / time.Second),
			TCPFinTimeout: uint32(p.Timeouts.TCPFin / time.Second),
			UDPTimeout:    uint32(p.Timeouts.UDP / time.Second),
		}
		if err := v.lib.SetConfig(cfg); err != nil {
			errs = append(errs, &lvs.OpError{Op: lvs.OpTimeouts, Err: err})
		}
	}
	return errors.Join(errs...)
}

// remember records the methods the plan programs (see IPVS.methods).
func (v *IPVS) remember(p lvs.Plan) {
	set := func(k lvs.ServiceKey, d lvs.Destination) {
		m := v.methods[k]
		if m == nil {
			m = make(map[lvs.DestKey]lvs.Destination)
			v.methods[k] = m
		}
		m[d.Key()] = d
	}
	for _, c := range p.DeleteDests {
		delete(v.methods[c.Service], c.Dest.Key())
	}
	for _, k := range p.DeleteServices {
		delete(v.methods, k)
	}
	for _, s := range p.AddServices {
		for _, d := range s.Destinations {
			set(s.Key, d)
		}
	}
	for _, cs := range [][]lvs.DestChange{p.AddDests, p.UpdateDests} {
		for _, c := range cs {
			set(c.Service, c.Dest)
		}
	}
}

// pipeline sends q in batches of up to batchBytes and collects failures.
func (v *IPVS) pipeline(ctx context.Context, q []pending) []error {
	var errs []error
	buf := make([]byte, 0, batchBytes+4096)
	for start := 0; start < len(q); {
		if err := ctx.Err(); err != nil {
			return append(errs, err)
		}
		buf = buf[:0]
		first := v.seq + 1
		end, size := start+1, nlmsgHdrLen+genlHdrLen+len(q[start].attr)
		for end < len(q) && size+nlmsgHdrLen+genlHdrLen+len(q[end].attr) <= batchBytes {
			size += nlmsgHdrLen + genlHdrLen + len(q[end].attr)
			end++
		}
		for i := start; i < end; i++ {
			flags := uint16(nlmFRequest)
			if i == end-1 {
				flags |= nlmFAck
			}
			v.seq++
			buf = appendMsg(buf, v.family, flags, v.seq, q[i].cmd, ipvsGenlVers, q[i].attr)
		}
		lastSeq := v.seq
		if err := unix.Sendto(v.fd, buf, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			return append(errs, v.opErr("send batch", err))
		}
		// Read until the acknowledgement of the batch's last message;
		// failures of earlier ones arrive before it, in order.
		done := false
		for !done {
			dgrams, err := v.recv()
			if err != nil {
				return append(errs, v.opErr("receive acknowledgements", err))
			}
			for _, dg := range dgrams {
				perr := walkMsgs(dg, func(typ uint16, seq uint32, p []byte) error {
					if typ != nlmsgError || seq < first || seq > lastSeq {
						return nil
					}
					code, err := errCode(p)
					if err != nil {
						return err
					}
					if code != 0 {
						w := q[start+int(seq-first)]
						errs = append(errs, &lvs.OpError{Op: w.op, Service: w.svc, Dest: w.dest, Err: explain(w.op, syscall.Errno(-code))})
					}
					if seq == lastSeq {
						done = true
					}
					return nil
				})
				if perr != nil {
					return append(errs, fmt.Errorf("ipvs: bad acknowledgement: %w", perr))
				}
			}
		}
		start = end
	}
	return errs
}

// explain adds what an errno means for an IPVS operation.
func explain(op lvs.Op, e syscall.Errno) error {
	switch {
	case e == unix.EPERM:
		return fmt.Errorf("%w (%w: run as root or grant CAP_NET_ADMIN)", e, lvs.ErrUnavailable)
	case e == unix.ENOENT && op == lvs.OpAddService:
		return fmt.Errorf("%w (scheduler not available: modprobe ip_vs_<scheduler>)", e)
	case e == unix.EEXIST:
		return fmt.Errorf("%w (%w)", e, lvs.ErrExist)
	case e == unix.ESRCH || e == unix.ENOENT:
		return fmt.Errorf("%w (%w)", e, lvs.ErrNotExist)
	case e == unix.EINVAL && (op == lvs.OpAddDest || op == lvs.OpUpdateDest):
		return fmt.Errorf("%w (the kernel refuses the destination: no route to it, a family mismatch outside TUN, or bad tunnel settings)", e)
	}
	return e
}

// recvBatch is how many datagrams one receive system call may return: a
// destination dump answers with its data and then NLMSG_DONE, which the
// kernel queues while the first is read, so one recvmmsg gets both.
const recvBatch = 16

// recvPart is the buffer for one datagram: one page. The kernel sizes its
// dump buffers after the reader's buffer (up to 32 KiB) and never below
// NLMSG_GOODSIZE (under a page), so page-sized buffers never truncate and
// keep the kernel's allocations at order 0; a per-service destination dump
// is a few KiB.
var recvPart = max(os.Getpagesize(), 4096)

// servicePart is the datagram buffer of the main socket, which dumps the
// services: 32 KiB lets the kernel fill 32 KiB dump buffers, and each
// kernel dump call walks the service table from the start to skip what it
// already sent, so eight times fewer calls make a service dump of
// thousands of services markedly cheaper.
const servicePart = 32 << 10

// recv reads up to recvBatch datagrams (blocking for the first only) and
// returns them.
func (v *nlSock) recv() ([][]byte, error) {
	part := len(v.rbuf) / recvBatch
	var iov [recvBatch]unix.Iovec
	var hdrs [recvBatch]unix.Mmsghdr
	for i := range recvBatch {
		iov[i].Base = &v.rbuf[i*part]
		iov[i].SetLen(part)
		hdrs[i].Hdr.Iov = &iov[i]
		hdrs[i].Hdr.Iovlen = 1
	}
	for {
		n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(v.fd), uintptr(unsafe.Pointer(&hdrs[0])), recvBatch, unix.MSG_WAITFORONE, 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno == unix.EAGAIN {
			return nil, fmt.Errorf("no answer from the kernel within the receive timeout: %w", os.ErrDeadlineExceeded)
		}
		if errno != 0 {
			return nil, errno
		}
		out := make([][]byte, 0, n)
		for i := range int(n) {
			if hdrs[i].Hdr.Flags&unix.MSG_TRUNC != 0 {
				return nil, errors.New("netlink message truncated")
			}
			out = append(out, v.rbuf[i*part:i*part+int(hdrs[i].Len)])
		}
		return out, nil
	}
}

// request sends one message and feeds the payloads of the answers (after
// the genetlink header) to fn until the end of the answer: NLMSG_DONE for
// a dump, the first answer otherwise. A netlink error becomes a
// syscall.Errno.
func (v *nlSock) request(family uint16, cmd, ver uint8, attr []byte, flags uint16, fn func([]byte) error) error {
	v.seq++
	seq := v.seq
	msg := appendMsg(nil, family, flags, seq, cmd, ver, attr)
	if err := unix.Sendto(v.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	dump := flags&nlmFDump == nlmFDump
	done := false
	var ferr error
	for {
		dgrams, err := v.recv()
		if err != nil {
			return err
		}
		for _, dg := range dgrams {
			perr := walkMsgs(dg, func(typ uint16, s uint32, p []byte) error {
				if s != seq {
					return nil // a stale answer
				}
				switch typ {
				case nlmsgDone:
					done = true
				case nlmsgError:
					code, err := errCode(p)
					if err != nil {
						return err
					}
					done = true
					if code != 0 {
						ferr = syscall.Errno(-code)
					}
				default:
					if len(p) < genlHdrLen {
						return errors.New("short generic netlink message")
					}
					if ferr == nil {
						ferr = fn(p[genlHdrLen:])
					}
					if !dump {
						done = true
					}
				}
				return nil
			})
			if perr != nil {
				return perr
			}
		}
		if done {
			return ferr
		}
	}
}

func (*IPVS) readsAreFresh() {}
