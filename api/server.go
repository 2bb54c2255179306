package api

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultListen is where the API listens when neither the cluster block
// (api { listen ADDR }) nor -api-listen says otherwise.
const DefaultListen = "127.0.0.1:9900"

// Body size limits. A configuration with its includes may be large; every
// other request body is a handful of names.
const (
	MaxConfigBody = 4 << 20
	MaxSmallBody  = 64 << 10
)

// Options configures a Server. Backend is required; so is an admin token,
// given directly, from a file, or generated in DataDir (EnsureToken): the API
// is never writable without authentication.
type Options struct {
	Backend Backend

	// Listen is the host:port Start listens on (DefaultListen if empty).
	Listen string
	// TLSCertFile and TLSKeyFile enable HTTPS (both or neither).
	TLSCertFile string
	TLSKeyFile  string

	// AdminToken / AdminTokenFile authorize reads and writes
	// (api { token_file FILE }). ReadToken / ReadTokenFile authorize reads
	// only (api { read_token_file FILE }). A direct token wins over a file.
	AdminToken     string
	AdminTokenFile string
	ReadToken      string
	ReadTokenFile  string
	// DataDir is where EnsureToken keeps a generated admin token when no
	// admin token is configured.
	DataDir string

	// MetricsAuth requires a read (or admin) token on /metrics.
	MetricsAuth bool
	// Gatherer is served on /metrics together with the API's own metrics
	// (build info, request metrics, verdict gauges). May be nil.
	Gatherer prometheus.Gatherer

	// Version is the build version reported in quadrature_build_info and
	// filled into Status when the backend leaves it empty.
	Version string
	// Logger receives request errors; slog.Default() if nil.
	Logger *slog.Logger

	// BackendTimeout bounds each backend call (default 15 s).
	BackendTimeout time.Duration
	// FanoutTimeout bounds each peer request of GET /v1/vrrp?node=all
	// (default 3 s).
	FanoutTimeout time.Duration
	// PeerClient performs fan-out requests. If nil, a client is built that
	// ignores proxy settings and verifies https peers against PeerCAFile
	// (PEM; the system roots if empty).
	PeerClient *http.Client
	PeerCAFile string
	// PeerCertFile and PeerKeyFile are this node's own certificate, shown
	// to peers' APIs in fan-out (mutual TLS); a peer's certificate must
	// carry the member's name. The caller's token is never forwarded.
	PeerCertFile string
	PeerKeyFile  string
	// PeerToken is sent to peers in fan-out when this node has no
	// certificate to present (no TLS: a group configured insecure): the
	// read-only token, if any. The caller's token is never sent.
	PeerToken string
	// ClientCAFile makes an HTTPS server ask for client certificates and
	// verify them against this CA: a request with a verified certificate
	// whose name PeerAllowed accepts (nil: any) gets read access — how
	// peers' fan-out requests authenticate.
	ClientCAFile string
	PeerAllowed  func(name string) bool

	// MaxConns and MaxConnsPerIP cap concurrent connections (defaults
	// DefaultMaxConns, DefaultMaxConnsPerIP); excess ones are closed at
	// accept, never queued (quadrature_api_connections_refused_total).
	MaxConns      int
	MaxConnsPerIP int
	// PeerScheme is "http" or "https" for fan-out requests; defaults to
	// https when TLS is configured, http otherwise.
	PeerScheme string
}

// Timeouts and header limit of the listener Start opens: a client must send
// its request headers within readHeaderTimeout (slowloris) and its whole
// request within readTimeout; the TLS handshake is bounded by the smallest.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 60 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 64 << 10
)

// Access is the token a route requires.
type Access int

const (
	Public Access = iota // no token (unless MetricsAuth for /metrics)
	Read                 // read or admin token
	Admin                // admin token
)

func (a Access) String() string {
	switch a {
	case Public:
		return "public"
	case Read:
		return "read"
	case Admin:
		return "admin"
	}
	return fmt.Sprintf("Access(%d)", int(a))
}

