// Package apitest holds test helpers for the admin API that other packages
// reuse: Fake, an in-memory api.Backend describing a 3-node group, and the
// configuration compare-and-swap linearizability check (RunConfigCAS,
// CheckConfigCAS) that runs against any API endpoint through api/client — the
// fake now, a real cluster later. It is imported by tests only.
package apitest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"quadrature/api"
)

// Fake is an in-memory api.Backend. The exported fields are its state; lock
// Mu when changing them while a server is running. Writes behave like the
// real backend's contract: idempotent drain and maintenance, CAS on the
// config version, ErrNotFound for unknown names, every config error listed.
type Fake struct {
	Mu sync.Mutex

	Node     string
	Stat     api.Status
	Mems     []api.Member
	Inst     map[string][]api.VRRPInstance // by node name
	Svcs     []api.VirtualService
	Conf     api.ConfigDoc
	Raft     []api.RaftServer
	ReadyOK  bool
	NotReady string
	// Snapshots counts Snapshot calls.
	Snapshots int
	// Revoked is the deny list (Revoke).
	Revoked []string
	// Validate checks a configuration; DefaultValidate if nil.
	Validate func(main string, files map[string]string) []api.ConfigError
	// PutDelay is slept inside the critical section of PutConfig, to widen
	// race windows in concurrency tests.
	PutDelay time.Duration

	calls []string
}

var epoch = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// NewFake returns a 3-node iWash-like group (iwash1 leader, iwash2, iwash3)
// seen from node self, with one VRRP instance, one virtual service of three
// Squid proxies (two up, one down by majority) and a configuration at
// version 7.
func NewFake(self string) *Fake {
	nodes := []string{"iwash1", "iwash2", "iwash3"}
	f := &Fake{Node: self, ReadyOK: true, Inst: map[string][]api.VRRPInstance{}}
	conf := "global_defs {\n  router_id iwash\n}\n\nvrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  virtual_ipaddress {\n    192.0.2.100/24\n  }\n}\n"
	f.Conf = api.ConfigDoc{Version: 7, Main: api.DefaultMainFile, Files: map[string]string{api.DefaultMainFile: conf}}
	f.render()
	f.Stat = api.Status{
		Node: self, Leader: "iwash1", RaftState: "Follower", Role: "director",
		ConfigVersion: 7, AppliedIndex: 42, CommitIndex: 42, TableDigest: "sha256:5f0c1e9a7b3d",
		Members: 3, Version: "test",
	}
	if self == "iwash1" {
		f.Stat.RaftState = "Leader"
	}
	prio := map[string]int{"iwash1": 150, "iwash2": 100, "iwash3": 50}
	for i, n := range nodes {
		f.Mems = append(f.Mems, api.Member{
			Name: n, State: "alive", Addr: fmt.Sprintf("198.51.100.%d:7946", 11+i),
			APIAddr: fmt.Sprintf("198.51.100.%d:9900", 11+i), Role: "director", Suffrage: "voter",
			Leader: n == "iwash1", TableDigest: "sha256:5f0c1e9a7b3d", AppliedIndex: 42,
		})
		f.Raft = append(f.Raft, api.RaftServer{Name: n, Addr: fmt.Sprintf("198.51.100.%d:7000", 11+i),
			Suffrage: "voter", Role: "director", Leader: n == "iwash1"})
		state := "BACKUP"
		if n == "iwash1" {
			state = "MASTER"
		}
		f.Inst[n] = []api.VRRPInstance{{
			Name: "VI_1", VRID: 51, Interface: "eth0", State: state, Priority: prio[n], BasePriority: prio[n],
			Master: "iwash1", VIPs: []netip.Prefix{netip.MustParsePrefix("192.0.2.100/24")},
			Counters:       map[string]uint64{"advert_rcvd": 1200, "advert_sent": 0, "become_master": 0},
			LastTransition: epoch, Reason: "placement",
		}}
	}
	f.Inst["iwash1"][0].Counters = map[string]uint64{"advert_rcvd": 0, "advert_sent": 3600, "become_master": 1}
	vs := api.VirtualService{
		ID: "tcp/192.0.2.100:3128", Protocol: "tcp", Addr: netip.MustParseAddrPort("192.0.2.100:3128"),
		Scheduler: "wlc", Flags: "persistent 300",
		Counters: api.KernelCounters{Conns: 1234, InPackets: 56000, OutPackets: 0, InBytes: 4_500_000, ActiveConns: 17, InactiveConns: 40},
	}
	for i := range nodes {
		up := i != 2
		rs := api.RealServer{
			ID: fmt.Sprintf("198.51.100.%d:3128", 11+i), Addr: netip.MustParseAddrPort(fmt.Sprintf("198.51.100.%d:3128", 11+i)),
			Forward: "Route", ConfiguredWeight: 100, Up: up, Reporters: 3,
			Counters: api.KernelCounters{Conns: uint64(400 + i), ActiveConns: uint64(6 - i*3), InactiveConns: uint64(13 + i)},
		}
		for j, obs := range nodes {
			// iwash3's squid is down; iwash1 still sees it up (one dissenter).
			o := api.Observation{Node: obs, Up: up || (i == 2 && j == 0), Weight: 100, At: epoch}
			if !o.Up {
				o.Reason = "TCP_CHECK: connection refused"
			}
			rs.Observations = append(rs.Observations, o)
			if o.Up == up {
				rs.Agreeing++
			}
		}
		rs.Verdict = map[bool]string{true: "up", false: "down"}[up]
		f.setWeight(&rs)
		vs.RealServers = append(vs.RealServers, rs)
	}
	f.Svcs = []api.VirtualService{vs}
	return f
}

