package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Every connection to the Raft port starts (after the TLS handshake, when
// TLS is on) with one byte saying who it is for.
const (
	muxRaft byte = 'R' // raft NetworkTransport
	muxRPC  byte = 'F' // forwarding RPC (rpc.go)
)

// handshakeTimeout bounds the TLS handshake and the mux byte read.
const handshakeTimeout = 5 * time.Second

var errStreamClosed = errors.New("cluster: stream layer closed")

// streamLayer implements raft.StreamLayer over one TCP listener, optionally
// with mutual TLS, and demultiplexes raft and RPC connections.
type streamLayer struct {
	ln        net.Listener
	advertise net.Addr
	serverTLS *tls.Config
	clientTLS *tls.Config
	logger    *slog.Logger
	faults    faultHook // nil in production

	raftCh   chan net.Conn
	rpcServe func(net.Conn, peer)
	// authorize decides whether an accepted peer may use the port at all
	// (peerauth.go); refused connections are closed before raft or the
	// RPC server sees a byte of them.
	authorize func(peer) (reason string, err error)
	refused   func(p peer, reason string, err error)
	// authorizeOut vets the peer a dial reached (a revoked name is hung up
	// on); nil accepts every peer.
	authorizeOut func(peer) error
	accepted     trackedConns // inbound raft and RPC connections
	dialled      trackedConns // outbound connections
	pending      connSet      // connections still in handshake
	closeOnce    sync.Once
	closeCh      chan struct{}
	wg           sync.WaitGroup
}

func newStreamLayer(ln net.Listener, serverTLS, clientTLS *tls.Config, logger *slog.Logger, faults faultHook, rpcServe func(net.Conn, peer)) *streamLayer {
	s := &streamLayer{
		ln:        ln,
		advertise: ln.Addr(),
		serverTLS: serverTLS,
		clientTLS: clientTLS,
		logger:    logger,
		faults:    faults,
		raftCh:    make(chan net.Conn),
		rpcServe:  rpcServe,
		closeCh:   make(chan struct{}),
	}
	return s
}

// start begins accepting connections. The node calls it once Raft exists:
// the authorizer reads the Raft configuration. Until then connections wait
// in the listen backlog.
func (s *streamLayer) start() {
	s.wg.Add(1)
	go s.acceptLoop()
}

func (s *streamLayer) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.closeCh:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			s.logger.Warn("raft listener accept failed", "err", err)
			select {
			case <-s.closeCh:
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.dispatch(c)
		}()
	}
}

// dispatch finishes the handshake and routes the connection by mux byte.
func (s *streamLayer) dispatch(c net.Conn) {
	s.pending.add(c)
	select {
	case <-s.closeCh: // Close may have run before add
		s.pending.remove(c)
		_ = c.Close()
		return
	default:
	}
	_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
	if s.serverTLS != nil {
		tc := tls.Server(c, s.serverTLS)
		if err := tc.Handshake(); err != nil {
			s.pending.remove(c)
			p := peerOf(c)
			if s.refused != nil {
				s.refused(p, refusedBadCert, fmt.Errorf("%w: %s: tls handshake: %w", errPeerRefused, p, err))
			}
			_ = c.Close()
			return
		}
		c = tc
	}
	// Who it is decides before a byte of it is read: a refused peer never
	// reaches raft or the RPC server.
	p := peerOf(c)
	if s.authorize != nil {
		if reason, err := s.authorize(p); err != nil {
			s.pending.remove(c)
			if s.refused != nil {
				s.refused(p, reason, err)
			}
			_ = c.Close()
			return
		}
	}
	var b [1]byte
	_, err := io.ReadFull(c, b[:])
	s.pending.remove(c)
	if err != nil {
		_ = c.Close()
		return
	}
	_ = c.SetDeadline(time.Time{})
	switch b[0] {
	case muxRaft:
		tc := &acceptedConn{Conn: c, set: &s.accepted}
		s.accepted.add(tc, p)
		select {
		case s.raftCh <- tc:
		case <-s.closeCh:
			_ = tc.Close()
		}
	case muxRPC:
		s.accepted.add(c, p)
		s.rpcServe(c, p)
		s.accepted.remove(c)
	default:
		s.logger.Warn("raft port: unknown connection type", "remote", c.RemoteAddr().String(), "type", int(b[0]))
		_ = c.Close()
	}
}

