package apitest

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"quadrature/api"
	"quadrature/api/client"
)

// Tokens used by NewServer.
const (
	AdminToken = "admin-token-for-tests-only"
	ReadToken  = "read-token-for-tests-only"
)

// NewServer serves b through api.New on an httptest server with the test
// tokens; mod may adjust the options. Both are closed in t.Cleanup.
func NewServer(t testing.TB, b api.Backend, mod func(*api.Options)) (*httptest.Server, *api.Server) {
	t.Helper()
	opts := api.Options{
		Backend:    b,
		AdminToken: AdminToken,
		ReadToken:  ReadToken,
		Version:    "test",
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if mod != nil {
		mod(&opts)
	}
	s, err := api.New(opts)
	if err != nil {
		t.Fatalf("api.New: %v", err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts, s
}

// NewClient returns a client of ts with the given token.
func NewClient(t testing.TB, ts *httptest.Server, token string) *client.Client {
	t.Helper()
	c, err := client.New(client.Options{Addr: ts.URL, Token: token, HTTPClient: ts.Client()})
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	return c
}
