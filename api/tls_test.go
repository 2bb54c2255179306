package api_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"quadrature/api"
	"quadrature/api/apitest"
	"quadrature/api/client"
)

// selfSigned writes a certificate for 127.0.0.1 and its key; the
// certificate doubles as the client's CA file.
func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "quadrature test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

func TestTLS(t *testing.T) {
	cert, key := selfSigned(t)
	s, err := api.New(api.Options{
		Backend: apitest.NewFake("iwash1"), AdminToken: apitest.AdminToken, Listen: "127.0.0.1:0",
		TLSCertFile: cert, TLSKeyFile: key, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(t.Context()) })
	addr := s.Addr().String()
	c, err := client.New(client.Options{Addr: "https://" + addr, Token: apitest.AdminToken, CAFile: cert})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(t.Context())
	if err != nil || st.Node != "iwash1" {
		t.Fatalf("status over TLS: %+v %v", st, err)
	}
	// Without the CA the certificate is refused; plain HTTP is refused too.
	c2, _ := client.New(client.Options{Addr: "https://" + addr, Token: apitest.AdminToken})
	if _, err := c2.Status(t.Context()); err == nil {
		t.Error("unverified certificate accepted")
	}
	c3, _ := client.New(client.Options{Addr: addr, Token: apitest.AdminToken})
	if _, err := c3.Status(t.Context()); err == nil {
		t.Error("plain HTTP to a TLS listener succeeded")
	}
}

// testCA is an ECDSA P-256 certificate authority made for one test.
type testCA struct {
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	pool   *x509.CertPool
	File   string // PEM of the CA certificate
	dir    string
	serial int64
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
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{cert: cert, key: key, pool: x509.NewCertPool(), dir: t.TempDir(), serial: 1}
	ca.pool.AddCert(cert)
	ca.File = filepath.Join(ca.dir, "ca.pem")
	if err := os.WriteFile(ca.File, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return ca
}

// leaf issues a node certificate as the group's CA does: CN and DNS SAN
// = name, IP SAN 127.0.0.1, for server and client use. It returns the
// certificate and key files and the loaded pair.
func (ca *testCA) leaf(t *testing.T, name string) (certFile, keyFile string, pair tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(ca.serial),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = filepath.Join(ca.dir, fmt.Sprintf("%s-%d.pem", name, ca.serial))
	keyFile = filepath.Join(ca.dir, fmt.Sprintf("%s-%d.key", name, ca.serial))
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	pair, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, pair
}

// seenRequest is what a recording peer received.
type seenRequest struct {
	Path, Authorization, ClientCN string
	Verified                      bool
}

// recordingPeer serves node self's API over TLS with certificate pair,
// asking for client certificates of ca, and records every request.
func recordingPeer(t *testing.T, self string, ca *testCA, pair tls.Certificate) (addr string, seen func() []seenRequest) {
	t.Helper()
	var mu sync.Mutex
	var reqs []seenRequest
	_, s := apitest.NewServer(t, apitest.NewFake("iwash1").Clone(self), func(o *api.Options) { o.ClientCAFile = ca.File })
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sr := seenRequest{Path: r.URL.RequestURI(), Authorization: r.Header.Get("Authorization")}
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			sr.ClientCN = r.TLS.PeerCertificates[0].Subject.CommonName
			sr.Verified = len(r.TLS.VerifiedChains) > 0
		}
		mu.Lock()
		reqs = append(reqs, sr)
		mu.Unlock()
		s.ServeHTTP(w, r)
	}))
	ts.TLS = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair},
		ClientCAs: ca.pool, ClientAuth: tls.VerifyClientCertIfGiven}
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts.Listener.Addr().String(), func() []seenRequest {
		mu.Lock()
		defer mu.Unlock()
		return append([]seenRequest(nil), reqs...)
	}
}

// TestFanoutPeerCredentials: GET /v1/vrrp?node=all asks the members over
// https with this node's own certificate, verifying each member's
// certificate against the group's CA for the member's NAME. The caller's
// token never reaches a peer (the peers record what they get); a member
// whose address answers with another node's certificate, or with a
// certificate of another CA, is reported as an error and gets nothing.
func TestFanoutPeerCredentials(t *testing.T) {
	ca := newTestCA(t, "quadrature test group CA")
	rogueCA := newTestCA(t, "rogue CA")
	_, _, pair2 := ca.leaf(t, "iwash2")
	_, _, pairImpostor := ca.leaf(t, "iwash2") // a real node's certificate at iwash3's advertised address
	_, _, pairRogue := rogueCA.leaf(t, "iwash4")
	addr2, seen2 := recordingPeer(t, "iwash2", ca, pair2)
	addr3, seen3 := recordingPeer(t, "iwash2", ca, pairImpostor)
	addr4, seen4 := recordingPeer(t, "iwash4", ca, pairRogue)

	cert1, key1, _ := ca.leaf(t, "iwash1")
	f := apitest.NewFake("iwash1")
	f.Mems[1].APIAddr, f.Mems[2].APIAddr = addr2, addr3
	f.Mems = append(f.Mems, api.Member{Name: "iwash4", State: "alive", APIAddr: addr4, Role: "director", Suffrage: "voter"})
	ts, _ := apitest.NewServer(t, f, func(o *api.Options) {
		o.PeerScheme = "https"
		o.PeerCAFile, o.PeerCertFile, o.PeerKeyFile = ca.File, cert1, key1
		o.PeerToken = apitest.ReadToken // configured, but a certificate is shown instead
	})
	all, err := apitest.NewClient(t, ts, apitest.AdminToken).VRRPNodes(t.Context(), "all")
	if err != nil {
		t.Fatal(err)
	}
	if !all.Partial {
		t.Error("not partial with two members refused")
	}
	byName := map[string]api.VRRPNode{}
	for _, n := range all.Nodes {
		byName[n.Node] = n
	}
	if n := byName["iwash2"]; n.Error != "" || len(n.Instances) != 1 || n.Instances[0].Name != "VI_1" {
		t.Errorf("verified peer iwash2: %+v", n)
	}
	if n := byName["iwash3"]; !strings.Contains(n.Error, "certificate is valid for iwash2, not iwash3") {
		t.Errorf("a member answering with another node's certificate was believed: %+v", n)
	}
	if n := byName["iwash4"]; !strings.Contains(n.Error, "certificate signed by unknown authority") {
		t.Errorf("a member with another CA's certificate was believed: %+v", n)
	}
	reqs := seen2()
	if len(reqs) != 1 {
		t.Fatalf("iwash2 got %d requests: %+v", len(reqs), reqs)
	}
	if r := reqs[0]; r.Authorization != "" || r.ClientCN != "iwash1" || !r.Verified || r.Path != "/v1/vrrp" {
		t.Errorf("iwash2 received %+v, want no Authorization and iwash1's verified certificate", r)
	}
	if r := seen3(); len(r) != 0 {
		t.Errorf("the impostor received requests: %+v", r)
	}
	if r := seen4(); len(r) != 0 {
		t.Errorf("the rogue received requests: %+v", r)
	}
}

