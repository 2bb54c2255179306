package api_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"quadrature/api"
	"quadrature/api/apitest"
)

// TestLocalReadsWithoutToken: with no read-only token configured, the
// read routes answer a request without a token that comes over a loopback
// connection (the operator on the director); writes still need the admin
// token, a token that is sent is still checked, and neither a request from
// another address nor one a proxy forwarded is local. With a read token
// configured only the status reads are open on localhost.
func TestLocalReadsWithoutToken(t *testing.T) {
	f := apitest.NewFake("iwash1")
	ts, s := apitest.NewServer(t, f, func(o *api.Options) { o.ReadToken = "" })
	reads := 0
	for _, r := range s.Routes() {
		path := concrete(strings.TrimSuffix(r.Path, "{$}"))
		f.ResetCalls()
		resp, out := do(t, ts, r.Method, path, "", writeBodies[r.Method+" "+r.Path])
		switch r.Access {
		case api.Read:
			reads++
			if resp.StatusCode != http.StatusOK {
				t.Errorf("%s %s from localhost without a token: %d %s", r.Method, r.Path, resp.StatusCode, out)
			}
		case api.Admin:
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s from localhost without a token: %d %s", r.Method, r.Path, resp.StatusCode, out)
			}
			if calls := f.Calls(); len(calls) != 0 {
				t.Errorf("%s %s without token: backend called %v", r.Method, r.Path, calls)
			}
		}
	}
	if reads == 0 {
		t.Fatal("no read routes")
	}
	for _, c := range []struct {
		name string
		hdr  []string
	}{
		{"wrong token", []string{"Authorization", "Bearer not-the-token"}},
		{"basic auth", []string{"Authorization", "Basic YWRtaW46YWRtaW4="}},
		{"forwarded by a proxy", []string{"X-Forwarded-For", "192.0.2.7"}},
		{"forwarded (RFC 7239)", []string{"Forwarded", "for=192.0.2.7"}},
		{"X-Real-IP", []string{"X-Real-IP", "192.0.2.7"}},
	} {
		resp, out := do(t, ts, "GET", "/v1/status", "", "", c.hdr...)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET /v1/status from localhost, %s: %d %s", c.name, resp.StatusCode, out)
		}
	}

	// The rule is on the connection's address: the handler is called with
	// the remote addresses a listener would give it.
	for addr, want := range map[string]int{
		"127.0.0.1:40000":        http.StatusOK,
		"127.0.0.53:40000":       http.StatusOK,
		"[::1]:40000":            http.StatusOK,
		"[::ffff:127.0.0.1]:1":   http.StatusOK,
		"192.0.2.7:40000":        http.StatusUnauthorized,
		"[2001:db8::7]:40000":    http.StatusUnauthorized,
		"[::ffff:192.0.2.7]:1":   http.StatusUnauthorized,
		"not-an-address":         http.StatusUnauthorized,
		"localhost.example:9900": http.StatusUnauthorized,
	} {
		req := httptest.NewRequest("GET", "/v1/status", nil)
		req.RemoteAddr = addr
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != want {
			t.Errorf("GET /v1/status from %s without a token: %d, want %d", addr, w.Code, want)
		}
	}

	// A read token configured: the status reads stay open on localhost,
	// the configuration needs the token there too, and nothing is open
	// from elsewhere.
	_, sR := apitest.NewServer(t, apitest.NewFake("iwash1"), nil)
	for _, c := range []struct {
		path, addr string
		want       int
	}{
		{"/v1/status", "127.0.0.1:40000", http.StatusOK},
		{"/v1/services", "[::1]:40000", http.StatusOK},
		{"/v1/vrrp?node=all", "127.0.0.1:40000", http.StatusOK},
		{"/v1/config", "127.0.0.1:40000", http.StatusUnauthorized},
		{"/v1/config?format=text", "[::1]:40000", http.StatusUnauthorized},
		{"/v1/status", "192.0.2.7:40000", http.StatusUnauthorized},
		{"/v1/members", "[2001:db8::7]:40000", http.StatusUnauthorized},
	} {
		req := httptest.NewRequest("GET", c.path, nil)
		req.RemoteAddr = c.addr
		w := httptest.NewRecorder()
		sR.ServeHTTP(w, req)
		if w.Code != c.want {
			t.Errorf("read token configured: GET %s from %s without a token: %d, want %d %s", c.path, c.addr, w.Code, c.want, w.Body)
		}
	}
}

// TestStatusPageLocalNoToken: in headless Chromium on the director itself
// (loopback), a group without a read-only token shows the status page
// without asking for one, and never says a token was rejected when none
// was sent.
func TestStatusPageLocalNoToken(t *testing.T) {
	_, servers := group(t, func(o *api.Options) { o.ReadToken, o.PeerToken = "", "" })
	dom := string(chromium(t, servers[1].URL+"/", "--dump-dom"))
	for _, want := range []string{"node iwash2 · leader iwash1", "VI_1", "198.51.100.11:3128", `<span id="err"></span>`} {
		if !strings.Contains(dom, want) {
			t.Errorf("page without a token on localhost lacks %q", want)
		}
	}
	if strings.Contains(dom, `id="auth" class="show"`) {
		t.Error("page without a token on localhost asks for one")
	}
	if t.Failed() {
		t.Logf("DOM:\n%s", dom)
	}
}
