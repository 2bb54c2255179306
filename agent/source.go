package agent

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/hashicorp/raft"

	"quadrature/config"
	"quadrature/fsm"
)

// ConfigSource is a node's keepalived.conf as read from disk: the
// evaluated model and everything needed to replicate it deterministically
// (every file read, the host names it resolved).
type ConfigSource struct {
	Config *config.Config
	Source fsm.ConfigSource
	// Warnings are the loader's warnings, positions under the real path.
	Warnings []config.Diagnostic
}

// logWarnings logs the file's warnings, one line each, as config check
// prints them.
func (s *ConfigSource) logWarnings(log *slog.Logger, why string) {
	if log == nil {
		return
	}
	for _, w := range s.Warnings {
		log.Warn("config: "+w.Msg, "at", w.Pos.String(), "during", why)
	}
}

// ReadConfigSource loads and validates the file at path for node (""
// = the host's config-id), recording the files it read and the host
// names it resolved (through hostsFile, or the system resolver), so the
// same meaning can be replicated without any node doing I/O in Apply.
func ReadConfigSource(path, node, hostsFile string) (*ConfigSource, error) {
	rec := &recordingSource{files: map[string][]byte{}, hosts: map[string][]netip.Addr{}}
	var res config.Resolver = net.DefaultResolver
	if hostsFile != "" {
		h, err := config.LoadHosts(hostsFile)
		if err != nil {
			return nil, err
		}
		res = h
	}
	rec.res = res
	// The replicated source names files relative to the main file's
	// directory (main = its base name), as `quadrature config push` and
	// PUT /v1/config do: the API refuses absolute names, so a source
	// committed with absolute ones could not be read, edited and written
	// back. Absolute includes keep their absolute names.
	rec.dir = filepath.Dir(path)
	main := filepath.Base(path)
	cfg, warns, err := config.Load(main, config.LoadOptions{Node: node, Resolver: rec, ReadFile: rec.readFile, Glob: rec.glob})
	if err != nil {
		// Report problems with the real paths an operator can open.
		if _, _, perr := config.Load(path, config.LoadOptions{Node: node, Resolver: res}); perr != nil {
			return nil, perr
		}
		return nil, err
	}
	if errs := config.CheckSupport(cfg); len(errs) > 0 {
		return nil, errs
	}
	src := fsm.ConfigSource{Main: main, Files: rec.files, Hosts: rec.hosts}
	for i := range warns {
		if f := warns[i].Pos.File; f != "" && !filepath.IsAbs(f) {
			warns[i].Pos.File = filepath.Join(rec.dir, f)
		}
	}
	return &ConfigSource{Config: cfg, Source: src, Warnings: warns}, nil
}

// recordingSource wraps the file system and the resolver and keeps what
// they returned.
type recordingSource struct {
	mu    sync.Mutex
	dir   string // the main file's directory
	res   config.Resolver
	files map[string][]byte
	hosts map[string][]netip.Addr
}

// path maps a name as the config loader sees it (relative to the main
// file's directory, or absolute) to the file system.
func (r *recordingSource) path(name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(r.dir, name)
}

func (r *recordingSource) readFile(name string) ([]byte, error) {
	b, err := os.ReadFile(r.path(name))
	if err == nil {
		r.mu.Lock()
		r.files[name] = b
		r.mu.Unlock()
	}
	return b, err
}

// glob matches relative patterns inside the main file's directory and
// returns the matches relative to it.
func (r *recordingSource) glob(pattern string) ([]string, error) {
	if filepath.IsAbs(pattern) {
		return filepath.Glob(pattern)
	}
	matches, err := filepath.Glob(filepath.Join(r.dir, pattern))
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(matches))
	for _, m := range matches {
		rel, rerr := filepath.Rel(r.dir, m)
		if rerr != nil {
			return nil, rerr
		}
		out = append(out, rel)
	}
	return out, nil
}

func (r *recordingSource) LookupHost(ctx context.Context, host string) ([]string, error) {
	addrs, err := r.res.LookupHost(ctx, host)
	if err != nil {
		return nil, err
	}
	var parsed []netip.Addr
	for _, a := range addrs {
		if p, perr := netip.ParseAddr(a); perr == nil {
			parsed = append(parsed, p.Unmap())
		}
	}
	if len(parsed) == 0 {
		return addrs, nil
	}
	slices.SortFunc(parsed, netip.Addr.Compare)
	r.mu.Lock()
	r.hosts[host] = slices.Compact(parsed)
	r.mu.Unlock()
	return addrs, nil
}

// Apply applies through the FSM and wakes the apply loop. The FSM's
// results (JSON bytes, or errors with a Code) survive forwarding, so
// errors.Is(err, fsm.ErrConflict) holds on any node.
// Every committed command is logged with its origin: operator commands at
// INFO, the group's own traffic (verdict reports, live nodes) at DEBUG.
func (n *notifyingFSM) Apply(l *raft.Log) any {
	res := n.FSM.Apply(l)
	n.kick()
	if l != nil && l.Type == raft.LogCommand && n.log != nil {
		typ, origin, _ := fsm.Peek(l.Data)
		level := slog.LevelInfo
		if typ == fsm.TypeReportVerdicts || typ == fsm.TypeSetLiveNodes {
			level = slog.LevelDebug
		}
		args := []any{"type", string(typ), "origin", origin, "index", l.Index}
		if err, ok := res.(error); ok {
			args = append(args, "refused", err.Error())
		}
		n.log.Log(context.Background(), level, "agent: committed command", args...)
	}
	return res
}

// Restore restores a snapshot and wakes the apply loop.
func (n *notifyingFSM) Restore(rc io.ReadCloser) error {
	err := n.FSM.Restore(rc)
	n.kick()
	return err
}
