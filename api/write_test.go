package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"quadrature/api"
	"quadrature/api/apitest"
	"quadrature/api/client"
)

func TestDrainIdempotent(t *testing.T) {
	f := apitest.NewFake("iwash1")
	ts, _ := apitest.NewServer(t, f, nil)
	c := apitest.NewClient(t, ts, apitest.AdminToken)
	ctx := t.Context()
	const vs, rs = "tcp/192.0.2.100:3128", "198.51.100.12:3128"
	weight := func() (int, bool) {
		svcs, err := c.Services(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range svcs.Services[0].RealServers {
			if r.ID == rs {
				return r.Weight, r.Drained
			}
		}
		t.Fatalf("rs %s missing", rs)
		return 0, false
	}
	for i := 0; i < 2; i++ {
		if err := c.Drain(ctx, vs, rs); err != nil {
			t.Fatalf("drain #%d: %v", i+1, err)
		}
		if w, d := weight(); w != 0 || !d {
			t.Fatalf("after drain #%d: weight %d drained %v", i+1, w, d)
		}
	}
	for i := 0; i < 2; i++ {
		if err := c.Undrain(ctx, vs, rs); err != nil {
			t.Fatalf("undrain #%d: %v", i+1, err)
		}
		if w, d := weight(); w != 100 || d {
			t.Fatalf("after undrain #%d: weight %d drained %v", i+1, w, d)
		}
	}
	err := c.Drain(ctx, vs, "198.51.100.99:3128")
	if !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("drain unknown rs: %v, want not found", err)
	}
	var ce *client.Error
	if !errors.As(err, &ce) || ce.StatusCode != 404 || ce.Body.Code != "not_found" {
		t.Fatalf("drain unknown rs: %#v", err)
	}
}

func TestOperatorWrites(t *testing.T) {
	f := apitest.NewFake("iwash1")
	ts, _ := apitest.NewServer(t, f, nil)
	c := apitest.NewClient(t, ts, apitest.AdminToken)
	ctx := t.Context()
	if err := c.Maintenance(ctx, "iwash2", true); err != nil {
		t.Fatal(err)
	}
	if err := c.Maintenance(ctx, "iwash2", true); err != nil {
		t.Fatalf("maintenance twice: %v", err)
	}
	ms, _ := c.Members(ctx)
	if !ms[1].Maintenance {
		t.Errorf("iwash2 not in maintenance: %+v", ms[1])
	}
	if err := c.Transfer(ctx, "VI_1", "iwash2"); !errors.Is(err, api.ErrInvalid) {
		t.Errorf("transfer to node in maintenance: %v", err)
	}
	if err := c.Maintenance(ctx, "iwash2", false); err != nil {
		t.Fatal(err)
	}
	if err := c.Transfer(ctx, "VI_1", "iwash2"); err != nil {
		t.Fatal(err)
	}
	f.Mu.Lock()
	got := f.Inst["iwash2"][0].State + " " + f.Inst["iwash1"][0].State
	f.Mu.Unlock()
	if got != "MASTER BACKUP" {
		t.Errorf("after transfer: %s", got)
	}
	if err := c.Transfer(ctx, "VI_9", "iwash2"); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("transfer unknown instance: %v", err)
	}
	if err := c.Maintenance(ctx, "nobody", true); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("maintenance unknown node: %v", err)
	}
	if err := c.AddWitness(ctx, "witness", "198.51.100.20:7000"); err != nil {
		t.Fatal(err)
	}
	if err := c.AddWitness(ctx, "witness", "198.51.100.20:7000"); err != nil {
		t.Fatalf("add witness twice: %v", err)
	}
	if err := c.AddVoter(ctx, "witness", "198.51.100.21:7000"); !errors.Is(err, api.ErrInvalid) {
		t.Errorf("re-add with another address: %v", err)
	}
	if err := c.RemoveServer(ctx, "iwash3"); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveServer(ctx, "iwash3"); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("remove twice: %v", err)
	}
	srv, _ := c.RaftServers(ctx)
	if len(srv) != 3 || srv[2].Name != "witness" || srv[2].Role != "witness" {
		t.Errorf("raft servers: %+v", srv)
	}
	if err := c.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	resp, out := do(t, ts, "POST", "/v1/raft/snapshot", apitest.AdminToken, "")
	if resp.StatusCode != 200 {
		t.Errorf("snapshot without body: %d %s", resp.StatusCode, out)
	}
	if f.Snapshots != 2 {
		t.Errorf("snapshots %d", f.Snapshots)
	}
}

