package agent

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"quadrature/api"
	"quadrature/internal/ids"
	"slices"
	"strings"
	"time"

	"quadrature/cluster"
	"quadrature/config"
	"quadrature/fsm"
	"quadrature/lvs"
	"quadrature/vrrp"
)

// APIBackend serves the API from a running Agent: reads come
// from the node's applied state (after a read barrier where the contract
// asks for linearizability), writes are fsm commands committed through
// Raft (forwarded to the leader by the node).
type APIBackend struct {
	Agent   *Agent
	Version string
}

var _ api.Backend = (*APIBackend)(nil)

func (b *APIBackend) node() (*cluster.Node, error) {
	n := b.Agent.Node()
	if n == nil {
		return nil, errNotStarted
	}
	return n, nil
}

// Status describes this node.
func (b *APIBackend) Status(ctx context.Context) (api.Status, error) {
	n, err := b.node()
	if err != nil {
		return api.Status{}, err
	}
	st := b.Agent.FSM().State()
	s := n.Stats()
	out := api.Status{
		Node:          b.Agent.Name(),
		Leader:        s.Leader,
		RaftState:     s.State,
		Role:          roleName(n.Metadata().Role),
		ConfigVersion: st.ConfigVersion(),
		AppliedIndex:  s.AppliedIndex,
		CommitIndex:   s.CommitIndex,
		Degraded:      s.Degraded,
		Fenced:        b.Agent.Fenced(),
		Members:       len(n.Members()),
		Version:       b.Version,
		Insecure:      n.Insecure(),
		Backend:       b.Agent.BackendName(),
	}
	out.TableDigest = b.Agent.TableDigest()
	b.explainStatus(&out, n, s)
	return out, nil
}

func roleName(r cluster.Role) string {
	if r == cluster.RoleWitness {
		return "witness"
	}
	return "director"
}

// Members lists the group as gossip and raft see it.
func (b *APIBackend) Members(ctx context.Context) ([]api.Member, error) {
	n, err := b.node()
	if err != nil {
		return nil, err
	}
	st := b.Agent.FSM().State()
	var out []api.Member
	peers, now := n.PeerReplication(), time.Now()
	for _, m := range n.Members() {
		mm := api.Member{
			Name:        m.Name,
			State:       string(m.State),
			APIAddr:     m.Meta.APIAddr,
			Role:        roleName(m.Meta.Role),
			Suffrage:    string(m.Suffrage),
			Leader:      m.Leader,
			Maintenance: st.InMaintenance(m.Name),
			TableDigest: m.Meta.TableDigest,
			Reason:      memberReason(m, peers, now),
		}
		if m.Addr.IsValid() {
			mm.Addr = m.Addr.String()
		}
		if m.Self {
			mm.AppliedIndex = n.Stats().AppliedIndex
		}
		out = append(out, mm)
	}
	return out, nil
}

// VRRP lists this node's instances.
func (b *APIBackend) VRRP(ctx context.Context) ([]api.VRRPInstance, error) {
	v := b.Agent.VRRP()
	if v == nil {
		return []api.VRRPInstance{}, nil
	}
	names := b.addrNames()
	out := []api.VRRPInstance{}
	for _, s := range v.Status() {
		in := api.VRRPInstance{
			Name:           s.Name,
			VRID:           uint8(s.VRID),
			Interface:      s.Interface,
			State:          s.State.String(),
			Priority:       s.Priority,
			BasePriority:   s.BasePriority,
			VIPs:           s.VIPs,
			LastTransition: s.LastTransition,
			Reason:         s.LastReason,
			Counters:       vrrpCounters(s.Counters),
		}
		if s.MasterAddr.IsValid() {
			in.Master = s.MasterAddr.String()
			if n, ok := names[s.MasterAddr]; ok {
				in.Master = n
			}
		}
		if in.VIPs == nil {
			in.VIPs = []netip.Prefix{}
		}
		out = append(out, in)
	}
	return out, nil
}

