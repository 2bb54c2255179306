package cluster

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// The forwarding RPC: after the mux byte, the client sends requests and the
// server answers them in order on the same connection. Each message is a
// frame: a 4-byte big-endian length, then that many bytes of JSON.
const maxFrame = 32 << 20

// RPC operations.
const (
	opApply        = "apply"
	opReadIndex    = "read_index"
	opAddVoter     = "add_voter"
	opAddNonvoter  = "add_nonvoter"
	opRemoveServer = "remove_server"
	opStatus       = "status"
)

// Error codes carried in responses.
const (
	codeNotLeader      = "not_leader"
	codeLeadershipLost = "leadership_lost"
	codeShutdown       = "shutdown"    // raft stopped with the request in flight
	codeUnavailable    = "unavailable" // refused before doing anything
	codeApply          = "apply"
	codeForbidden      = "forbidden" // the peer may not run this op
	codeInternal       = "internal"
)

type rpcRequest struct {
	Op        string `json:"op"`
	Cmd       []byte `json:"cmd,omitempty"`
	ID        string `json:"id,omitempty"`
	Addr      string `json:"addr,omitempty"`
	TimeoutMS int64  `json:"timeout_ms,omitempty"`
	Index     uint64 `json:"index,omitempty"` // opRestore: the snapshot's raft index
}

type rpcResponse struct {
	Index     uint64 `json:"index,omitempty"`
	CmdIndex  uint64 `json:"cmd_index,omitempty"`
	Result    []byte `json:"result,omitempty"`
	HasResult bool   `json:"has_result,omitempty"`
	Code      string `json:"code,omitempty"`
	Err       string `json:"err,omitempty"`
	ApplyCode string `json:"apply_code,omitempty"`
	HasState  bool   `json:"has_state,omitempty"`
	Leader    string `json:"leader,omitempty"`
}

func writeFrame(w io.Writer, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if len(body) > maxFrame {
		return fmt.Errorf("rpc frame of %d bytes exceeds %d", len(body), maxFrame)
	}
	buf := make([]byte, 4+len(body))
	binary.BigEndian.PutUint32(buf, uint32(len(body)))
	copy(buf[4:], body)
	_, err = w.Write(buf)
	return err
}

// readFrame reads one frame into v. io.EOF means a clean end of stream.
func readFrame(r io.Reader, v any) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxFrame {
		return fmt.Errorf("rpc frame of %d bytes exceeds %d", n, maxFrame)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("rpc frame: %w", err)
	}
	return nil
}

// rpcIdleTimeout closes server connections that carry no request for a while;
// clients drop pooled connections well before that.
const (
	rpcIdleTimeout   = 2 * time.Minute
	rpcClientMaxIdle = time.Minute
	rpcPoolSize      = 4
)

// serveRPC answers requests on one connection until it ends.
func (n *Node) serveRPC(c net.Conn, p peer) {
	defer c.Close()
	n.rpcConns.add(c)
	defer n.rpcConns.remove(c)
	br := bufio.NewReader(c)
	for {
		_ = c.SetReadDeadline(time.Now().Add(rpcIdleTimeout))
		var req rpcRequest
		if err := readFrame(br, &req); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				n.logger.Debug("rpc read failed", "remote", c.RemoteAddr().String(), "err", err)
			}
			return
		}
		_ = c.SetReadDeadline(time.Time{})
		resp := n.handleRPC(req, p)
		if err := writeFrame(c, resp); err != nil {
			n.logger.Debug("rpc write failed", "remote", c.RemoteAddr().String(), "err", err)
			return
		}
	}
}

func (n *Node) handleRPC(req rpcRequest, p peer) rpcResponse {
	if !n.running() {
		return rpcResponse{Code: codeUnavailable, Err: "node starting or stopping"}
	}
	if err := n.authorizeRPC(p, req); err != nil {
		n.metrics.peerRefused.WithLabelValues("rpc_" + req.Op).Inc()
		n.warnThrottled("rpc:"+p.String()+":"+req.Op, "raft port: refused an RPC",
			"remote", p.remote.String(), "peer", p.name, "op", req.Op, "err", err)
		return rpcResponse{Code: codeForbidden, Err: err.Error()}
	}
	if req.Op == opApply {
		// The FSM layer logs the command's origin itself; this says which
		// node forwarded it.
		n.logger.Debug("forwarded apply", "remote", p.remote.String(), "peer", p.name, "bytes", len(req.Cmd))
	}
	timeout := time.Duration(req.TimeoutMS) * time.Millisecond
	if timeout <= 0 || timeout > time.Minute {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(n.ctx, timeout)
	defer cancel()
	var resp rpcResponse
	var err error
	switch req.Op {
	case opStatus:
		resp.HasState = n.hasState()
		resp.Leader = n.LeaderName()
		return resp
	case opApply:
		var res any
		res, resp.Index, err = n.applyLocal(ctx, req.Cmd)
		if err == nil {
			switch r := res.(type) {
			case nil:
			case []byte:
				resp.Result, resp.HasResult = r, true
			default:
				err = fmt.Errorf("cluster: fsm result of type %T cannot be forwarded (return nil, []byte or error)", res)
			}
		}
	case opReadIndex:
		resp.Index, resp.CmdIndex, err = n.readIndexLocal(ctx)
	case opAddVoter, opAddNonvoter, opRemoveServer:
		resp.Index, err = n.membershipLocal(ctx, req.Op, req.ID, req.Addr)
	case opRestore:
		resp.Index, err = n.restoreLocal(ctx, req.Cmd, req.Index)
	default:
		err = fmt.Errorf("cluster: unknown rpc op %q", req.Op)
	}
	if err != nil {
		resp.Code, resp.Err = errorCode(err), err.Error()
		var ae *ApplyError
		if errors.As(err, &ae) {
			resp.Err, resp.ApplyCode = ae.Msg, ae.Code
		}
	}
	return resp
}

// rpcPool keeps idle client connections per leader address.
type rpcPool struct {
	mu   sync.Mutex
	idle map[string][]pooledConn
}

type pooledConn struct {
	c     net.Conn
	br    *bufio.Reader
	peer  string // the server's certificate name ("" without TLS)
	since time.Time
}

func (p *rpcPool) get(addr string) (pooledConn, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.idle[addr]) > 0 {
		l := p.idle[addr]
		pc := l[len(l)-1]
		p.idle[addr] = l[:len(l)-1]
		if time.Since(pc.since) < rpcClientMaxIdle {
			return pc, true
		}
		_ = pc.c.Close()
	}
	return pooledConn{}, false
}

