package cluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// testCA is a throw-away certificate authority.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue writes a node certificate, its key and the CA to dir.
func (ca *testCA) issue(t *testing.T, dir, name string) *TLSConfig {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	c := &TLSConfig{
		CertFile: filepath.Join(dir, name+".crt"),
		KeyFile:  filepath.Join(dir, name+".key"),
		CAFile:   filepath.Join(dir, "ca.crt"),
	}
	write := func(p string, b []byte) {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(c.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	write(c.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
	write(c.CAFile, ca.pem)
	return c
}

// TestTLSGroupForms: a secure group forms, elects and forwards applies,
// whether its nodes are known by name (Config.Nodes) or only by their
// addresses (Config.Peers).
func TestTLSGroupForms(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(i int, c *Config)
	}{
		{"nodes by name", func(i int, c *Config) { c.Nodes = []string{"n1", "n2", "n3"} }},
		{"nodes by peer address", func(i int, c *Config) { c.Peers = append(c.Peers, "127.0.0.1") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca := newTestCA(t, "quadrature test ca")
			key := []byte("0123456789abcdef0123456789abcdef")
			dir := t.TempDir()
			nodes := startCluster(t, 3, func(i int, c *Config) {
				c.TLS = ca.issue(t, filepath.Join(dir, c.NodeName), c.NodeName)
				c.GossipKey, c.Insecure = key, false
				tc.mutate(i, c)
			})
			leader := waitLeader(t, nodes, 10*time.Second)
			if leader.Insecure() {
				t.Fatal("a TLS group reports insecure")
			}
			for i, f := range followers(nodes, leader) {
				apply(t, f, fmt.Sprintf("tls%d=1", i)) // forwarded over the TLS RPC
			}
			waitValue(t, nodes, "tls1", "1")
			if s := raftServers(t, leader); len(s) != 3 {
				t.Fatalf("raft servers %v", s)
			}
		})
	}
}

func TestMutualTLS(t *testing.T) {
	ca := newTestCA(t, "quadrature test ca")
	rogueCA := newTestCA(t, "rogue ca")
	key := []byte("0123456789abcdef0123456789abcdef")
	dir := t.TempDir()
	nodes := startCluster(t, 3, func(i int, c *Config) {
		c.TLS = ca.issue(t, filepath.Join(dir, c.NodeName), c.NodeName)
		c.GossipKey = key
		c.Nodes = []string{"n1", "n2", "n3"}
	})
	leader := waitLeader(t, nodes, 10*time.Second)
	f := followers(nodes, leader)[0]
	apply(t, f, "tls=1") // forwarded over the TLS RPC
	waitValue(t, nodes, "tls", "1")

	// A node with the gossip key but a certificate from another CA joins
	// gossip, yet can neither be added to Raft nor reach the leader.
	rogue := startNode(t, func() Config {
		c := testConfig(t, "rogue", 0, nodes[0].GossipAddr())
		c.TLS = rogueCA.issue(t, filepath.Join(dir, "rogue"), "rogue")
		c.GossipKey = key
		return c
	}())
	// And one with the gossip key but no TLS at all.
	plain := startNode(t, func() Config {
		c := testConfig(t, "plain", 0, nodes[0].GossipAddr())
		c.GossipKey = key
		return c
	}())
	waitFor(t, 5*time.Second, "rogue and plain nodes in gossip", func() bool {
		seen := 0
		for _, m := range leader.Members() {
			if (m.Name == "rogue" || m.Name == "plain") && m.State == MemberAlive {
				seen++
			}
		}
		return seen == 2
	})
	time.Sleep(4 * nodes[0].cfg.Timing.ReconcileInterval)
	if s := raftServers(t, leader); len(s) != 3 {
		t.Fatalf("untrusted nodes were added to raft: %v", s)
	}
	for _, n := range []*tnode{rogue, plain} {
		if got := n.fsm.entries(); len(got) != 0 {
			t.Fatalf("%s received entries: %v", n.Name(), got)
		}
		c, err := n.stream.dial(leader.RaftAddr(), muxRPC, time.Second)
		if err == nil {
			_ = c.Close()
			if n == rogue {
				t.Fatalf("%s completed a TLS handshake with the leader", n.Name())
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, _, err = n.Apply(ctx, []byte("evil=1"))
		cancel()
		if err == nil {
			t.Fatalf("%s applied without a trusted certificate", n.Name())
		}
	}
	if v, ok := leader.fsm.get("evil"); ok {
		t.Fatalf("evil command reached the FSM: %q", v)
	}
	// The other CA's handshakes were refused and counted.
	if got := testutil.ToFloat64(leader.metrics.peerRefused.WithLabelValues(refusedBadCert)); got == 0 {
		t.Fatal("no bad_certificate refusal counted on the leader")
	}
}

func TestLoadTLSErrors(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "ca")
	good := ca.issue(t, dir, "n1")
	if _, _, err := loadTLS(good); err != nil {
		t.Fatalf("good files: %v", err)
	}
	empty := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(empty, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*TLSConfig{
		"missing cert": {CertFile: filepath.Join(dir, "nope"), KeyFile: good.KeyFile, CAFile: good.CAFile},
		"bad ca":       {CertFile: good.CertFile, KeyFile: good.KeyFile, CAFile: empty},
		"missing ca":   {CertFile: good.CertFile, KeyFile: good.KeyFile, CAFile: filepath.Join(dir, "nope")},
		"key mismatch": {CertFile: good.CertFile, KeyFile: ca.issue(t, filepath.Join(dir, "x"), "x").KeyFile, CAFile: good.CAFile},
	} {
		if _, _, err := loadTLS(c); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
