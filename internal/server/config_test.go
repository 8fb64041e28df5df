package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTLSCertificateFlags(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeSelfSigned(t, dir)
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name                string
		https, cert, key    string
		wantTLS             bool
		wantAddr, wantError string
	}{
		{name: "none"},
		{name: "cert and key", cert: cert, key: key, wantTLS: true, wantAddr: DefaultHTTPSAddr},
		{name: "all three", https: "127.0.0.1:0", cert: cert, key: key, wantTLS: true, wantAddr: "127.0.0.1:0"},
		{name: "https alone", https: ":9443", wantError: `--https ":9443" needs a certificate: set --tls-cert and --tls-key`},
		{name: "cert alone", cert: cert, wantError: "needs --tls-key"},
		{name: "key alone", key: key, wantError: "needs --tls-cert"},
		{name: "not pem", cert: bad, key: key, wantError: `--tls-cert "` + bad},
		{name: "missing file", cert: filepath.Join(dir, "nope"), key: key, wantError: "want a PEM certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{HTTPSAddr: tc.https, TLSCert: tc.cert, TLSKey: tc.key}
			_, ok, err := c.tlsCertificate()
			if tc.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantError) {
					t.Fatalf("err = %v; want one containing %q", err, tc.wantError)
				}
				return
			}
			if err != nil || ok != tc.wantTLS || c.HTTPSAddr != tc.wantAddr {
				t.Fatalf("tls %v, addr %q, err %v; want %v, %q", ok, c.HTTPSAddr, err, tc.wantTLS, tc.wantAddr)
			}
		})
	}
}

// writeSelfSigned writes a self-signed certificate for localhost and its key.
func writeSelfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
