package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"sync"
)

// VRRPBody is the body of GET /v1/vrrp: this node's instances. The JSON
// names are a contract for scripts (testdata/vrrp.golden.json).
type VRRPBody struct {
	Node      string         `json:"node"`
	Instances []VRRPInstance `json:"instances"`
}

// VRRPNode is one member's part of GET /v1/vrrp?node=all.
type VRRPNode struct {
	Node      string         `json:"node"`
	APIAddr   string         `json:"api_addr"`
	Instances []VRRPInstance `json:"instances"`
	Error     string         `json:"error,omitempty"` // why this member did not answer
}

// VRRPAllBody is the body of GET /v1/vrrp?node=all (or ?node=NAME): one
// entry per member, Partial when at least one did not answer.
type VRRPAllBody struct {
	Nodes   []VRRPNode `json:"nodes"`
	Partial bool       `json:"partial"`
}

const maxPeerBody = 8 << 20

func (s *Server) handleVRRP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.backendCtx(r)
	defer cancel()
	which := r.URL.Query().Get("node")
	st, err := s.backend.Status(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if which == "" {
		insts, err := s.backend.VRRP(ctx)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if insts == nil {
			insts = []VRRPInstance{}
		}
		writeJSON(w, http.StatusOK, VRRPBody{Node: st.Node, Instances: insts})
		return
	}
	if which != "all" {
		if err := checkName("node", which); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	members, err := s.backend.Members(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var targets []Member
	for _, m := range members {
		if which == "all" || m.Name == which {
			targets = append(targets, m)
		}
	}
	if len(targets) == 0 {
		s.fail(w, r, fmt.Errorf("member %q: %w", which, ErrNotFound))
		return
	}
	out := VRRPAllBody{Nodes: make([]VRRPNode, len(targets))}
	var wg sync.WaitGroup
	for i, m := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out.Nodes[i] = s.vrrpOf(ctx, r, st.Node, m)
		}()
	}
	wg.Wait()
	sort.Slice(out.Nodes, func(i, j int) bool { return out.Nodes[i].Node < out.Nodes[j].Node })
	for _, n := range out.Nodes {
		if n.Error != "" {
			out.Partial = true
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// vrrpOf asks one member for its instances: the backend for this node, the
// member's API (with this node's credentials, bounded time) for the others.
func (s *Server) vrrpOf(ctx context.Context, r *http.Request, self string, m Member) VRRPNode {
	n := VRRPNode{Node: m.Name, APIAddr: m.APIAddr, Instances: []VRRPInstance{}}
	if m.Name == self {
		insts, err := s.backend.VRRP(ctx)
		if err != nil {
			n.Error = err.Error()
		} else if insts != nil {
			n.Instances = insts
		}
		return n
	}
	switch {
	case m.State == "dead" || m.State == "left":
		n.Error = "member is " + m.State
		return n
	case m.APIAddr == "":
		n.Error = "member has no api address"
		return n
	}
	insts, err := s.fetchPeerVRRP(ctx, m)
	if err != nil {
		n.Error = err.Error()
		return n
	}
	n.Instances = insts
	return n
}

// fetchPeerVRRP asks a member's API for its instances with this node's own
// credentials (its certificate over TLS, else the read-only token): the
// caller's token never leaves this node.
func (s *Server) fetchPeerVRRP(ctx context.Context, m Member) ([]VRRPInstance, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.FanoutTimeout)
	defer cancel()
	u := url.URL{Scheme: s.opts.PeerScheme, Host: m.APIAddr, Path: "/v1/vrrp"}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("peer %s: %w", m.Name, err)
	}
	// The node's own credentials, never the caller's: its certificate
	// over TLS; the read-only token only when it has no certificate to
	// show (an insecure group over http, or https without a node
	// certificate, where the peer's name was verified first).
	if s.opts.PeerToken != "" && !s.peerHasCert() {
		req.Header.Set("Authorization", "Bearer "+s.opts.PeerToken)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.peerClient(m.Name).Do(req)
	if err != nil {
		return nil, fmt.Errorf("peer %s: %w", m.Name, err)
	}
	defer resp.Body.Close()
	body := io.LimitReader(resp.Body, maxPeerBody)
	if resp.StatusCode != http.StatusOK {
		var eb ErrorBody
		if json.NewDecoder(body).Decode(&eb) == nil && eb.Error != "" {
			return nil, fmt.Errorf("peer %s: %s: %s", m.Name, resp.Status, eb.Error)
		}
		return nil, fmt.Errorf("peer %s: %s", m.Name, resp.Status)
	}
	var vb VRRPBody
	if err := json.NewDecoder(body).Decode(&vb); err != nil {
		return nil, fmt.Errorf("peer %s: decode: %w", m.Name, err)
	}
	if vb.Node != m.Name {
		return nil, fmt.Errorf("peer %s: answered as node %q", m.Name, vb.Node)
	}
	if vb.Instances == nil {
		vb.Instances = []VRRPInstance{}
	}
	return vb.Instances, nil
}
