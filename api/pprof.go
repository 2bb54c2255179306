package api

import (
	"net/http"
	"net/http/pprof"
)

// registerPprofRoutes serves Go's runtime profiles under /debug/pprof/,
// for the admin token only: a CPU profile or an execution trace costs the
// node CPU while it runs, and a heap or goroutine dump shows the process's
// internals (configuration strings, addresses). The handlers are the
// standard library's, so `go tool pprof -http=: -H 'Authorization: Bearer
// TOKEN' https://NODE:9900/debug/pprof/heap` works as usual (or curl the
// profile to a file first). A CPU profile longer than the server's write
// timeout (60 s) is refused by the handler itself.
func (s *Server) registerPprofRoutes() {
	s.route("GET", "/debug/pprof/{$}", Admin, 0, pprof.Index)
	s.route("GET", "/debug/pprof/cmdline", Admin, 0, pprof.Cmdline)
	s.route("GET", "/debug/pprof/profile", Admin, 0, pprof.Profile)
	s.route("GET", "/debug/pprof/symbol", Admin, 0, pprof.Symbol)
	s.route("POST", "/debug/pprof/symbol", Admin, MaxSmallBody, pprof.Symbol)
	s.route("GET", "/debug/pprof/trace", Admin, 0, pprof.Trace)
	// heap, allocs, goroutine, block, mutex, threadcreate: by name.
	s.route("GET", "/debug/pprof/{name}", Admin, 0, func(w http.ResponseWriter, r *http.Request) {
		pprof.Handler(r.PathValue("name")).ServeHTTP(w, r)
	})
}
