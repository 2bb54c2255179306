package api

import (
	_ "embed"
	"net/http"
)

// OpenAPI is the OpenAPI 3 description of this API, served at /v1/openapi.
// TestOpenAPICoverage keeps it and the registered routes in step.
//
//go:embed openapi.json
var OpenAPI []byte

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(OpenAPI)
}
