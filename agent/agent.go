package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"quadrature/cluster"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"quadrature/checks"
	"quadrature/config"
	"quadrature/fsm"
	"quadrature/lvs"
	"quadrature/lvs/ipvs"
	"quadrature/lvs/nftables"
	"quadrature/vrrp"
)

// Config says how to run one node of the group.
type Config struct {
	// ConfigPath is the keepalived.conf (with or without a cluster block).
	ConfigPath string
	// Node is the config-id (@NAME lines); "" = first label of the host name.
	Node string
	// DataDir overrides cluster.data_dir.
	DataDir string
	// HostsFile resolves host names instead of the system resolver.
	HostsFile string
	// Backend overrides lvs_backend: auto | ipvs | nftables | none.
	Backend string
	// Timing of raft and gossip; zero = DefaultTiming.
	Timing cluster.Timing
	// ReportInterval batches verdict reports (default 100ms); FullRefresh
	// is the period of the full observation refresh (default 30s).
	ReportInterval time.Duration
	FullRefresh    time.Duration
	// APIAddr is advertised in gossip metadata for the API fan-out.
	APIAddr string
	// Version is the build's version (the SNMP global group shows it).
	Version string
	// Logger and Registry default to slog.Default() and a new registry.
	Logger   *slog.Logger
	Registry *prometheus.Registry
}

// Agent is one quadrature node: the Raft/gossip node with the replicated
// state machine, and the leaves it drives (checks, lvs, vrrp). It applies
// every committed state to the kernel and reports its own observations.
type Agent struct {
	cfg      Config
	log      *slog.Logger
	reg      *prometheus.Registry
	local    *config.Config   // the file as this node evaluates it
	localSrc fsm.ConfigSource // and its replicable form
	name     string
	role     cluster.Role

	fsm   *fsm.FSM
	node  *cluster.Node
	vrrp  *vrrp.Node
	sched *checks.Scheduler
	rec   *lvs.Reconciler
	dp    lvs.DataPlane
	guard *guardState // nil unless the data plane is IPVS
	snmp  *snmpState  // nil unless a MIB is enabled; set before VRRP starts
	bgp   *bgpState   // the BGP speaker (agent/bgp.go)

	changed   chan struct{} // an Apply or Restore happened
	digestCh  chan string   // kernel table digests for gossipLoop
	published atomic.Pointer[started]

	// ready is closed once the node serves (Ready); readyWhy says why.
	ready     chan struct{}
	readyOnce sync.Once
	readyWhy  atomic.Pointer[string]
	// loopAt is when the apply loop last went round (unix nanoseconds):
	// the liveness a service manager's watchdog is fed from (LoopAlive).
	loopAt atomic.Int64

	mu      sync.Mutex
	applied appliedState
	// startedAt is when Run began; holdReleased ends the startup hold
	// (agent_hold.go).
	startedAt    time.Time
	holdReleased bool
	rsIndex      map[string]fsm.RSID // checks real-server ID → fsm identity
	localObs     map[fsm.RSID]fsm.Observation
	seq          uint64
	// fileVersion is the config version the node's file was last in sync
	// with (0: never): a reload proposes with compare-and-swap on it.
	fileVersion uint64
	revoked     []string     // deny list last handed to the node
	knownPeers  []netip.Addr // member addresses last handed to VRRP
	desired     *fsm.State   // the state whose table the reconciler has (its digest: desiredDigest)
	fenced      map[string]bool
	digest      string    // kernel table digest, last read
	passOK      time.Time // when the last successful reconciler pass started
	desiredAt   time.Time // when the latest table went to the reconciler

	testDataPlane lvs.DataPlane // tests: used instead of opening one
}

// appliedState remembers what the agent last pushed to the leaves.
type appliedState struct {
	state         *fsm.State // the committed state last applied
	configVersion uint64
	priorities    map[string]int
	degraded      bool
}

