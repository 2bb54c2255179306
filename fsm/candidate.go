package fsm

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"maps"
	"slices"
	"strings"
	"sync"

	"quadrature/config"
)

// Candidate is a configuration compiled once, before it is proposed: the
// SetConfig evaluated for every node it will be evaluated for when it is
// applied (the command's nodes and the live nodes), with each node's
// model and warnings, the shared table model, and the state as it would be
// after the command. Validation, the data-plane support check, the empty
// check and the diff of a write all read this one result, and the FSM of
// the node that compiled it reuses it when the command is applied, so a
// write parses each node's view once on the proposing node.
type Candidate struct {
	cmd  SetConfig
	next *State
}

// Compile checks c exactly as Apply would against the current state
// (version compare-and-swap included) and returns the compiled candidate;
// nothing changes. The errors are Apply's (ErrConflict, ErrInvalid with
// every node's problems).
func (f *FSM) Compile(c SetConfig) (*Candidate, error) {
	next := f.state.Load().clone()
	cc := canonicalCommand(c).(SetConfig)
	if err := next.setConfig(cc, f.comp); err != nil {
		return nil, err
	}
	next.updateVerdicts(next.index)
	next.updateQuorums()
	return &Candidate{cmd: cc, next: next}, nil
}

// Command is the candidate's SetConfig, canonical (files and hosts
// sorted), ready to encode and propose.
func (c *Candidate) Command() SetConfig { return c.cmd }

// Nodes are the node names the candidate was evaluated for, sorted.
func (c *Candidate) Nodes() []string { return slices.Clone(c.next.configNodes) }

// Config is node's model (nodes outside Nodes are evaluated on demand).
func (c *Candidate) Config(node string) (*config.Config, error) { return c.next.Config(node) }

// State is the state as it would be once the candidate is applied (at
// the current index): its DesiredTable, Priorities and Placement are what
// the group would program.
func (c *Candidate) State() *State { return c.next }

// Warnings are the warnings of every node's evaluation, each once, in file
// and line order.
func (c *Candidate) Warnings() []config.Diagnostic {
	type key struct {
		file string
		line int
		msg  string
	}
	seen := map[key]bool{}
	var out []config.Diagnostic
	for _, n := range c.next.configNodes {
		for _, w := range c.next.comp.warnings(n) {
			k := key{w.Pos.File, w.Pos.Line, w.Msg}
			if !seen[k] {
				seen[k] = true
				out = append(out, w)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b config.Diagnostic) int {
		return cmp.Or(strings.Compare(a.Pos.File, b.Pos.File), a.Pos.Line-b.Pos.Line)
	})
	return out
}

// Empty reports whether the candidate has, for every node, no VRRP
// instance and no virtual server (applying it would remove everything).
func (c *Candidate) Empty() bool {
	for _, n := range c.next.configNodes {
		if cfg, err := c.next.Config(n); err == nil && (len(cfg.Instances) > 0 || len(cfg.VirtualServers) > 0) {
			return false
		}
	}
	return true
}

// compiler compiles config sources for an FSM and remembers the last few
// results, so the command a node compiled as a candidate is not compiled
// again when it is applied. Compiling is a pure function of the source,
// the node list and the parser, so a remembered result is the one Apply
// would compute.
type compiler struct {
	parse parser
	cache *compileCache // nil: remember nothing
}

func (k *compiler) compile(src *ConfigSource, nodes []string) (*compiled, error) {
	if k.cache == nil {
		return compile(k.parse, src, nodes)
	}
	key := keyOf(src, nodes)
	if c := k.cache.get(key); c != nil {
		return c, nil
	}
	c, err := compile(k.parse, src, nodes)
	if err != nil {
		return nil, err
	}
	k.cache.put(c)
	return c, nil
}

// compileCache holds the most recent successful compilations.
type compileCache struct {
	mu    sync.Mutex
	items []*compiled // most recent last
}

// compileCacheSize is how many compilations are remembered: a candidate
// and the command applied after it, with room for a concurrent writer.
const compileCacheSize = 4

func (cc *compileCache) get(key compileKey) *compiled {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	for _, c := range cc.items {
		if c.key == key {
			return c
		}
	}
	return nil
}

func (cc *compileCache) put(c *compiled) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.items = append(cc.items, c)
	if len(cc.items) > compileCacheSize {
		cc.items = slices.Delete(cc.items, 0, len(cc.items)-compileCacheSize)
	}
}

// compileKey identifies a source and the nodes it is compiled for.
type compileKey [sha256.Size]byte

func keyOf(src *ConfigSource, nodes []string) compileKey {
	h := sha256.New()
	var n [8]byte
	field := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	field([]byte(src.Main))
	for _, name := range slices.Sorted(maps.Keys(src.Files)) {
		field([]byte("file"))
		field([]byte(name))
		field(src.Files[name])
	}
	for _, name := range slices.Sorted(maps.Keys(src.Hosts)) {
		field([]byte("host"))
		field([]byte(name))
		binary.BigEndian.PutUint64(n[:], uint64(len(src.Hosts[name])))
		h.Write(n[:])
		for _, a := range src.Hosts[name] {
			field(a.AsSlice())
		}
	}
	for _, node := range nodes {
		field([]byte("node"))
		field([]byte(node))
	}
	var k compileKey
	h.Sum(k[:0])
	return k
}
