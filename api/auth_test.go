package api_test

import (
	"net/http"
	"strings"
	"testing"

	"quadrature/api"
	"quadrature/api/apitest"
)

// writeBodies is a valid body for every write route, so that an accepted
// request would really reach the backend.
var writeBodies = map[string]string{
	"PUT /v1/config":                 `{"files":{"keepalived.conf":"vrrp_instance VI_1 {\n}\n"}}`,
	"POST /v1/config/validate":       `{"files":{"keepalived.conf":"vrrp_instance VI_1 {\n}\n"}}`,
	"POST /v1/drain":                 `{"vs":"tcp/192.0.2.100:3128","rs":"198.51.100.11:3128"}`,
	"POST /v1/undrain":               `{"vs":"tcp/192.0.2.100:3128","rs":"198.51.100.11:3128"}`,
	"POST /v1/maintenance":           `{"node":"iwash2","on":true}`,
	"POST /v1/transfer":              `{"instance":"VI_1","node":"iwash3"}`,
	"POST /v1/raft/voters":           `{"name":"iwash4","addr":"198.51.100.14:7000"}`,
	"POST /v1/raft/witnesses":        `{"name":"witness","addr":"198.51.100.20:7000"}`,
	"DELETE /v1/raft/servers/{name}": ``,
	"POST /v1/raft/snapshot":         `{}`,
	"POST /v1/revocations":           `{"node":"iwash3"}`,
	"DELETE /v1/revocations/{name}":  ``,
	"GET /v1/snapshot":               ``,
	"POST /v1/snapshot/restore":      fakeSnapshotEnvelope(),
}

func concrete(path string) string {
	return strings.ReplaceAll(path, "{name}", "iwash3")
}

// TestWritesNeedAdmin: every write route, without a token, with a wrong one
// and with the read-only one, is refused and the backend is never called;
// with the admin token it succeeds.
func TestWritesNeedAdmin(t *testing.T) {
	f := apitest.NewFake("iwash1")
	ts, s := apitest.NewServer(t, f, nil)
	seen := 0
	for _, r := range s.Routes() {
		if r.Access != api.Admin || strings.HasPrefix(r.Path, "/debug/pprof/") {
			continue // the profiles reach no backend: TestPprofNeedsAdmin
		}
		seen++
		key := r.Method + " " + r.Path
		body, ok := writeBodies[key]
		if !ok {
			t.Errorf("%s: no test body; add one to writeBodies", key)
			continue
		}
		for _, c := range []struct {
			name, token string
			hdr         []string
			want        int
		}{
			{"no token", "", nil, http.StatusUnauthorized},
			{"wrong token", "not-the-token", nil, http.StatusUnauthorized},
			{"admin token as prefix", apitest.AdminToken[:10], nil, http.StatusUnauthorized},
			{"basic auth", "", []string{"Authorization", "Basic YWRtaW46YWRtaW4="}, http.StatusUnauthorized},
			{"read token", apitest.ReadToken, nil, http.StatusForbidden},
		} {
			f.ResetCalls()
			resp, out := do(t, ts, r.Method, concrete(r.Path), c.token, body, c.hdr...)
			if resp.StatusCode != c.want {
				t.Errorf("%s, %s: status %d, want %d (%s)", key, c.name, resp.StatusCode, c.want, out)
			}
			if c.want == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s, %s: no WWW-Authenticate", key, c.name)
			}
			if calls := f.Calls(); len(calls) != 0 {
				t.Errorf("%s, %s: backend called: %v", key, c.name, calls)
			}
		}
		f.ResetCalls()
		resp, out := do(t, ts, r.Method, concrete(r.Path), apitest.AdminToken, body)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s, admin: status %d (%s)", key, resp.StatusCode, out)
		}
		if len(f.Calls()) == 0 {
			t.Errorf("%s, admin: backend not called", key)
		}
	}
	if seen != len(writeBodies) {
		t.Errorf("%d admin routes, %d test bodies", seen, len(writeBodies))
	}
}

// localStatus are the reads a loopback connection gets without a token
// even when a read-only token is configured (api.localStatusRoutes).
var localStatus = map[string]bool{
	"GET /v1/status": true, "GET /v1/members": true, "GET /v1/vrrp": true, "GET /v1/services": true, "GET /v1/raft/servers": true,
}

// TestReadsNeedToken: with a read-only token configured, every read needs
// a token (the read or the admin one), except the status reads over
// loopback (TestLocalReadsWithoutToken).
func TestReadsNeedToken(t *testing.T) {
	f := apitest.NewFake("iwash1")
	ts, s := apitest.NewServer(t, f, nil)
	found := 0
	for _, r := range s.Routes() {
		f.ResetCalls()
		resp, _ := do(t, ts, r.Method, concrete(strings.TrimSuffix(r.Path, "{$}")), "", writeBodies[r.Method+" "+r.Path])
		switch {
		case r.Access == api.Public:
			if resp.StatusCode != http.StatusOK {
				t.Errorf("%s %s public: %d", r.Method, r.Path, resp.StatusCode)
			}
		case localStatus[r.Method+" "+r.Path]:
			found++
			if r.Access != api.Read || resp.StatusCode != http.StatusOK {
				t.Errorf("%s %s (%v) from localhost without token: %d", r.Method, r.Path, r.Access, resp.StatusCode)
			}
		default:
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s without token: %d", r.Method, r.Path, resp.StatusCode)
			}
			if calls := f.Calls(); len(calls) != 0 {
				t.Errorf("%s %s without token: backend called %v", r.Method, r.Path, calls)
			}
		}
		if r.Access == api.Read {
			for _, tok := range []string{apitest.ReadToken, apitest.AdminToken} {
				resp, out := do(t, ts, r.Method, r.Path, tok, "")
				if resp.StatusCode != http.StatusOK {
					t.Errorf("%s %s with token: %d %s", r.Method, r.Path, resp.StatusCode, out)
				}
			}
		}
	}
	if found != len(localStatus) {
		t.Errorf("%d of the %d local status reads are routes", found, len(localStatus))
	}
}

func TestMetricsAuth(t *testing.T) {
	f := apitest.NewFake("iwash1")
	ts, _ := apitest.NewServer(t, f, func(o *api.Options) { o.MetricsAuth = true })
	if resp, _ := do(t, ts, "GET", "/metrics", "", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("metrics without token: %d", resp.StatusCode)
	}
	if resp, _ := do(t, ts, "GET", "/metrics", apitest.ReadToken, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("metrics with read token: %d", resp.StatusCode)
	}
	if resp, _ := do(t, ts, "GET", "/healthz", "", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("healthz: %d", resp.StatusCode)
	}
}

// TestNoReadToken: without a read-only token configured, only the admin
// token opens reads.
func TestNoReadToken(t *testing.T) {
	f := apitest.NewFake("iwash1")
	ts, _ := apitest.NewServer(t, f, func(o *api.Options) { o.ReadToken = "" })
	if resp, _ := do(t, ts, "GET", "/v1/status", apitest.ReadToken, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("status with unknown read token: %d", resp.StatusCode)
	}
	if resp, _ := do(t, ts, "GET", "/v1/status", apitest.AdminToken, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("status with admin token: %d", resp.StatusCode)
	}
	if resp, _ := do(t, ts, "GET", "/v1/status", "", "", "Authorization", "bearer "+apitest.AdminToken); resp.StatusCode != http.StatusOK {
		t.Errorf("lower-case bearer scheme: %d", resp.StatusCode)
	}
}
