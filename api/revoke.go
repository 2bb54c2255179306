package api

import (
	"context"
	"errors"
	"net/http"
)

// Revoker is the optional part of a Backend that manages the group's deny
// list of node names (POST/DELETE /v1/revocations, GET /v1/revocations).
// A revoked node's certificate is refused by every node's Raft port and it
// is removed from the Raft configuration.
type Revoker interface {
	Revoke(ctx context.Context, node string, revoked bool) error
	Revocations(ctx context.Context) ([]string, error)
}

// RevokeRequest is the body of POST /v1/revocations.
type RevokeRequest struct {
	Node string `json:"node"`
}

func (q *RevokeRequest) validate() error { return checkName("node", q.Node) }

// RevocationsBody is the body of GET /v1/revocations.
type RevocationsBody struct {
	Revoked []string `json:"revoked"`
}

var errNoRevoker = errors.New("this backend has no deny list")

// revoker returns the backend's deny list, or answers 501 and false.
func (s *Server) revoker(w http.ResponseWriter) (Revoker, bool) {
	if r, ok := s.backend.(Revoker); ok {
		return r, true
	}
	writeError(w, http.StatusNotImplemented, ErrorBody{Error: errNoRevoker.Error(), Code: "not_implemented"})
	return nil, false
}

func (s *Server) registerRevokeRoutes() {
	s.route("GET", "/v1/revocations", Read, 0, s.handleRevocations)
	s.route("POST", "/v1/revocations", Admin, MaxSmallBody, s.handleRevoke)
	s.route("DELETE", "/v1/revocations/{name}", Admin, MaxSmallBody, s.handleUnrevoke)
}

func (s *Server) handleRevocations(w http.ResponseWriter, r *http.Request) {
	rv, ok := s.revoker(w)
	if !ok {
		return
	}
	ctx, cancel := s.backendCtx(r)
	defer cancel()
	names, err := rv.Revocations(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if names == nil {
		names = []string{}
	}
	writeJSON(w, http.StatusOK, RevocationsBody{Revoked: names})
}

func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	var q RevokeRequest
	if err := decodeBody(r.Body, &q); err != nil {
		s.fail(w, r, err)
		return
	}
	s.setRevoked(w, r, q.Node, true)
}

func (s *Server) handleUnrevoke(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := checkName("name", name); err != nil {
		s.fail(w, r, err)
		return
	}
	s.setRevoked(w, r, name, false)
}

func (s *Server) setRevoked(w http.ResponseWriter, r *http.Request, node string, revoked bool) {
	rv, ok := s.revoker(w)
	if !ok {
		return
	}
	ctx, cancel := s.backendCtx(r)
	defer cancel()
	if err := rv.Revoke(ctx, node, revoked); err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Warn("node revocation changed", "node", node, "revoked", revoked, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, OK{OK: true})
}
