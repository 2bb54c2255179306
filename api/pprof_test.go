package api_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"

	"quadrature/api/apitest"
)

// TestPprofNeedsAdmin: the runtime profiles answer 401 without a token or
// with a wrong one, 403 with the read-only token, and serve a real heap
// profile (gzipped protobuf with pprof's sample types) to the admin token.
func TestPprofNeedsAdmin(t *testing.T) {
	f := apitest.NewFake("iwash1")
	ts, _ := apitest.NewServer(t, f, nil)
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/goroutine",
		"/debug/pprof/profile?seconds=1", "/debug/pprof/trace?seconds=1", "/debug/pprof/cmdline", "/debug/pprof/symbol"} {
		for _, c := range []struct {
			name, token string
			want        int
		}{
			{"no token", "", http.StatusUnauthorized},
			{"wrong token", "not-the-token", http.StatusUnauthorized},
			{"read token", apitest.ReadToken, http.StatusForbidden},
		} {
			resp, out := do(t, ts, "GET", path, c.token, "")
			if resp.StatusCode != c.want {
				t.Errorf("%s, %s: status %d, want %d (%s)", path, c.name, resp.StatusCode, c.want, out)
			}
			if bytes.Contains(out, []byte("goroutine")) || bytes.Contains(out, []byte("inuse_space")) {
				t.Errorf("%s, %s: the refusal leaks a profile", path, c.name)
			}
		}
	}
	if resp, out := do(t, ts, "GET", "/debug/pprof/", apitest.AdminToken, ""); resp.StatusCode != http.StatusOK ||
		!strings.Contains(string(out), "heap") {
		t.Errorf("index with the admin token: %d %.200s", resp.StatusCode, out)
	}
	resp, out := do(t, ts, "GET", "/debug/pprof/heap?gc=1", apitest.AdminToken, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("heap with the admin token: %d %.200s", resp.StatusCode, out)
	}
	zr, err := gzip.NewReader(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("heap profile is not gzipped protobuf: %v (%d bytes)", err, len(out))
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"inuse_space", "alloc_objects", "bytes"} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("heap profile lacks sample type %q", want)
		}
	}
	if resp, out := do(t, ts, "GET", "/debug/pprof/heap?debug=1", apitest.AdminToken, ""); resp.StatusCode != http.StatusOK ||
		!strings.HasPrefix(string(out), "heap profile:") {
		t.Errorf("heap text profile: %d %.100s", resp.StatusCode, out)
	}
	if resp, _ := do(t, ts, "GET", "/debug/pprof/nosuchprofile", apitest.AdminToken, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown profile: %d, want 404", resp.StatusCode)
	}
}
