package snmp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"
)

// DefaultSocket is net-snmp's default AgentX master socket.
const DefaultSocket = "/var/agentx/master"

// Options configures the subagent. The keepalived keywords map as:
// snmp_socket → Socket; enable_snmp_vrrp (and its old name
// enable_snmp_keepalived) → MIBs.VRRP; enable_snmp_checker →
// MIBs.Checker; enable_snmp_rfc → MIBs.RFCv2 and MIBs.RFCv3;
// enable_snmp_rfcv2 → MIBs.RFCv2; enable_snmp_rfcv3 → MIBs.RFCv3;
// enable_traps → Traps.
type Options struct {
	// Socket is the master's AgentX address: a unix socket path (also
	// "unix:/path"), or "tcp:host:port". Empty means DefaultSocket.
	Socket string
	// Timeout bounds connecting, each write, and the wait for each
	// answer of the master; it is also the session timeout sent in Open
	// (whole seconds, 1..255). Zero means 5 s.
	Timeout time.Duration
	MIBs    MIBs
	// Traps enables notifications (enable_traps).
	Traps bool
	// CacheTTL is how long tables built from the Source are reused.
	// Zero means 1 s; negative rebuilds for every request.
	CacheTTL time.Duration
	// ReconnectMin and ReconnectMax bound the backoff between attempts
	// to reach the master (zero: 500 ms and 30 s).
	ReconnectMin, ReconnectMax time.Duration
	// PingInterval is how often an idle session checks the master
	// answers (zero: 15 s; negative: never).
	PingInterval time.Duration
	// Description is the Open PDU's description (zero: "quadrature").
	Description string
}

func (o Options) withDefaults() Options {
	if o.Socket == "" {
		o.Socket = DefaultSocket
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.CacheTTL == 0 {
		o.CacheTTL = time.Second
	}
	if o.ReconnectMin <= 0 {
		o.ReconnectMin = 500 * time.Millisecond
	}
	if o.ReconnectMax <= 0 {
		o.ReconnectMax = 30 * time.Second
	}
	o.ReconnectMax = max(o.ReconnectMax, o.ReconnectMin)
	if o.PingInterval == 0 {
		o.PingInterval = 15 * time.Second
	}
	if o.Description == "" {
		o.Description = "quadrature"
	}
	return o
}

// ParseSocket splits an snmp_socket value into a network and address
// for net.Dial.
func ParseSocket(s string) (network, addr string, err error) {
	switch {
	case s == "":
		return "unix", DefaultSocket, nil
	case strings.HasPrefix(s, "unix:"):
		s = strings.TrimPrefix(s, "unix:")
		if s == "" {
			return "", "", errors.New("snmp: empty unix socket path")
		}
		return "unix", s, nil
	case strings.HasPrefix(s, "tcp:"):
		a := strings.TrimPrefix(s, "tcp:")
		if _, _, err := net.SplitHostPort(a); err != nil {
			return "", "", fmt.Errorf("snmp: socket %q: %w", s, err)
		}
		return "tcp", a, nil
	case strings.HasPrefix(s, "/"):
		return "unix", s, nil
	}
	return "", "", fmt.Errorf("snmp: socket %q: want a path, unix:PATH or tcp:HOST:PORT", s)
}

// Agent is an AgentX subagent serving the MIBs from a Source.
type Agent struct {
	opts    Options
	network string
	addr    string
	src     Source
	log     *slog.Logger

	notify chan *PDU

	mu        sync.Mutex
	table     *Table
	tableAt   time.Time
	connected bool
	sessions  int // sessions opened so far (for tests and logs)
}

// New checks opts and returns an agent; Run starts it.
func New(opts Options, src Source, log *slog.Logger) (*Agent, error) {
	if src == nil {
		return nil, errors.New("snmp: nil Source")
	}
	if !opts.MIBs.Any() {
		return nil, errors.New("snmp: no MIB enabled")
	}
	opts = opts.withDefaults()
	network, addr, err := ParseSocket(opts.Socket)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Agent{
		opts: opts, network: network, addr: addr, src: src,
		log:    log.With("component", "snmp", "socket", opts.Socket),
		notify: make(chan *PDU, 64),
	}, nil
}

// Run is New followed by Agent.Run.
func Run(ctx context.Context, opts Options, src Source, log *slog.Logger) error {
	a, err := New(opts, src, log)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// Connected reports whether a session with the master is open and its
// subtrees registered.
func (a *Agent) Connected() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.connected
}

// Sessions is how many sessions have been opened with a master so far.
func (a *Agent) Sessions() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sessions
}

