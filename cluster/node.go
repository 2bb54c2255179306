package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// Sentinel errors.
var (
	// ErrNotLeader: the operation needs the leader and this node is not it.
	ErrNotLeader = errors.New("cluster: not the leader")
	// ErrNoLeader: no leader was known before the context ended.
	ErrNoLeader = errors.New("cluster: no leader")
	// ErrLeadershipLost: the leader lost its leadership while the command
	// was in flight; it may or may not have been committed.
	ErrLeadershipLost = errors.New("cluster: leadership lost, outcome unknown")
	// ErrShutdown: the node is shut down (or not started).
	ErrShutdown = errors.New("cluster: node is shut down")
	// ErrForbidden: the peer (the leader) refused the request because this
	// node may not make it: not a server of the Raft configuration, or a
	// membership change over an RPC without mutual TLS.
	ErrForbidden = errors.New("cluster: the peer refused the request (not authorized)")
)

// ApplyError is an error returned by the FSM's Apply for a command. Code is
// the error's `Code() string` when it has one, and survives forwarding;
// errors.Is matches another error with the same non-empty Code.
type ApplyError struct {
	Msg  string
	Code string
	err  error // the FSM's own error value, on the leader only
}

func (e *ApplyError) Error() string { return e.Msg }

// Unwrap returns the FSM's original error when the command was applied on
// this node's own leader call (nil after forwarding).
func (e *ApplyError) Unwrap() error { return e.err }

// Is matches a target error that has the same Code.
func (e *ApplyError) Is(target error) bool {
	c, ok := target.(interface{ Code() string })
	return ok && e.Code != "" && c.Code() == e.Code
}

func newApplyError(err error) *ApplyError {
	ae := &ApplyError{Msg: err.Error(), err: err}
	var c interface{ Code() string }
	if errors.As(err, &c) {
		ae.Code = c.Code()
	}
	return ae
}

// errorCode classifies an error for the RPC response.
func errorCode(err error) string {
	var ae *ApplyError
	switch {
	case errors.As(err, &ae):
		return codeApply
	case errors.Is(err, ErrNotLeader), errors.Is(err, raft.ErrNotLeader):
		return codeNotLeader
	case errors.Is(err, ErrLeadershipLost), errors.Is(err, raft.ErrLeadershipLost):
		return codeLeadershipLost
	case errors.Is(err, ErrShutdown), errors.Is(err, raft.ErrRaftShutdown):
		return codeShutdown
	case errors.Is(err, ErrForbidden), errors.Is(err, errPeerRefused):
		return codeForbidden
	default:
		return codeInternal
	}
}

// Node is one member of the group. Create it with New, then Start it.
type Node struct {
	cfg     Config
	logger  *slog.Logger
	fsm     raft.FSM
	tracker *fsmTracker
	faults  faultHook // test hook (faults_test.go); nil in production

	ctx    context.Context // ends at Shutdown
	cancel context.CancelFunc

	lifeMu sync.Mutex   // serialises Start and Shutdown
	life   atomic.Int32 // lifeNew, lifeRunning, lifeStopped; read lock-free

	store      *raftboltdb.BoltStore
	trans      *raft.NetworkTransport
	stream     *streamLayer
	raft       *raft.Raft
	ml         *memberlist.Memberlist
	raftAddr   string
	gossipAddr string
	startedAt  time.Time

	metaMu sync.Mutex
	meta   Meta

	membersMu sync.Mutex
	members   map[string]*memberRecord

	pool     rpcPool
	rpcConns connSet

	reconcileCh chan struct{}
	// announceCh asks announceLoop to gossip this node's metadata again
	// (another member joined: see announceLoop).
	announceCh chan struct{}
	health     healthState
	subs       subscribers
	metrics    *metrics
	peers      peerContacts // the leader's view of its followers (peerTransport)

	leaderChanges atomic.Uint64
	barrierTerm   atomic.Uint64
	bootstrapped  atomic.Bool
	skipBootstrap atomic.Bool

	warnMu sync.Mutex
	warned map[string]time.Time

	revokedMu sync.Mutex
	revoked   []string // SetRevoked

	streamRef  atomic.Pointer[streamLayer] // n.stream, for SetRevoked at any time
	markerDone atomic.Bool                 // DataDir/node-id written

	obsCh    chan raft.Observation
	observer *raft.Observer
	wg       sync.WaitGroup
}

