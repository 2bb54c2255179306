package checks

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
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// requireProgram returns the path of a program, skipping (failing in CI)
// when it is missing.
func requireProgram(t *testing.T, path string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		skipOrFail(t, "%s not installed: %v", path, err)
	}
	return path
}

// selfSigned writes a self-signed ECDSA certificate for names/IPs and
// returns the cert and key paths.
func selfSigned(t *testing.T, dir string, dnsNames []string, ips []net.IP) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "quadrature test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     dnsNames, IPAddresses: ips,
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return cert, keyPath
}

func freePort(t *testing.T) uint16 { return closedPort(t, "tcp").Port() }

func waitListening(t *testing.T, ap netip.AddrPort, errc <-chan error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-errc:
			t.Fatalf("server exited early: %v", err)
		default:
		}
		if c, err := net.DialTimeout("tcp", ap.String(), 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never listened", ap)
}

// TestNginx checks HTTP_GET and SSL_GET against a real nginx.
func TestNginx(t *testing.T) {
	bin := requireProgram(t, "/usr/sbin/nginx")
	dir := t.TempDir()
	for _, d := range []string{"logs", "tmp"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	cert, key := selfSigned(t, dir, []string{"secure.example.test"}, []net.IP{net.ParseIP("127.0.0.1")})
	port, sslPort := freePort(t), freePort(t)
	conf := fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/logs/error.log warn;
events { worker_connections 128; }
http {
  access_log off;
  client_body_temp_path %[1]s/tmp/body;
  proxy_temp_path %[1]s/tmp/proxy;
  fastcgi_temp_path %[1]s/tmp/fastcgi;
  uwsgi_temp_path %[1]s/tmp/uwsgi;
  scgi_temp_path %[1]s/tmp/scgi;
  default_type text/plain;
  server {
    listen 127.0.0.1:%[2]d;
    server_name _;
    location = /ok { return 200 "hello from nginx\n"; }
    location = /down { return 503 "maintenance\n"; }
    location = /moved { return 302 /ok; }
  }
  server {
    listen 127.0.0.1:%[2]d;
    server_name www.example.test;
    location = /ok { return 200 "virtual host www\n"; }
  }
  server {
    listen 127.0.0.1:%[3]d ssl;
    ssl_certificate %[4]s;
    ssl_certificate_key %[5]s;
    location / { return 200 "tls sni=$ssl_server_name\n"; }
  }
}
`, dir, port, sslPort, cert, key)
	cfg := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", cfg, "-e", filepath.Join(dir, "logs", "error.log"))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill(); <-errc })
	lo := netip.MustParseAddr("127.0.0.1")
	plain, tlsAP := netip.AddrPortFrom(lo, port), netip.AddrPortFrom(lo, sslPort)
	waitListening(t, plain, errc)
	waitListening(t, tlsAP, errc)

	httpGet := func(h HTTPSpec) Spec {
		return Spec{Kind: KindHTTP, Target: plain, ConnectTimeout: 2 * time.Second, HTTP: &h}
	}
	sslGet := func(h HTTPSpec) Spec {
		return Spec{Kind: KindSSL, Target: tlsAP, ConnectTimeout: 2 * time.Second, HTTP: &h}
	}
	cases := []struct {
		name    string
		spec    Spec
		up      bool
		outcome string
	}{
		{"ok", httpGet(HTTPSpec{URLs: []URLSpec{{Path: "/ok"}}}), true, "ok"},
		{"digest", httpGet(HTTPSpec{URLs: []URLSpec{{Path: "/ok", Digest: md5hex("hello from nginx\n")}}}), true, "ok"},
		{"digest mismatch", httpGet(HTTPSpec{URLs: []URLSpec{{Path: "/ok", Digest: md5hex("hello\n")}}}), false, "bad_digest"},
		{"503", httpGet(HTTPSpec{URLs: []URLSpec{{Path: "/down"}}}), false, "bad_status"},
		{"503 accepted", httpGet(HTTPSpec{URLs: []URLSpec{{Path: "/down", StatusCodes: "503"}}}), true, "ok"},
		{"302 in range", httpGet(HTTPSpec{URLs: []URLSpec{{Path: "/moved", StatusCodes: "200-299 300-399"}}}), true, "ok"},
		{"404", httpGet(HTTPSpec{URLs: []URLSpec{{Path: "/nothing"}}}), false, "bad_status"},
		{"virtualhost", httpGet(HTTPSpec{VirtualHost: "www.example.test", URLs: []URLSpec{{Path: "/ok", Regex: "^virtual host www"}}}), true, "ok"},
		{"http 1.1", httpGet(HTTPSpec{Protocol: "1.1", URLs: []URLSpec{{Path: "/ok", Regex: "nginx"}}}), true, "ok"},
		{"http 1.0C", httpGet(HTTPSpec{Protocol: "1.0C", URLs: []URLSpec{{Path: "/ok"}}}), true, "ok"},
		{"ssl", sslGet(HTTPSpec{URLs: []URLSpec{{Path: "/", Regex: "^tls sni=\n"}}}), true, "ok"},
		{"ssl sni", sslGet(HTTPSpec{EnableSNI: true, VirtualHost: "secure.example.test", URLs: []URLSpec{{Path: "/", Regex: "sni=secure.example.test"}}}), true, "ok"},
		{"ssl verify", sslGet(HTTPSpec{Verify: true, CAFile: cert, EnableSNI: true, SNIName: "secure.example.test", URLs: []URLSpec{{Path: "/", Digest: md5hex("tls sni=secure.example.test\n")}}}), true, "ok"},
		{"ssl verify by IP", sslGet(HTTPSpec{Verify: true, CAFile: cert, URLs: []URLSpec{{Path: "/"}}}), true, "ok"},
		{"ssl verify no CA", sslGet(HTTPSpec{Verify: true, URLs: []URLSpec{{Path: "/"}}}), false, "tls_verify"},
		{"ssl against plain port", Spec{Kind: KindSSL, Target: plain, ConnectTimeout: 2 * time.Second, HTTP: &HTTPSpec{URLs: []URLSpec{{Path: "/ok"}}}}, false, "tls"},
	}
	for _, c := range cases {
		r := mustChecker(t, c.spec).Check(context.Background())
		if r.Up != c.up || r.Outcome != c.outcome {
			t.Errorf("%s: %+v, want up=%v outcome=%s", c.name, r, c.up, c.outcome)
		}
	}
}
