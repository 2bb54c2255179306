// Package bgp announces virtual addresses to upstream routers with GoBGP
// (github.com/osrg/gobgp/v3) used as a library: one BGP speaker per node,
// IPv4 and IPv6 unicast, host routes with the next hop set to the
// session's own address. It knows nothing of the cluster: the agent decides
// which routes the node announces (agent/bgp.go) and hands the whole set
// to Speaker.SetRoutes, which withdraws before it announces.
package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/server"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/anypb"
)

// Config is the speaker's configuration.
type Config struct {
	LocalAS  uint32
	RouterID netip.Addr // IPv4
	// ListenPort is where sessions are accepted; 0 = the speaker does not
	// listen and opens every session itself.
	ListenPort uint16
	Neighbors  []Neighbor
}

// Neighbor is one BGP peer. It is sent the routes of its own address
// family only (an IPv4 neighbor IPv4 unicast, an IPv6 neighbor IPv6
// unicast), so the next hop "self" is always an address of that family.
type Neighbor struct {
	Address      netip.Addr
	RemoteAS     uint32
	Password     string
	HoldTime     time.Duration // 0 = no keepalives
	Port         uint16        // 0 = 179
	LocalAddress netip.Addr
	Multihop     int
}

// Route is one announced prefix with its attributes.
type Route struct {
	Prefix      netip.Prefix
	Communities []uint32
	MED         *uint32
}

func (r Route) equal(o Route) bool {
	return r.Prefix == o.Prefix && slices.Equal(r.Communities, o.Communities) &&
		(r.MED == nil) == (o.MED == nil) && (r.MED == nil || *r.MED == *o.MED)
}

// Speaker is a running GoBGP server with the routes it announces.
type Speaker struct {
	log *slog.Logger
	srv *server.BgpServer

	mu        sync.Mutex
	cfg       Config
	announced map[netip.Prefix]Route
	stopped   bool
}

// Start starts a BGP speaker with cfg.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*Speaker, error) {
	if log == nil {
		log = slog.Default()
	}
	if !cfg.RouterID.Is4() {
		return nil, fmt.Errorf("bgp: router id %v is not an IPv4 address", cfg.RouterID)
	}
	s := &Speaker{log: log, announced: map[netip.Prefix]Route{}}
	s.srv = server.NewBgpServer(server.LoggerOption(&logger{log: log.With("component", "gobgp")}))
	go s.srv.Serve()
	listen := int32(-1)
	if cfg.ListenPort != 0 {
		listen = int32(cfg.ListenPort)
	}
	if err := s.srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: cfg.LocalAS, RouterId: cfg.RouterID.String(), ListenPort: listen,
	}}); err != nil {
		s.srv.Stop()
		return nil, fmt.Errorf("bgp: start: %w", err)
	}
	if err := s.setNeighbors(ctx, nil, cfg.Neighbors); err != nil {
		s.Stop()
		return nil, err
	}
	s.cfg = cfg
	return s, nil
}

// Reconfigure applies a new neighbor list (the local AS, router id and
// listen port need a restart: it reports ErrRestart for those).
func (s *Speaker) Reconfigure(ctx context.Context, cfg Config) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cfg.LocalAS != s.cfg.LocalAS || cfg.RouterID != s.cfg.RouterID || cfg.ListenPort != s.cfg.ListenPort {
		return ErrRestart
	}
	if err := s.setNeighbors(ctx, s.cfg.Neighbors, cfg.Neighbors); err != nil {
		return err
	}
	s.cfg.Neighbors = slices.Clone(cfg.Neighbors)
	return nil
}

// ErrRestart says a configuration change needs a new speaker.
var ErrRestart = errors.New("bgp: local_as, router_id or listen_port changed: the speaker must be restarted")

func (s *Speaker) setNeighbors(ctx context.Context, old, neu []Neighbor) error {
	key := func(n Neighbor) netip.Addr { return n.Address }
	for _, o := range old {
		i := slices.IndexFunc(neu, func(n Neighbor) bool { return key(n) == key(o) })
		if i >= 0 && neu[i] == o {
			continue
		}
		if err := s.srv.DeletePeer(ctx, &api.DeletePeerRequest{Address: o.Address.String()}); err != nil {
			return fmt.Errorf("bgp: remove neighbor %s: %w", o.Address, err)
		}
	}
	for _, n := range neu {
		i := slices.IndexFunc(old, func(o Neighbor) bool { return key(o) == key(n) })
		if i >= 0 && old[i] == n {
			continue
		}
		if err := s.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: peerOf(n)}); err != nil {
			return fmt.Errorf("bgp: add neighbor %s: %w", n.Address, err)
		}
	}
	return nil
}