// New loads and validates the configuration; nothing runs before Run.
func New(cfg Config) (*Agent, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.ReportInterval <= 0 {
		cfg.ReportInterval = 100 * time.Millisecond
	}
	if cfg.FullRefresh <= 0 {
		cfg.FullRefresh = 30 * time.Second
	}
	src, err := ReadConfigSource(cfg.ConfigPath, cfg.Node, cfg.HostsFile)
	if err != nil {
		return nil, err
	}
	a := &Agent{
		cfg:      cfg,
		log:      cfg.Logger,
		reg:      cfg.Registry,
		local:    src.Config,
		localSrc: src.Source,
		fsm:      fsm.New(fsm.Options{}),
		changed:  make(chan struct{}, 1),
		digestCh: make(chan string, 1),
		rsIndex:  map[string]fsm.RSID{},
		localObs: map[fsm.RSID]fsm.Observation{},
		fenced:   map[string]bool{},
		ready:    make(chan struct{}),
	}
	a.name = src.Config.Node
	a.role = cluster.RoleVoter
	if c := src.Config.Cluster; c != nil {
		if c.NodeName != "" {
			a.name = c.NodeName
		}
		if c.Role == string(cluster.RoleWitness) {
			a.role = cluster.RoleWitness
		}
	}
	a.log = a.log.With("node", a.name)
	src.logWarnings(a.log, "start")
	a.registerOpsMetrics()
	a.registerBGP()
	return a, nil
}

// Ready is closed once the node serves: for a voter when the startup hold
// is released (a committed configuration, a known leader and its table
// programmed into the kernel, or the hold time over: see agent_hold.go),
// for a witness once its Raft node runs. ReadyReason says which.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// ReadyReason is why Ready was closed ("" before).
func (a *Agent) ReadyReason() string {
	if p := a.readyWhy.Load(); p != nil {
		return *p
	}
	return ""
}

func (a *Agent) markReady(reason string) {
	a.readyOnce.Do(func() {
		a.readyWhy.Store(&reason)
		close(a.ready)
	})
}

