package api_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"quadrature/api"
	"quadrature/api/apitest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// do sends one request with an optional bearer token and body.
func do(t *testing.T, ts *httptest.Server, method, path, token string, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, data
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden %s: %v (run go test -update)", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// TestContract pins the JSON that scripts rely on: the golden files are the
// contract, and the required keys are checked by name as well so that a
// regenerated golden cannot silently drop one.
func TestContract(t *testing.T) {
	f := apitest.NewFake("iwash1")
	ts, _ := apitest.NewServer(t, f, nil)
	cases := []struct {
		path, golden string
		required     []string
		list         string // key of the list whose items need itemKeys
		itemKeys     []string
	}{
		{"/v1/status", "status.golden.json",
			[]string{"node", "leader", "raft_state", "config_version", "applied_index", "table_digest", "degraded", "fenced", "insecure"}, "", nil},
		{"/v1/vrrp", "vrrp.golden.json", []string{"node", "instances"}, "instances",
			[]string{"name", "vrid", "state", "priority", "master", "vips"}},
		{"/v1/members", "members.golden.json", []string{"members"}, "members",
			[]string{"name", "state", "addr", "api_addr", "role", "suffrage", "leader", "table_digest", "applied_index"}},
		{"/v1/services", "services.golden.json", []string{"node", "services"}, "services",
			[]string{"id", "protocol", "addr", "scheduler", "real_servers", "counters"}},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			resp, body := do(t, ts, "GET", c.path, apitest.ReadToken, "")
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("content type %q", ct)
			}
			golden(t, c.golden, body)
			var m map[string]json.RawMessage
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatal(err)
			}
			for _, k := range c.required {
				if _, ok := m[k]; !ok {
					t.Errorf("missing key %q", k)
				}
			}
			if c.list == "" {
				return
			}
			var items []map[string]json.RawMessage
			if err := json.Unmarshal(m[c.list], &items); err != nil || len(items) == 0 {
				t.Fatalf("%s: %v (%d items)", c.list, err, len(items))
			}
			for _, k := range c.itemKeys {
				if _, ok := items[0][k]; !ok {
					t.Errorf("%s[0]: missing key %q", c.list, k)
				}
			}
		})
	}
}

func TestReadEndpoints(t *testing.T) {
	f := apitest.NewFake("iwash2")
	ts, _ := apitest.NewServer(t, f, nil)
	c := apitest.NewClient(t, ts, apitest.ReadToken)
	ctx := t.Context()

	st, err := c.Status(ctx)
	if err != nil || st.Node != "iwash2" || st.Leader != "iwash1" || st.RaftState != "Follower" || st.ConfigVersion != 7 {
		t.Fatalf("status %+v, %v", st, err)
	}
	ms, err := c.Members(ctx)
	if err != nil || len(ms) != 3 || !ms[0].Leader {
		t.Fatalf("members %+v, %v", ms, err)
	}
	v, err := c.VRRP(ctx)
	if err != nil || v.Node != "iwash2" || len(v.Instances) != 1 || v.Instances[0].State != "BACKUP" {
		t.Fatalf("vrrp %+v, %v", v, err)
	}
	svcs, err := c.Services(ctx)
	if err != nil || len(svcs.Services) != 1 || len(svcs.Services[0].RealServers) != 3 {
		t.Fatalf("services %+v, %v", svcs, err)
	}
	rs := svcs.Services[0].RealServers[2]
	if rs.Verdict != "down" || rs.Agreeing != 2 || rs.Weight != 0 || len(rs.Observations) != 3 {
		t.Errorf("rs3 %+v", rs)
	}
	doc, err := c.Config(ctx)
	if err != nil || doc.Version != 7 || !strings.Contains(doc.Files["keepalived.conf"], "vrrp_instance VI_1") || len(doc.Model) == 0 {
		t.Fatalf("config %+v, %v", doc, err)
	}
	text, ver, err := c.ConfigText(ctx)
	if err != nil || ver != 7 || !strings.HasPrefix(text, "global_defs") {
		t.Fatalf("config text %q v%d, %v", text, ver, err)
	}
	srv, err := c.RaftServers(ctx)
	if err != nil || len(srv) != 3 {
		t.Fatalf("raft %+v, %v", srv, err)
	}

	// ETag and If-None-Match.
	resp, _ := do(t, ts, "GET", "/v1/config", apitest.ReadToken, "")
	if resp.Header.Get("ETag") != `"7"` {
		t.Errorf("ETag %q", resp.Header.Get("ETag"))
	}
	resp, _ = do(t, ts, "GET", "/v1/config", apitest.ReadToken, "", "If-None-Match", `"7"`)
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d", resp.StatusCode)
	}
	resp, _ = do(t, ts, "GET", "/v1/config?format=yaml", apitest.ReadToken, "")
	if resp.StatusCode != 400 {
		t.Errorf("format=yaml: %d", resp.StatusCode)
	}
}

