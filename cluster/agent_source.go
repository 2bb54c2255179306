package cluster

import (
	"context"
	"errors"
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

// Apply results cross the forwarding RPC as bytes or as coded errors.

// fsmError carries an FSM error's class across forwarding.
type fsmError struct {
	code string
	msg  string
}

func (e *fsmError) Error() string { return e.msg }
func (e *fsmError) Code() string  { return e.code }

// FSM error codes (ApplyError.Code after forwarding).
const (
	CodeConflict       = "fsm-conflict"
	CodeInvalid        = "fsm-invalid"
	CodeNotFound       = "fsm-not-found"
	CodeNoConfig       = "fsm-no-config"
	CodeUnknownCommand = "fsm-unknown-command"
	CodeMalformed      = "fsm-malformed"
	CodeInternal       = "fsm-internal"
)

// Sentinels that match forwarded FSM errors with errors.Is.
var (
	ErrFSMConflict = &fsmError{code: CodeConflict, msg: "config version conflict"}
	ErrFSMInvalid  = &fsmError{code: CodeInvalid, msg: "invalid command"}
	ErrFSMNotFound = &fsmError{code: CodeNotFound, msg: "not found"}
	ErrFSMNoConfig = &fsmError{code: CodeNoConfig, msg: "no configuration"}
)

func codeOf(err error) string {
	switch {
	case errors.Is(err, fsm.ErrConflict):
		return CodeConflict
	case errors.Is(err, fsm.ErrInvalid):
		return CodeInvalid
	case errors.Is(err, fsm.ErrNotFound):
		return CodeNotFound
	case errors.Is(err, fsm.ErrNoConfig):
		return CodeNoConfig
	case errors.Is(err, fsm.ErrUnknownCommand):
		return CodeUnknownCommand
	case errors.Is(err, fsm.ErrMalformed):
		return CodeMalformed
	}
	return CodeInternal
}

// Apply applies through the FSM, turns its Result into forwardable form
// and wakes the apply loop.
func (n *notifyingFSM) Apply(l *raft.Log) any {
	res := n.FSM.Apply(l)
	n.kick()
	r, ok := res.(fsm.Result)
	if !ok {
		return nil
	}
	if r.Err != nil {
		return &fsmError{code: codeOf(r.Err), msg: r.Err.Error()}
	}
	return []byte(r.Type)
}

// Restore restores a snapshot and wakes the apply loop.
func (n *notifyingFSM) Restore(rc io.ReadCloser) error {
	err := n.FSM.Restore(rc)
	n.kick()
	return err
}
