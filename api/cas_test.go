package api_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"quadrature/api"
	"quadrature/api/apitest"
	"quadrature/api/client"
)

var casBase = api.ConfigRequest{Files: map[string]string{"keepalived.conf": "global_defs {\n  router_id cas\n}\nvrrp_instance VI_1 {\n}\n"}}

// TestConfigCASLinearizable: concurrent read-modify-write operators against
// the API give a linearizable history of the config register.
func TestConfigCASLinearizable(t *testing.T) {
	f := apitest.NewFake("iwash1")
	f.PutDelay = 200 * time.Microsecond
	ts, _ := apitest.NewServer(t, f, nil)
	var clients []*client.Client
	for i := 0; i < 6; i++ {
		clients = append(clients, apitest.NewClient(t, ts, apitest.AdminToken))
	}
	init, hist, err := apitest.RunConfigCAS(t.Context(), apitest.CASRun{Clients: clients, OpsPerClient: 40, Base: casBase, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	reads, ok, conflicts, unknown := apitest.CASSummary(hist)
	t.Logf("history: %d ops: %d reads, %d puts ok, %d conflicts, %d unknown", len(hist), reads, ok, conflicts, unknown)
	if ok == 0 || conflicts == 0 {
		t.Fatalf("workload did not exercise CAS: %d ok, %d conflicts", ok, conflicts)
	}
	if res := apitest.CheckConfigCAS(init, hist, 30*time.Second); res != porcupine.Ok {
		t.Fatalf("config CAS history is %s", res)
	}
	doc, _ := clients[0].Config(t.Context())
	if doc.Version != init.Version+uint64(ok) {
		t.Errorf("version %d after %d accepted puts from %d", doc.Version, ok, init.Version)
	}
}

// lostUpdate breaks compare-and-swap the classic way: check the version,
// then write unconditionally, with the lock released in between.
type lostUpdate struct{ *apitest.Fake }

func (l lostUpdate) PutConfig(ctx context.Context, req api.PutConfigRequest) (api.PutConfigResult, error) {
	doc, _ := l.Fake.Config(ctx)
	if req.ExpectVersion != 0 && req.ExpectVersion != doc.Version {
		return api.PutConfigResult{}, &api.ConflictError{Current: doc.Version}
	}
	time.Sleep(2 * time.Millisecond)
	req.ExpectVersion = 0
	return l.Fake.PutConfig(ctx, req)
}

// TestConfigCASCheckerCatchesLostUpdates: the checker is not vacuous.
func TestConfigCASCheckerCatchesLostUpdates(t *testing.T) {
	ts, _ := apitest.NewServer(t, lostUpdate{apitest.NewFake("iwash1")}, nil)
	var clients []*client.Client
	for i := 0; i < 4; i++ {
		clients = append(clients, apitest.NewClient(t, ts, apitest.AdminToken))
	}
	for attempt := 0; attempt < 5; attempt++ {
		init, hist, err := apitest.RunConfigCAS(t.Context(), apitest.CASRun{Clients: clients, OpsPerClient: 20, Base: casBase, ReadRatio: 0.1, Seed: uint64(attempt)})
		if err != nil {
			t.Fatal(err)
		}
		if res := apitest.CheckConfigCAS(init, hist, 30*time.Second); res == porcupine.Illegal {
			html := filepath.Join(t.TempDir(), "cas.html")
			res, err := apitest.CheckConfigCASVisual(init, hist, 30*time.Second, html)
			if res != porcupine.Illegal || err != nil {
				t.Fatalf("visual check: %s %v", res, err)
			}
			if st, err := os.Stat(html); err != nil || st.Size() == 0 {
				t.Fatalf("visualization: %v", err)
			}
			return
		}
	}
	t.Fatal("the checker accepted every history of a backend that loses updates")
}

// TestCASModelUnknown: a put whose outcome is unknown may or may not have
// happened, and a later read decides.
func TestCASModelUnknown(t *testing.T) {
	init := apitest.CASState{Version: 1, Content: "a", Known: true}
	op := func(id int, call, ret int64, in apitest.CASInput, out apitest.CASOutput) porcupine.Operation {
		return porcupine.Operation{ClientId: id, Call: call, Return: ret, Input: in, Output: out}
	}
	put := apitest.CASInput{Put: true, Expect: 1, Content: "b"}
	unknown := apitest.CASOutput{Unknown: true}
	for _, c := range []struct {
		name string
		hist []porcupine.Operation
		want porcupine.CheckResult
	}{
		{"applied", []porcupine.Operation{
			op(0, 0, 100, put, unknown),
			op(1, 10, 20, apitest.CASInput{}, apitest.CASOutput{Version: 5, Content: "b"}),
		}, porcupine.Ok},
		{"not applied", []porcupine.Operation{
			op(0, 0, 100, put, unknown),
			op(1, 10, 20, apitest.CASInput{}, apitest.CASOutput{Version: 1, Content: "a"}),
		}, porcupine.Ok},
		{"from nowhere", []porcupine.Operation{
			op(0, 0, 100, put, unknown),
			op(1, 10, 20, apitest.CASInput{}, apitest.CASOutput{Version: 5, Content: "c"}),
		}, porcupine.Illegal},
		{"two winners", []porcupine.Operation{
			op(0, 0, 10, put, apitest.CASOutput{OK: true, Version: 2}),
			op(1, 0, 10, apitest.CASInput{Put: true, Expect: 1, Content: "c"}, apitest.CASOutput{OK: true, Version: 3}),
		}, porcupine.Illegal},
		{"conflict on match", []porcupine.Operation{
			op(0, 0, 10, put, apitest.CASOutput{Conflict: true}),
		}, porcupine.Illegal},
		{"stale read", []porcupine.Operation{
			op(0, 0, 10, put, apitest.CASOutput{OK: true, Version: 2}),
			op(1, 20, 30, apitest.CASInput{}, apitest.CASOutput{Version: 1, Content: "a"}),
		}, porcupine.Illegal},
	} {
		if got := apitest.CheckConfigCAS(init, c.hist, 0); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}
