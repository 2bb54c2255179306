package credentials

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustNodes(t *testing.T, specs ...string) []Node {
	t.Helper()
	var out []Node
	for _, s := range specs {
		n, err := ParseNode(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestInitWritesAVerifiableGroup(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "creds")
	nodes := mustNodes(t, "n1=203.0.113.11", "n2=203.0.113.12,2001:db8::12", "n3=203.0.113.13")
	if err := Init(dir, nodes, Options{}); err != nil {
		t.Fatal(err)
	}
	ca := readCert(t, filepath.Join(dir, CAFile))
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	for _, n := range nodes {
		nd := filepath.Join(dir, n.Name)
		for _, f := range []string{CAFile, CertFile, KeyFile, GossipKeyFile, TokenFile, ReadTokenFile} {
			st, err := os.Stat(filepath.Join(nd, f))
			if err != nil {
				t.Fatalf("%s: %v", n.Name, err)
			}
			if f != CAFile && f != CertFile && st.Mode().Perm() != 0o600 {
				t.Errorf("%s/%s: mode %v, want 0600", n.Name, f, st.Mode().Perm())
			}
		}
		if _, err := os.Stat(filepath.Join(nd, CAKeyFile)); err == nil {
			t.Errorf("%s: the CA key must not be in a node's directory", n.Name)
		}
		c := readCert(t, filepath.Join(nd, CertFile))
		if PeerName(c) != n.Name {
			t.Errorf("CN %q, want %q", PeerName(c), n.Name)
		}
		for _, host := range []string{n.Name, "localhost", "127.0.0.1", n.Addrs[0].String()} {
			if _, err := c.Verify(x509.VerifyOptions{DNSName: host, Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
				t.Errorf("%s as %s: %v", n.Name, host, err)
			}
		}
		if _, err := c.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("%s as client: %v", n.Name, err)
		}
		if _, err := c.Verify(x509.VerifyOptions{DNSName: "n9", Roots: pool}); err == nil {
			t.Errorf("%s verified as another node's name", n.Name)
		}
	}
	g, err := os.ReadFile(filepath.Join(dir, "n1", GossipKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(g))); err != nil || len(k) != 32 {
		t.Errorf("gossip key: %d bytes, %v", len(k), err)
	}
	a, _ := os.ReadFile(filepath.Join(dir, TokenFile))
	r, _ := os.ReadFile(filepath.Join(dir, ReadTokenFile))
	if len(strings.TrimSpace(string(a))) < 40 || string(a) == string(r) {
		t.Errorf("tokens: admin %q read %q", a, r)
	}
}

// TestMutualTLS runs a real handshake between two issued nodes and one
// from another group.
func TestMutualTLS(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "g1")
	other := filepath.Join(t.TempDir(), "g2")
	if err := Init(dir, mustNodes(t, "n1", "n2"), Options{}); err != nil {
		t.Fatal(err)
	}
	if err := Init(other, mustNodes(t, "n2"), Options{}); err != nil {
		t.Fatal(err)
	}
	load := func(d, name string) (tls.Certificate, *x509.CertPool) {
		cert, err := tls.LoadX509KeyPair(filepath.Join(d, name, CertFile), filepath.Join(d, name, KeyFile))
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pem, _ := os.ReadFile(filepath.Join(d, name, CAFile))
		pool.AppendCertsFromPEM(pem)
		return cert, pool
	}
	srvCert, srvPool := load(dir, "n1")
	handshake := func(cert tls.Certificate, pool *x509.CertPool) error {
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		errc := make(chan error, 1)
		go func() {
			s := tls.Server(a, &tls.Config{Certificates: []tls.Certificate{srvCert}, ClientCAs: srvPool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13})
			errc <- s.Handshake()
		}()
		c := tls.Client(b, &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: "n1", MinVersion: tls.VersionTLS13})
		cerr := c.Handshake()
		serr := <-errc
		if cerr != nil {
			return cerr
		}
		return serr
	}
	c2, p2 := load(dir, "n2")
	if err := handshake(c2, p2); err != nil {
		t.Fatalf("same group: %v", err)
	}
	c3, p3 := load(other, "n2")
	if err := handshake(c3, p3); err == nil {
		t.Fatal("a node of another group completed the handshake")
	}
}

func TestInitRefusesExistingGroupAndIssueAdds(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "creds")
	if err := Init(dir, mustNodes(t, "n1"), Options{}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, CAFile))
	if err := Init(dir, mustNodes(t, "n2"), Options{}); err == nil || !strings.Contains(err.Error(), "already holds a group CA") {
		t.Fatalf("second init: %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, CAFile))
	if string(before) != string(after) {
		t.Fatal("second init replaced the CA")
	}
	if err := Issue(dir, mustNodes(t, "n4=198.51.100.4")[0], Options{}); err != nil {
		t.Fatal(err)
	}
	c := readCert(t, filepath.Join(dir, "n4", CertFile))
	if !c.IPAddresses[0].Equal(net.ParseIP("198.51.100.4")) {
		t.Errorf("IPs %v", c.IPAddresses)
	}
	if err := Issue(dir, mustNodes(t, "n4")[0], Options{}); err == nil {
		t.Fatal("issuing over an existing node directory succeeded")
	}
	if err := Issue(t.TempDir(), mustNodes(t, "n5")[0], Options{}); err == nil || !strings.Contains(err.Error(), "cluster init") {
		t.Fatalf("issue without CA: %v", err)
	}
}

func TestParseNode(t *testing.T) {
	for _, tc := range []struct {
		in    string
		name  string
		addrs []string
		bad   bool
	}{
		{in: "n1", name: "n1"},
		{in: "iwash1=203.0.113.11", name: "iwash1", addrs: []string{"203.0.113.11"}},
		{in: "a.b-c_d=2001:db8::1,192.0.2.1", name: "a.b-c_d", addrs: []string{"2001:db8::1", "192.0.2.1"}},
		{in: "", bad: true},
		{in: "-x", bad: true},
		{in: "n 1", bad: true},
		{in: "n1=", bad: true},
		{in: "n1=host.example", bad: true},
		{in: "n1=fe80::1%eth0", bad: true},
		{in: strings.Repeat("a", 65), bad: true},
	} {
		n, err := ParseNode(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("%q: accepted as %+v", tc.in, n)
			}
			continue
		}
		if err != nil || n.Name != tc.name || len(n.Addrs) != len(tc.addrs) {
			t.Errorf("%q: %+v %v", tc.in, n, err)
			continue
		}
		for i, a := range tc.addrs {
			if n.Addrs[i] != netip.MustParseAddr(a) {
				t.Errorf("%q: addr %d = %s", tc.in, i, n.Addrs[i])
			}
		}
	}
}

func FuzzParseNode(f *testing.F) {
	for _, s := range []string{"n1", "n1=192.0.2.1", "n=2001:db8::1,192.0.2.2", "=", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseNode(s)
		if err != nil {
			return
		}
		if CheckName(n.Name) != nil {
			t.Fatalf("accepted bad name %q", n.Name)
		}
	})
}