// addrNames maps member addresses to names, to show masters by name.
func (b *APIBackend) addrNames() map[netip.Addr]string {
	out := map[netip.Addr]string{}
	n := b.Agent.Node()
	if n == nil {
		return out
	}
	for _, m := range n.Members() {
		if m.Addr.IsValid() {
			out[m.Addr.Addr()] = m.Name
		}
	}
	return out
}

// Services lists virtual services with verdicts, observations and
// kernel counters.
func (b *APIBackend) Services(ctx context.Context) ([]api.VirtualService, error) {
	// In degraded mode the node programs its own verdicts: show those.
	st := b.Agent.ViewState()
	out := []api.VirtualService{}
	if st.ConfigVersion() == 0 {
		return out, nil
	}
	c, err := st.Config(b.Agent.Name())
	if err != nil {
		return nil, err
	}
	var stats map[lvs.ServiceKey]lvs.ServiceStats
	if r := b.Agent.Reconciler(); r != nil {
		stats, _ = r.Stats(ctx)
	}
	table := st.DesiredTable()
	obs := map[fsm.RSID][]api.Observation{}
	for _, o := range st.Observations() {
		id := fsm.RSID{VS: o.VS, RS: o.RS}
		obs[id] = append(obs[id], api.Observation{Node: o.Node, Up: o.Up, Weight: o.Weight, Reason: o.Reason})
	}
	quorums := map[string]fsm.QuorumState{}
	for _, q := range st.Quorums() {
		quorums[q.VS] = q
	}
	for i := range c.VirtualServers {
		vs := &c.VirtualServers[i]
		id := vs.ID()
		key, keyOK := serviceKey(c, vs)
		svc := api.VirtualService{
			ID:        id,
			Protocol:  strings.ToLower(vs.Protocol),
			FWMark:    vs.Fwmark,
			Scheduler: vs.Scheduler,
			Flags:     serviceFlags(vs),
		}
		if vs.Addr.IsValid() {
			svc.Addr = netip.AddrPortFrom(vs.Addr, vs.Port)
		}
		if vs.Fwmark != 0 {
			svc.Protocol = ""
		}
		if q, ok := quorums[id]; ok {
			svc.Quorum = &api.VirtualQuorum{Want: q.Quorum, Up: q.Up}
		}
		ks := stats[key]
		if keyOK {
			svc.Counters = counters(ks.Counters, 0, 0)
		}
		programmed := map[lvs.DestKey]lvs.Destination{}
		if s, ok := table.Lookup(key); ok && keyOK {
			for _, d := range s.Destinations {
				programmed[d.Key()] = d
			}
		}
		for j := range vs.RealServers {
			rs := &vs.RealServers[j]
			ap := netip.AddrPortFrom(rs.Addr, rs.Port)
			v, _ := st.VerdictOf(id, ap)
			r := api.RealServer{
				ID:               ap.String(),
				Addr:             ap,
				Forward:          forwardName(rs.Method),
				ConfiguredWeight: rs.Weight,
				Up:               v.Up,
				Drained:          v.Drained,
				Reporters:        v.Reporters,
				Observations:     obs[fsm.RSID{VS: id, RS: ap}],
			}
			r.Verdict = "down"
			if v.Up {
				r.Verdict = "up"
				r.Agreeing = v.UpReports
			} else {
				r.Agreeing = v.Reporters - v.UpReports
			}
			if v.Reporters == 0 && len(r.Observations) == 0 {
				r.Verdict = "unknown"
			}
			// A real server without a port takes the service's (as the
			// table does).
			dk := lvs.DestKey{Addr: rs.Addr.Unmap(), Port: rs.Port}
			if dk.Port == 0 && key.FWMark == 0 {
				dk.Port = key.Port
			}
			if d, ok := programmed[dk]; ok {
				r.Weight = int(d.Weight)
			}
			if ds, ok := ks.Destinations[dk]; ok {
				r.Counters = counters(ds.Counters, ds.ActiveConns, ds.InactiveConns)
			}
			if r.Observations == nil {
				r.Observations = []api.Observation{}
			}
			svc.RealServers = append(svc.RealServers, r)
		}
		if svc.RealServers == nil {
			svc.RealServers = []api.RealServer{}
		}
		out = append(out, svc)
	}
	return out, nil
}