// New checks cfg and prepares a node around fsm. It does no I/O; Start
// opens the data directory and the network.
func New(cfg Config, fsm raft.FSM) (*Node, error) {
	if fsm == nil {
		return nil, errors.New("cluster: nil FSM")
	}
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	n := &Node{
		cfg:         c,
		logger:      c.Logger.With("node", c.NodeName),
		fsm:         fsm,
		members:     map[string]*memberRecord{},
		reconcileCh: make(chan struct{}, 1),
		announceCh:  make(chan struct{}, 1),
	}
	n.meta = c.Metadata.clone()
	n.meta.Role = c.Role
	n.meta.BootstrapExpect = c.BootstrapExpect
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.metrics = newMetrics(n)
	if c.Registerer != nil {
		if err := n.metrics.register(c.Registerer); err != nil {
			return nil, fmt.Errorf("cluster: register metrics: %w", err)
		}
	}
	return n, nil
}

// Start opens the Raft store under DataDir, starts Raft and gossip, and
// begins joining peers (in the background, retrying with backoff) and
// bootstrapping when this is a first start. ctx bounds start-up only; the
// node runs until Shutdown or Leave.
func (n *Node) Start(ctx context.Context) (err error) {
	n.lifeMu.Lock()
	defer n.lifeMu.Unlock()
	if n.life.Load() != lifeNew {
		return errors.New("cluster: node already started")
	}
	defer func() {
		if err != nil {
			n.life.Store(lifeStopped)
			_ = n.teardown()
		}
	}()
	if err := ctx.Err(); err != nil {
		return err
	}
	c := &n.cfg
	n.startedAt = time.Now()
	n.health.init(n.startedAt)
	hasState, err := n.openRaft()
	if err != nil {
		return err
	}
	if hasState {
		n.bootstrapped.Store(true)
		if err := n.writeMarker(); err != nil {
			return err
		}
		n.logger.Info("raft state found on disk, resuming", "raft_addr", n.raftAddr)
	} else if c.BootstrapExpect == 1 {
		self := raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(c.NodeName), Address: raft.ServerAddress(n.raftAddr)}
		if err := n.bootstrap([]raft.Server{self}); err != nil {
			return err
		}
	}

	if err := n.startGossip(); err != nil {
		return err
	}
	n.logger.Info("cluster node started", "raft_addr", n.raftAddr, "gossip_addr", n.gossipAddr,
		"role", string(c.Role), "bootstrap_expect", c.BootstrapExpect, "tls", c.TLS != nil, "encrypted", len(c.GossipKey) > 0)
	if n.Insecure() {
		n.logger.Warn("cluster running insecure: anyone who reaches the raft or gossip ports can join and reprogram the group "+
			"(configure mutual TLS and a gossip key, e.g. from `quadrature cluster init`)",
			"raft_addr", n.raftAddr, "gossip_addr", n.gossipAddr, "tls", c.TLS != nil, "encrypted", len(c.GossipKey) > 0)
	}

	n.wg.Add(4)
	go n.observeLoop()
	go n.monitorLoop()
	go n.reconcileLoop()
	go n.announceLoop()
	if len(c.Peers) > 0 {
		n.wg.Add(1)
		go n.joinLoop()
	}
	n.life.Store(lifeRunning)
	return nil
}

const (
	lifeNew int32 = iota
	lifeRunning
	lifeStopped
)