func familyOf(a netip.Addr) *api.Family {
	if a.Is4() {
		return &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	}
	return &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}
}

func peerOf(n Neighbor) *api.Peer {
	hold := uint64(n.HoldTime / time.Second)
	p := &api.Peer{
		Conf: &api.PeerConf{NeighborAddress: n.Address.String(), PeerAsn: n.RemoteAS, AuthPassword: n.Password},
		Timers: &api.Timers{Config: &api.TimersConfig{
			HoldTime: hold, KeepaliveInterval: hold / 3,
			// Reconnect soon after a router restarts (GoBGP's default is 120 s).
			ConnectRetry: 5,
		}},
		Transport: &api.Transport{RemotePort: uint32(n.Port)},
		AfiSafis:  []*api.AfiSafi{{Config: &api.AfiSafiConfig{Family: familyOf(n.Address), Enabled: true}}},
	}
	if n.Port == 0 {
		p.Transport.RemotePort = 179
	}
	if n.LocalAddress.IsValid() {
		p.Transport.LocalAddress = n.LocalAddress.String()
	}
	if n.Multihop > 0 {
		p.EbgpMultihop = &api.EbgpMultihop{Enabled: true, MultihopTtl: uint32(n.Multihop)}
	}
	return p
}

func pathOf(r Route) (*api.Path, error) {
	fam := familyOf(r.Prefix.Addr())
	nlri, err := anypb.New(&api.IPAddressPrefix{Prefix: r.Prefix.Addr().String(), PrefixLen: uint32(r.Prefix.Bits())})
	if err != nil {
		return nil, err
	}
	origin, _ := anypb.New(&api.OriginAttribute{Origin: 0}) // IGP
	attrs := []*anypb.Any{origin}
	if r.Prefix.Addr().Is4() {
		nh, _ := anypb.New(&api.NextHopAttribute{NextHop: "0.0.0.0"}) // self
		attrs = append(attrs, nh)
	} else {
		mp, _ := anypb.New(&api.MpReachNLRIAttribute{Family: fam, NextHops: []string{"::"}, Nlris: []*anypb.Any{nlri}})
		attrs = append(attrs, mp)
	}
	if len(r.Communities) > 0 {
		c, _ := anypb.New(&api.CommunitiesAttribute{Communities: r.Communities})
		attrs = append(attrs, c)
	}
	if r.MED != nil {
		m, _ := anypb.New(&api.MultiExitDiscAttribute{Med: *r.MED})
		attrs = append(attrs, m)
	}
	return &api.Path{Family: fam, Nlri: nlri, Pattrs: attrs}, nil
}

// SetRoutes makes routes the announced set: it first withdraws what is no
// longer in it, then announces what is new or changed attributes.
func (s *Speaker) SetRoutes(ctx context.Context, routes []Route) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errors.New("bgp: speaker stopped")
	}
	want := make(map[netip.Prefix]Route, len(routes))
	for _, r := range routes {
		want[r.Prefix] = r
	}
	var errs []error
	for p, r := range s.announced {
		if _, keep := want[p]; keep {
			continue // re-announced below if its attributes changed
		}
		if err := s.withdraw(ctx, r); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(s.announced, p)
	}
	for p, r := range want {
		if a, ok := s.announced[p]; ok && a.equal(r) {
			continue
		}
		path, err := pathOf(r)
		if err == nil {
			// AddPath of a prefix already announced replaces its attributes.
			_, err = s.srv.AddPath(ctx, &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: path})
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("bgp: announce %s: %w", p, err))
			continue
		}
		s.announced[p] = r
	}
	return errors.Join(errs...)
}

func (s *Speaker) withdraw(ctx context.Context, r Route) error {
	path, err := pathOf(r)
	if err == nil {
		err = s.srv.DeletePath(ctx, &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Family: path.Family, Path: path})
	}
	if err != nil {
		return fmt.Errorf("bgp: withdraw %s: %w", r.Prefix, err)
	}
	return nil
}

// Announced returns the announced prefixes, sorted.
func (s *Speaker) Announced() []netip.Prefix {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]netip.Prefix, 0, len(s.announced))
	for p := range s.announced {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return out
}

