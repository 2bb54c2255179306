// Package client is the typed HTTP client of the quadrature admin API
// (package api). The CLI subcommands of cmd/quadrature use it; so does the
// linearizability check in api/apitest. It holds no state besides the
// endpoint, the token and an http.Client, and never retries writes.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"quadrature/api"
)

// Options configures a Client.
type Options struct {
	// Addr is "host:port" (http) or a base URL "http(s)://host:port".
	Addr string
	// Token is the bearer token (read-only or admin).
	Token string
	// CAFile, if set, is the PEM bundle that verifies an https server.
	CAFile string
	// CertFile and KeyFile present a client certificate (a node's own, for
	// read access between the nodes of a group).
	CertFile string
	KeyFile  string
	// Timeout bounds each request (default 30 s) unless HTTPClient is set.
	Timeout time.Duration
	// HTTPClient overrides the transport (tests, custom TLS).
	HTTPClient *http.Client
}

// Client calls one node's API.
type Client struct {
	base  url.URL
	token string
	hc    *http.Client
}

// New checks opts and returns a Client.
func New(opts Options) (*Client, error) {
	addr := strings.TrimSpace(opts.Addr)
	if addr == "" {
		addr = api.DefaultListen
	}
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil {
		return nil, fmt.Errorf("api address %q: %w", opts.Addr, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("api address %q: want host:port or http(s)://host:port", opts.Addr)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	c := &Client{base: *u, token: opts.Token, hc: opts.HTTPClient}
	if c.hc == nil {
		timeout := opts.Timeout
		if timeout <= 0 {
			timeout = 30 * time.Second
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = nil // an admin API on the director's own network is never proxied
		if opts.CAFile != "" {
			pem, err := os.ReadFile(opts.CAFile)
			if err != nil {
				return nil, fmt.Errorf("ca file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("ca file %s: no PEM certificates", opts.CAFile)
			}
			tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
		}
		if opts.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(opts.CertFile, opts.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("client certificate: %w", err)
			}
			if tr.TLSClientConfig == nil {
				tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
			}
			tr.TLSClientConfig.Certificates = []tls.Certificate{cert}
		}
		c.hc = &http.Client{Timeout: timeout, Transport: tr}
	}
	return c, nil
}

// Error is a non-2xx answer of the API. errors.Is maps it back to the api
// sentinels (ErrConflict, ErrNotFound, ErrInvalid, ErrNoLeader) and to
// ErrUnauthorized / ErrForbidden.
type Error struct {
	StatusCode int
	Body       api.ErrorBody
	Raw        []byte // the answer as received
}

// Authentication failures.
var (
	ErrUnauthorized = errors.New("unauthorized")
	ErrForbidden    = errors.New("forbidden")
)

func (e *Error) Error() string {
	msg := e.Body.Error
	if msg == "" {
		msg = http.StatusText(e.StatusCode)
	}
	// One sentence the operator can act on, with the HTTP status after
	// it: "no VRRP instance "VI_9" on this group (404)".
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%d)", msg, e.StatusCode)
	for _, d := range e.Body.Details {
		b.WriteString("\n  ")
		b.WriteString(d.String())
	}
	return b.String()
}

// Is matches the sentinel errors.
func (e *Error) Is(target error) bool {
	switch target {
	case api.ErrConflict:
		return e.StatusCode == http.StatusPreconditionFailed
	case api.ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case api.ErrInvalid:
		return e.StatusCode == http.StatusUnprocessableEntity
	case api.ErrEmptyConfig:
		return e.StatusCode == http.StatusUnprocessableEntity && e.Body.Code == "empty_config"
	case api.ErrNoLeader:
		return e.StatusCode == http.StatusServiceUnavailable && e.Body.Code == "no_leader"
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrForbidden:
		return e.StatusCode == http.StatusForbidden
	}
	return false
}

// maxResponse bounds what the client reads from one answer.
const maxResponse = 64 << 20

type request struct {
	method  string
	path    string
	query   url.Values
	header  http.Header
	body    any    // JSON-encoded if non-nil
	rawBody []byte // sent as is (with header Content-Type)
}

// do performs one request and decodes a 200 answer into out (unless nil);
// it returns the response headers.
func (c *Client) do(ctx context.Context, q request, out any) (http.Header, error) {
	u := c.base
	u.Path += q.path
	u.RawQuery = q.query.Encode()
	var body io.Reader
	if q.body != nil {
		data, err := json.Marshal(q.body)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(data)
	} else if q.rawBody != nil {
		body = bytes.NewReader(q.rawBody)
	}
	req, err := http.NewRequestWithContext(ctx, q.method, u.String(), body)
	if err != nil {
		return nil, err
	}
	for k, vs := range q.header {
		req.Header[k] = vs
	}
	if q.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, unreachable(c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return resp.Header, fmt.Errorf("api %s %s: read answer: %w", q.method, q.path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &Error{StatusCode: resp.StatusCode, Raw: data}
		if json.Unmarshal(data, &e.Body) != nil {
			e.Body = api.ErrorBody{Error: strings.TrimSpace(string(data))}
		}
		return resp.Header, e
	}
	if out == nil {
		return resp.Header, nil
	}
	if s, ok := out.(*string); ok {
		*s = string(data)
		return resp.Header, nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return resp.Header, fmt.Errorf("api %s %s: decode answer: %w", q.method, q.path, err)
	}
	return resp.Header, nil
}

// Status is GET /v1/status.
func (c *Client) Status(ctx context.Context) (api.Status, error) {
	var st api.Status
	_, err := c.do(ctx, request{method: "GET", path: "/v1/status"}, &st)
	return st, err
}

// Members is GET /v1/members.
func (c *Client) Members(ctx context.Context) ([]api.Member, error) {
	var b api.MembersBody
	_, err := c.do(ctx, request{method: "GET", path: "/v1/members"}, &b)
	return b.Members, err
}

// VRRP is GET /v1/vrrp: this node's instances.
func (c *Client) VRRP(ctx context.Context) (api.VRRPBody, error) {
	var b api.VRRPBody
	_, err := c.do(ctx, request{method: "GET", path: "/v1/vrrp"}, &b)
	return b, err
}

// VRRPNodes is GET /v1/vrrp?node=NODE, with NODE "all" or a member name.
func (c *Client) VRRPNodes(ctx context.Context, node string) (api.VRRPAllBody, error) {
	var b api.VRRPAllBody
	_, err := c.do(ctx, request{method: "GET", path: "/v1/vrrp", query: url.Values{"node": {node}}}, &b)
	return b, err
}

// Services is GET /v1/services.
func (c *Client) Services(ctx context.Context) (api.ServicesBody, error) {
	var b api.ServicesBody
	_, err := c.do(ctx, request{method: "GET", path: "/v1/services"}, &b)
	return b, err
}

// Config is GET /v1/config.
func (c *Client) Config(ctx context.Context) (api.ConfigDoc, error) {
	var d api.ConfigDoc
	_, err := c.do(ctx, request{method: "GET", path: "/v1/config"}, &d)
	return d, err
}

// StaleConfig is GET /v1/config?stale=true: the configuration the node
// has applied, answered without a leader and marked Stale.
func (c *Client) StaleConfig(ctx context.Context) (api.ConfigDoc, error) {
	var d api.ConfigDoc
	_, err := c.do(ctx, request{method: "GET", path: "/v1/config", query: url.Values{"stale": {"true"}}}, &d)
	return d, err
}

// ConfigText is GET /v1/config?format=text: the rendered keepalived.conf
// and its version (from the ETag).
func (c *Client) ConfigText(ctx context.Context) (string, uint64, error) {
	var s string
	h, err := c.do(ctx, request{method: "GET", path: "/v1/config", query: url.Values{"format": {"text"}}}, &s)
	if err != nil {
		return "", 0, err
	}
	v, _ := parseETag(h.Get("ETag"))
	return s, v, nil
}

func parseETag(t string) (uint64, error) {
	t = strings.Trim(strings.TrimPrefix(t, "W/"), `"`)
	return strconv.ParseUint(t, 10, 64)
}

// PutConfig is PUT /v1/config; expect != 0 sends If-Match (compare-and-swap).
func (c *Client) PutConfig(ctx context.Context, req api.ConfigRequest, expect uint64) (api.PutConfigResult, error) {
	return c.PutConfigOpts(ctx, req, expect, PutOptions{})
}

// PutOptions are the query options of PUT /v1/config and POST
// /v1/config/validate.
type PutOptions struct {
	// AllowEmpty (?allow_empty=true) accepts a configuration without any
	// vrrp_instance or virtual_server (which removes every VIP and
	// virtual service); without it such a configuration is refused with
	// an error matching api.ErrEmptyConfig.
	AllowEmpty bool
}

// PutConfigOpts is PutConfig with options.
func (c *Client) PutConfigOpts(ctx context.Context, req api.ConfigRequest, expect uint64, o PutOptions) (api.PutConfigResult, error) {
	var res api.PutConfigResult
	q := request{method: "PUT", path: "/v1/config", body: req}
	if o.AllowEmpty {
		q.query = url.Values{"allow_empty": {"true"}}
	}
	if expect != 0 {
		q.header = http.Header{"If-Match": {`"` + strconv.FormatUint(expect, 10) + `"`}}
	}
	_, err := c.do(ctx, q, &res)
	return res, err
}

// ValidateConfig is POST /v1/config/validate: the result carries the
// diff against the running configuration and a summary of the changes.
func (c *Client) ValidateConfig(ctx context.Context, req api.ConfigRequest) (api.PutConfigResult, error) {
	return c.ValidateConfigOpts(ctx, req, PutOptions{})
}

// ValidateConfigOpts is ValidateConfig with options (AllowEmpty: validate
// a configuration without instances and virtual servers as such).
func (c *Client) ValidateConfigOpts(ctx context.Context, req api.ConfigRequest, o PutOptions) (api.PutConfigResult, error) {
	var res api.PutConfigResult
	q := request{method: "POST", path: "/v1/config/validate", body: req}
	if o.AllowEmpty {
		q.query = url.Values{"allow_empty": {"true"}}
	}
	_, err := c.do(ctx, q, &res)
	return res, err
}

// Drain is POST /v1/drain.
func (c *Client) Drain(ctx context.Context, vs, rs string) error {
	_, err := c.do(ctx, request{method: "POST", path: "/v1/drain", body: api.DrainRequest{VS: vs, RS: rs}}, nil)
	return err
}

// Undrain is POST /v1/undrain.
func (c *Client) Undrain(ctx context.Context, vs, rs string) error {
	_, err := c.do(ctx, request{method: "POST", path: "/v1/undrain", body: api.DrainRequest{VS: vs, RS: rs}}, nil)
	return err
}

// Maintenance is POST /v1/maintenance.
func (c *Client) Maintenance(ctx context.Context, node string, on bool) error {
	_, err := c.do(ctx, request{method: "POST", path: "/v1/maintenance", body: api.MaintenanceRequest{Node: node, On: &on}}, nil)
	return err
}

// Transfer is POST /v1/transfer.
func (c *Client) Transfer(ctx context.Context, instance, node string) error {
	_, err := c.do(ctx, request{method: "POST", path: "/v1/transfer", body: api.TransferRequest{Instance: instance, Node: node}}, nil)
	return err
}

// RaftServers is GET /v1/raft/servers.
func (c *Client) RaftServers(ctx context.Context) ([]api.RaftServer, error) {
	var b api.RaftServersBody
	_, err := c.do(ctx, request{method: "GET", path: "/v1/raft/servers"}, &b)
	return b.Servers, err
}

// AddVoter is POST /v1/raft/voters.
func (c *Client) AddVoter(ctx context.Context, name, addr string) error {
	_, err := c.do(ctx, request{method: "POST", path: "/v1/raft/voters", body: api.RaftServerRequest{Name: name, Addr: addr}}, nil)
	return err
}

// AddWitness is POST /v1/raft/witnesses.
func (c *Client) AddWitness(ctx context.Context, name, addr string) error {
	_, err := c.do(ctx, request{method: "POST", path: "/v1/raft/witnesses", body: api.RaftServerRequest{Name: name, Addr: addr}}, nil)
	return err
}

// RemoveServer is DELETE /v1/raft/servers/NAME.
func (c *Client) RemoveServer(ctx context.Context, name string) error {
	_, err := c.do(ctx, request{method: "DELETE", path: "/v1/raft/servers/" + url.PathEscape(name)}, nil)
	return err
}

// Snapshot is POST /v1/raft/snapshot.
func (c *Client) Snapshot(ctx context.Context) error {
	_, err := c.do(ctx, request{method: "POST", path: "/v1/raft/snapshot", body: api.SnapshotRequest{}}, nil)
	return err
}

// Ready is GET /readyz; a not-ready node is not an error.
func (c *Client) Ready(ctx context.Context) (api.ReadyBody, error) {
	var b api.ReadyBody
	_, err := c.do(ctx, request{method: "GET", path: "/readyz"}, &b)
	var e *Error
	if errors.As(err, &e) && e.StatusCode == http.StatusServiceUnavailable {
		b = api.ReadyBody{}
		if json.Unmarshal(e.Raw, &b) != nil || b.Ready {
			b = api.ReadyBody{Reason: strings.TrimSpace(string(e.Raw))}
		}
		return b, nil
	}
	return b, err
}

// UnreachableError is a request that got no answer from the agent: the
// operator is told which address and why, not the HTTP client's chain
// (`Get "http://...": dial tcp ...: connect: connection refused`).
type UnreachableError struct {
	Addr string // the API's base URL
	Err  error  // the transport's error
}

func (e *UnreachableError) Error() string {
	why := e.Err.Error()
	var ue *url.Error
	if errors.As(e.Err, &ue) {
		why = ue.Err.Error()
	}
	var op *net.OpError
	switch {
	case errors.Is(e.Err, syscall.ECONNREFUSED):
		return fmt.Sprintf("cannot reach the agent at %s: connection refused (is quadrature agent running there? pass -api ADDR)", e.Addr)
	case errors.Is(e.Err, context.DeadlineExceeded):
		return fmt.Sprintf("the agent at %s did not answer in time (-timeout)", e.Addr)
	case errors.As(e.Err, new(*tls.CertificateVerificationError)):
		return fmt.Sprintf("cannot reach the agent at %s: its certificate is not one the CA file vouches for (-ca-file the group's ca.crt): %s", e.Addr, why)
	case errors.As(e.Err, &op) && op.Err != nil:
		why = op.Err.Error()
	}
	return fmt.Sprintf("cannot reach the agent at %s: %s", e.Addr, why)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

func unreachable(base url.URL, err error) error {
	base.Path, base.RawQuery = "", ""
	return &UnreachableError{Addr: base.String(), Err: err}
}