// openRaft opens the stores under DataDir, the Raft listener and
// transport, and starts Raft. It reports whether state existed on disk.
func (n *Node) openRaft() (hasState bool, err error) {
	c := &n.cfg
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return false, diskError(fmt.Errorf("cluster: data dir: %w", err))
	}
	dbPath := filepath.Join(c.DataDir, raftDBFile)
	existed, err := checkRaftDB(dbPath)
	if err != nil {
		return false, err
	}
	n.store, err = raftboltdb.New(raftboltdb.Options{
		Path:        dbPath,
		BoltOptions: &bbolt.Options{Timeout: 2 * time.Second},
	})
	if err != nil {
		if !existed {
			// Do not leave a half-initialised file behind: the next start
			// would refuse it as an empty or damaged raft.db.
			_ = os.Remove(dbPath)
		}
		if errors.Is(err, syscall.ENOSPC) {
			return false, diskError(fmt.Errorf("cluster: create %s: %w", dbPath, err))
		}
		return false, fmt.Errorf("cluster: open %s (in use by another process?): %w", dbPath, err)
	}
	hl := newHCLog(n.logger, "raft")
	snaps, err := raft.NewFileSnapshotStoreWithLogger(c.DataDir, c.SnapshotRetain, hl.Named("snapshots"))
	if err != nil {
		return false, diskError(fmt.Errorf("cluster: snapshot store: %w", err))
	}
	var serverTLS, clientTLS *tls.Config
	if c.TLS != nil {
		if serverTLS, clientTLS, err = loadTLS(c.TLS); err != nil {
			return false, err
		}
	}
	ln, err := net.Listen("tcp", netip.AddrPortFrom(c.BindAddr, uint16(c.RaftPort)).String())
	if err != nil {
		return false, fmt.Errorf("cluster: raft listen: %w", err)
	}
	n.raftAddr = ln.Addr().String()
	n.stream = newStreamLayer(ln, serverTLS, clientTLS, n.logger, n.faults, n.serveRPC)
	n.stream.authorize = n.authorizePeer
	n.stream.authorizeOut = n.authorizeOut
	n.stream.refused = func(p peer, reason string, err error) {
		n.metrics.peerRefused.WithLabelValues(reason).Inc()
		n.warnThrottled("peer:"+reason+":"+p.String(), "raft port: refused a connection",
			"remote", p.remote.String(), "peer", p.name, "reason", reason, "err", err)
	}
	n.streamRef.Store(n.stream)
	n.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  n.stream,
		MaxPool: 3,
		Timeout: 10 * time.Second,
		Logger:  hl.Named("transport"),
	})
	n.metaMu.Lock()
	n.meta.RaftAddr = n.raftAddr
	n.metaMu.Unlock()

	hasState, err = raft.HasExistingState(n.store, n.store, snaps)
	if err != nil {
		return false, fmt.Errorf("cluster: inspect raft state: %w", err)
	}
	if err := checkMarker(c.DataDir, c.NodeName, storeHasState(n.store)); err != nil {
		return false, err
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(c.NodeName)
	rc.HeartbeatTimeout = c.Timing.HeartbeatTimeout
	rc.ElectionTimeout = c.Timing.ElectionTimeout
	rc.LeaderLeaseTimeout = c.Timing.LeaderLeaseTimeout
	rc.CommitTimeout = c.Timing.CommitTimeout
	rc.ShutdownOnRemove = false
	rc.NoLegacyTelemetry = true
	rc.Logger = hl
	if err := raft.ValidateConfig(rc); err != nil {
		return false, fmt.Errorf("cluster: raft config: %w", err)
	}
	n.tracker = &fsmTracker{inner: n.fsm, snaps: snaps, m: n.metrics}
	n.raft, err = raft.NewRaft(rc, n.tracker, n.store, n.store, snaps, &peerTransport{NetworkTransport: n.trans, peers: &n.peers})
	if err != nil {
		return false, fmt.Errorf("cluster: start raft: %w", err)
	}
	n.tracker.raft.Store(n.raft)
	n.obsCh = make(chan raft.Observation, 64)
	n.observer = raft.NewObserver(n.obsCh, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	n.raft.RegisterObserver(n.observer)
	n.stream.start() // the authorizer reads n.raft
	return hasState, nil
}

// startGossip creates the memberlist with encryption and our delegates.
func (n *Node) startGossip() error {
	c := &n.cfg
	mc := memberlist.DefaultLANConfig()
	mc.Name = c.NodeName
	mc.BindAddr = c.BindAddr.String()
	mc.AdvertiseAddr = c.BindAddr.String()
	mc.ProbeInterval = c.Timing.ProbeInterval
	mc.ProbeTimeout = c.Timing.ProbeTimeout
	mc.SuspicionMult = c.Timing.SuspicionMult
	mc.GossipInterval = c.Timing.GossipInterval
	mc.PushPullInterval = c.Timing.PushPullInterval
	mc.TCPTimeout = c.Timing.TCPTimeout
	mc.Delegate = &gossipDelegate{n: n}
	mc.Events = &eventDelegate{n: n}
	mc.Logger = newStdLogger(n.logger, "memberlist")
	if len(c.GossipKey) > 0 {
		mc.SecretKey = append([]byte(nil), c.GossipKey...)
	}
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
		BindAddrs: []string{c.BindAddr.String()},
		BindPort:  c.GossipPort,
		Logger:    mc.Logger,
	})
	if err != nil {
		return fmt.Errorf("cluster: gossip listen: %w", err)
	}
	port := nt.GetAutoBindPort()
	mc.BindPort, mc.AdvertisePort = port, port
	mc.Transport = nt
	if n.faults != nil {
		mc.Transport = n.faults.wrapGossip(nt)
	}
	n.gossipAddr = netip.AddrPortFrom(c.BindAddr, uint16(port)).String()
	ml, err := memberlist.Create(mc)
	if err != nil {
		_ = mc.Transport.Shutdown()
		return fmt.Errorf("cluster: start gossip: %w", err)
	}
	n.ml = ml
	return nil
}