func (p *rpcPool) put(addr string, pc pooledConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.idle == nil {
		p.idle = map[string][]pooledConn{}
	}
	if len(p.idle[addr]) >= rpcPoolSize {
		_ = pc.c.Close()
		return
	}
	pc.since = time.Now()
	p.idle[addr] = append(p.idle[addr], pc)
}

// dropIf closes the idle connections to servers whose name matches.
func (p *rpcPool) dropIf(match func(peer string) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for addr, l := range p.idle {
		kept := l[:0]
		for _, pc := range l {
			if match(pc.peer) {
				_ = pc.c.Close()
				continue
			}
			kept = append(kept, pc)
		}
		p.idle[addr] = kept
	}
}

func (p *rpcPool) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.idle {
		for _, pc := range l {
			_ = pc.c.Close()
		}
	}
	p.idle = nil
}

// errNotSent marks a request that certainly never reached the server, so
// it may be retried without risk of doing it twice.
type errNotSent struct{ err error }

func (e errNotSent) Error() string { return e.err.Error() }
func (e errNotSent) Unwrap() error { return e.err }

// call sends req to the Raft port at addr and waits for the answer.
func (n *Node) call(ctx context.Context, addr string, req rpcRequest) (rpcResponse, error) {
	resp, _, err := n.callPeer(ctx, addr, req)
	return resp, err
}

// callPeer is call that also returns the name the server's certificate
// carries ("" without TLS), so a caller can check who answered.
func (n *Node) callPeer(ctx context.Context, addr string, req rpcRequest) (rpcResponse, string, error) {
	if dl, ok := ctx.Deadline(); ok {
		req.TimeoutMS = max(time.Until(dl).Milliseconds(), 1)
	}
	pc, pooled := n.pool.get(addr)
	if !pooled {
		timeout := n.cfg.Timing.TCPTimeout
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
			timeout = time.Until(dl)
		}
		c, name, err := n.stream.dialPeer(addr, muxRPC, timeout)
		if err != nil {
			return rpcResponse{}, name, errNotSent{fmt.Errorf("cluster: dial %s: %w", addr, err)}
		}
		pc = pooledConn{c: c, br: bufio.NewReader(c), peer: name}
	}
	_ = pc.c.SetDeadline(time.Time{})
	stop := context.AfterFunc(ctx, func() { _ = pc.c.SetDeadline(time.Now()) })
	if err := writeFrame(pc.c, req); err != nil {
		stop()
		_ = pc.c.Close()
		if ctx.Err() != nil {
			return rpcResponse{}, pc.peer, errNotSent{ctx.Err()}
		}
		return rpcResponse{}, pc.peer, errNotSent{fmt.Errorf("cluster: rpc %s to %s: %w", req.Op, addr, err)}
	}
	var resp rpcResponse
	if err := readFrame(pc.br, &resp); err != nil {
		stop()
		_ = pc.c.Close()
		if ctx.Err() != nil {
			return rpcResponse{}, pc.peer, ctx.Err()
		}
		return rpcResponse{}, pc.peer, fmt.Errorf("cluster: rpc %s to %s: %w", req.Op, addr, err)
	}
	if !stop() {
		// The deadline was (or is being) forced: do not reuse the conn.
		_ = pc.c.Close()
		return resp, pc.peer, nil
	}
	n.pool.put(addr, pc)
	return resp, pc.peer, nil
}

// responseError turns a response's error fields back into an error.
func responseError(resp rpcResponse) error {
	switch resp.Code {
	case "":
		return nil
	case codeNotLeader:
		return ErrNotLeader
	case codeLeadershipLost:
		return fmt.Errorf("cluster: leader: %s: %w", resp.Err, ErrLeadershipLost)
	case codeShutdown:
		return fmt.Errorf("cluster: leader shut down with the request in flight: %w", ErrLeadershipLost)
	case codeUnavailable:
		return errNotSent{fmt.Errorf("cluster: leader unavailable: %s", resp.Err)}
	case codeApply:
		return &ApplyError{Msg: resp.Err, Code: resp.ApplyCode}
	case codeForbidden:
		return fmt.Errorf("%w: %s", ErrForbidden, resp.Err)
	default:
		return fmt.Errorf("cluster: leader: %s", resp.Err)
	}
}

// connSet tracks served RPC connections so Shutdown can close them.
type connSet struct {
	mu sync.Mutex
	m  map[net.Conn]struct{}
}

func (s *connSet) add(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[net.Conn]struct{}{}
	}
	s.m[c] = struct{}{}
}

func (s *connSet) remove(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, c)
}

func (s *connSet) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.m {
		_ = c.Close()
	}
}