// fsmServiceID maps a virtual service ID given to the API to the one the
// state keys it by: the same scheme (config.VirtualServer.ID), and the
// spelling of earlier builds ("TCP 192.0.2.10:80") read into it; false when
// no virtual server of the running config has it.
func (b *APIBackend) fsmServiceID(id string) (string, bool) {
	id, ok := ids.Normalize(id)
	if !ok {
		return "", false
	}
	st := b.Agent.FSM().State()
	if st.ConfigVersion() == 0 {
		return "", false
	}
	c, err := st.Config(b.Agent.Name())
	if err != nil {
		return "", false
	}
	for i := range c.VirtualServers {
		if c.VirtualServers[i].ID() == id {
			return id, true
		}
	}
	return "", false
}

// serviceKey is the kernel key of an address or fwmark virtual server (a
// group has several: false).
func serviceKey(c *config.Config, vs *config.VirtualServer) (lvs.ServiceKey, bool) {
	if vs.Group != "" {
		return lvs.ServiceKey{}, false
	}
	shapes, err := fsm.ServiceShapes(c, vs)
	if err != nil || len(shapes) != 1 {
		return lvs.ServiceKey{}, false
	}
	return shapes[0].Key, true
}

func serviceFlags(vs *config.VirtualServer) string {
	var f []string
	if vs.PersistenceTimeout > 0 {
		f = append(f, fmt.Sprintf("persistent %d", int(vs.PersistenceTimeout/time.Second)))
	}
	if vs.OPS {
		f = append(f, "ops")
	}
	f = append(f, vs.SchedFlags...)
	return strings.Join(f, " ")
}

func forwardName(method string) string {
	switch method {
	case "DR":
		return "Route"
	case "TUN":
		return "Tunnel"
	}
	return "Masq"
}

func counters(c lvs.Counters, active, inactive uint32) api.KernelCounters {
	return api.KernelCounters{Conns: c.Connections, InPackets: c.PacketsIn, OutPackets: c.PacketsOut,
		InBytes: c.BytesIn, OutBytes: c.BytesOut, ActiveConns: uint64(active), InactiveConns: uint64(inactive)}
}

// Config returns the committed configuration, after a read barrier: the
// version is the ETag of compare-and-swap writes, and a follower's applied
// state may lag a write that another node already acknowledged.
func (b *APIBackend) Config(ctx context.Context) (api.ConfigDoc, error) {
	n, err := b.node()
	if err != nil {
		return api.ConfigDoc{}, err
	}
	if err := n.ConsistentRead(ctx); err != nil {
		return api.ConfigDoc{}, mapErr(err)
	}
	return b.configDoc()
}

// StaleConfig is the configuration this node has applied, without asking
// the leader (GET /v1/config?stale=true): it answers without a quorum,
// marked stale with what the node knows of its lag.
func (b *APIBackend) StaleConfig(ctx context.Context) (api.ConfigDoc, error) {
	n, err := b.node()
	if err != nil {
		return api.ConfigDoc{}, err
	}
	doc, err := b.configDoc()
	if err != nil {
		return doc, err
	}
	doc.Stale = true
	switch since, lost := n.QuorumLost(); {
	case lost:
		doc.StaleReason = fmt.Sprintf("this node has had no quorum contact since %s: the group may have committed later versions",
			since.UTC().Format(time.RFC3339))
	case n.LeaderName() == "":
		doc.StaleReason = "this node knows no leader: the group may have committed later versions"
	default:
		doc.StaleReason = "read from this node's applied state without asking the leader " + n.LeaderName()
	}
	return doc, nil
}

