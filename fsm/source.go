package fsm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"quadrature/config"
)

// ParseFunc evaluates the config source for one node: files maps file
// names to contents (main is the entry point), hosts is the fixed host
// map used instead of DNS, node is the config-id that @node lines match.
// It must be a pure function of its arguments: no file system, no DNS, no
// clock. The returned model is shared and must not be modified.
type ParseFunc func(files map[string][]byte, main string, hosts map[string][]netip.Addr, node string) (*config.Config, error)

// ConfigSource is the replicated configuration: every file by name, the
// main file's name and the fixed host map.
type ConfigSource struct {
	Main  string
	Files map[string][]byte
	Hosts map[string][]netip.Addr
}

// clone returns a deep copy.
func (s *ConfigSource) clone() *ConfigSource {
	out := &ConfigSource{Main: s.Main, Files: make(map[string][]byte, len(s.Files)), Hosts: make(map[string][]netip.Addr, len(s.Hosts))}
	for k, v := range s.Files {
		out.Files[k] = bytes.Clone(v)
	}
	for k, v := range s.Hosts {
		out.Hosts[k] = slices.Clone(v)
	}
	return out
}

// sourceFromCommand builds the source of a SetConfig, checking names.
func sourceFromCommand(c SetConfig) (*ConfigSource, error) {
	src := &ConfigSource{Main: c.Main, Files: map[string][]byte{}, Hosts: map[string][]netip.Addr{}}
	for _, f := range c.Files {
		if f.Name == "" {
			return nil, fmt.Errorf("%w: set_config: file with an empty name", ErrInvalid)
		}
		if _, dup := src.Files[f.Name]; dup {
			return nil, fmt.Errorf("%w: set_config: file %q given twice", ErrInvalid, f.Name)
		}
		src.Files[f.Name] = f.Content
	}
	if _, ok := src.Files[c.Main]; !ok {
		return nil, fmt.Errorf("%w: set_config: main file %q is not among the files", ErrInvalid, c.Main)
	}
	for _, h := range c.Hosts {
		if h.Name == "" || len(h.Addrs) == 0 {
			return nil, fmt.Errorf("%w: set_config: host entry %q needs a name and addresses", ErrInvalid, h.Name)
		}
		if _, dup := src.Hosts[h.Name]; dup {
			return nil, fmt.Errorf("%w: set_config: host %q given twice", ErrInvalid, h.Name)
		}
		for _, a := range h.Addrs {
			if !a.IsValid() {
				return nil, fmt.Errorf("%w: set_config: host %q has an invalid address", ErrInvalid, h.Name)
			}
		}
		addrs := slices.Clone(h.Addrs)
		slices.SortFunc(addrs, netip.Addr.Compare)
		src.Hosts[h.Name] = slices.Compact(addrs)
	}
	return src, nil
}

// Command returns the source as a SetConfig payload (files and hosts
// sorted); the caller fills in ExpectVersion and Nodes.
func (s *ConfigSource) Command() SetConfig {
	c := SetConfig{Main: s.Main}
	for _, k := range slices.Sorted(maps.Keys(s.Files)) {
		c.Files = append(c.Files, File{Name: k, Content: bytes.Clone(s.Files[k])})
	}
	for _, k := range slices.Sorted(maps.Keys(s.Hosts)) {
		c.Hosts = append(c.Hosts, Host{Name: k, Addrs: slices.Clone(s.Hosts[k])})
	}
	return c
}

type parseResult struct {
	cfg   *config.Config
	warns []config.Diagnostic
	err   error
}

// parser is a ParseFunc that also returns warnings (DefaultParse's
// parser, ParseWithWarnings, does; an injected ParseFunc has none).
type parser func(files map[string][]byte, main string, hosts map[string][]netip.Addr, node string) (*config.Config, []config.Diagnostic, error)

// parserOf is the parser of an Options.Parse (nil: the default).
func parserOf(p ParseFunc) parser {
	if p == nil {
		return ParseWithWarnings
	}
	return func(files map[string][]byte, main string, hosts map[string][]netip.Addr, node string) (*config.Config, []config.Diagnostic, error) {
		c, err := p(files, main, hosts, node)
		return c, nil, err
	}
}

// compiled is one accepted config version: the source, the canonical
// node's model, the derived table model, and a pure per-node parse cache.
type compiled struct {
	src       *ConfigSource
	parse     parser
	key       compileKey // of src and the node list it was compiled for
	canonNode string
	canon     *config.Config
	model     *tableModel
	err       error // non-nil when the source no longer compiles (restore)

	mu      sync.Mutex
	perNode map[string]parseResult
}

// node returns the config evaluated for node (cached).
func (c *compiled) node(name string) (*config.Config, error) {
	r := c.result(name)
	return r.cfg, r.err
}

// warnings returns the warnings of node's evaluation (cached like node).
func (c *compiled) warnings(name string) []config.Diagnostic { return c.result(name).warns }

// result is node's evaluation, parsed once and cached.
func (c *compiled) result(name string) parseResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.perNode[name]
	if !ok {
		r = safeParse(c.parse, c.src, name)
		if len(c.perNode) < maxCachedNodes {
			c.perNode[name] = r
		}
	}
	return r
}

// maxCachedNodes bounds the parse cache, so that callers asking for
// arbitrary node names (an API query) cannot grow it without limit.
const maxCachedNodes = 256

