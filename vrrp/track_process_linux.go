package vrrp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The kernel's process events connector (linux/cn_proc.h,
// linux/connector.h): a netlink multicast of fork, exec, comm and exit
// events to NETLINK_CONNECTOR sockets of the initial network namespace.
const (
	cnIdxProc         = 1
	cnValProc         = 1
	procCnMcastListen = 1

	procEventFork = 0x00000001
	procEventExec = 0x00000002
	procEventComm = 0x00000200
	procEventExit = 0x80000000

	cnMsgLen = 20 // struct cn_msg without data
)

// procMonitor counts the running processes matching each
// vrrp_track_process: a /proc scan at start, then the proc connector's
// events; a /proc scan every pollEvery when the connector cannot be
// used (no CAP_NET_ADMIN, not the initial namespaces) or lost events.
type procMonitor struct {
	procs   []TrackProcessConfig
	root    string // "/proc"
	log     *slog.Logger
	report  func(counts map[string]int)
	cmdline bool // some tracker compares command lines

	sock *os.File // nil: polling
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once

	pids   map[int][]int // pid → indexes of the matching trackers
	counts []int
}

// procPollEvery is the rescan period without the connector.
const procPollEvery = time.Second

// startProcMonitor subscribes to the process events and scans /proc.
// It returns the counts of now; report receives every later change
// (from the monitor's goroutine). noConnector forces polling.
func startProcMonitor(procs []TrackProcessConfig, root string, noConnector bool, log *slog.Logger, report func(map[string]int)) (*procMonitor, map[string]int) {
	m := &procMonitor{procs: procs, root: root, log: log, report: report, stop: make(chan struct{})}
	if len(procs) == 0 {
		return nil, map[string]int{}
	}
	for _, p := range procs {
		m.cmdline = m.cmdline || p.usesCmdline()
	}
	if !noConnector {
		s, err := openProcConnector()
		if err != nil {
			log.Warn("track_process: the proc connector is not available; scanning /proc every second instead", "err", err)
		} else {
			m.sock = s
		}
	}
	m.scan() // after subscribing: no process is missed in between
	now := m.countMap()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		if m.sock != nil {
			m.events()
		} else {
			m.poll()
		}
	}()
	return m, now
}

func openProcConnector() (*os.File, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_CONNECTOR)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: cnIdxProc}); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("bind", err)
	}
	// A bigger buffer makes a burst of forks less likely to overflow it.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	msg := make([]byte, unix.SizeofNlMsghdr+cnMsgLen+4)
	binary.NativeEndian.PutUint32(msg[0:], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:], unix.NLMSG_DONE)
	binary.NativeEndian.PutUint32(msg[8:], 1) // seq
	binary.NativeEndian.PutUint32(msg[12:], uint32(os.Getpid()))
	cn := msg[unix.SizeofNlMsghdr:]
	binary.NativeEndian.PutUint32(cn[0:], cnIdxProc)
	binary.NativeEndian.PutUint32(cn[4:], cnValProc)
	binary.NativeEndian.PutUint16(cn[16:], 4)
	binary.NativeEndian.PutUint32(cn[cnMsgLen:], procCnMcastListen)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("sendto", err)
	}
	return os.NewFile(uintptr(fd), "proc-connector"), nil
}

// procEvent is one decoded process event.
type procEvent struct {
	what      uint32
	pid, tgid int // the process (child for fork)
}

// decodeProcEvents returns the events of one netlink datagram; ok is
// false when it is malformed.
func decodeProcEvents(b []byte) (evs []procEvent, ok bool) {
	for len(b) >= unix.SizeofNlMsghdr {
		l := int(binary.NativeEndian.Uint32(b[0:]))
		typ := binary.NativeEndian.Uint16(b[4:])
		if l < unix.SizeofNlMsghdr || l > len(b) {
			return evs, false
		}
		msg := b[unix.SizeofNlMsghdr:l]
		b = b[min(nlmAlign(l), len(b)):]
		if typ == unix.NLMSG_NOOP || typ == unix.NLMSG_ERROR || len(msg) < cnMsgLen {
			continue
		}
		idx, val := binary.NativeEndian.Uint32(msg[0:]), binary.NativeEndian.Uint32(msg[4:])
		dl := int(binary.NativeEndian.Uint16(msg[16:]))
		if idx != cnIdxProc || val != cnValProc || cnMsgLen+dl > len(msg) {
			continue
		}
		d := msg[cnMsgLen : cnMsgLen+dl]
		if len(d) < 16 {
			continue
		}
		what := binary.NativeEndian.Uint32(d[0:])
		u := d[16:] // after what, cpu, timestamp_ns
		word := func(i int) int { return int(binary.NativeEndian.Uint32(u[4*i:])) }
		switch what {
		case procEventFork:
			if len(u) >= 16 {
				evs = append(evs, procEvent{what: what, pid: word(2), tgid: word(3)})
			}
		case procEventExec, procEventComm, procEventExit:
			if len(u) >= 8 {
				evs = append(evs, procEvent{what: what, pid: word(0), tgid: word(1)})
			}
		}
	}
	return evs, true
}

