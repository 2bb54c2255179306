package config

import "path/filepath"

// The files of a credentials directory (cluster { credentials DIR }), as
// `quadrature cluster init` and `quadrature cluster issue` write them.
const (
	CredCAFile        = "ca.crt"         // the group CA (PEM)
	CredCertFile      = "node.crt"       // this node's certificate, signed by the CA (PEM)
	CredKeyFile       = "node.key"       // this node's private key (PEM)
	CredGossipKeyFile = "gossip.key"     // the gossip encryption key
	CredTokenFile     = "api-token"      // the API admin token
	CredReadTokenFile = "api-read-token" // the API read-only token
)

// ClusterFiles are the effective paths of the cluster's security files:
// explicit keywords win over the credentials directory. "" means nothing
// applies (no such file is configured). The paths are as written in the
// configuration (joined with the credentials directory); none of them is
// checked for existence.
type ClusterFiles struct {
	// CertFile, KeyFile and CAFile are raft's mutual TLS: the tls block
	// when there is one, else credentials' node.crt, node.key and ca.crt.
	CertFile string `json:"cert_file,omitempty"`
	KeyFile  string `json:"key_file,omitempty"`
	CAFile   string `json:"ca_file,omitempty"`
	// GossipKeyFile is gossip_key_file, else credentials' gossip.key.
	GossipKeyFile string `json:"gossip_key_file,omitempty"`
	// TokenFile and ReadTokenFile are the API's admin and read-only
	// tokens: api token_file / read_token_file, else credentials'
	// api-token / api-read-token.
	TokenFile     string `json:"token_file,omitempty"`
	ReadTokenFile string `json:"read_token_file,omitempty"`
	// APICertFile, APIKeyFile and APICAFile serve the API over TLS and
	// verify peers (clients and fan-out): api cert_file / key_file /
	// ca_file, each else credentials' node.crt / node.key / ca.crt. A tls
	// block alone does not put the API on TLS.
	APICertFile string `json:"api_cert_file,omitempty"`
	APIKeyFile  string `json:"api_key_file,omitempty"`
	APICAFile   string `json:"api_ca_file,omitempty"`
}

// Files resolves the effective security files of the cluster block (see
// ClusterFiles for the precedence). It reads nothing from disk.
func (c *Cluster) Files() ClusterFiles {
	if c == nil {
		return ClusterFiles{}
	}
	cred := func(name string) string {
		if c.Credentials == "" {
			return ""
		}
		return filepath.Join(c.Credentials, name)
	}
	or := func(explicit, name string) string {
		if explicit != "" {
			return explicit
		}
		return cred(name)
	}
	f := ClusterFiles{
		GossipKeyFile: or(c.GossipKeyFile, CredGossipKeyFile),
		TokenFile:     or(c.API.TokenFile, CredTokenFile),
		ReadTokenFile: or(c.API.ReadTokenFile, CredReadTokenFile),
		APICertFile:   or(c.API.CertFile, CredCertFile),
		APIKeyFile:    or(c.API.KeyFile, CredKeyFile),
		APICAFile:     or(c.API.CAFile, CredCAFile),
	}
	if c.TLS != nil {
		f.CertFile, f.KeyFile, f.CAFile = c.TLS.CertFile, c.TLS.KeyFile, c.TLS.CAFile
	} else {
		f.CertFile, f.KeyFile, f.CAFile = cred(CredCertFile), cred(CredKeyFile), cred(CredCAFile)
	}
	return f
}

// Secured reports whether the cluster block has mutual TLS for raft (a tls
// block or credentials) and a gossip key (gossip_key_file or credentials).
func (c *Cluster) Secured() (tls, gossipKey bool) {
	if c == nil {
		return false, false
	}
	return c.TLS != nil || c.Credentials != "", c.GossipKeyFile != "" || c.Credentials != ""
}

// GroupSize is the number of nodes the block says the group has: the
// larger of ListedNodes and BootstrapExpect.
func (c *Cluster) GroupSize() int {
	return max(c.ListedNodes(), c.BootstrapExpect)
}
