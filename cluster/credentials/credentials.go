// Package credentials writes and reads the files that make a quadrature
// group secure: a certificate authority dedicated to the group, one
// certificate per node (mutual TLS on the Raft port and TLS on the API),
// the gossip encryption key and the API tokens.
//
// `quadrature cluster init` calls Init; `quadrature cluster issue` calls
// Issue for a node added later. The layout of the output directory:
//
//	DIR/ca.crt, DIR/ca.key        the group CA (keep ca.key off the nodes)
//	DIR/gossip.key                memberlist key (base64, 32 bytes)
//	DIR/api-token                 admin token
//	DIR/api-read-token            read-only token
//	DIR/NODE/                     what to copy to NODE, e.g. to
//	                              /etc/quadrature/credentials:
//	  ca.crt node.crt node.key gossip.key api-token api-read-token
//
// The cluster block then needs one line: `credentials /etc/quadrature/credentials`.
//
// A node certificate's Subject CommonName and first DNS name are the node
// name (peers are authorised by it); its IP SANs are the node's addresses
// plus loopback, so the local CLI can verify the API on 127.0.0.1.
//
// The package does file I/O and cryptography only; it imports no other
// quadrature package.
package credentials

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// File names, in DIR and in each node's directory.
const (
	CAFile        = "ca.crt"
	CAKeyFile     = "ca.key"
	CertFile      = "node.crt"
	KeyFile       = "node.key"
	GossipKeyFile = "gossip.key"
	TokenFile     = "api-token"
	ReadTokenFile = "api-read-token"
)

// Node is one node to issue a certificate for.
type Node struct {
	Name  string
	Addrs []netip.Addr
}

// Options tunes Init and Issue; the zero value is the defaults.
type Options struct {
	// CAValidity defaults to 10 years, NodeValidity to 5 years.
	CAValidity   time.Duration
	NodeValidity time.Duration
	// GroupName is the CA's common name ("quadrature group CA" by default).
	GroupName string
	// Now is the issuing time (tests); time.Now when zero.
	Now time.Time
}