// bootstrap writes the initial configuration; a repeat is harmless.
func (n *Node) bootstrap(servers []raft.Server) error {
	err := n.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error()
	if err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		return diskError(fmt.Errorf("cluster: bootstrap: %w", err))
	}
	n.bootstrapped.Store(true)
	if err := n.writeMarker(); err != nil {
		return err
	}
	ids := make([]string, len(servers))
	for i, s := range servers {
		ids[i] = string(s.ID)
	}
	n.logger.Info("raft bootstrapped", "servers", ids)
	return nil
}

// Shutdown stops the node without leaving the group (as a crash would, but
// cleanly closing files). The node cannot be started again; make a new one
// on the same DataDir to restart.
func (n *Node) Shutdown() error {
	n.lifeMu.Lock()
	defer n.lifeMu.Unlock()
	if n.life.Swap(lifeStopped) == lifeStopped {
		return nil
	}
	return n.teardown()
}

// teardown releases everything Start created, in reverse order.
func (n *Node) teardown() error {
	n.cancel()
	var errs []error
	if n.ml != nil {
		if err := n.ml.Shutdown(); err != nil {
			errs = append(errs, fmt.Errorf("gossip: %w", err))
		}
	}
	if n.raft != nil {
		if n.observer != nil {
			n.raft.DeregisterObserver(n.observer)
		}
		if err := n.raft.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("raft: %w", err))
		}
	}
	n.rpcConns.closeAll()
	n.pool.closeAll()
	if n.trans != nil {
		_ = n.trans.Close()
	} else if n.stream != nil {
		_ = n.stream.Close()
	}
	if n.stream != nil {
		n.stream.wait()
	}
	n.wg.Wait()
	if n.store != nil {
		if err := n.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("raft.db: %w", err))
		}
	}
	if n.cfg.Registerer != nil {
		n.metrics.unregister(n.cfg.Registerer)
	}
	n.subs.closeAll()
	n.logger.Info("cluster node stopped")
	return errors.Join(errs...)
}

