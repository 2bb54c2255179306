package api_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
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
