package api

import (
	"net/http"
	"strings"
)

// jsonUnmatched answers what the mux has no route for in JSON, like every
// other error of the API: 404 not_found for an unknown path, 405
// method_not_allowed (with the Allow header the mux computed) for a known
// path and another method. Redirects the mux makes (a cleaned path, a
// trailing slash) pass through.
func jsonUnmatched(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		rec := &headerOnly{header: http.Header{}}
		h.ServeHTTP(rec, r)
		switch rec.code {
		case http.StatusNotFound:
			writeError(w, http.StatusNotFound, ErrorBody{Error: "no such endpoint: " + r.URL.Path + " (see /v1/openapi)", Code: "not_found"})
		case http.StatusMethodNotAllowed:
			allow := rec.header.Get("Allow")
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, ErrorBody{
				Error: r.Method + " is not allowed on " + r.URL.Path + " (allowed: " + strings.ReplaceAll(allow, ",", ", ") + ")",
				Code:  "method_not_allowed"})
		default:
			for k, v := range rec.header {
				w.Header()[k] = v
			}
			if rec.code == 0 {
				rec.code = http.StatusOK
			}
			w.WriteHeader(rec.code)
		}
	})
}

// headerOnly records the status and headers the mux's own handlers set
// and drops their text bodies.
type headerOnly struct {
	header http.Header
	code   int
}

func (h *headerOnly) Header() http.Header { return h.header }
func (h *headerOnly) WriteHeader(code int) {
	if h.code == 0 {
		h.code = code
	}
}
func (h *headerOnly) Write(b []byte) (int, error) {
	if h.code == 0 {
		h.code = http.StatusOK
	}
	return len(b), nil
}