func TestConfigPut(t *testing.T) {
	f := apitest.NewFake("iwash1")
	ts, _ := apitest.NewServer(t, f, nil)
	c := apitest.NewClient(t, ts, apitest.AdminToken)
	ctx := t.Context()
	good := api.ConfigRequest{Files: map[string]string{
		"keepalived.conf": "include vs.conf\nglobal_defs {\n}\n",
		"vs.conf":         "virtual_server 192.0.2.100 3128 {\n}\n",
	}}
	res, err := c.PutConfig(ctx, good, 7)
	if err != nil || res.Version != 8 || !res.Applied {
		t.Fatalf("put: %+v %v", res, err)
	}
	// Stale version: 412 with the running version and its ETag.
	_, err = c.PutConfig(ctx, good, 7)
	var ce *client.Error
	if !errors.Is(err, api.ErrConflict) || !errors.As(err, &ce) || ce.Body.Current != 8 {
		t.Fatalf("stale put: %v", err)
	}
	resp, _ := do(t, ts, "PUT", "/v1/config", apitest.AdminToken, `{"files":{"keepalived.conf":"x\n"}}`, "If-Match", `"3"`)
	if resp.StatusCode != 412 || resp.Header.Get("ETag") != `"8"` {
		t.Errorf("stale raw put: %d etag %q", resp.StatusCode, resp.Header.Get("ETag"))
	}
	// Invalid config: 422 with every file:line, nothing changes.
	bad := api.ConfigRequest{Files: map[string]string{
		"keepalived.conf": "include missing.conf\nglobal_defs {\n",
		"vs.conf":         "}\n",
	}}
	_, err = c.PutConfig(ctx, bad, 0)
	if !errors.Is(err, api.ErrInvalid) || !errors.As(err, &ce) {
		t.Fatalf("bad put: %v", err)
	}
	var lines []string
	for _, d := range ce.Body.Details {
		lines = append(lines, d.String())
	}
	want := "keepalived.conf:1: include missing.conf: no such file in the submitted set|keepalived.conf:2: unclosed '{'|vs.conf:1: unexpected '}'"
	if strings.Join(lines, "|") != want {
		t.Errorf("details:\n%s\nwant\n%s", strings.Join(lines, "|"), want)
	}
	if doc, _ := c.Config(ctx); doc.Version != 8 {
		t.Errorf("version after rejected put: %d", doc.Version)
	}
	// Validate only, both spellings.
	if res, err := c.ValidateConfig(ctx, good); err != nil || !res.Valid || res.Applied || res.Version != 8 {
		t.Errorf("validate: %+v %v", res, err)
	}
	if _, err := c.ValidateConfig(ctx, bad); !errors.Is(err, api.ErrInvalid) {
		t.Errorf("validate bad: %v", err)
	}
	body, _ := json.Marshal(good)
	resp, out := do(t, ts, "PUT", "/v1/config?validate=1", apitest.AdminToken, string(body))
	if resp.StatusCode != 200 || !strings.Contains(string(out), `"applied": false`) {
		t.Errorf("?validate=1: %d %s", resp.StatusCode, out)
	}
	// text/plain upload of a single file.
	resp, out = do(t, ts, "PUT", "/v1/config", apitest.AdminToken, "vrrp_instance VI_1 {\n}\n", "Content-Type", "text/plain", "If-Match", `"8"`)
	if resp.StatusCode != 200 || resp.Header.Get("ETag") != `"9"` {
		t.Errorf("text put: %d %s", resp.StatusCode, out)
	}
	if text, v, _ := c.ConfigText(ctx); v != 9 || text != "vrrp_instance VI_1 {\n}\n" {
		t.Errorf("after text put: v%d %q", v, text)
	}
	if doc, _ := c.Config(ctx); doc.Version != 9 || len(doc.Files) != 1 {
		t.Errorf("after text put: %+v", doc)
	}
}