func (o Options) withDefaults() Options {
	if o.CAValidity <= 0 {
		o.CAValidity = 10 * 365 * 24 * time.Hour
	}
	if o.NodeValidity <= 0 {
		o.NodeValidity = 5 * 365 * 24 * time.Hour
	}
	if o.GroupName == "" {
		o.GroupName = "quadrature group CA"
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	return o
}

var nodeNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// CheckName accepts the node names the cluster accepts (letters, digits,
// '.', '_', '-'; at most 64 bytes) that are also valid certificate names.
func CheckName(name string) error {
	if !nodeNameRE.MatchString(name) {
		return fmt.Errorf("credentials: node name %q: use letters, digits, '.', '_' or '-' (at most 64, not starting with a symbol)", name)
	}
	return nil
}

// ParseNode parses "NAME=ADDR[,ADDR...]" or a bare "NAME".
func ParseNode(s string) (Node, error) {
	name, rest, hasAddrs := bytes.Cut([]byte(s), []byte("="))
	n := Node{Name: string(name)}
	if err := CheckName(n.Name); err != nil {
		return Node{}, err
	}
	if hasAddrs {
		for _, a := range bytes.Split(rest, []byte(",")) {
			ip, err := netip.ParseAddr(string(bytes.TrimSpace(a)))
			if err != nil || ip.Zone() != "" {
				return Node{}, fmt.Errorf("credentials: node %s: %q is not an IP address", n.Name, a)
			}
			n.Addrs = append(n.Addrs, ip.Unmap())
		}
	}
	return n, nil
}

// Init creates a new group in dir: CA, gossip key, tokens and one
// directory per node. It refuses a dir that already holds a CA (use Issue
// to add nodes), so a second init never replaces a running group's trust.
func Init(dir string, nodes []Node, opts Options) error {
	opts = opts.withDefaults()
	if len(nodes) == 0 {
		return errors.New("credentials: name at least one node (NAME=ADDR)")
	}
	seen := map[string]bool{}
	for _, n := range nodes {
		if err := CheckName(n.Name); err != nil {
			return err
		}
		if seen[n.Name] {
			return fmt.Errorf("credentials: node %s named twice", n.Name)
		}
		seen[n.Name] = true
	}
	if _, err := os.Stat(filepath.Join(dir, CAFile)); err == nil {
		return fmt.Errorf("credentials: %s already holds a group CA; use `quadrature cluster issue` to add a node", dir)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("credentials: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("credentials: ca key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: opts.GroupName, Organization: []string{"quadrature"}},
		NotBefore:             opts.Now.Add(-time.Hour),
		NotAfter:              opts.Now.Add(opts.CAValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("credentials: ca certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(caKey)
	if err != nil {
		return fmt.Errorf("credentials: ca key: %w", err)
	}
	gossip, err := randomText(32, base64.StdEncoding)
	if err != nil {
		return err
	}
	admin, err := randomText(32, base64.RawURLEncoding)
	if err != nil {
		return err
	}
	read, err := randomText(32, base64.RawURLEncoding)
	if err != nil {
		return err
	}
	// The CA key first and exclusively: a concurrent init loses cleanly.
	if err := writeNew(filepath.Join(dir, CAKeyFile), pemBytes("PRIVATE KEY", keyDER), 0o600); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
		mode fs.FileMode
	}{
		{CAFile, pemBytes("CERTIFICATE", der), 0o644},
		{GossipKeyFile, []byte(gossip + "\n"), 0o600},
		{TokenFile, []byte(admin + "\n"), 0o600},
		{ReadTokenFile, []byte(read + "\n"), 0o600},
	} {
		if err := writeNew(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return err
		}
	}
	for _, n := range nodes {
		if err := Issue(dir, n, opts); err != nil {
			return err
		}
	}
	return nil
}

// Issue writes DIR/NODE/ for one node, signed by the CA in dir, with copies
// of the group's shared files. An existing node directory is refused.
func Issue(dir string, node Node, opts Options) error {
	opts = opts.withDefaults()
	if err := CheckName(node.Name); err != nil {
		return err
	}
	ca, caKey, err := loadCA(dir)
	if err != nil {
		return err
	}
	nodeDir := filepath.Join(dir, node.Name)
	if err := os.Mkdir(nodeDir, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("credentials: %s exists; remove it to issue %s again (and revoke the old certificate)", nodeDir, node.Name)
		}
		return fmt.Errorf("credentials: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("credentials: node key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return err
	}
	ips := append([]netip.Addr(nil), node.Addrs...)
	ips = append(ips, netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback())
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: node.Name, Organization: []string{"quadrature"}},
		NotBefore:    opts.Now.Add(-time.Hour),
		NotAfter:     opts.Now.Add(opts.NodeValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     []string{node.Name, "localhost"},
	}
	seen := map[netip.Addr]bool{}
	for _, ip := range ips {
		if !seen[ip] {
			seen[ip] = true
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip.AsSlice())
		}
	}
	if ca.NotAfter.Before(tmpl.NotAfter) {
		tmpl.NotAfter = ca.NotAfter
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("credentials: certificate for %s: %w", node.Name, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("credentials: node key: %w", err)
	}
	if err := writeNew(filepath.Join(nodeDir, CertFile), pemBytes("CERTIFICATE", der), 0o644); err != nil {
		return err
	}
	if err := writeNew(filepath.Join(nodeDir, KeyFile), pemBytes("PRIVATE KEY", keyDER), 0o600); err != nil {
		return err
	}
	for _, name := range []string{CAFile, GossipKeyFile, TokenFile, ReadTokenFile} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return fmt.Errorf("credentials: %w", err)
		}
		mode := fs.FileMode(0o600)
		if name == CAFile {
			mode = 0o644
		}
		if err := writeNew(filepath.Join(nodeDir, name), b, mode); err != nil {
			return err
		}
	}
	return nil
}

// loadCA reads the CA certificate and key from dir.
func loadCA(dir string) (*x509.Certificate, any, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, CAFile))
	if err != nil {
		return nil, nil, fmt.Errorf("credentials: group CA: %w (run `quadrature cluster init` first)", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, CAKeyFile))
	if err != nil {
		return nil, nil, fmt.Errorf("credentials: group CA key: %w", err)
	}
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, nil, fmt.Errorf("credentials: %s: no PEM certificate", filepath.Join(dir, CAFile))
	}
	ca, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("credentials: %s: %w", filepath.Join(dir, CAFile), err)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, nil, fmt.Errorf("credentials: %s: no PEM key", filepath.Join(dir, CAKeyFile))
	}
	key, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("credentials: %s: %w", filepath.Join(dir, CAKeyFile), err)
	}
	if !ca.IsCA {
		return nil, nil, fmt.Errorf("credentials: %s is not a CA certificate", filepath.Join(dir, CAFile))
	}
	return ca, key, nil
}

// PeerName is the node name a verified peer certificate stands for: its
// Subject CommonName.
func PeerName(c *x509.Certificate) string {
	if c == nil {
		return ""
	}
	return c.Subject.CommonName
}

func pemBytes(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func randomSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("credentials: serial: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

func randomText(n int, enc *base64.Encoding) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("credentials: random: %w", err)
	}
	return enc.EncodeToString(b), nil
}

// writeNew creates path exclusively with mode and data, synced.
func writeNew(path string, data []byte, mode fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("credentials: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("credentials: sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	return nil
}
