package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"quadrature/api"
	"quadrature/api/apitest"
)

// GET /v1/config?stale=true is served by the backend's StaleReader and
// marked stale in the body and a header; a plain read is not; a bad value
// and a backend without stale reads are refused in JSON.
func TestStaleConfigRead(t *testing.T) {
	ts, _ := apitest.NewServer(t, apitest.NewFake("iwash1"), nil)
	noStale, _ := apitest.NewServer(t, struct{ api.Backend }{apitest.NewFake("iwash1")}, nil)
	get := func(base, query string) (int, http.Header, []byte) {
		req, _ := http.NewRequest("GET", base+"/v1/config"+query, nil)
		req.Header.Set("Authorization", "Bearer "+apitest.AdminToken)
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, b
	}
	for _, c := range []struct {
		base, query string
		status      int
		stale       bool
	}{
		{ts.URL, "", 200, false},
		{ts.URL, "?stale=true", 200, true},
		{ts.URL, "?stale=1", 200, true},
		{ts.URL, "?stale=0", 200, false},
		{ts.URL, "?stale=maybe", 400, false},
		{noStale.URL, "?stale=true", 400, false},
		{noStale.URL, "", 200, false},
	} {
		code, h, b := get(c.base, c.query)
		if code != c.status {
			t.Errorf("%s: %d %s, want %d", c.query, code, b, c.status)
			continue
		}
		if code != 200 {
			var e api.ErrorBody
			if json.Unmarshal(b, &e) != nil || e.Error == "" {
				t.Errorf("%s: refusal is not a JSON error: %s", c.query, b)
			}
			continue
		}
		var doc api.ConfigDoc
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Stale != c.stale || (h.Get("X-Quadrature-Stale") == "true") != c.stale || (c.stale && doc.StaleReason == "") {
			t.Errorf("%s: stale %v header %q reason %q, want stale %v", c.query, doc.Stale, h.Get("X-Quadrature-Stale"), doc.StaleReason, c.stale)
		}
	}
}
