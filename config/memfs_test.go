package config

import (
	"fmt"
	"io/fs"
	"net/netip"
	"path"
	"sort"
)

// memFS is an in-memory file system for includes in tests and fuzzing.
type memFS map[string]string

func (m memFS) readFile(name string) ([]byte, error) {
	s, ok := m[path.Clean(name)]
	if !ok {
		return nil, fmt.Errorf("open %s: %w", name, fs.ErrNotExist)
	}
	return []byte(s), nil
}

func (m memFS) glob(pattern string) ([]string, error) {
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, err
	}
	var out []string
	for k := range m {
		if ok, _ := path.Match(path.Clean(pattern), k); ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out, nil
}

func (m memFS) options(node string) LoadOptions {
	return LoadOptions{Node: node, ReadFile: m.readFile, Glob: m.glob, Resolver: Hosts{}}
}

// loadMem loads main.conf from the in-memory files.
func loadMem(t interface{ Helper() }, files memFS, node string) (*Config, []Diagnostic, error) {
	t.Helper()
	return Load("main.conf", files.options(node))
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
