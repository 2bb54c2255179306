package cluster

import (
	"encoding/json"
	"fmt"
	"net"
	"sort"

	"github.com/hashicorp/memberlist"
)

// metaVersion is the version of the gossip metadata encoding.
const metaVersion = 1

// Meta is a node's gossip metadata: a small versioned JSON object carried
// in memberlist's Node.Meta (at most memberlist.MetaMaxSize = 512 bytes).
// Role, RaftAddr and BootstrapExpect are owned by the node; the other
// fields are the caller's and can change at run time (UpdateMetadata).
type Meta struct {
	Role            Role   `json:"r,omitempty"`
	RaftAddr        string `json:"ra,omitempty"`
	BootstrapExpect int    `json:"bx,omitempty"`
	// Leaving is set by Leave just before the node departs, so peers can
	// tell a graceful leave from a failure.
	Leaving bool `json:"lv,omitempty"`

	// APIAddr is where this node serves the HTTP API ("ip:port").
	APIAddr string `json:"api,omitempty"`
	// MACs are the hardware addresses of this node's VRRP interfaces.
	MACs []string `json:"macs,omitempty"`
	// TableDigest is the digest of this node's kernel IPVS table.
	TableDigest string `json:"td,omitempty"`
	// Extra carries anything else, small.
	Extra map[string]string `json:"x,omitempty"`
}

type wireMeta struct {
	V int `json:"v"`
	Meta
}

// encode renders m for memberlist and checks its size and fields.
func (m Meta) encode() ([]byte, error) {
	for _, mac := range m.MACs {
		if _, err := net.ParseMAC(mac); err != nil {
			return nil, fmt.Errorf("cluster: metadata mac %q: %w", mac, err)
		}
	}
	b, err := json.Marshal(wireMeta{V: metaVersion, Meta: m})
	if err != nil {
		return nil, fmt.Errorf("cluster: encode metadata: %w", err)
	}
	if len(b) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("cluster: metadata is %d bytes, more than the %d gossip allows", len(b), memberlist.MetaMaxSize)
	}
	return b, nil
}

// decodeMeta parses a peer's metadata. Newer versions are read best effort
// (unknown fields ignored); a missing version or role is an error.
func decodeMeta(b []byte) (Meta, error) {
	if len(b) == 0 {
		return Meta{}, fmt.Errorf("cluster: empty metadata")
	}
	if len(b) > memberlist.MetaMaxSize {
		return Meta{}, fmt.Errorf("cluster: metadata is %d bytes, over %d", len(b), memberlist.MetaMaxSize)
	}
	var w wireMeta
	if err := json.Unmarshal(b, &w); err != nil {
		return Meta{}, fmt.Errorf("cluster: decode metadata: %w", err)
	}
	if w.V < 1 {
		return Meta{}, fmt.Errorf("cluster: metadata version %d not supported", w.V)
	}
	if !w.Role.Valid() {
		return Meta{}, fmt.Errorf("cluster: metadata role %q unknown", w.Role)
	}
	if w.BootstrapExpect < 0 {
		return Meta{}, fmt.Errorf("cluster: metadata bootstrap_expect %d negative", w.BootstrapExpect)
	}
	if w.RaftAddr != "" {
		if _, _, err := net.SplitHostPort(w.RaftAddr); err != nil {
			return Meta{}, fmt.Errorf("cluster: metadata raft address %q: %w", w.RaftAddr, err)
		}
	}
	return w.Meta, nil
}

// clone returns a deep copy.
func (m Meta) clone() Meta {
	out := m
	out.MACs = append([]string(nil), m.MACs...)
	if m.Extra != nil {
		out.Extra = make(map[string]string, len(m.Extra))
		for k, v := range m.Extra {
			out.Extra[k] = v
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
