package client

import (
	"context"
	"net/url"

	"quadrature/api"
)

// Revoke is POST /v1/revocations (revoked) or DELETE /v1/revocations/NAME.
func (c *Client) Revoke(ctx context.Context, node string, revoked bool) error {
	if revoked {
		_, err := c.do(ctx, request{method: "POST", path: "/v1/revocations", body: api.RevokeRequest{Node: node}}, nil)
		return err
	}
	_, err := c.do(ctx, request{method: "DELETE", path: "/v1/revocations/" + url.PathEscape(node)}, nil)
	return err
}

// Revocations is GET /v1/revocations.
func (c *Client) Revocations(ctx context.Context) ([]string, error) {
	var b api.RevocationsBody
	_, err := c.do(ctx, request{method: "GET", path: "/v1/revocations"}, &b)
	return b.Revoked, err
}