// Route is one registered method + path pattern (net/http ServeMux syntax,
// e.g. "/v1/raft/servers/{name}").
type Route struct {
	Method string
	Path   string
	Access Access
}

// Server is the HTTP admin API of one node.
type Server struct {
	opts    Options
	backend Backend
	log     *slog.Logger
	tokens  atomic.Pointer[tokenSet]

	mux         *http.ServeMux
	handler     http.Handler
	routes      []Route
	registry    *prometheus.Registry
	metrics     *apiMetrics
	peer        *http.Client
	peerTLS     *tls.Config // base TLS of fan-out requests (nil: http or system roots)
	connRefused *prometheus.CounterVec
	connCurrent prometheus.Gauge
	connAddr    func(net.Conn) netip.Addr // source address for the caps (tests)
	lim         *limitListener
	peerByName  sync.Map // member name → *http.Client verifying that name

	mu      sync.Mutex
	httpSrv *http.Server
	ln      net.Listener
	done    chan error
}

// New builds a Server; it does not listen (see Start, or use the Server as an
// http.Handler).
func New(opts Options) (*Server, error) {
	if opts.Backend == nil {
		return nil, errors.New("api: no backend")
	}
	if (opts.TLSCertFile == "") != (opts.TLSKeyFile == "") {
		return nil, errors.New("api: TLS needs both a certificate and a key file")
	}
	if opts.Listen == "" {
		opts.Listen = DefaultListen
	}
	if opts.BackendTimeout <= 0 {
		opts.BackendTimeout = 15 * time.Second
	}
	if opts.FanoutTimeout <= 0 {
		opts.FanoutTimeout = 3 * time.Second
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	if opts.MaxConnsPerIP <= 0 {
		opts.MaxConnsPerIP = DefaultMaxConnsPerIP
	}
	if opts.PeerScheme == "" {
		opts.PeerScheme = "http"
		if opts.TLSCertFile != "" {
			opts.PeerScheme = "https"
		}
	}
	if opts.PeerScheme != "http" && opts.PeerScheme != "https" {
		return nil, fmt.Errorf("api: peer scheme %q: want http or https", opts.PeerScheme)
	}
	s := &Server{opts: opts, backend: opts.Backend, log: opts.Logger}
	if s.log == nil {
		s.log = slog.Default()
	}
	if err := s.loadTokens(); err != nil {
		return nil, err
	}
	s.peer = opts.PeerClient
	if s.peer == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = nil // peers are on the directors' own network
		if opts.PeerScheme == "https" {
			// Verified against the group's CA (the system roots if
			// none), for the member's name: see peerClient.
			s.peerTLS = &tls.Config{MinVersion: tls.VersionTLS12}
			if opts.PeerCAFile != "" {
				pool, err := loadPool(opts.PeerCAFile)
				if err != nil {
					return nil, fmt.Errorf("api: peer CA: %w", err)
				}
				s.peerTLS.RootCAs = pool
			}
			if opts.PeerCertFile != "" || opts.PeerKeyFile != "" {
				cert, err := tls.LoadX509KeyPair(opts.PeerCertFile, opts.PeerKeyFile)
				if err != nil {
					return nil, fmt.Errorf("api: peer certificate: %w", err)
				}
				s.peerTLS.Certificates = []tls.Certificate{cert}
			}
			tr.TLSClientConfig = s.peerTLS
		}
		s.peer = &http.Client{Timeout: opts.FanoutTimeout, Transport: tr, CheckRedirect: noRedirects}
	}
	s.registry = prometheus.NewRegistry()
	s.connRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "quadrature", Subsystem: "api", Name: "connections_refused_total",
		Help: "API connections closed at accept because a cap was reached (reason total or per_ip).",
	}, []string{"reason"})
	s.connCurrent = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "quadrature", Subsystem: "api", Name: "connections",
		Help: "API connections currently open (accepted and not yet closed).",
	})
	for _, c := range []prometheus.Collector{s.connRefused, s.connCurrent} {
		if err := s.registry.Register(c); err != nil {
			return nil, err
		}
	}
	m, err := newAPIMetrics(s.registry, opts.Version, s.backend, opts.BackendTimeout)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	s.mux = http.NewServeMux()
	s.registerRoutes()
	s.handler = s.metrics.instrument(jsonUnmatched(s.mux))
	return s, nil
}