// Leave departs gracefully: hands leadership over if this node leads,
// removes itself from the Raft configuration (through the leader), tells
// gossip it is leaving, and shuts down.
func (n *Node) Leave(ctx context.Context) error {
	if !n.running() {
		return ErrShutdown
	}
	self := raft.ServerID(n.cfg.NodeName)
	others := 0
	if cf := n.raft.GetConfiguration(); cf.Error() == nil {
		for _, s := range cf.Configuration().Servers {
			if s.ID != self {
				others++
			}
		}
	}
	var errs []error
	n.metaMu.Lock()
	n.meta.Leaving = true
	n.metaMu.Unlock()
	if err := n.ml.UpdateNode(n.cfg.Timing.TCPTimeout); err != nil {
		n.logger.Warn("announcing leave in metadata failed", "err", err)
	}
	if others > 0 {
		if n.raft.State() == raft.Leader {
			if err := n.raft.LeadershipTransfer().Error(); err != nil {
				n.logger.Warn("leadership transfer before leave failed", "err", err)
			}
		}
		if _, err := n.RemoveServer(ctx, n.cfg.NodeName); err != nil {
			errs = append(errs, fmt.Errorf("remove from raft: %w", err))
		}
	}
	timeout := 2 * time.Second
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = max(time.Until(dl), 100*time.Millisecond)
	}
	if err := n.ml.Leave(timeout); err != nil {
		errs = append(errs, fmt.Errorf("gossip leave: %w", err))
	}
	if err := n.Shutdown(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("cluster: leave: %w", errors.Join(errs...))
	}
	n.logger.Info("left the cluster")
	return nil
}

// running reports whether Start succeeded and Shutdown has not begun. It
// takes no lock: RPC handlers call it while Shutdown waits for them.
func (n *Node) running() bool { return n.life.Load() == lifeRunning }

// hasState reports whether this node holds any Raft log or snapshot.
func (n *Node) hasState() bool {
	return n.bootstrapped.Load() || n.raft.LastIndex() > 0
}

// Name is this node's name.
func (n *Node) Name() string { return n.cfg.NodeName }

// RaftAddr is the "ip:port" of this node's Raft port (valid after Start).
func (n *Node) RaftAddr() string { return n.raftAddr }

// GossipAddr is the "ip:port" of this node's gossip port (valid after Start).
func (n *Node) GossipAddr() string { return n.gossipAddr }

// triggerReconcile asks the reconcile loop for an early pass.
func (n *Node) triggerReconcile() {
	select {
	case n.reconcileCh <- struct{}{}:
	default:
	}
}

// Insecure reports whether this node runs a group without mutual TLS and a
// gossip key (Config.Insecure).
func (n *Node) Insecure() bool {
	return n.cfg.Insecure && (n.cfg.TLS == nil || len(n.cfg.GossipKey) == 0)
}

// SetRevoked replaces the deny list: node names whose certificates are
// refused on the Raft port (and whose open connections, inbound and
// outbound, are closed), and that the leader never adds back. The agent
// calls it with the FSM's list. Names only exist with mutual TLS; without
// it the list only keeps the leader from adding those members.
func (n *Node) SetRevoked(names []string) {
	n.revokedMu.Lock()
	n.revoked = append([]string(nil), names...)
	n.revokedMu.Unlock()
	s := n.streamRef.Load()
	if s == nil {
		return
	}
	revoked := func(p peer) bool { return n.isRevoked(p.name) }
	if closed := s.accepted.closeIf(revoked) + s.dialled.closeIf(revoked); closed > 0 {
		n.logger.Warn("closed the connections of revoked nodes", "connections", closed, "revoked", names)
	}
	n.pool.dropIf(func(name string) bool { return n.isRevoked(name) })
}
