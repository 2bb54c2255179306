package cluster

import (
	"context"
	"io"
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
	cfg, _, err := config.Load(path, config.LoadOptions{Node: node, Resolver: rec, ReadFile: rec.readFile, Glob: filepath.Glob})
	if err != nil {
		return nil, err
	}
	if errs := config.CheckSupport(cfg); len(errs) > 0 {
		return nil, errs
	}
	src := fsm.ConfigSource{Main: path, Files: rec.files, Hosts: rec.hosts}
	return &ConfigSource{Config: cfg, Source: src}, nil
}

// recordingSource wraps the file system and the resolver and keeps what
// they returned.
type recordingSource struct {
	mu    sync.Mutex
	res   config.Resolver
	files map[string][]byte
	hosts map[string][]netip.Addr
}

func (r *recordingSource) readFile(name string) ([]byte, error) {
	b, err := os.ReadFile(name)
	if err == nil {
		r.mu.Lock()
		r.files[name] = b
		r.mu.Unlock()
	}
	return b, err
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
func (n *notifyingFSM) Apply(l *raft.Log) any {
	res := n.FSM.Apply(l)
	n.kick()
	return res
}

// Restore restores a snapshot and wakes the apply loop.
func (n *notifyingFSM) Restore(rc io.ReadCloser) error {
	err := n.FSM.Restore(rc)
	n.kick()
	return err
}