// TestPeerCertificateAccess: on an HTTPS API with ClientCAFile, a
// verified client certificate whose name PeerAllowed accepts gives read
// access, never admin; a name PeerAllowed refuses, a certificate of
// another CA and no certificate without a token get nothing; tokens keep
// working with or without a certificate.
func TestPeerCertificateAccess(t *testing.T) {
	ca := newTestCA(t, "quadrature test group CA")
	rogueCA := newTestCA(t, "rogue CA")
	srvCert, srvKey, _ := ca.leaf(t, "iwash1")
	c2, k2, _ := ca.leaf(t, "iwash2")
	c3, k3, _ := ca.leaf(t, "iwash3")
	cr, kr, _ := rogueCA.leaf(t, "iwash2")
	f := apitest.NewFake("iwash1")
	s, err := api.New(api.Options{
		Backend: f, AdminToken: apitest.AdminToken, ReadToken: apitest.ReadToken, Listen: "127.0.0.1:0",
		TLSCertFile: srvCert, TLSKeyFile: srvKey, ClientCAFile: ca.File,
		PeerAllowed: func(name string) bool { return name == "iwash2" }, // iwash3 is revoked
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(t.Context()) })
	newClient := func(token, cert, key string) *client.Client {
		c, err := client.New(client.Options{Addr: "https://" + s.Addr().String(), Token: token, CAFile: ca.File, CertFile: cert, KeyFile: key})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	peer := newClient("", c2, k2)
	if _, err := peer.VRRP(t.Context()); err != nil {
		t.Errorf("peer certificate, read: %v", err)
	}
	if _, err := peer.Config(t.Context()); err != nil {
		t.Errorf("peer certificate, read config: %v", err)
	}
	f.ResetCalls()
	if err := peer.Maintenance(t.Context(), "iwash2", true); !errors.Is(err, client.ErrUnauthorized) {
		t.Errorf("peer certificate, admin write: %v, want unauthorized", err)
	}
	if calls := f.Calls(); len(calls) != 0 {
		t.Errorf("peer certificate reached the backend for a write: %v", calls)
	}
	// The refusals use the configuration: over loopback the status reads
	// are answered without credentials (api/README.md), the configuration
	// only with a credential once a read token is configured.
	if _, err := newClient("", c3, k3).Config(t.Context()); !errors.Is(err, client.ErrUnauthorized) {
		t.Errorf("certificate of a name PeerAllowed refuses: %v, want unauthorized", err)
	}
	// (A Go client does not even show a certificate the server's CA list
	// does not name; others fail the handshake.)
	if _, err := newClient("", cr, kr).Config(t.Context()); err == nil {
		t.Error("a certificate of another CA gave read access")
	}
	if _, err := newClient("", "", "").Config(t.Context()); !errors.Is(err, client.ErrUnauthorized) {
		t.Errorf("no certificate, no token: %v", err)
	}
	if _, err := newClient(apitest.ReadToken, "", "").VRRP(t.Context()); err != nil {
		t.Errorf("read token without certificate: %v", err)
	}
	if err := newClient(apitest.ReadToken, c2, k2).Maintenance(t.Context(), "iwash2", true); !errors.Is(err, client.ErrForbidden) {
		t.Errorf("read token with a peer certificate, write: %v, want forbidden", err)
	}
	if err := newClient(apitest.AdminToken, c2, k2).Maintenance(t.Context(), "iwash2", true); err != nil {
		t.Errorf("admin token with a peer certificate: %v", err)
	}
	// Without ClientCAFile a certificate means nothing.
	s2, err := api.New(api.Options{Backend: f, AdminToken: apitest.AdminToken, ReadToken: apitest.ReadToken, Listen: "127.0.0.1:0",
		TLSCertFile: srvCert, TLSKeyFile: srvKey, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Shutdown(t.Context()) })
	c, _ := client.New(client.Options{Addr: "https://" + s2.Addr().String(), CAFile: ca.File, CertFile: c2, KeyFile: k2})
	if _, err := c.Config(t.Context()); !errors.Is(err, client.ErrUnauthorized) {
		t.Errorf("certificate without ClientCAFile: %v, want unauthorized", err)
	}
}
