package agent_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"quadrature/api"
	"quadrature/internal/clustertest"
)

// TestAgentReloadNeverReverts: a SIGHUP on a node whose file is older than
// the committed configuration (changed through the API since) is refused
// and changes nothing; an empty file is refused; a file equal to the
// committed configuration is a no-op; an edited file in sync is committed.
func TestAgentReloadNeverReverts(t *testing.T) {
	g := clustertest.New(t, clustertest.Options{Nodes: 3})
	st := g.WaitReady()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	n2 := g.Node("n2")
	version := func() uint64 {
		t.Helper()
		s, err := n2.API.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return s.ConfigVersion
	}
	logHas := func(what string) error {
		b, _ := os.ReadFile(n2.LogPath)
		if !strings.Contains(string(b), what) {
			return fmt.Errorf("n2's log has no %q yet", what)
		}
		return nil
	}
	v1 := st.ConfigVersion

	// The file equals the committed config: nothing to propose.
	g.Reload("n2")
	g.WaitFor("the no-op reload", 10*time.Second, func() error { return logHas("the file equals the committed configuration") })
	if v := version(); v != v1 {
		t.Fatalf("a no-op reload moved the version %d -> %d", v1, v)
	}

	// The API changes the config: the file is now older.
	edited := strings.Replace(g.ConfigText, "router_id clustertest\n", "router_id clustertest-api\n", 1)
	res, err := g.Node("n1").API.PutConfig(ctx, api.ConfigRequest{Files: map[string]string{"keepalived.conf": edited}}, v1)
	if err != nil {
		t.Fatal(err)
	}
	g.AssertConverged()
	g.Reload("n2")
	g.WaitFor("the stale reload to be refused", 10*time.Second, func() error { return logHas("changed since this node's file was last in sync") })
	time.Sleep(time.Second)
	if v := version(); v != res.Version {
		t.Fatalf("the stale file was committed: version %d, the API's write was %d", v, res.Version)
	}
	text, _, err := n2.API.ConfigText(ctx)
	if err != nil || !strings.Contains(text, "router_id clustertest-api") {
		t.Fatalf("the API's change was reverted (%v):\n%s", err, text)
	}

	// An empty file is refused.
	if err := os.WriteFile(g.ConfigPath, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	g.Reload("n2")
	g.WaitFor("the empty reload to be refused", 10*time.Second, func() error { return logHas("the file has no vrrp_instance and no virtual_server") })
	if v := version(); v != res.Version {
		t.Fatalf("the empty file was committed: version %d", v)
	}

	// The operator syncs the file with the group and edits it: committed.
	if err := os.WriteFile(g.ConfigPath, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	g.Reload("n2")
	g.WaitFor("the synced file to be recognised", 10*time.Second, func() error {
		b, _ := os.ReadFile(n2.LogPath)
		if strings.Count(string(b), "the file equals the committed configuration") < 2 {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	again := strings.Replace(edited, "router_id clustertest-api\n", "router_id clustertest-file\n", 1)
	if err := os.WriteFile(g.ConfigPath, []byte(again), 0o644); err != nil {
		t.Fatal(err)
	}
	g.Reload("n2")
	g.WaitFor("the edited file to be committed", 15*time.Second, func() error {
		if v := version(); v != res.Version+1 {
			return fmt.Errorf("version %d, want %d", v, res.Version+1)
		}
		return nil
	})
	// Every node logs who proposed it.
	g.WaitFor("the origin in n1's log", 10*time.Second, func() error {
		b, _ := os.ReadFile(g.Node("n1").LogPath)
		if !strings.Contains(string(b), `origin="sighup file=`) {
			return fmt.Errorf("no sighup origin in n1's log")
		}
		return nil
	})
}