// Clone returns a deep copy of f as seen from node self (for fan-out tests
// with one Fake per node).
func (f *Fake) Clone(self string) *Fake {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	data, err := json.Marshal(struct {
		S api.Status
		M []api.Member
		I map[string][]api.VRRPInstance
		V []api.VirtualService
		C api.ConfigDoc
		R []api.RaftServer
	}{f.Stat, f.Mems, f.Inst, f.Svcs, f.Conf, f.Raft})
	if err != nil {
		panic(err) // only plain data: cannot fail
	}
	g := &Fake{Node: self, ReadyOK: f.ReadyOK, NotReady: f.NotReady, Validate: f.Validate}
	var st struct {
		S api.Status
		M []api.Member
		I map[string][]api.VRRPInstance
		V []api.VirtualService
		C api.ConfigDoc
		R []api.RaftServer
	}
	if err := json.Unmarshal(data, &st); err != nil {
		panic(err)
	}
	g.Stat, g.Mems, g.Inst, g.Svcs, g.Conf, g.Raft = st.S, st.M, st.I, st.V, st.C, st.R
	g.Stat.Node = self
	g.Stat.RaftState = "Follower"
	if self == g.Stat.Leader {
		g.Stat.RaftState = "Leader"
	}
	return g
}

func (f *Fake) setWeight(rs *api.RealServer) {
	rs.Weight = 0
	if rs.Up && !rs.Drained {
		rs.Weight = rs.ConfiguredWeight
	}
}

func (f *Fake) render() {
	f.Conf.Rendered = f.Conf.Files[f.Conf.Main]
	model, _ := json.Marshal(map[string]any{"main": f.Conf.Main, "files": len(f.Conf.Files), "version": f.Conf.Version})
	f.Conf.Model = model
}

func (f *Fake) record(name string) {
	f.calls = append(f.calls, name)
}

// Calls returns the names of the backend methods called so far.
func (f *Fake) Calls() []string {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return slices.Clone(f.calls)
}

// ResetCalls forgets the recorded calls.
func (f *Fake) ResetCalls() {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.calls = nil
}

func (f *Fake) Status(ctx context.Context) (api.Status, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.record("Status")
	st := f.Stat
	st.Members = len(f.Mems)
	st.ConfigVersion = f.Conf.Version
	return st, nil
}

func (f *Fake) Members(ctx context.Context) ([]api.Member, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.record("Members")
	return slices.Clone(f.Mems), nil
}

