package agent_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"quadrature/api"
	"quadrature/api/client"
	"quadrature/internal/clustertest"
)

// apiCall runs one client call with the harness's per-call timeout.
func apiCall[T any](f func(context.Context) (T, error)) (T, error) {
	ctx, cancel := clustertest.Ctx()
	defer cancel()
	return f(ctx)
}

// apiDetails returns the file:line details of an API error.
func apiDetails(err error) []api.ConfigError {
	var e *client.Error
	if errors.As(err, &e) {
		return e.Body.Details
	}
	return nil
}

// waitVIPOn waits until node (and only node) holds the VIP.
func waitVIPOn(t *testing.T, g *clustertest.Group, node string, timeout time.Duration) {
	t.Helper()
	g.WaitFor("the VIP on "+node+" only", timeout, func() error {
		if h := g.VIPHolders(); !slices.Equal(h, []string{node}) {
			return fmt.Errorf("VIP holders %v", h)
		}
		return nil
	})
}

// waitVIPMoved waits until exactly one node other than from holds the VIP
// and returns it.
func waitVIPMoved(t *testing.T, g *clustertest.Group, from string, timeout time.Duration) string {
	t.Helper()
	var to string
	g.WaitFor("the VIP to leave "+from, timeout, func() error {
		h := g.VIPHolders()
		if len(h) != 1 || h[0] == from {
			return fmt.Errorf("VIP holders %v", h)
		}
		to = h[0]
		return nil
	})
	return to
}

// waitVerdictAll waits until every running node's verdict on rs's real
// server is up (or down) and its programmed weight matches.
func waitVerdictAll(t *testing.T, g *clustertest.Group, rs string, up bool, timeout time.Duration) time.Duration {
	t.Helper()
	return g.WaitFor(fmt.Sprintf("%s's real server up=%v on every node", rs, up), timeout, func() error {
		return verdictAll(g, rs, up)
	})
}

func verdictAll(g *clustertest.Group, rs string, up bool) error {
	for _, n := range g.Running() {
		r, err := n.RealServer(rs)
		if err != nil {
			return err
		}
		if r.Up != up {
			return fmt.Errorf("%s: verdict %s (%d of %d agreeing)", n.Name, r.Verdict, r.Agreeing, r.Reporters)
		}
		if !up && r.Weight != 0 {
			return fmt.Errorf("%s: down but programmed with weight %d", n.Name, r.Weight)
		}
	}
	return nil
}

// digestIs and digestNot are AssertConvergedWith checks on the common
// table digest.
func digestIs(want string) func(api.Status) error {
	return func(st api.Status) error {
		if st.TableDigest != want {
			return fmt.Errorf("digest %.12s, want %.12s", st.TableDigest, want)
		}
		return nil
	}
}

func digestNot(old string) func(api.Status) error {
	return func(st api.Status) error {
		if st.TableDigest == old {
			return fmt.Errorf("digest still %.12s", old)
		}
		return nil
	}
}

// kernelDests returns the nodes whose application address the node's
// nftables table (the quadrature table of the nftables backend) holds as
// a destination,
// read with nft: an independent look at what the agent programmed.
func kernelDests(t *testing.T, n *clustertest.Node) []string {
	t.Helper()
	out, err := n.NS.Run("nft", "list", "table", "inet", "quadrature")
	if err != nil {
		t.Fatalf("%s: %v", n.Name, err)
	}
	var got []string
	for i := 1; i <= 9; i++ {
		// A destination is an element "ADDR . PORT" of a destination map
		// (lvs/nftables's layout).
		elem := fmt.Sprintf("%s . %d", clustertest.NodeAddr(i), clustertest.AppPort)
		if strings.Contains(string(out), elem) {
			got = append(got, clustertest.NodeName(i))
		}
	}
	return got
}

// putConfig reads the committed config from n1, applies edit, writes it
// back with If-Match and waits until every running node runs the new
// version; it returns that version.
func putConfig(t *testing.T, g *clustertest.Group, edit func(string) string) uint64 {
	t.Helper()
	doc, err := apiCall(g.Node("n1").API.Config)
	if err != nil {
		t.Fatal(err)
	}
	text := edit(doc.Files[doc.Main])
	if text == doc.Files[doc.Main] {
		t.Fatal("putConfig: the edit changed nothing")
	}
	ctx, cancel := clustertest.Ctx()
	res, err := g.Node("n1").API.PutConfig(ctx, api.ConfigRequest{Main: doc.Main, Files: map[string]string{doc.Main: text}}, doc.Version)
	cancel()
	if err != nil {
		t.Fatalf("PUT config (If-Match %d): %v", doc.Version, err)
	}
	g.WaitFor(fmt.Sprintf("config version %d on every node", res.Version), 10*time.Second, func() error {
		sts, err := g.Statuses()
		if err != nil {
			return err
		}
		for n, st := range sts {
			if st.ConfigVersion != res.Version {
				return fmt.Errorf("%s runs version %d", n, st.ConfigVersion)
			}
		}
		return nil
	})
	return res.Version
}

// observationsOf checks what node on holds as every running node's
// observation of rs's real server: up(reporter) is the wanted state of
// each reporter's observation, and every running node must have one.
func observationsOf(g *clustertest.Group, on, rs string, up func(reporter string) bool) error {
	r, err := g.Node(on).RealServer(rs)
	if err != nil {
		return err
	}
	got := map[string]api.Observation{}
	for _, o := range r.Observations {
		got[o.Node] = o
	}
	for _, n := range g.Running() {
		o, ok := got[n.Name]
		if !ok {
			return fmt.Errorf("%s holds no observation of %s by %s: %+v", on, rs, n.Name, r.Observations)
		}
		if o.Up != up(n.Name) {
			return fmt.Errorf("%s holds %s's observation of %s as up=%v (%s), want up=%v", on, n.Name, rs, o.Up, o.Reason, up(n.Name))
		}
	}
	return nil
}

// allUp and allUpBut are observationsOf wants.
func allUp(string) bool { return true }

func allUpBut(down string) func(string) bool {
	return func(n string) bool { return n != down }
}