// configDoc is the configuration of this node's applied state.
func (b *APIBackend) configDoc() (api.ConfigDoc, error) {
	st := b.Agent.FSM().State()
	src := st.Source()
	if src == nil {
		return api.ConfigDoc{}, noConfigYet
	}
	doc := api.ConfigDoc{Version: st.ConfigVersion(), Main: src.Main, Files: map[string]string{}}
	for name, content := range src.Files {
		doc.Files[name] = string(content)
	}
	if c, err := st.Config(b.Agent.Name()); err == nil {
		doc.Rendered = string(c.Render())
		doc.Model = c.JSON()
	}
	return doc, nil
}

// PutConfig validates and proposes a configuration with compare-and-swap,
// through the agent's one write path (ProposeConfig).
func (b *APIBackend) PutConfig(ctx context.Context, req api.PutConfigRequest) (api.PutConfigResult, error) {
	if _, err := b.node(); err != nil {
		return api.PutConfigResult{}, err
	}
	src := fsm.ConfigSource{Main: req.Main, Files: map[string][]byte{}, Hosts: map[string][]netip.Addr{}}
	if src.Main == "" {
		src.Main = "keepalived.conf"
	}
	for name, content := range req.Files {
		src.Files[name] = []byte(content)
	}
	// Host names keep resolving as the running config resolved them.
	running := b.Agent.FSM().State().Source()
	if running != nil {
		for h, addrs := range running.Hosts {
			src.Hosts[h] = slices.Clone(addrs)
		}
	}
	p, err := b.Agent.ProposeConfig(ctx, Proposal{Source: src, ExpectVersion: req.ExpectVersion,
		AllowEmpty: req.AllowEmpty, ValidateOnly: req.ValidateOnly, Origin: apiOrigin(req.Origin)})
	var ce *fsm.ConflictError
	switch {
	case errors.As(err, &ce):
		return api.PutConfigResult{}, &api.ConflictError{Current: ce.Current}
	case errors.Is(err, ErrEmptyCandidate):
		return api.PutConfigResult{}, api.EmptyConfigError()
	case errors.Is(err, fsm.ErrInvalid), errors.As(err, new(config.ErrorList)):
		return api.PutConfigResult{}, invalidError(err)
	case err != nil:
		return api.PutConfigResult{}, mapErr(err)
	}
	warnings := apiWarnings(p.Candidate.Warnings())
	if req.ValidateOnly {
		old := map[string]string{}
		if running != nil {
			for name, content := range running.Files {
				old[name] = string(content)
			}
		}
		return api.PutConfigResult{Version: p.Version, Valid: true, Diff: api.ConfigDiff(old, req.Files),
			Changes: b.changes(b.Agent.FSM().State(), p.Candidate), Warnings: warnings}, nil
	}
	return api.PutConfigResult{Version: p.Version, Valid: true, Applied: true, Warnings: warnings}, nil
}

// apiWarnings are a candidate's warnings as the API reports them.
func apiWarnings(ws []config.Diagnostic) []api.ConfigError {
	out := make([]api.ConfigError, 0, len(ws))
	for _, w := range ws {
		out = append(out, api.ConfigError{File: w.Pos.File, Line: w.Pos.Line, Message: w.Msg})
	}
	return out
}

// invalidError turns a validation error (a config.ErrorList or an fsm
// error) into the API's detailed form.
func invalidError(err error) error {
	ie := &api.InvalidError{}
	var el config.ErrorList
	if errors.As(err, &el) {
		for _, d := range el {
			ie.Details = append(ie.Details, api.ConfigError{File: d.Pos.File, Line: d.Pos.Line, Message: d.Msg})
		}
	} else {
		for _, line := range strings.Split(err.Error(), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				ie.Details = append(ie.Details, api.ConfigError{Message: line})
			}
		}
	}
	return ie
}

