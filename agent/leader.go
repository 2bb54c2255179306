package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"quadrature/fsm"
)

// leaderLoop does the leader's duties: commit the live-node set when
// gossip membership changes (verdicts and placement depend on it), and
// commit the first configuration when the group has none.
func (a *Agent) leaderLoop(ctx context.Context) {
	events, cancel := a.node.Subscribe(64)
	defer cancel()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if a.node.IsLeader() {
			a.leaderDuties(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-events:
		case <-tick.C:
		}
	}
}

func (a *Agent) leaderDuties(ctx context.Context) {
	st := a.fsm.State()
	if st.ConfigVersion() == 0 {
		// The group's first configuration: this node's file, only while
		// the group has none (compare-and-swap on version 0).
		_, err := a.ProposeConfig(ctx, Proposal{Source: a.LocalSource(), CompareAndSwap: true, AllowEmpty: true, Origin: "leader initial config"})
		if err != nil && !errors.Is(err, fsm.ErrConflict) {
			a.log.Error("agent: initial config", "err", err)
		}
		return
	}
	live := a.node.LiveReporters()
	if !slices.Equal(live, st.LiveNodes()) {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if _, _, err := a.node.Apply(cctx, fsm.MustEncodeFrom(fsm.SetLiveNodes{Nodes: live}, a.origin("leader"))); err != nil {
			a.log.Warn("agent: commit live nodes", "err", err)
		} else {
			a.log.Info("agent: live nodes", "nodes", live)
		}
	}
}

// LocalSource is the replicable form of the node's own file.
func (a *Agent) LocalSource() fsm.ConfigSource {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.localSrc
}

// origin is this node's part of a command's origin.
func (a *Agent) origin(what string) string { return what + " node=" + a.name }

// knownNodes are the members the config must evaluate for.
func (a *Agent) knownNodes() []string {
	var out []string
	for _, m := range a.node.Members() {
		out = append(out, m.Name)
	}
	if !slices.Contains(out, a.name) {
		out = append(out, a.name)
	}
	slices.Sort(out)
	return out
}

// ErrReloadStale refuses a reload whose file is older than the group's
// configuration (it changed through the API or another node's file since
// this file was last in sync with it).
var ErrReloadStale = errors.New("the group's configuration changed since this node's file was last in sync with it")

// ErrReloadEmpty refuses a reload of a file with no VRRP instance and no
// virtual server.
var ErrReloadEmpty = errors.New("the file has no vrrp_instance and no virtual_server")

// Reload re-reads the node's file (SIGHUP) and proposes it to the group
// with compare-and-swap on the version the file was last in sync with, so
// an old file never reverts changes made since (through the API or another
// node). An invalid or empty file changes nothing and returns every error.
// A file identical to the committed configuration is a no-op.
func (a *Agent) Reload(ctx context.Context) error {
	src, err := ReadConfigSource(a.cfg.ConfigPath, a.cfg.Node, a.cfg.HostsFile)
	if err != nil {
		return err
	}
	src.logWarnings(a.log, "reload")
	if errs := CheckBackend(src.Config, a.BackendName()); len(errs) > 0 {
		return errs
	}
	if len(src.Config.Instances) == 0 && len(src.Config.VirtualServers) == 0 {
		return fmt.Errorf("reload: %w: reloading it would remove every VIP and virtual service on all nodes; "+
			"to do that deliberately use `quadrature config put -allow-empty`", ErrReloadEmpty)
	}
	a.mu.Lock()
	a.local, a.localSrc = src.Config, src.Source
	a.mu.Unlock()
	if a.Node() == nil {
		return nil
	}
	st := a.fsm.State()
	cur := st.ConfigVersion()
	if committed := st.Source(); committed != nil && sameSource(*committed, src.Source) {
		a.noteFileInSync(cur)
		a.log.Info("agent: reload: the file equals the committed configuration; nothing to propose", "version", cur)
		return nil
	}
	a.mu.Lock()
	synced := a.fileVersion
	a.mu.Unlock()
	if cur != 0 && synced != cur {
		if synced == 0 {
			return fmt.Errorf("reload: %w (committed version %d was never this file's content); "+
				"fetch it with `quadrature config get`, merge your edit, and send it with `quadrature config put -if-match %d`", ErrReloadStale, cur, cur)
		}
		return fmt.Errorf("reload: %w (file last in sync at version %d, the group is at %d); "+
			"fetch it with `quadrature config get`, merge your edit, and send it with `quadrature config put -if-match %d`", ErrReloadStale, synced, cur, cur)
	}
	_, err = a.ProposeConfig(ctx, Proposal{Source: src.Source, ExpectVersion: cur, CompareAndSwap: true, Origin: "sighup file=" + a.cfg.ConfigPath})
	if errors.Is(err, ErrEmptyCandidate) {
		return fmt.Errorf("reload: %w: reloading it would remove every VIP and virtual service on all nodes; "+
			"to do that deliberately use `quadrature config put -allow-empty`", ErrReloadEmpty)
	}
	if err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	return nil
}

// noteFileInSync records that the node's file is the content of version v.
func (a *Agent) noteFileInSync(v uint64) {
	a.mu.Lock()
	if v > a.fileVersion {
		a.fileVersion = v
	}
	a.mu.Unlock()
}

// sameSource reports whether two config sources have the same files (host
// name resolution is not compared: it follows the file).
func sameSource(x, y fsm.ConfigSource) bool {
	if x.Main != y.Main || len(x.Files) != len(y.Files) {
		return false
	}
	for name, b := range x.Files {
		o, ok := y.Files[name]
		if !ok || !bytes.Equal(b, o) {
			return false
		}
	}
	return true
}