// Run connects to the master, serves requests, and reconnects with
// backoff when the master goes away, until ctx is done; then it closes
// the session and returns nil.
func (a *Agent) Run(ctx context.Context) error {
	backoff := a.opts.ReconnectMin
	for {
		established, err := a.runSession(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if established {
			backoff = a.opts.ReconnectMin
		}
		a.log.Warn("agentx session ended; reconnecting", "err", err, "in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, a.opts.ReconnectMax)
	}
}

// snapshotTable returns the cached table or builds a fresh one.
func (a *Agent) snapshotTable() *Table {
	now := time.Now()
	a.mu.Lock()
	if a.table != nil && a.opts.CacheTTL > 0 && now.Sub(a.tableAt) < a.opts.CacheTTL {
		t := a.table
		a.mu.Unlock()
		return t
	}
	a.mu.Unlock()
	t := BuildTable(a.src.Snapshot(), a.opts.MIBs, a.opts.Traps, now)
	a.mu.Lock()
	a.table, a.tableAt = t, now
	a.mu.Unlock()
	return t
}

// session is one connection's state, used only by runSession's
// goroutine.
type session struct {
	a        *Agent
	conn     net.Conn
	in       <-chan *PDU
	rerr     <-chan error
	id       uint32
	packetID uint32
	// pings in flight: packet ID → when sent.
	pingID   uint32
	pingSent time.Time
}

func (a *Agent) runSession(ctx context.Context) (established bool, err error) {
	d := net.Dialer{Timeout: a.opts.Timeout}
	conn, err := d.DialContext(ctx, a.network, a.addr)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	// Unblock the reader and any write when ctx ends without a Close
	// getting through.
	stop := context.AfterFunc(ctx, func() {
		time.AfterFunc(a.opts.Timeout, func() { _ = conn.SetDeadline(time.Now()) })
	})
	defer stop()

	in := make(chan *PDU, 16)
	rerr := make(chan error, 1)
	go func() {
		for {
			p, err := ReadPDU(conn)
			if err != nil {
				rerr <- err
				close(in)
				return
			}
			in <- p
		}
	}()
	s := &session{a: a, conn: conn, in: in, rerr: rerr}
	defer func() {
		a.mu.Lock()
		a.connected = false
		a.mu.Unlock()
		_ = conn.Close()
		for range in { // let the reader finish
		}
	}()

	timeout := uint8(min(max(int(a.opts.Timeout/time.Second), 1), 255))
	resp, err := s.call(ctx, &PDU{Type: PDUOpen, Timeout: timeout,
		ID: OIDKeepalived, Descr: []byte(a.opts.Description)})
	if err != nil {
		return false, fmt.Errorf("open: %w", err)
	}
	if resp.Error != ErrNone {
		return false, fmt.Errorf("open refused: error %d", resp.Error)
	}
	s.id = resp.SessionID
	for _, sub := range a.opts.MIBs.Subtrees() {
		resp, err := s.call(ctx, &PDU{Type: PDURegister, Priority: 127, Subtree: sub})
		if err != nil {
			return false, fmt.Errorf("register %s: %w", sub, err)
		}
		if resp.Error != ErrNone {
			// Another subagent (a keepalived) may own it: serve the rest.
			a.log.Warn("agentx registration refused", "subtree", sub.String(), "error", resp.Error)
			continue
		}
		a.log.Debug("agentx registered", "subtree", sub.String())
	}
	a.mu.Lock()
	a.connected = true
	a.sessions++
	a.mu.Unlock()
	a.log.Info("agentx session open", "session", s.id)

	var ping <-chan time.Time
	if a.opts.PingInterval > 0 {
		t := time.NewTicker(a.opts.PingInterval)
		defer t.Stop()
		ping = t.C
	}
	for {
		select {
		case <-ctx.Done():
			s.close(CloseShutdown)
			return true, ctx.Err()
		case p, ok := <-in:
			if !ok {
				return true, s.readErr()
			}
			if err := s.handle(p); err != nil {
				return true, err
			}
		case n := <-a.notify:
			n.SessionID = s.id
			n.PacketID = s.nextID()
			if err := s.send(n); err != nil {
				return true, err
			}
		case <-ping:
			if s.pingID != 0 {
				if time.Since(s.pingSent) > a.opts.Timeout {
					return true, errors.New("master does not answer pings")
				}
				continue
			}
			s.pingID = s.nextID()
			s.pingSent = time.Now()
			if err := s.send(&PDU{Type: PDUPing, SessionID: s.id, PacketID: s.pingID}); err != nil {
				return true, err
			}
		}
	}
}

func (s *session) nextID() uint32 {
	s.packetID++
	if s.packetID == 0 {
		s.packetID = 1
	}
	return s.packetID
}

func (s *session) readErr() error {
	select {
	case err := <-s.rerr:
		if errors.Is(err, io.EOF) {
			return errors.New("master closed the connection")
		}
		return err
	default:
		return errors.New("reader stopped")
	}
}

func (s *session) send(p *PDU) error {
	p.Flags |= FlagNetworkByteOrder
	b, err := Encode(p)
	if err != nil {
		return err
	}
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.a.opts.Timeout))
	_, err = s.conn.Write(b)
	return err
}