// mapErr converts cluster errors to the API's sentinels.
func mapErr(err error) error {
	var ce *fsm.ConflictError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, cluster.ErrNoLeader), errors.Is(err, cluster.ErrNotLeader), errors.Is(err, cluster.ErrShutdown):
		return noLeaderError(err)
	case errors.As(err, &ce):
		return &api.ConflictError{Current: ce.Current}
	case errors.Is(err, fsm.ErrConflict):
		return fmt.Errorf("%w: %v", api.ErrConflict, err)
	case errors.Is(err, fsm.ErrNotFound):
		return api.Errorf(api.ErrNotFound, "%s", fsmReason(err))
	case errors.Is(err, fsm.ErrNoConfig):
		return &api.InvalidError{Msg: "no configuration has been committed to this group yet"}
	case errors.Is(err, fsm.ErrInvalid):
		return &api.InvalidError{Msg: fsmReason(err)}
	}
	return err
}

func (b *APIBackend) apply(ctx context.Context, c fsm.Command) error {
	n, err := b.node()
	if err != nil {
		return err
	}
	_, _, err = n.Apply(ctx, fsm.MustEncodeFrom(c, b.origin("api")))
	return mapErr(err)
}

// origin names this node and what asked (the API caller when known).
func (b *APIBackend) origin(what string) string { return b.Agent.origin(apiOrigin(what)) }

// apiOrigin is what asked through the API: "api", or "api " and the caller.
func apiOrigin(what string) string {
	if what == "" {
		what = "api"
	}
	if !strings.HasPrefix(what, "api") {
		what = "api " + what
	}
	return what
}

// changes summarizes the candidate against the running configuration,
// both evaluated for every node of the candidate.
func (b *APIBackend) changes(st *fsm.State, cand *fsm.Candidate) *api.ConfigChanges {
	running, candidate := map[string]*config.Config{}, map[string]*config.Config{}
	for _, node := range cand.Nodes() {
		if st.ConfigVersion() != 0 {
			if c, err := st.Config(node); err == nil {
				running[node] = c
			}
		}
		if c, err := cand.Config(node); err == nil {
			candidate[node] = c
		}
	}
	return summarizeChanges(running, candidate)
}

// Drain sets or clears the operator drain of a real server.
func (b *APIBackend) Drain(ctx context.Context, vs, rs string, drained bool) error {
	ap, err := netip.ParseAddrPort(rs)
	if err != nil {
		return &api.InvalidError{Details: []api.ConfigError{{Message: fmt.Sprintf("real server %q: want ADDR:PORT", rs)}}}
	}
	id, ok := b.fsmServiceID(vs)
	if !ok {
		return api.Errorf(api.ErrNotFound, "no virtual service %s on this group", vs)
	}
	if _, ok := b.Agent.FSM().State().VerdictOf(id, ap); !ok {
		return api.Errorf(api.ErrNotFound, "no real server %s in virtual service %s", rs, vs)
	}
	return commandError(b.apply(ctx, fsm.SetDrain{VS: id, RS: ap, Drained: drained}), "drain "+rs+" in "+vs,
		fmt.Sprintf("no real server %s in virtual service %s", rs, vs))
}

// Maintenance switches a node's maintenance mode.
func (b *APIBackend) Maintenance(ctx context.Context, node string, on bool) error {
	if !b.isMember(node) {
		return nodeNotFound(node)
	}
	return commandError(b.apply(ctx, fsm.SetMaintenance{Node: node, On: on}), "switch maintenance of "+node, "")
}