// tokenSet is the digests of the tokens in force.
type tokenSet struct {
	admin, read tokenDigest
	adminPath   string // file the admin token came from
}

// ReloadTokens re-reads the token files (after a rotation, e.g. on SIGHUP).
// On error the tokens in force stay unchanged.
func (s *Server) ReloadTokens() error {
	return s.loadTokens()
}

func (s *Server) loadTokens() error {
	admin, adminPath := s.opts.AdminToken, ""
	if admin == "" && s.opts.AdminTokenFile != "" {
		tok, err := ReadTokenFile(s.opts.AdminTokenFile)
		if err != nil {
			return fmt.Errorf("api: admin %w", err)
		}
		admin, adminPath = tok, s.opts.AdminTokenFile
	}
	if admin == "" && s.opts.DataDir != "" {
		tok, path, err := EnsureToken(s.opts.DataDir)
		if err != nil {
			return fmt.Errorf("api: %w", err)
		}
		admin, adminPath = tok, path
	}
	if admin == "" {
		return errors.New("api: no admin token (set AdminToken, AdminTokenFile or DataDir)")
	}
	if err := checkToken(admin); err != nil {
		return fmt.Errorf("api: admin token: %w", err)
	}
	read := s.opts.ReadToken
	if read == "" && s.opts.ReadTokenFile != "" {
		tok, err := ReadTokenFile(s.opts.ReadTokenFile)
		if err != nil {
			return fmt.Errorf("api: read %w", err)
		}
		read = tok
	}
	if read != "" {
		if err := checkToken(read); err != nil {
			return fmt.Errorf("api: read token: %w", err)
		}
		if read == admin {
			return errors.New("api: the read-only token equals the admin token")
		}
	}
	s.tokens.Store(&tokenSet{admin: digestOf(admin), read: digestOf(read), adminPath: adminPath})
	return nil
}

// AdminTokenPath is the file the admin token came from ("" if it was given
// directly); the agent logs it so the operator knows where the CLI looks.
func (s *Server) AdminTokenPath() string { return s.tokens.Load().adminPath }

// localStatusRoutes are the reads of the status page and of `quadrature
// status|members|list|raft list`: what the node and the group look like,
// nothing of the configuration's content (passwords, script paths).
var localStatusRoutes = map[string]bool{
	"/v1/status": true, "/v1/members": true, "/v1/vrrp": true, "/v1/services": true, "/v1/raft/servers": true,
}