func nlmAlign(l int) int { return (l + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }

func (m *procMonitor) events() {
	buf := make([]byte, 64<<10)
	for {
		n, err := m.sock.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			if errors.Is(err, syscall.ENOBUFS) {
				// Events were lost: count again from /proc.
				m.log.Warn("track_process: proc connector overrun; rescanning /proc")
				m.rescan()
				continue
			}
			m.log.Error("track_process: proc connector read; scanning /proc every second instead", "err", err)
			m.poll()
			return
		}
		evs, _ := decodeProcEvents(buf[:n])
		before := slices.Clone(m.counts)
		for _, ev := range evs {
			if ev.pid != ev.tgid {
				continue // a thread, not a process
			}
			switch ev.what {
			case procEventExit:
				m.set(ev.pid, nil)
			default: // fork, exec, comm: what the process is now
				m.set(ev.pid, m.inspect(ev.pid))
			}
		}
		if !slices.Equal(before, m.counts) {
			m.report(m.countMap())
		}
	}
}

func (m *procMonitor) poll() {
	t := time.NewTicker(procPollEvery)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.rescan()
		}
	}
}

func (m *procMonitor) rescan() {
	before := slices.Clone(m.counts)
	m.scan()
	if !slices.Equal(before, m.counts) {
		m.report(m.countMap())
	}
}

// scan rebuilds the state from /proc.
func (m *procMonitor) scan() {
	m.pids = map[int][]int{}
	m.counts = make([]int, len(m.procs))
	ents, err := os.ReadDir(m.root)
	if err != nil {
		m.log.Error("track_process: scan", "err", err)
		return
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		m.set(pid, m.inspect(pid))
	}
}

// set records which trackers pid matches (nil: none, or gone).
func (m *procMonitor) set(pid int, match []int) {
	for _, i := range m.pids[pid] {
		m.counts[i]--
	}
	if len(match) == 0 {
		delete(m.pids, pid)
		return
	}
	m.pids[pid] = match
	for _, i := range match {
		m.counts[i]++
	}
}

// inspect returns the trackers a running process matches (none for a
// zombie, a kernel thread or a process that is gone).
func (m *procMonitor) inspect(pid int) []int {
	dir := filepath.Join(m.root, strconv.Itoa(pid))
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return nil
	}
	comm, state, ok := parseProcStat(stat)
	if !ok || state == 'Z' || state == 'X' {
		return nil
	}
	var cmdline []byte
	if m.cmdline {
		if cmdline, err = os.ReadFile(filepath.Join(dir, "cmdline")); err != nil {
			return nil
		}
	}
	var out []int
	for i, p := range m.procs {
		if p.Matches(comm, cmdline) {
			out = append(out, i)
		}
	}
	return out
}

// parseProcStat returns the name and state of /proc/PID/stat ("PID
// (comm) S ..."; the name may hold parentheses and spaces).
func parseProcStat(b []byte) (comm string, state byte, ok bool) {
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open || end+2 >= len(b) {
		return "", 0, false
	}
	return string(b[open+1 : end]), b[end+2], true
}

func (m *procMonitor) countMap() map[string]int {
	out := make(map[string]int, len(m.procs))
	for i, p := range m.procs {
		out[p.Name] = m.counts[i]
	}
	return out
}

// close stops the monitor and waits for its goroutine.
func (m *procMonitor) close() {
	if m == nil {
		return
	}
	m.once.Do(func() {
		close(m.stop)
		if m.sock != nil {
			m.sock.Close()
		}
	})
	m.wg.Wait()
}