// safeParse calls parse, turning a nil result or a panic into an error.
func safeParse(parse parser, src *ConfigSource, node string) (r parseResult) {
	if parse == nil {
		return parseResult{err: errors.New("no config parser configured (fsm.Options.Parse)")}
	}
	defer func() {
		if p := recover(); p != nil {
			r = parseResult{err: fmt.Errorf("config parser panicked: %v", p)}
		}
	}()
	parses.Add(1)
	r.cfg, r.warns, r.err = parse(src.Files, src.Main, src.Hosts, node)
	if r.err == nil && r.cfg == nil {
		r.err = errors.New("config parser returned no model")
	}
	if r.err != nil {
		r.cfg, r.warns = nil, nil
	}
	return r
}

// parses counts the evaluations of a config source for one node, in this
// process (Parses).
var parses atomic.Uint64

// Parses is how many times this process has evaluated a configuration
// for one node (each is a full parse of every file): the cost a write
// pays, which compiling a candidate once keeps down (tests and benchmarks
// read it).
func Parses() uint64 { return parses.Load() }

// compile evaluates src for every node, checks that the parts every
// director shares are identical, and builds the table model from the
// first node's evaluation (the canonical one). nodes must be sorted and
// non-empty.
func compile(parse parser, src *ConfigSource, nodes []string) (*compiled, error) {
	if len(nodes) == 0 {
		return nil, fmt.Errorf("%w: no node names to evaluate the config for", ErrInvalid)
	}
	c := &compiled{src: src, parse: parse, key: keyOf(src, nodes), canonNode: nodes[0], perNode: map[string]parseResult{}}
	var errs []error
	var shared [][]byte
	for _, n := range nodes {
		cfg, err := c.node(n)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: config for node %q: %w", ErrInvalid, n, err))
			shared = append(shared, nil)
			continue
		}
		b, err := sharedPart(cfg)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: config for node %q: %w", ErrInvalid, n, err))
		}
		shared = append(shared, b)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	first, _ := c.node(nodes[0])
	for i := 1; i < len(nodes); i++ {
		if !bytes.Equal(shared[0], shared[i]) {
			other, _ := c.node(nodes[i])
			return nil, fmt.Errorf("%w: %s", ErrInvalid, describeDifference(first, other, nodes[0], nodes[i]))
		}
	}
	c.canon = first
	m, err := buildTableModel(first)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	c.model = m
	return c, nil
}

// sharedPart is the canonical encoding of what must be equal on every
// node: virtual servers, their groups, the LVS globals and the cluster
// policies that the FSM applies.
func sharedPart(cfg *config.Config) ([]byte, error) {
	policy, placement := "", ""
	if cfg.Cluster != nil {
		policy, placement = cfg.Cluster.VerdictPolicy, cfg.Cluster.Placement
	}
	return json.Marshal(struct {
		VS        []config.VirtualServer      `json:"vs"`
		Groups    []config.VirtualServerGroup `json:"groups"`
		Timeouts  config.LVSTimeouts          `json:"timeouts"`
		Policy    string                      `json:"policy"`
		Placement string                      `json:"placement"`
	}{cfg.VirtualServers, cfg.VSGroups, cfg.Global.LVSTimeouts, policy, placement})
}

// describeDifference names the first shared item that differs.
func describeDifference(a, b *config.Config, na, nb string) string {
	const tail = "every director must program the same table"
	for i := 0; i < min(len(a.VirtualServers), len(b.VirtualServers)); i++ {
		ja, _ := json.Marshal(a.VirtualServers[i])
		jb, _ := json.Marshal(b.VirtualServers[i])
		if !bytes.Equal(ja, jb) {
			return fmt.Sprintf("virtual_server %s (%s) differs between nodes %s and %s: %s",
				a.VirtualServers[i].ID(), a.VirtualServers[i].Pos, na, nb, tail)
		}
	}
	if len(a.VirtualServers) != len(b.VirtualServers) {
		return fmt.Sprintf("node %s has %d virtual_server blocks and node %s has %d: %s",
			na, len(a.VirtualServers), nb, len(b.VirtualServers), tail)
	}
	ja, _ := json.Marshal(a.VSGroups)
	jb, _ := json.Marshal(b.VSGroups)
	if !bytes.Equal(ja, jb) {
		return fmt.Sprintf("virtual_server_group blocks differ between nodes %s and %s: %s", na, nb, tail)
	}
	if a.Global.LVSTimeouts != b.Global.LVSTimeouts {
		return fmt.Sprintf("lvs_timeouts differ between nodes %s and %s: %s", na, nb, tail)
	}
	return fmt.Sprintf("cluster verdict_policy or placement differ between nodes %s and %s: every node must apply the same policy", na, nb)
}

// ValidateConfigWith checks a config before it is proposed, exactly as
// SetConfig's Apply will: it must evaluate without errors for every node,
// the virtual servers (and groups, LVS globals, verdict policy, placement
// mode) must be identical for every node, and the desired table must be
// buildable. nodes are the member names; at least one is required.
func ValidateConfigWith(parse ParseFunc, files map[string][]byte, main string, hosts map[string][]netip.Addr, nodes []string) error {
	c := SetConfig{Main: main, Nodes: nodes}
	for _, k := range slices.Sorted(maps.Keys(files)) {
		c.Files = append(c.Files, File{Name: k, Content: files[k]})
	}
	for _, k := range slices.Sorted(maps.Keys(hosts)) {
		c.Hosts = append(c.Hosts, Host{Name: k, Addrs: hosts[k]})
	}
	src, err := sourceFromCommand(c)
	if err != nil {
		return err
	}
	_, err = compile(parserOf(parse), src, sortedUnique(nodes))
	return err
}

// ValidateConfig is ValidateConfigWith using DefaultParse.
func ValidateConfig(files map[string][]byte, main string, hosts map[string][]netip.Addr, nodes []string) error {
	return ValidateConfigWith(DefaultParse, files, main, hosts, nodes)
}