// LoopAlive reports when the apply loop (the loop that programs the
// kernel and VRRP from the committed state) last went round; zero before
// Run. A service manager's watchdog should be fed only while it is recent.
func (a *Agent) LoopAlive() time.Time {
	ns := a.loopAt.Load()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// SetAPIAddr sets the API address advertised to peers; call before Run.
func (a *Agent) SetAPIAddr(addr string) { a.cfg.APIAddr = addr }

// Name is the node's name in the group.
func (a *Agent) Name() string { return a.name }

// started is what Run publishes, once everything is running, for readers
// on other goroutines (the API may serve before Run has started them).
type started struct {
	node  *cluster.Node
	vrrp  *vrrp.Node
	rec   *lvs.Reconciler
	sched *checks.Scheduler
	dp    lvs.DataPlane
}

func (a *Agent) parts() *started {
	if p := a.published.Load(); p != nil {
		return p
	}
	return &started{}
}

// Node returns the Raft/gossip node (nil until Run has started it).
func (a *Agent) Node() *cluster.Node { return a.parts().node }

// FSM returns the replicated state machine.
func (a *Agent) FSM() *fsm.FSM { return a.fsm }

// VRRP returns the VRRP node (nil on a witness or before Run).
func (a *Agent) VRRP() *vrrp.Node { return a.parts().vrrp }

// Reconciler returns the data-plane reconciler (nil on a witness or
// before Run).
func (a *Agent) Reconciler() *lvs.Reconciler { return a.parts().rec }

// BackendName is the data plane in use ("ipvs", "nftables", "memory"), ""
// on a witness or before Run.
func (a *Agent) BackendName() string {
	if dp := a.parts().dp; dp != nil {
		return dp.Name()
	}
	return ""
}

// Checks returns the checker scheduler (nil on a witness or before Run).
func (a *Agent) Checks() *checks.Scheduler { return a.parts().sched }

// LocalConfig is the node's own file as it evaluated it at start or at the
// last reload.
func (a *Agent) LocalConfig() *config.Config {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.local
}

func (a *Agent) clusterConfig() (cluster.Config, error) {
	c := a.local.Cluster
	cc := cluster.Config{
		NodeName: a.name,
		Role:     a.role,
		Timing:   a.cfg.Timing,
		Logger:   a.cfg.Logger, // the node adds its own "node" key
		Metadata: cluster.Meta{APIAddr: a.cfg.APIAddr},
	}
	cc.DataDir = a.DataDir()
	cc.BindAddr = netip.MustParseAddr("127.0.0.1")
	cc.RaftPort = int(config.DefaultRaftPort)
	cc.GossipPort = int(config.DefaultGossipPort)
	if c != nil {
		if c.Bind.IsValid() {
			cc.BindAddr = c.Bind
		}
		if c.RaftPort != 0 {
			cc.RaftPort = int(c.RaftPort)
		}
		if c.GossipPort != 0 {
			cc.GossipPort = int(c.GossipPort)
		}
		for _, p := range c.Peers {
			if p != cc.BindAddr {
				cc.Peers = append(cc.Peers, net.JoinHostPort(p.String(), fmt.Sprint(cc.GossipPort)))
			}
		}
		cc.BootstrapExpect = c.BootstrapExpect
		if c.DegradedAfter > 0 {
			cc.DegradedAfter = c.DegradedAfter
		}
		files := c.Files()
		if files.GossipKeyFile != "" {
			key, err := cluster.LoadGossipKey(files.GossipKeyFile)
			if err != nil {
				return cc, err
			}
			cc.GossipKey = key
		}
		if files.CertFile != "" || files.KeyFile != "" || files.CAFile != "" {
			cc.TLS = &cluster.TLSConfig{CertFile: files.CertFile, KeyFile: files.KeyFile, CAFile: files.CAFile}
		}
		cc.Insecure = c.Insecure
		// The group's nodes as the file names them (its @NAME lines).
		cc.Nodes = append([]string(nil), a.local.NodeNames...)
		if !slices.Contains(cc.Nodes, a.name) {
			cc.Nodes = append(cc.Nodes, a.name)
		}
		slices.Sort(cc.Nodes)
	}
	cc.Metadata.MACs = interfaceMACs(a.local)
	return cc, nil
}

// interfaceMACs returns the hardware addresses of the VRRP interfaces
// (for the active-active loop prevention of peers).
func interfaceMACs(c *config.Config) []string {
	var out []string
	for _, in := range c.Instances {
		ifi, err := net.InterfaceByName(in.Interface)
		if err != nil || len(ifi.HardwareAddr) == 0 {
			continue
		}
		if m := ifi.HardwareAddr.String(); !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// DataDir is where raft, the API token and the agent's own files live:
// -data-dir, else cluster data_dir, else config.DefaultDataDir.
func (a *Agent) DataDir() string {
	if a.cfg.DataDir != "" {
		return a.cfg.DataDir
	}
	if c := a.LocalConfig().Cluster; c != nil && c.DataDir != "" {
		return c.DataDir
	}
	return config.DefaultDataDir
}

// Run starts everything and blocks until ctx ends; then it stops VRRP
// (priority 0, VIPs removed), the checkers and the node, in that order.
func (a *Agent) Run(ctx context.Context) error {
	a.mu.Lock()
	a.startedAt = time.Now()
	a.mu.Unlock()
	cc, err := a.clusterConfig()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cc.DataDir, 0o700); err != nil {
		return fmt.Errorf("agent: data dir: %w", err)
	}
	cc.Registerer = a.reg
	a.node, err = cluster.New(cc, &notifyingFSM{FSM: a.fsm, changed: a.changed, log: a.log})
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := a.node.Start(runCtx); err != nil {
		return err
	}
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	if a.role == cluster.RoleVoter {
		if err := a.startLeaves(runCtx, &wg, errc); err != nil {
			_ = a.node.Shutdown()
			return err
		}
	}
	a.published.Store(&started{node: a.node, vrrp: a.vrrp, rec: a.rec, sched: a.sched, dp: a.dp})
	if a.role != cluster.RoleVoter {
		a.markReady("witness started")
	}
	wg.Add(3)
	go func() { defer wg.Done(); a.applyLoop(runCtx) }()
	go func() { defer wg.Done(); a.leaderLoop(runCtx) }()
	go func() { defer wg.Done(); a.gossipLoop(runCtx) }()
	if a.sched != nil {
		wg.Add(1)
		go func() { defer wg.Done(); a.reportLoop(runCtx) }()
	}
	a.log.Info("agent: running", "role", a.role, "raft", a.node.RaftAddr(), "gossip", a.node.GossipAddr(), "data_dir", cc.DataDir)
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		a.log.Error("agent: component failed", "err", runErr)
	}
	cancel()
	wg.Wait()
	a.stopBGP()
	if err := a.node.Shutdown(); err != nil && runErr == nil {
		runErr = err
	}
	if a.dp != nil {
		_ = a.dp.Close()
	}
	return runErr
}

// Leave makes the node leave the group gracefully (raft configuration and
// gossip); Run still has to be stopped by its context.
func (a *Agent) Leave(ctx context.Context) error {
	n := a.Node()
	if n == nil {
		return cluster.ErrShutdown
	}
	return n.Leave(ctx)
}

func (a *Agent) startLeaves(ctx context.Context, wg *sync.WaitGroup, errc chan<- error) error {
	dp, err := a.openDataPlane()
	if err != nil {
		return err
	}
	a.dp = dp
	if errs := CheckBackend(a.local, dp.Name()); len(errs) > 0 {
		_ = dp.Close()
		return errs
	}
	a.openLoopGuard()
	a.rec, err = lvs.NewReconciler(lvs.Config{
		DataPlane:  dp,
		OnPass:     a.onPass(ctx),
		Logger:     a.log,
		Registerer: a.reg,
		StateFile:  filepath.Join(a.DataDir(), "lvs-owned.json"),
		// Repair drift within seconds; a pass is one dump and a diff.
		ResyncInterval: 5 * time.Second,
	})
	if err != nil {
		return err
	}
	a.rec.SetDesired(lvs.Table{})
	g := a.local.Global
	a.sched, err = checks.NewScheduler(checks.Options{
		Logger:          a.log,
		Registerer:      a.reg,
		ScriptUser:      g.ScriptUser,
		InsecureScripts: !g.EnableScriptSecurity,
	})
	if err != nil {
		return err
	}
	a.updateChecks(a.local)
	if err := a.startSNMP(ctx, wg); err != nil {
		return err
	}
	vcfg := a.heldVRRPConfig(a.local)
	a.vrrp, err = vrrp.NewNode(vcfg, vrrp.WithLogger(a.log), vrrp.WithStateChange(a.snmpStateChange))
	if err != nil {
		return fmt.Errorf("agent: vrrp: %w", err)
	}
	if err := a.vrrp.RegisterMetrics(a.reg); err != nil {
		return err
	}
	wg.Add(4)
	go func() { defer wg.Done(); a.loopGuardLoop(ctx) }()
	go func() {
		defer wg.Done()
		if err := a.rec.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			errc <- fmt.Errorf("lvs: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := a.sched.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			errc <- fmt.Errorf("checks: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := a.vrrp.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			errc <- fmt.Errorf("vrrp: %w", err)
		}
	}()
	return nil
}

// openDataPlane picks the kernel backend: lvs_backend (or the -backend
// override) auto prefers IPVS and falls back to nftables.
func (a *Agent) openDataPlane() (lvs.DataPlane, error) {
	if a.testDataPlane != nil {
		return a.testDataPlane, nil
	}
	want := a.cfg.Backend
	if want == "" {
		want = a.local.Global.LVSBackend
	}
	switch want {
	case "none":
		return lvs.NewMemDataPlane(), nil
	case "ipvs":
		return ipvs.New()
	case "nftables":
		return nftables.New(nftables.Options{Logger: a.log})
	}
	v, err := ipvs.New()
	if err == nil {
		return v, nil
	}
	a.log.Info("agent: IPVS unavailable, using nftables", "reason", err)
	return nftables.New(nftables.Options{Logger: a.log})
}

// updateChecks replaces the checker set from a node's configuration.
func (a *Agent) updateChecks(c *config.Config) {
	specs, index := CheckSpecs(c)
	a.mu.Lock()
	a.rsIndex = index
	a.mu.Unlock()
	if err := a.sched.Update(specs); err != nil {
		a.log.Error("agent: checkers", "err", err)
	}
}

// notifyingFSM signals the apply loop after every Apply and Restore.
type notifyingFSM struct {
	*fsm.FSM
	changed chan struct{}
	log     *slog.Logger
}

func (n *notifyingFSM) kick() {
	select {
	case n.changed <- struct{}{}:
	default:
	}
}
