package api_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"quadrature/api/apitest"
)

// Handler cost without the network: the figures say what one API request
// costs the agent (auth + backend call + JSON), not a timing goal.
func benchHandler(b *testing.B, method, path, token string) {
	f := apitest.NewFake("iwash1")
	_, s := apitest.NewServer(b, f, nil)
	req := httptest.NewRequest(method, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != http.StatusOK && w.Code != http.StatusUnauthorized {
			b.Fatalf("status %d", w.Code)
		}
		f.ResetCalls()
	}
}

func BenchmarkStatus(b *testing.B)       { benchHandler(b, "GET", "/v1/status", apitest.ReadToken) }
func BenchmarkServices(b *testing.B)     { benchHandler(b, "GET", "/v1/services", apitest.ReadToken) }
func BenchmarkMetrics(b *testing.B)      { benchHandler(b, "GET", "/metrics", "") }
func BenchmarkUnauthorized(b *testing.B) { benchHandler(b, "GET", "/v1/status", "wrong") }