func TestHealthAndReady(t *testing.T) {
	f := apitest.NewFake("iwash1")
	ts, _ := apitest.NewServer(t, f, nil)
	resp, body := do(t, ts, "GET", "/healthz", "", "")
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"ok": true`) {
		t.Fatalf("healthz %d %s", resp.StatusCode, body)
	}
	resp, _ = do(t, ts, "GET", "/readyz", "", "")
	if resp.StatusCode != 200 {
		t.Fatalf("readyz %d", resp.StatusCode)
	}
	f.Mu.Lock()
	f.ReadyOK, f.NotReady = false, "raft not joined"
	f.Mu.Unlock()
	resp, body = do(t, ts, "GET", "/readyz", "", "")
	if resp.StatusCode != 503 || !strings.Contains(string(body), "raft not joined") {
		t.Fatalf("readyz not ready: %d %s", resp.StatusCode, body)
	}
	c := apitest.NewClient(t, ts, "")
	r, err := c.Ready(t.Context())
	if err != nil || r.Ready || r.Reason != "raft not joined" {
		t.Fatalf("client ready %+v %v", r, err)
	}
	resp, _ = do(t, ts, "GET", "/no/such/path", apitest.AdminToken, "")
	if resp.StatusCode != 404 {
		t.Errorf("unknown path: %d", resp.StatusCode)
	}
}

func TestNewOptions(t *testing.T) {
	f := apitest.NewFake("iwash1")
	dir := t.TempDir()
	adminFile := filepath.Join(dir, "admin")
	os.WriteFile(adminFile, []byte("same\n"), 0o600)
	cases := []struct {
		name string
		opts api.Options
		ok   bool
	}{
		{"no backend", api.Options{AdminToken: "a"}, false},
		{"no token", api.Options{Backend: f}, false},
		{"token", api.Options{Backend: f, AdminToken: "a"}, true},
		{"cert without key", api.Options{Backend: f, AdminToken: "a", TLSCertFile: "x"}, false},
		{"token with space", api.Options{Backend: f, AdminToken: "a b"}, false},
		{"read equals admin", api.Options{Backend: f, AdminTokenFile: adminFile, ReadToken: "same"}, false},
		{"missing token file", api.Options{Backend: f, AdminTokenFile: filepath.Join(dir, "none")}, false},
		{"generated", api.Options{Backend: f, DataDir: filepath.Join(dir, "data")}, true},
		{"bad scheme", api.Options{Backend: f, AdminToken: "a", PeerScheme: "ftp"}, false},
	}
	for _, c := range cases {
		_, err := api.New(c.opts)
		if (err == nil) != c.ok {
			t.Errorf("%s: err %v, want ok=%v", c.name, err, c.ok)
		}
	}
	s, err := api.New(api.Options{Backend: f, DataDir: filepath.Join(dir, "data")})
	if err != nil {
		t.Fatal(err)
	}
	if s.AdminTokenPath() != filepath.Join(dir, "data", api.TokenFileName) {
		t.Errorf("token path %q", s.AdminTokenPath())
	}
}

func TestStartShutdown(t *testing.T) {
	f := apitest.NewFake("iwash1")
	s, err := api.New(api.Options{Backend: f, AdminToken: "tok", Listen: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err == nil {
		t.Error("second Start succeeded")
	}
	resp, err := http.Get("http://" + s.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("healthz %d", resp.StatusCode)
	}
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + s.Addr().String() + "/healthz"); err == nil {
		t.Error("still serving after Shutdown")
	}
}

func TestRoutesListed(t *testing.T) {
	_, s := apitest.NewServer(t, apitest.NewFake("iwash1"), nil)
	var writes []string
	for _, r := range s.Routes() {
		if r.Method != "GET" && r.Access != api.Admin {
			t.Errorf("%s %s: a write route must need the admin token, has %s", r.Method, r.Path, r.Access)
		}
		if r.Access == api.Admin {
			writes = append(writes, r.Method+" "+r.Path)
		}
	}
	if !slices.Contains(writes, "PUT /v1/config") || len(writes) < 10 {
		t.Errorf("write routes: %v", writes)
	}
}

func TestReloadTokens(t *testing.T) {
	dir := t.TempDir()
	adminFile, readFile := filepath.Join(dir, "admin"), filepath.Join(dir, "read")
	os.WriteFile(adminFile, []byte("admin-1\n"), 0o600)
	os.WriteFile(readFile, []byte("read-1\n"), 0o600)
	ts, s := apitest.NewServer(t, apitest.NewFake("iwash1"), func(o *api.Options) {
		o.AdminToken, o.ReadToken = "", ""
		o.AdminTokenFile, o.ReadTokenFile = adminFile, readFile
	})
	if resp, _ := do(t, ts, "GET", "/v1/status", "read-1", ""); resp.StatusCode != 200 {
		t.Fatalf("read-1: %d", resp.StatusCode)
	}
	os.WriteFile(adminFile, []byte("admin-2\n"), 0o600)
	os.WriteFile(readFile, []byte("read-2\n"), 0o600)
	if err := s.ReloadTokens(); err != nil {
		t.Fatal(err)
	}
	for tok, want := range map[string]int{"read-1": 401, "admin-1": 401, "read-2": 200, "admin-2": 200} {
		if resp, _ := do(t, ts, "GET", "/v1/status", tok, ""); resp.StatusCode != want {
			t.Errorf("%s after rotation: %d, want %d", tok, resp.StatusCode, want)
		}
	}
	// A broken file keeps the tokens in force.
	os.WriteFile(adminFile, []byte("\n"), 0o600)
	if err := s.ReloadTokens(); err == nil {
		t.Error("empty admin token file accepted")
	}
	if resp, _ := do(t, ts, "GET", "/v1/status", "admin-2", ""); resp.StatusCode != 200 {
		t.Errorf("admin-2 after failed reload: %d", resp.StatusCode)
	}
	if s.AdminTokenPath() != adminFile {
		t.Errorf("token path %q", s.AdminTokenPath())
	}
}