// TestBadRequests: malformed input gets a 4xx and never reaches the backend.
func TestBadRequests(t *testing.T) {
	f := apitest.NewFake("iwash1")
	ts, _ := apitest.NewServer(t, f, nil)
	big := strings.Repeat("a", api.MaxSmallBody)
	hugeConf := `{"files":{"keepalived.conf":"` + strings.Repeat("#", api.MaxConfigBody) + `"}}`
	cases := []struct {
		name, method, path, body string
		hdr                      []string
		want                     int
	}{
		{"empty body", "POST", "/v1/drain", "", nil, 400},
		{"unknown field", "POST", "/v1/drain", `{"vs":"a","rs":"b","force":true}`, nil, 400},
		{"two values", "POST", "/v1/drain", `{"vs":"a","rs":"b"}{"vs":"a","rs":"b"}`, nil, 400},
		{"trailing garbage", "POST", "/v1/drain", `{"vs":"a","rs":"b"} x`, nil, 400},
		{"missing field", "POST", "/v1/drain", `{"vs":"a"}`, nil, 400},
		{"wrong type", "POST", "/v1/drain", `{"vs":1,"rs":"b"}`, nil, 400},
		{"space in name", "POST", "/v1/drain", `{"vs":"a b","rs":"b"}`, nil, 400},
		{"maintenance without on", "POST", "/v1/maintenance", `{"node":"iwash2"}`, nil, 400},
		{"too large", "POST", "/v1/drain", `{"vs":"` + big + `","rs":"b"}`, nil, 413},
		{"config too large", "PUT", "/v1/config", hugeConf, nil, 413},
		{"raft addr without port", "POST", "/v1/raft/voters", `{"name":"n","addr":"198.51.100.4"}`, nil, 400},
		{"raft addr port 0", "POST", "/v1/raft/voters", `{"name":"n","addr":"198.51.100.4:0"}`, nil, 400},
		{"snapshot with field", "POST", "/v1/raft/snapshot", `{"now":true}`, nil, 400},
		{"config no files", "PUT", "/v1/config", `{"files":{}}`, nil, 422},
		{"config main missing", "PUT", "/v1/config", `{"main":"a.conf","files":{"b.conf":"x"}}`, nil, 400},
		{"config dotdot", "PUT", "/v1/config", `{"files":{"keepalived.conf":"x","../etc/passwd":"y"}}`, nil, 400},
		{"config absolute", "PUT", "/v1/config", `{"files":{"keepalived.conf":"x","/etc/passwd":"y"}}`, nil, 400},
		{"bad If-Match", "PUT", "/v1/config", `{"files":{"keepalived.conf":"x"}}`, []string{"If-Match", `"v7"`}, 400},
		{"If-Match zero", "PUT", "/v1/config", `{"files":{"keepalived.conf":"x"}}`, []string{"If-Match", `"0"`}, 400},
		{"bad validate flag", "PUT", "/v1/config?validate=maybe", `{"files":{"keepalived.conf":"x"}}`, nil, 400},
		{"content type", "PUT", "/v1/config", `x`, []string{"Content-Type", "application/xml"}, 415},
		{"vrrp bad node", "GET", "/v1/vrrp?node=a%20b", "", nil, 400},
		{"wrong method", "PATCH", "/v1/config", "", nil, 405},
	}
	for _, c := range cases {
		f.ResetCalls()
		resp, out := do(t, ts, c.method, c.path, apitest.AdminToken, c.body, c.hdr...)
		if resp.StatusCode != c.want {
			t.Errorf("%s: status %d, want %d (%.200s)", c.name, resp.StatusCode, c.want, out)
		}
		if c.want != 405 {
			var eb api.ErrorBody
			if err := json.Unmarshal(out, &eb); err != nil || eb.Error == "" || eb.Code == "" {
				t.Errorf("%s: error body %.200s", c.name, out)
			}
		}
		for _, call := range f.Calls() {
			if call != "Status" { // GET /v1/vrrp reads the node name first
				t.Errorf("%s: backend called: %v", c.name, f.Calls())
				break
			}
		}
	}
}

func TestBackendErrorsMap(t *testing.T) {
	for _, c := range []struct {
		err  error
		want int
	}{
		{api.ErrNoLeader, http.StatusServiceUnavailable},
		{errors.New("disk on fire"), http.StatusInternalServerError},
		{&api.ConflictError{Current: 3}, http.StatusPreconditionFailed},
		{api.ErrConflict, http.StatusPreconditionFailed},
		{api.ErrInvalid, http.StatusUnprocessableEntity},
		{api.ErrNotFound, http.StatusNotFound},
	} {
		b := &failing{Fake: apitest.NewFake("iwash1"), err: c.err}
		ts, _ := apitest.NewServer(t, b, nil)
		resp, out := do(t, ts, "POST", "/v1/drain", apitest.AdminToken, `{"vs":"a","rs":"b"}`)
		if resp.StatusCode != c.want {
			t.Errorf("%v: %d, want %d (%s)", c.err, resp.StatusCode, c.want, out)
		}
		cl := apitest.NewClient(t, ts, apitest.AdminToken)
		err := cl.Drain(t.Context(), "a", "b")
		if s := sentinelOf(c.want); s != nil && !errors.Is(err, s) {
			t.Errorf("client error %v does not match %v", err, s)
		}
	}
}

func sentinelOf(status int) error {
	switch status {
	case 503:
		return api.ErrNoLeader
	case 412:
		return api.ErrConflict
	case 422:
		return api.ErrInvalid
	case 404:
		return api.ErrNotFound
	}
	return nil
}

type failing struct {
	*apitest.Fake
	err error
}

func (f *failing) Drain(ctx context.Context, vs, rs string, drained bool) error { return f.err }
