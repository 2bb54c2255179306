package api_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"quadrature/api"
	"quadrature/api/apitest"
	"quadrature/api/client"
)

// The agent's wiring: a Backend over cluster+fsm, tokens from the cluster
// block (or generated in data_dir), Start, and Shutdown on exit.
func ExampleNew() {
	srv, err := api.New(api.Options{
		Backend:    apitest.NewFake("iwash1"), // the agent passes its cluster backend
		Listen:     "127.0.0.1:0",             // api { listen ADDR } / -api-listen
		AdminToken: "admin-secret",            // or AdminTokenFile, or DataDir → EnsureToken
		ReadToken:  "read-secret",             // or ReadTokenFile
		Version:    "v0.1.0",
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := srv.Start(); err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown(context.Background())

	c, err := client.New(client.Options{Addr: srv.Addr().String(), Token: "read-secret"})
	if err != nil {
		fmt.Println(err)
		return
	}
	st, err := c.Status(context.Background())
	fmt.Println(st.Node, st.Leader, st.RaftState, st.ConfigVersion, err)
	err = c.Drain(context.Background(), "tcp/192.0.2.100:3128", "198.51.100.11:3128")
	fmt.Println(err)
	// Output:
	// iwash1 iwash1 Leader 7 <nil>
	// this operation needs the admin token (403)
}