func (f *Fake) VRRP(ctx context.Context) ([]api.VRRPInstance, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.record("VRRP")
	return slices.Clone(f.Inst[f.Node]), nil
}

func (f *Fake) Services(ctx context.Context) ([]api.VirtualService, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.record("Services")
	out := slices.Clone(f.Svcs)
	for i := range out {
		out[i].RealServers = slices.Clone(out[i].RealServers)
	}
	return out, nil
}

func (f *Fake) Config(ctx context.Context) (api.ConfigDoc, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.record("Config")
	doc := f.Conf
	doc.Files = make(map[string]string, len(f.Conf.Files))
	for k, v := range f.Conf.Files {
		doc.Files[k] = v
	}
	return doc, nil
}

// StaleConfig is Config marked stale (the fake has no leader to ask).
func (f *Fake) StaleConfig(ctx context.Context) (api.ConfigDoc, error) {
	doc, err := f.Config(ctx)
	doc.Stale, doc.StaleReason = true, "read from this node's applied state"
	return doc, err
}

func (f *Fake) PutConfig(ctx context.Context, req api.PutConfigRequest) (api.PutConfigResult, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.record("PutConfig")
	if req.Main == "" {
		req.Main = api.DefaultMainFile
	}
	validate := f.Validate
	if validate == nil {
		validate = DefaultValidate
	}
	if errs := validate(req.Main, req.Files); len(errs) > 0 {
		return api.PutConfigResult{}, &api.InvalidError{Msg: "configuration rejected", Details: errs}
	}
	// As the agent's backend: a stale If-Match is a conflict, for a
	// validation too.
	if req.ExpectVersion != 0 && req.ExpectVersion != f.Conf.Version {
		return api.PutConfigResult{}, &api.ConflictError{Current: f.Conf.Version}
	}
	if req.ValidateOnly {
		return api.PutConfigResult{Version: f.Conf.Version, Valid: true, Diff: api.ConfigDiff(f.Conf.Files, req.Files)}, nil
	}
	if f.PutDelay > 0 {
		time.Sleep(f.PutDelay)
	}
	files := make(map[string]string, len(req.Files))
	for k, v := range req.Files {
		files[k] = v
	}
	f.Conf = api.ConfigDoc{Version: f.Conf.Version + 1, Main: req.Main, Files: files}
	f.render()
	f.Stat.AppliedIndex++
	f.Stat.CommitIndex = f.Stat.AppliedIndex
	return api.PutConfigResult{Version: f.Conf.Version, Valid: true, Applied: true}, nil
}

func (f *Fake) findRS(vs, rs string) (*api.RealServer, error) {
	for i := range f.Svcs {
		if f.Svcs[i].ID != vs {
			continue
		}
		for j := range f.Svcs[i].RealServers {
			if f.Svcs[i].RealServers[j].ID == rs {
				return &f.Svcs[i].RealServers[j], nil
			}
		}
		return nil, fmt.Errorf("real server %s in %s: %w", rs, vs, api.ErrNotFound)
	}
	return nil, fmt.Errorf("virtual service %s: %w", vs, api.ErrNotFound)
}

func (f *Fake) Drain(ctx context.Context, vs, rs string, drained bool) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.record("Drain")
	r, err := f.findRS(vs, rs)
	if err != nil {
		return err
	}
	r.Drained = drained
	f.setWeight(r)
	return nil
}

func (f *Fake) member(node string) (*api.Member, error) {
	for i := range f.Mems {
		if f.Mems[i].Name == node {
			return &f.Mems[i], nil
		}
	}
	return nil, fmt.Errorf("node %s: %w", node, api.ErrNotFound)
}

func (f *Fake) Maintenance(ctx context.Context, node string, on bool) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.record("Maintenance")
	m, err := f.member(node)
	if err != nil {
		return err
	}
	m.Maintenance = on
	return nil
}