// PeerState is one neighbor's session as GoBGP reports it.
type PeerState struct {
	Address     string
	State       string // idle, connect, active, opensent, openconfirm, established
	Established bool
}

// Peers lists the neighbors' session states.
func (s *Speaker) Peers(ctx context.Context) ([]PeerState, error) {
	var out []PeerState
	err := s.srv.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
		st := p.GetState().GetSessionState()
		out = append(out, PeerState{Address: p.GetConf().GetNeighborAddress(), State: sessionName(st), Established: st == api.PeerState_ESTABLISHED})
	})
	slices.SortFunc(out, func(a, b PeerState) int {
		if a.Address < b.Address {
			return -1
		}
		if a.Address > b.Address {
			return 1
		}
		return 0
	})
	return out, err
}

func sessionName(st api.PeerState_SessionState) string {
	switch st {
	case api.PeerState_IDLE:
		return "idle"
	case api.PeerState_CONNECT:
		return "connect"
	case api.PeerState_ACTIVE:
		return "active"
	case api.PeerState_OPENSENT:
		return "opensent"
	case api.PeerState_OPENCONFIRM:
		return "openconfirm"
	case api.PeerState_ESTABLISHED:
		return "established"
	}
	return "unknown"
}

// Stop withdraws every route (the sessions are closed with a
// notification, so routers drop the paths at once) and stops the server.
func (s *Speaker) Stop() {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.srv.StopBgp(ctx, &api.StopBgpRequest{})
	s.srv.Stop()
}

// Collector exports quadrature_bgp_session_up{neighbor,state} (1 when
// established) and quadrature_bgp_announced_prefixes{family} while a
// speaker runs, and nothing on a node without a bgp block.
type Collector struct {
	mu sync.Mutex
	sp *Speaker
}

var (
	sessionDesc   = prometheus.NewDesc("quadrature_bgp_session_up", "1 when the BGP session to the neighbor is established; state is its FSM state.", []string{"neighbor", "state"}, nil)
	announcedDesc = prometheus.NewDesc("quadrature_bgp_announced_prefixes", "Prefixes this node announces over BGP.", []string{"family"}, nil)
)

// Set points the collector at the running speaker (nil: none).
func (c *Collector) Set(sp *Speaker) {
	c.mu.Lock()
	c.sp = sp
	c.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- sessionDesc
	ch <- announcedDesc
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	sp := c.sp
	c.mu.Unlock()
	if sp == nil { // no bgp block: no BGP series at all
		return
	}
	var v4, v6 float64
	{
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if peers, err := sp.Peers(ctx); err == nil {
			for _, p := range peers {
				up := 0.0
				if p.Established {
					up = 1
				}
				ch <- prometheus.MustNewConstMetric(sessionDesc, prometheus.GaugeValue, up, p.Address, p.State)
			}
		}
		for _, p := range sp.Announced() {
			if p.Addr().Is4() {
				v4++
			} else {
				v6++
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(announcedDesc, prometheus.GaugeValue, v4, "ipv4")
	ch <- prometheus.MustNewConstMetric(announcedDesc, prometheus.GaugeValue, v6, "ipv6")
}

// logger adapts slog to GoBGP's logger; GoBGP's info messages are debug
// here (it logs every state change at info).
type logger struct {
	log   *slog.Logger
	level gobgplog.LogLevel
}

func attrs(f gobgplog.Fields) []any {
	out := make([]any, 0, 2*len(f))
	for k, v := range f {
		out = append(out, k, v)
	}
	return out
}

func (l *logger) Panic(msg string, f gobgplog.Fields) { l.log.Error(msg, attrs(f)...); panic(msg) }
func (l *logger) Fatal(msg string, f gobgplog.Fields) { l.log.Error(msg, attrs(f)...) }
func (l *logger) Error(msg string, f gobgplog.Fields) { l.log.Error(msg, attrs(f)...) }
func (l *logger) Warn(msg string, f gobgplog.Fields)  { l.log.Warn(msg, attrs(f)...) }
func (l *logger) Info(msg string, f gobgplog.Fields)  { l.log.Debug(msg, attrs(f)...) }
func (l *logger) Debug(msg string, f gobgplog.Fields) { l.log.Debug(msg, attrs(f)...) }
func (l *logger) SetLevel(level gobgplog.LogLevel)    { l.level = level }
func (l *logger) GetLevel() gobgplog.LogLevel         { return gobgplog.InfoLevel }
