package cluster

import (
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
		if err := a.proposeConfig(ctx, a.LocalSource(), 0); err != nil && !errors.Is(err, fsm.ErrConflict) {
			a.log.Error("agent: initial config", "err", err)
		}
		return
	}
	live := a.node.LiveReporters()
	if !slices.Equal(live, st.LiveNodes()) {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if _, _, err := a.node.Apply(cctx, fsm.MustEncode(fsm.SetLiveNodes{Nodes: live})); err != nil {
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

// proposeConfig validates src against the current state and commits it
// with compare-and-swap on expect (the current version for a reload).
func (a *Agent) proposeConfig(ctx context.Context, src fsm.ConfigSource, expect uint64) error {
	cmd := src.Command()
	cmd.ExpectVersion = expect
	cmd.Nodes = a.knownNodes()
	if err := a.fsm.ValidateSetConfig(cmd); err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, idx, err := a.node.Apply(cctx, fsm.MustEncode(cmd))
	if err != nil {
		return err
	}
	a.log.Info("agent: config committed", "index", idx)
	return nil
}

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

// Reload re-reads the node's file (SIGHUP) and proposes it to the group
// with compare-and-swap on the running version. An invalid file changes
// nothing and returns every error.
func (a *Agent) Reload(ctx context.Context) error {
	src, err := ReadConfigSource(a.cfg.ConfigPath, a.cfg.Node, a.cfg.HostsFile)
	if err != nil {
		return err
	}
	if errs := CheckBackend(src.Config, a.BackendName()); len(errs) > 0 {
		return errs
	}
	a.mu.Lock()
	a.local, a.localSrc = src.Config, src.Source
	a.mu.Unlock()
	if a.Node() == nil {
		return nil
	}
	if err := a.proposeConfig(ctx, src.Source, a.fsm.State().ConfigVersion()); err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	return nil
}
