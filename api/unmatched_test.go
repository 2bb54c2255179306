package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"quadrature/api"
	"quadrature/api/apitest"
)

// Unknown paths and wrong methods answer in JSON like every other error.
func TestUnmatchedRoutesAnswerJSON(t *testing.T) {
	ts, _ := apitest.NewServer(t, apitest.NewFake("iwash1"), nil)
	for _, c := range []struct {
		method, path string
		status       int
		code         string
		allow        string
	}{
		{"GET", "/v1/nosuch", 404, "not_found", ""},
		{"GET", "/nosuch/at/all", 404, "not_found", ""},
		{"DELETE", "/v1/status", 405, "method_not_allowed", "GET, HEAD"},
		{"PATCH", "/v1/config", 405, "method_not_allowed", ""},
	} {
		req, _ := http.NewRequest(c.method, ts.URL+c.path, nil)
		req.Header.Set("Authorization", "Bearer "+apitest.AdminToken)
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var body api.ErrorBody
		if resp.StatusCode != c.status || resp.Header.Get("Content-Type") != "application/json" ||
			json.Unmarshal(b, &body) != nil || body.Code != c.code || body.Error == "" {
			t.Errorf("%s %s: %d %s %q", c.method, c.path, resp.StatusCode, resp.Header.Get("Content-Type"), b)
			continue
		}
		if c.status == 405 && (resp.Header.Get("Allow") == "" || !strings.Contains(body.Error, "allowed:")) {
			t.Errorf("%s %s: Allow %q, %q", c.method, c.path, resp.Header.Get("Allow"), body.Error)
		}
		if c.allow != "" && resp.Header.Get("Allow") != c.allow {
			t.Errorf("%s %s: Allow %q, want %q", c.method, c.path, resp.Header.Get("Allow"), c.allow)
		}
	}
	// Routes still work.
	req, _ := http.NewRequest("GET", ts.URL+"/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+apitest.ReadToken)
	resp, err := ts.Client().Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /v1/status: %v %v", resp.Status, err)
	}
	resp.Body.Close()
}