// localOpenRead is the rule for a read that carries no token: it is
// answered when it comes over a loopback connection (127.0.0.0/8, ::1:
// someone on the director itself, who sees its addresses and the kernel's
// table anyway) and either the route is one of localStatusRoutes or no
// read-only token is configured. A configured read token (read_token_file,
// or a credentials directory's api-read-token) keeps the other reads (the
// configuration, /metrics with metrics_auth) behind a token on localhost
// too; without one, the admin token is the only secret and every read is
// open locally. A request a proxy forwarded (Forwarded, X-Forwarded-For,
// X-Real-IP) is not local whatever its connection. A token that is sent is
// always checked: a wrong one (or another scheme than Bearer) is refused,
// also on localhost.
func (s *Server) localOpenRead(r *http.Request, path string) bool {
	if !localStatusRoutes[path] && s.tokens.Load().read.set {
		return false
	}
	for _, h := range []string{"Authorization", "Forwarded", "X-Forwarded-For", "X-Real-Ip"} {
		if r.Header.Get(h) != "" {
			return false
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// isPeer reports whether r comes with a client certificate the group's CA
// signed, for a node name PeerAllowed accepts (fan-out between nodes).
func (s *Server) isPeer(r *http.Request) bool {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || s.opts.ClientCAFile == "" {
		return false
	}
	name := r.TLS.VerifiedChains[0][0].Subject.CommonName
	return name != "" && (s.opts.PeerAllowed == nil || s.opts.PeerAllowed(name))
}

// peerClient is the fan-out client for member name: over https it
// verifies that the peer's certificate carries that name (node
// certificates have DNS SAN = node name), whatever address the member
// advertises.
func (s *Server) peerClient(name string) *http.Client {
	if s.peerTLS == nil || s.opts.PeerClient != nil {
		return s.peer
	}
	if c, ok := s.peerByName.Load(name); ok {
		return c.(*http.Client)
	}
	tr := s.peer.Transport.(*http.Transport).Clone()
	tr.TLSClientConfig = s.peerTLS.Clone()
	tr.TLSClientConfig.ServerName = name
	c := &http.Client{Timeout: s.opts.FanoutTimeout, Transport: tr, CheckRedirect: noRedirects}
	actual, _ := s.peerByName.LoadOrStore(name, c)
	return actual.(*http.Client)
}

// noRedirects keeps fan-out on the member asked: a redirect is answered
// as it is (an error), never followed with this node's credentials.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// peerHasCert reports whether fan-out requests present this node's
// certificate.
func (s *Server) peerHasCert() bool {
	return s.peerTLS != nil && len(s.peerTLS.Certificates) > 0
}

func loadPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificates", path)
	}
	return pool, nil
}

// Routes lists every registered route, in registration order.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// ServeHTTP makes the Server an http.Handler (useful with httptest).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}

// Start listens on Options.Listen and serves in the background until
// Shutdown. It returns once the listener is bound.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.httpSrv != nil {
		return errors.New("api: already started")
	}
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	if s.opts.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.opts.TLSCertFile, s.opts.TLSKeyFile)
		if err != nil {
			return fmt.Errorf("api: load TLS key pair: %w", err)
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		if s.opts.ClientCAFile != "" {
			pool, err := loadPool(s.opts.ClientCAFile)
			if err != nil {
				return fmt.Errorf("api: client CA: %w", err)
			}
			srv.TLSConfig.ClientCAs = pool
			srv.TLSConfig.ClientAuth = tls.VerifyClientCertIfGiven
		}
	}
	ln, err := net.Listen("tcp", s.opts.Listen)
	if err != nil {
		return fmt.Errorf("api: listen %s: %w", s.opts.Listen, err)
	}
	lim := newLimitListener(ln, s.opts.MaxConns, s.opts.MaxConnsPerIP, s.connRefused, s.connCurrent)
	if s.connAddr != nil {
		lim.addrOf = s.connAddr
	}
	s.lim, ln = lim, lim
	useTLS := srv.TLSConfig != nil
	s.httpSrv, s.ln, s.done = srv, ln, make(chan error, 1)
	go func() {
		var err error
		if useTLS {
			err = srv.ServeTLS(ln, "", "") // certificates from TLSConfig
		} else {
			err = srv.Serve(ln)
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	s.log.Info("api: listening", "addr", ln.Addr().String(), "tls", useTLS, "token_file", s.AdminTokenPath())
	return nil
}

// Addr is the bound address after Start (nil before).
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Shutdown stops accepting requests and waits for running ones until ctx
// ends. It returns the error that ended serving, if any.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srv, done := s.httpSrv, s.done
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	if err := srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("api: shutdown: %w", err)
	}
	return <-done
}

