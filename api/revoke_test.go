package api_test

import (
	"errors"
	"slices"
	"testing"

	"quadrature/api/apitest"
	"quadrature/api/client"
)

func TestRevocations(t *testing.T) {
	f := apitest.NewFake("iwash1")
	ts, _ := apitest.NewServer(t, f, nil)
	admin := apitest.NewClient(t, ts, apitest.AdminToken)
	read := apitest.NewClient(t, ts, apitest.ReadToken)
	ctx := t.Context()
	if err := read.Revoke(ctx, "iwash3", true); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("revoke with the read token: %v", err)
	}
	if err := admin.Revoke(ctx, "iwash3", true); err != nil {
		t.Fatal(err)
	}
	got, err := read.Revocations(ctx)
	if err != nil || !slices.Equal(got, []string{"iwash3"}) {
		t.Fatalf("revocations %v %v", got, err)
	}
	servers, _ := read.RaftServers(ctx)
	for _, s := range servers {
		if s.Name == "iwash3" {
			t.Error("a revoked node is still a raft server")
		}
	}
	var ce *client.Error
	if err := admin.Revoke(ctx, "iwash1", true); !errors.As(err, &ce) || ce.StatusCode != 422 {
		t.Errorf("self-revocation: %v", err)
	}
	if err := admin.Revoke(ctx, "bad name", true); !errors.As(err, &ce) || ce.StatusCode != 400 {
		t.Errorf("bad name: %v", err)
	}
	if err := admin.Revoke(ctx, "iwash3", false); err != nil {
		t.Fatal(err)
	}
	if got, _ := read.Revocations(ctx); len(got) != 0 {
		t.Fatalf("after unrevoke: %v", got)
	}
}
