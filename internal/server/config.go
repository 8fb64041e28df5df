// Package server wires Berth's parts into one process: the store, the driver,
// the reconciler, the gateway and the control API. Run is the whole daemon.
package server

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"time"
)

// DefaultHTTPSAddr is the TLS listener's address when a certificate is given
// without --https.
const DefaultHTTPSAddr = ":8443"

// Config is what `berth server` is started with.
type Config struct {
	// DataDir holds the store (berth.db), admin.token and server.json.
	DataDir string
	// APIAddr is the control API's listen address (default 127.0.0.1:7070).
	APIAddr string
	// HTTPAddr is the gateway's plain listen address (default :8080): HTTP/1.1
	// and h2c.
	HTTPAddr string
	// HTTPSAddr is the gateway's TLS listen address: HTTP/2 and HTTP/1.1 by
	// ALPN. Empty means no TLS listener, unless TLSCert and TLSKey are set:
	// then DefaultHTTPSAddr.
	HTTPSAddr string
	// TLSCert and TLSKey are PEM files of the TLS listener's certificate
	// (chain) and private key; both or neither.
	TLSCert string
	TLSKey  string
	// Network is the Docker network instances join (default "berth").
	Network string
	// Domain is the suffix of default app hosts: APP.<Domain> (default "localhost").
	Domain string
	// PprofAddr, if set, is where net/http/pprof's profiles are served, for
	// profiling the gateway under load. Off by default; bind it to loopback.
	PprofAddr string
	// KeepRevisions is how many revisions that take no traffic each app
	// keeps; older ones, their images and containers are removed.
	KeepRevisions int
	// Jobs configures the job runner (internal/jobs).
	Jobs JobsConfig
	// ShutdownTimeout bounds graceful shutdown on SIGTERM.
	ShutdownTimeout time.Duration
	// Version is the binary's version, reported by the API.
	Version string
	Logger  *slog.Logger
}

// ServerInfo is written to DataDir/server.json once the listeners are bound,
// so that the CLI (and tests) can find a local server and its actual ports.
type ServerInfo struct {
	API     string `json:"api"`
	Gateway string `json:"gateway"`
	// GatewayTLS is the gateway's TLS listener (https://…), if it has one.
	GatewayTLS string `json:"gateway_tls,omitempty"`
	PID        int    `json:"pid"`
	// Owner is the label value (dev.berth.owner) on every container this server made.
	Owner string `json:"owner"`
	// Pprof is the profiling listener (http://…/debug/pprof/), if --pprof is set.
	Pprof string `json:"pprof,omitempty"`
}

// tlsCertificate checks the TLS settings and loads the certificate. It
// returns ok=false when there is to be no TLS listener.
func (c *Config) tlsCertificate() (cert tls.Certificate, ok bool, err error) {
	switch {
	case c.TLSCert == "" && c.TLSKey == "" && c.HTTPSAddr == "":
		return tls.Certificate{}, false, nil
	case c.TLSCert == "" && c.TLSKey == "":
		return tls.Certificate{}, false, fmt.Errorf("--https %q needs a certificate: set --tls-cert and --tls-key (PEM files)", c.HTTPSAddr)
	case c.TLSCert == "":
		return tls.Certificate{}, false, fmt.Errorf("--tls-key %q needs --tls-cert (the certificate's PEM file) as well", c.TLSKey)
	case c.TLSKey == "":
		return tls.Certificate{}, false, fmt.Errorf("--tls-cert %q needs --tls-key (the private key's PEM file) as well", c.TLSCert)
	}
	if c.HTTPSAddr == "" {
		c.HTTPSAddr = DefaultHTTPSAddr
	}
	cert, err = tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
	if err != nil {
		return tls.Certificate{}, false, fmt.Errorf("--tls-cert %q and --tls-key %q: want a PEM certificate and its PEM private key: %w", c.TLSCert, c.TLSKey, err)
	}
	return cert, true, nil
}

// JobsConfig is the job runner's part of Config.
type JobsConfig struct {
	// Workers caps the executions running at once (default 4);
	// PerNamespace caps those of one namespace (default Workers).
	Workers      int
	PerNamespace int
	// Network is the isolated Docker network job containers join
	// (default "berth-jobs").
	Network string
	// RetryBackoff is the wait before a first retry, doubled for each next
	// one (default 1s).
	RetryBackoff time.Duration
}