// route registers one handler behind authentication and, for writes, a
// body size limit.
func (s *Server) route(method, path string, access Access, limit int64, h http.HandlerFunc) {
	s.routes = append(s.routes, Route{Method: method, Path: path, Access: access})
	label := path
	s.mux.HandleFunc(method+" "+path, func(w http.ResponseWriter, r *http.Request) {
		setRoute(r, label)
		if !s.authorize(w, r, path, access) {
			return
		}
		if limit > 0 {
			if r.ContentLength > limit {
				// Refused on the declared length: not a byte of the
				// body is read.
				w.Header().Set("Connection", "close")
				writeError(w, http.StatusRequestEntityTooLarge, ErrorBody{
					Error: fmt.Sprintf("request body of %d bytes is larger than the limit of %d bytes", r.ContentLength, limit),
					Code:  "too_large"})
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		h(w, r)
	})
}

// authorize enforces access before anything else runs: a request that fails
// here never reaches the backend nor has its body read.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, path string, access Access) bool {
	if access == Public {
		return true
	}
	if access == Read && s.isPeer(r) {
		return true
	}
	tok, ok := bearer(r.Header.Get("Authorization"))
	if !ok && access == Read && s.localOpenRead(r, path) {
		return true
	}
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="quadrature"`)
		writeError(w, http.StatusUnauthorized, ErrorBody{Error: "missing bearer token", Code: "unauthorized"})
		return false
	}
	sum := sha256.Sum256([]byte(tok))
	ts := s.tokens.Load()
	isAdmin := ts.admin.matches(sum)
	isRead := ts.read.matches(sum)
	switch {
	case isAdmin:
		return true
	case isRead && access == Read:
		return true
	case isRead:
		writeError(w, http.StatusForbidden, ErrorBody{Error: "this operation needs the admin token", Code: "forbidden"})
		return false
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="quadrature", error="invalid_token"`)
	writeError(w, http.StatusUnauthorized, ErrorBody{Error: "invalid token", Code: "unauthorized"})
	return false
}

func (s *Server) registerRoutes() {
	s.route("GET", "/{$}", Public, 0, s.handleUI)
	s.route("GET", "/healthz", Public, 0, s.handleHealthz)
	s.route("GET", "/readyz", Public, 0, s.handleReadyz)
	metricsAccess := Public
	if s.opts.MetricsAuth {
		metricsAccess = Read
	}
	s.route("GET", "/metrics", metricsAccess, 0, s.handleMetrics)
	s.route("GET", "/v1/openapi", Public, 0, s.handleOpenAPI)

	s.route("GET", "/v1/status", Read, 0, s.handleStatus)
	s.route("GET", "/v1/members", Read, 0, s.handleMembers)
	s.route("GET", "/v1/vrrp", Read, 0, s.handleVRRP)
	s.route("GET", "/v1/services", Read, 0, s.handleServices)
	s.route("GET", "/v1/config", Read, 0, s.handleGetConfig)
	s.route("GET", "/v1/raft/servers", Read, 0, s.handleRaftServers)

	s.route("PUT", "/v1/config", Admin, MaxConfigBody, s.handlePutConfig)
	s.route("POST", "/v1/config/validate", Admin, MaxConfigBody, s.handleValidateConfig)
	s.route("POST", "/v1/drain", Admin, MaxSmallBody, s.handleDrain(true))
	s.route("POST", "/v1/undrain", Admin, MaxSmallBody, s.handleDrain(false))
	s.route("POST", "/v1/maintenance", Admin, MaxSmallBody, s.handleMaintenance)
	s.route("POST", "/v1/transfer", Admin, MaxSmallBody, s.handleTransfer)
	s.route("POST", "/v1/raft/voters", Admin, MaxSmallBody, s.handleAddServer(false))
	s.route("POST", "/v1/raft/witnesses", Admin, MaxSmallBody, s.handleAddServer(true))
	s.route("DELETE", "/v1/raft/servers/{name}", Admin, MaxSmallBody, s.handleRemoveServer)
	s.route("POST", "/v1/raft/snapshot", Admin, MaxSmallBody, s.handleSnapshot)
	s.registerRevokeRoutes()
	s.registerSnapshotRoutes()
	s.registerPprofRoutes()
}

// backendCtx bounds one backend call.
func (s *Server) backendCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), s.opts.BackendTimeout)
}
