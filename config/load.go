package config

import (
	"context"
	"fmt"
	"os"
	"strings"
)

// LoadOptions says how to evaluate a file.
type LoadOptions struct {
	// Node is the config-id that @node / @^node lines are matched against;
	// "" means DefaultNode().
	Node string
	// Resolver resolves host names (real_server tic 42, bindto tac, ...).
	// When nil, HostsFile is used; when both are empty, host names are
	// errors (the package never does DNS on its own).
	Resolver Resolver
	// HostsFile is a hosts(5) file to resolve host names with.
	HostsFile string
	// ReadFile and Glob replace the file system for the main file and
	// includes (tests, fuzzing, configs held in memory); nil = os.
	ReadFile func(name string) ([]byte, error)
	Glob     func(pattern string) ([]string, error)
	// Context bounds host name resolution; nil = context.Background().
	Context context.Context
}

// DefaultNode is keepalived's default config-id: the first label of the
// host name.
func DefaultNode() string {
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	n, _, _ := strings.Cut(h, ".")
	return n
}

// Load reads, evaluates and validates the keepalived.conf at path.
//
// It returns the model, the warnings, and an error that is an ErrorList
// (every problem, sorted by file and line) when the file is not valid. The
// model is returned even with errors: it holds what could be decoded, which
// is what `config merge` uses for its best effort.
func Load(path string, opts LoadOptions) (*Config, []Diagnostic, error) {
	read := opts.ReadFile
	if read == nil {
		read = os.ReadFile
	}
	src, err := read(path)
	if err != nil {
		return &Config{Node: opts.Node}, nil, err
	}
	return LoadBytes(path, src, opts)
}

// LoadBytes is Load for content already in memory; name is used in
// messages and as the base for relative includes.
func LoadBytes(name string, src []byte, opts LoadOptions) (*Config, []Diagnostic, error) {
	if opts.Node == "" {
		opts.Node = DefaultNode()
	}
	ctx := opts.Context
	if ctx == nil {
		ctx = context.Background()
	}
	var errs ErrorList
	res := opts.Resolver
	if res == nil && opts.HostsFile != "" {
		h, err := LoadHosts(opts.HostsFile)
		if err != nil {
			if el, ok := err.(ErrorList); ok {
				errs = append(errs, el...)
			} else {
				return &Config{Node: opts.Node}, nil, fmt.Errorf("hosts file: %w", err)
			}
		}
		res = h
	}
	l := newLexer(&opts)
	l.file(name, src)
	errs = append(errs, l.errs...)
	stmts, perrs := Parse(l.toks)
	errs = append(errs, perrs...)
	d := &decoder{cfg: &Config{Node: opts.Node, NodeNames: l.nodeNames()}, resolve: resolverFunc(ctx, res)}
	d.warns = append(d.warns, l.warns...)
	d.decodeConfig(stmts)
	d.validate()
	errs = append(errs, d.errs...)
	warns := ErrorList(d.warns)
	warns.Sort()
	if len(errs) > 0 {
		errs.Sort()
		return d.cfg, warns, errs
	}
	return d.cfg, warns, nil
}
