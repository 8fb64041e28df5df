package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/testimage"
)

func TestTLSCertificateFlags(t *testing.T) {
	dir := t.TempDir()
	cert, key := testimage.Cert(t, dir, "localhost")
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
