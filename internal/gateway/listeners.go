package gateway

import (
	"crypto/tls"
	"log/slog"
	"net/http"
	"time"
)

// Server timeouts. There is no write or read timeout on the whole request:
// streams, WebSockets and large bodies may last as long as the app's
// request_timeout (or, once upgraded, as long as both sides talk).
const (
	readHeaderTimeout = 30 * time.Second
	idleTimeout       = 2 * time.Minute
)

// NewServer returns the plain listener's server for h: HTTP/1.1 and, on the
// same port, HTTP/2 over cleartext with prior knowledge (h2c, as
// `curl --http2-prior-knowledge` and gRPC clients without TLS speak it). The
// standard library tells the two apart by the HTTP/2 connection preface.
func NewServer(h http.Handler, log *slog.Logger) *http.Server {
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	return &http.Server{
		Handler:           h,
		Protocols:         &p,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// NewTLSServer returns the TLS listener's server for h: HTTP/2 and HTTP/1.1,
// chosen by ALPN ("h2", "http/1.1"), with cert. Serve it with
// ServeTLS(ln, "", "").
func NewTLSServer(h http.Handler, cert tls.Certificate, log *slog.Logger) *http.Server {
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetHTTP2(true)
	return &http.Server{
		Handler:   h,
		Protocols: &p,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			MinVersion:   tls.VersionTLS12,
		},
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