func (f *Fake) TransferVIP(ctx context.Context, instance, node string) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.record("TransferVIP")
	if node == "" { // clear: the instance must exist
		for _, insts := range f.Inst {
			for i := range insts {
				if insts[i].Name == instance {
					return nil
				}
			}
		}
		return fmt.Errorf("instance %s: %w", instance, api.ErrNotFound)
	}
	m, err := f.member(node)
	if err != nil {
		return err
	}
	if m.State != "alive" || m.Role != "director" || m.Maintenance {
		return &api.InvalidError{Msg: fmt.Sprintf("node %s cannot own VIPs (state %s, role %s, maintenance %v)", node, m.State, m.Role, m.Maintenance)}
	}
	found := false
	for n, insts := range f.Inst {
		for i := range insts {
			if insts[i].Name != instance {
				continue
			}
			found = true
			insts[i].Master = node
			insts[i].State = "BACKUP"
			insts[i].Reason = "transfer"
			if n == node {
				insts[i].State = "MASTER"
			}
		}
	}
	if !found {
		return fmt.Errorf("vrrp instance %s: %w", instance, api.ErrNotFound)
	}
	return nil
}

func (f *Fake) RaftServers(ctx context.Context) ([]api.RaftServer, error) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.record("RaftServers")
	return slices.Clone(f.Raft), nil
}

func (f *Fake) addServer(name, addr, role string) error {
	for _, s := range f.Raft {
		if s.Name == name {
			if s.Addr == addr && s.Role == role {
				return nil // idempotent
			}
			return &api.InvalidError{Msg: fmt.Sprintf("server %s already present as %s at %s", name, s.Role, s.Addr)}
		}
	}
	f.Raft = append(f.Raft, api.RaftServer{Name: name, Addr: addr, Suffrage: "voter", Role: role})
	return nil
}

func (f *Fake) AddVoter(ctx context.Context, name, addr string) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.record("AddVoter")
	return f.addServer(name, addr, "director")
}

func (f *Fake) AddWitness(ctx context.Context, name, addr string) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.record("AddWitness")
	return f.addServer(name, addr, "witness")
}

func (f *Fake) RemoveServer(ctx context.Context, name string) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.record("RemoveServer")
	for i, s := range f.Raft {
		if s.Name == name {
			f.Raft = slices.Delete(f.Raft, i, i+1)
			return nil
		}
	}
	return fmt.Errorf("raft server %s: %w", name, api.ErrNotFound)
}

func (f *Fake) Snapshot(ctx context.Context) error {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.record("Snapshot")
	f.Snapshots++
	return nil
}

func (f *Fake) Ready(ctx context.Context) (bool, string) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.record("Ready")
	return f.ReadyOK, f.NotReady
}

// DefaultValidate is the Fake's stand-in for the config package: it checks
// that braces balance in every file (ignoring # and ! comments and quoted
// strings) and that "include" names a submitted file, reporting file:line.
func DefaultValidate(main string, files map[string]string) []api.ConfigError {
	var errs []api.ConfigError
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		depth, lastOpen := 0, 0
		for i, line := range strings.Split(files[name], "\n") {
			ln := i + 1
			fields := strings.Fields(stripComment(line))
			if len(fields) >= 1 && fields[0] == "include" {
				if len(fields) != 2 {
					errs = append(errs, api.ConfigError{File: name, Line: ln, Message: "include: want one file name"})
				} else if _, ok := files[fields[1]]; !ok {
					errs = append(errs, api.ConfigError{File: name, Line: ln, Message: fmt.Sprintf("include %s: no such file in the submitted set", fields[1])})
				}
			}
			inQuote := false
			for _, c := range stripComment(line) {
				switch {
				case c == '"':
					inQuote = !inQuote
				case inQuote:
				case c == '{':
					depth++
					lastOpen = ln
				case c == '}':
					depth--
					if depth < 0 {
						errs = append(errs, api.ConfigError{File: name, Line: ln, Message: "unexpected '}'"})
						depth = 0
					}
				}
			}
		}
		if depth > 0 {
			errs = append(errs, api.ConfigError{File: name, Line: lastOpen, Message: "unclosed '{'"})
		}
	}
	return errs
}

func stripComment(line string) string {
	inQuote := false
	for i, c := range line {
		switch {
		case c == '"':
			inQuote = !inQuote
		case !inQuote && (c == '#' || c == '!'):
			return line[:i]
		}
	}
	return line
}