// Accept implements net.Listener for raft.
func (s *streamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-s.raftCh:
		return c, nil
	case <-s.closeCh:
		return nil, errStreamClosed
	}
}

// Close stops accepting; raft's transport calls it on shutdown.
func (s *streamLayer) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closeCh)
		err = s.ln.Close()
		s.pending.closeAll()
	})
	return err
}

// wait blocks until every accept goroutine has finished.
func (s *streamLayer) wait() { s.wg.Wait() }

// Addr implements net.Listener.
func (s *streamLayer) Addr() net.Addr { return s.advertise }

// Dial implements raft.StreamLayer.
func (s *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	c, _, err := s.dialPeer(string(address), muxRaft, timeout)
	return c, err
}

// dial connects to a peer's Raft port, handshakes and writes the mux byte.
func (s *streamLayer) dial(address string, mux byte, timeout time.Duration) (net.Conn, error) {
	c, _, err := s.dialPeer(address, mux, timeout)
	return c, err
}

// dialPeer is dial that also returns the node name the peer's certificate
// carries ("" without TLS). A peer whose name is revoked is hung up on.
func (s *streamLayer) dialPeer(address string, mux byte, timeout time.Duration) (net.Conn, string, error) {
	if s.faults != nil && s.faults.blocked(address) {
		return nil, "", fmt.Errorf("dial %s: blocked by fault injection", address)
	}
	d := net.Dialer{Timeout: timeout}
	c, err := d.Dial("tcp", address)
	if err != nil {
		return nil, "", err
	}
	deadline := time.Now().Add(timeout)
	if timeout <= 0 {
		deadline = time.Now().Add(handshakeTimeout)
	}
	_ = c.SetDeadline(deadline)
	if s.clientTLS != nil {
		tc := tls.Client(c, s.clientTLS)
		if err := tc.Handshake(); err != nil {
			_ = c.Close()
			return nil, "", fmt.Errorf("tls handshake with %s: %w", address, err)
		}
		c = tc
	}
	p := peerOf(c)
	if s.authorizeOut != nil {
		if err := s.authorizeOut(p); err != nil {
			_ = c.Close()
			return nil, p.name, fmt.Errorf("dial %s: %w", address, err)
		}
	}
	if _, err := c.Write([]byte{mux}); err != nil {
		_ = c.Close()
		return nil, p.name, err
	}
	_ = c.SetDeadline(time.Time{})
	if s.faults != nil {
		c = s.faults.track(address, c)
	}
	oc := &acceptedConn{Conn: c, set: &s.dialled}
	s.dialled.add(oc, p)
	return oc, p.name, nil
}

// loadTLS builds the server and client TLS configurations for mutual TLS:
// both sides present the node certificate and verify the peer's chain
// against the cluster CA (host names are not checked).
func loadTLS(c *TLSConfig) (server, client *tls.Config, err error) {
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster: tls key pair: %w", err)
	}
	caPEM, err := os.ReadFile(c.CAFile)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster: tls ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, nil, fmt.Errorf("cluster: tls ca %s: no PEM certificates", c.CAFile)
	}
	verify := func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("peer presented no certificate")
		}
		inter := x509.NewCertPool()
		for _, ic := range cs.PeerCertificates[1:] {
			inter.AddCert(ic)
		}
		_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
			Roots:         pool,
			Intermediates: inter,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		})
		return err
	}
	server = &tls.Config{
		MinVersion:       tls.VersionTLS13,
		Certificates:     []tls.Certificate{cert},
		ClientAuth:       tls.RequireAnyClientCert,
		VerifyConnection: verify,
	}
	client = &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		// The chain is verified in VerifyConnection against the cluster
		// CA; peers are dialled by IP, so names are not checked.
		InsecureSkipVerify: true, //nolint:gosec // verified below
		VerifyConnection:   verify,
	}
	return server, client, nil
}
