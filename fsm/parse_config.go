package fsm

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"

	"quadrature/config"
)

// DefaultParse evaluates the in-memory config source with package config's
// loader: includes are read from files (glob patterns match file names with
// filepath.Match), host names are resolved from hosts only (lower-cased
// names, addresses in sorted order), nothing touches the file system or
// DNS. Warnings are dropped (ParseWithWarnings keeps them); errors are
// config.ErrorList values with file:line.
func DefaultParse(files map[string][]byte, main string, hosts map[string][]netip.Addr, node string) (*config.Config, error) {
	cfg, _, err := ParseWithWarnings(files, main, hosts, node)
	return cfg, err
}

// ParseWithWarnings is DefaultParse that also returns the warnings.
func ParseWithWarnings(files map[string][]byte, main string, hosts map[string][]netip.Addr, node string) (*config.Config, []config.Diagnostic, error) {
	if node == "" {
		// config.Load would fall back to the local host name, which
		// differs per machine: never let that into the FSM.
		return nil, nil, fmt.Errorf("empty node name")
	}
	h := config.Hosts{}
	for _, k := range slices.Sorted(maps.Keys(hosts)) {
		lk := strings.ToLower(k)
		for _, a := range hosts[k] {
			if !slices.Contains(h[lk], a) {
				h[lk] = append(h[lk], a)
			}
		}
		slices.SortFunc(h[lk], netip.Addr.Compare)
	}
	names := slices.Sorted(maps.Keys(files))
	opts := config.LoadOptions{
		Node:     node,
		Resolver: h,
		Context:  context.Background(),
		ReadFile: func(name string) ([]byte, error) {
			if b, ok := files[name]; ok {
				return b, nil
			}
			if b, ok := files[filepath.Clean(name)]; ok {
				return b, nil
			}
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		},
		Glob: func(pattern string) ([]string, error) {
			if _, err := filepath.Match(pattern, ""); err != nil {
				return nil, err
			}
			var out []string
			for _, n := range names {
				if ok, _ := filepath.Match(pattern, n); ok {
					out = append(out, n)
				} else if ok, _ := filepath.Match(filepath.Clean(pattern), filepath.Clean(n)); ok {
					out = append(out, n)
				}
			}
			return out, nil
		},
	}
	cfg, warns, err := config.Load(main, opts)
	if err != nil {
		return nil, nil, err
	}
	return cfg, warns, nil
}
