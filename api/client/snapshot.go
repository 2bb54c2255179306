package client

import (
	"bytes"
	"context"
	"fmt"
	"net/http"

	"quadrature/api"
)

// SaveSnapshot is GET /v1/snapshot: the group's replicated state as a
// snapshot envelope, verified (api.ReadSnapshot: complete, checksum) before
// it is returned, with its header.
func (c *Client) SaveSnapshot(ctx context.Context) (api.SnapshotHeader, []byte, error) {
	var s string
	if _, err := c.do(ctx, request{method: "GET", path: "/v1/snapshot"}, &s); err != nil {
		return api.SnapshotHeader{}, nil, err
	}
	env := []byte(s)
	h, _, err := api.ReadSnapshot(bytes.NewReader(env), api.MaxSnapshotBody)
	if err != nil {
		return h, nil, fmt.Errorf("api GET /v1/snapshot: the answer is %w", err)
	}
	return h, env, nil
}

// RestoreSnapshot is POST /v1/snapshot/restore with envelope, a snapshot
// as SaveSnapshot returned it. A damaged or foreign snapshot is an *Error
// (422, code invalid_snapshot) matching api.ErrInvalid, and the group is
// unchanged.
func (c *Client) RestoreSnapshot(ctx context.Context, envelope []byte) (api.SnapshotRestoreResult, error) {
	var res api.SnapshotRestoreResult
	_, err := c.do(ctx, request{method: "POST", path: "/v1/snapshot/restore", rawBody: envelope,
		header: http.Header{"Content-Type": {api.SnapshotContentType}}}, &res)
	return res, err
}