// call sends a request and waits for its Response, serving whatever the
// master asks in between.
func (s *session) call(ctx context.Context, p *PDU) (*PDU, error) {
	p.SessionID = s.id
	p.PacketID = s.nextID()
	if err := s.send(p); err != nil {
		return nil, err
	}
	t := time.NewTimer(s.a.opts.Timeout)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
			return nil, fmt.Errorf("no answer to %s within %s", p.Type, s.a.opts.Timeout)
		case r, ok := <-s.in:
			if !ok {
				return nil, s.readErr()
			}
			if r.Type == PDUResponse && r.PacketID == p.PacketID {
				return r, nil
			}
			if err := s.handle(r); err != nil {
				return nil, err
			}
		}
	}
}

// close sends Close and waits briefly for the master's answer.
func (s *session) close(reason uint8) {
	p := &PDU{Type: PDUClose, Reason: reason, SessionID: s.id, PacketID: s.nextID()}
	if err := s.send(p); err != nil {
		return
	}
	t := time.NewTimer(s.a.opts.Timeout)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return
		case r, ok := <-s.in:
			if !ok || (r.Type == PDUResponse && r.PacketID == p.PacketID) {
				s.a.log.Info("agentx session closed", "session", s.id)
				return
			}
		}
	}
}

func (s *session) respond(req *PDU, errCode, index uint16, vbs []VarBind) error {
	return s.send(&PDU{Type: PDUResponse, SessionID: req.SessionID, TransactionID: req.TransactionID,
		PacketID: req.PacketID, Error: errCode, Index: index, VarBinds: vbs})
}

// handle answers one PDU from the master; an error ends the session.
func (s *session) handle(p *PDU) error {
	switch p.Type {
	case PDUGet:
		t := s.a.snapshotTable()
		vbs := make([]VarBind, len(p.Ranges))
		for i, r := range p.Ranges {
			vbs[i] = t.Get(r.Start)
		}
		return s.respond(p, ErrNone, 0, vbs)
	case PDUGetNext:
		t := s.a.snapshotTable()
		vbs := make([]VarBind, len(p.Ranges))
		for i, r := range p.Ranges {
			vbs[i] = t.Next(r)
		}
		return s.respond(p, ErrNone, 0, vbs)
	case PDUGetBulk:
		t := s.a.snapshotTable()
		return s.respond(p, ErrNone, 0, t.Bulk(p.Ranges, int(p.NonRepeaters), int(p.MaxRepetitions)))
	case PDUTestSet:
		// Nothing here is writable.
		idx := uint16(0)
		if len(p.VarBinds) > 0 {
			idx = 1
		}
		return s.respond(p, ErrNotWritable, idx, nil)
	case PDUCommitSet, PDUUndoSet:
		return s.respond(p, ErrGenErr, 0, nil)
	case PDUCleanupSet:
		return nil
	case PDUResponse:
		if p.PacketID == s.pingID {
			s.pingID = 0
		} else if p.Error != ErrNone {
			s.a.log.Warn("agentx master reported an error", "packet", p.PacketID, "error", p.Error)
		}
		return nil
	case PDUClose:
		return fmt.Errorf("master closed the session (reason %d)", p.Reason)
	case PDUPing:
		return s.respond(p, ErrNone, 0, nil)
	}
	s.a.log.Warn("agentx: unexpected PDU from master", "type", p.Type.String())
	return s.respond(p, ErrProcessingError, 0, nil)
}
