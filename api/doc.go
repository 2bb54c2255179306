// Package api is the HTTP admin API that every quadrature node serves: JSON
// reads and writes under /v1/..., /healthz, /readyz, /metrics, an OpenAPI 3
// description at /v1/openapi and a self-contained status page at /.
//
// It owns: routing, authentication (bearer tokens compared in constant time;
// a read-only token and an admin token; EnsureToken generates the admin token
// in the data directory when none is configured), strict decoding of
// size-limited request bodies, the mapping of Backend errors to HTTP statuses
// (ErrNotFound 404, ErrInvalid 422, ErrConflict 412, ErrNoLeader 503),
// compare-and-swap on the configuration through ETag / If-Match, the fan-out
// of GET /v1/vrrp?node=all to every member's API, and its own metrics
// (quadrature_build_info, quadrature_api_*, quadrature_realserver_*).
//
// It must not hold state of its own nor talk to raft, memberlist or the
// kernel: everything goes through the Backend interface, which the agent
// implements over cluster and fsm (and which forwards writes to the leader).
// Requests that fail authentication never reach the Backend.
//
// Who calls it: cmd/quadrature's agent builds a Server with New(Options) and
// runs Start / Shutdown; the CLI talks to it through package api/client;
// package api/apitest holds an in-memory Backend and a linearizability check
// of the configuration register that runs against any API endpoint.
package api