// TransferVIP moves an instance to a node through the placement.
func (b *APIBackend) TransferVIP(ctx context.Context, instance, node string) error {
	if node != "" && !b.isMember(node) {
		return nodeNotFound(node)
	}
	what := "transfer " + instance + " to " + node
	if node == "" {
		what = "clear the transfer of " + instance
	}
	return commandError(b.apply(ctx, fsm.TransferVIP{Instance: instance, ToNode: node}), what,
		fmt.Sprintf("no VRRP instance %q on this group", instance))
}

func (b *APIBackend) isMember(name string) bool {
	n := b.Agent.Node()
	if n == nil {
		return false
	}
	for _, m := range n.Members() {
		if m.Name == name {
			return true
		}
	}
	return false
}

// RaftServers lists the raft configuration.
func (b *APIBackend) RaftServers(ctx context.Context) ([]api.RaftServer, error) {
	n, err := b.node()
	if err != nil {
		return nil, err
	}
	out := []api.RaftServer{}
	for _, m := range n.Members() {
		if m.Suffrage == cluster.SuffrageNone {
			continue
		}
		out = append(out, api.RaftServer{Name: m.Name, Addr: m.RaftAddr, Suffrage: string(m.Suffrage), Role: roleName(m.Meta.Role), Leader: m.Leader})
	}
	return out, nil
}

// AddVoter adds a voting director.
func (b *APIBackend) AddVoter(ctx context.Context, name, addr string) error {
	n, err := b.node()
	if err != nil {
		return err
	}
	_, err = n.AddVoter(ctx, name, addr)
	return mapErr(err)
}

// AddWitness adds a witness: a voter that runs no data plane (its role is
// its own configuration's business).
func (b *APIBackend) AddWitness(ctx context.Context, name, addr string) error {
	return b.AddVoter(ctx, name, addr)
}

// RemoveServer removes a server from the raft configuration.
func (b *APIBackend) RemoveServer(ctx context.Context, name string) error {
	n, err := b.node()
	if err != nil {
		return err
	}
	_, err = n.RemoveServer(ctx, name)
	return mapErr(err)
}

// Snapshot takes a raft snapshot on this node.
func (b *APIBackend) Snapshot(ctx context.Context) error {
	n, err := b.node()
	if err != nil {
		return err
	}
	return n.Snapshot()
}

// Ready: config applied and, for a director, the kernel table matches
// the desired one.
func (b *APIBackend) Ready(ctx context.Context) (bool, string) {
	n := b.Agent.Node()
	if n == nil {
		return false, "node not started"
	}
	st := b.Agent.FSM().State()
	if st.ConfigVersion() == 0 {
		return false, "no configuration committed yet"
	}
	if s := n.Stats(); s.Leader == "" {
		return false, "no raft leader known"
	}
	if r := b.Agent.Reconciler(); r != nil {
		rs := r.Status()
		if rs.LastError != "" {
			return false, "data plane: " + rs.LastError
		}
		if rs.LastSuccess.IsZero() {
			return false, "data plane not programmed yet"
		}
		if want := st.DesiredTable().Digest(); b.Agent.TableDigest() != want && !n.Degraded() {
			return false, "kernel table differs from the committed one (reconciling)"
		}
	}
	return true, ""
}

// vrrpCounters names the protocol counters like keepalived's stats
// (advert_rcvd, advert_sent, ...) plus drops by reason.
func vrrpCounters(c vrrp.Counters) map[string]uint64 {
	out := map[string]uint64{
		"advert_sent":         c.AdvertsSent,
		"advert_rcvd":         c.AdvertsReceived,
		"pri_zero_sent":       c.PriorityZeroSent,
		"pri_zero_rcvd":       c.PriorityZeroReceived,
		"transitions":         c.Transitions,
		"become_master":       c.BecameMaster,
		"master_changes":      c.MasterChanges,
		"addr_list_err":       c.AddrListMismatch,
		"advert_interval_err": c.IntervalMismatch,
	}
	for reason, n := range c.Drops {
		out["drop_"+string(reason)] = n
	}
	return out
}
