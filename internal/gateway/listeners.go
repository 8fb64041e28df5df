package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Server timeouts. There is no write or read timeout on the whole request:
// streams, WebSockets and large bodies may last as long as the app's
// request_timeout (or, once upgraded, as long as both sides talk).
const (
	readHeaderTimeout = 30 * time.Second
	idleTimeout       = 2 * time.Minute
)

// FastPathEnv, set to "off", makes NewServer serve every request with
// net/http alone (see fastpath.go).
const FastPathEnv = "BERTH_GATEWAY_FASTPATH"

// EventLoopEnv, set to "off", keeps the fast path's connections on their
// goroutines between requests (see eventloop.go).
const EventLoopEnv = "BERTH_GATEWAY_EVENTLOOP"

// Server is the plain listener's server: net/http's, with the gateway's
// fast path in front of it for plain HTTP/1.1 requests (fastpath.go).
// Everything else — h2c, upgrades, bodies, anything unusual — is handed to
// the embedded http.Server with the bytes already read, so that it sees the
// connection as the client sent it.
type Server struct {
	*http.Server
	gw   *Gateway // nil: no fast path
	dt   *directTransport
	loop *eventLoop // nil: none (eventloop.go)

	closing atomic.Bool
	mu      sync.Mutex
	conns   map[*fastConn]struct{}
}

// NewServer returns the plain listener's server for h: HTTP/1.1 and, on the
// same port, HTTP/2 over cleartext with prior knowledge (h2c, as
// `curl --http2-prior-knowledge` and gRPC clients without TLS speak it). The
// standard library tells the two apart by the HTTP/2 connection preface.
// When h is a *Gateway, plain requests take the fast path unless
// BERTH_GATEWAY_FASTPATH=off.
func NewServer(h http.Handler, log *slog.Logger) *Server {
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	s := &Server{Server: &http.Server{
		Handler:           h,
		Protocols:         &p,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}}
	if g, ok := h.(*Gateway); ok && os.Getenv(FastPathEnv) != "off" {
		s.gw, s.dt = g, g.proxy.Transport.(*directTransport)
		if os.Getenv(EventLoopEnv) != "off" {
			s.loop = newEventLoop(s, log)
		}
	}
	return s
}

// Serve accepts connections on ln and serves them until Shutdown or Close.
func (s *Server) Serve(ln net.Listener) error {
	if s.gw != nil {
		ln = s.fastListener(ln)
	}
	return s.Server.Serve(ln)
}

// Shutdown stops accepting, closes idle connections and waits for the
// others to finish their requests, or for ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeConns(false)
	err := s.Server.Shutdown(ctx)
	for wait := time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		if s.closeConns(false) == 0 {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// Close closes the listeners and every connection at once.
func (s *Server) Close() error {
	s.closeConns(true)
	return s.Server.Close()
}

// closeConns stops the fast path and closes its connections: the idle ones,
// or all. It returns how many are left.
func (s *Server) closeConns(all bool) int {
	s.closing.Store(true)
	if s.loop != nil {
		s.loop.requestClose(all) // it closes its own, and stops when it has none
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.closeIf(all)
	}
	return len(s.conns)
}

func (s *Server) trackConn(c *fastConn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !add {
		delete(s.conns, c)
		return true
	}
	if s.closing.Load() {
		return false
	}
	if s.conns == nil {
		s.conns = map[*fastConn]struct{}{}
	}
	s.conns[c] = struct{}{}
	return true
}

// fastListener serves ln's connections on the fast path. Its Accept returns
// the connections the fast path hands to net/http.
func (s *Server) fastListener(ln net.Listener) *handoffListener {
	l := &handoffListener{Listener: ln, s: s, conns: make(chan net.Conn), errs: make(chan error), done: make(chan struct{})}
	go l.accept()
	return l
}

// handoffListener is how the fast path hands connections to net/http.
type handoffListener struct {
	net.Listener
	s     *Server
	conns chan net.Conn
	errs  chan error
	once  sync.Once
	done  chan struct{}
}

// accept takes ln's connections and serves them on the fast path. An error
// goes to net/http's Accept, which gives up or retries as it does with
// any listener.
func (l *handoffListener) accept() {
	var backoff time.Duration
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			select {
			case l.errs <- err:
			case <-l.done:
				return
			}
			var te interface{ Temporary() bool }
			if !errors.As(err, &te) || !te.Temporary() {
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff) // out of file descriptors, say
			continue
		}
		backoff = 0
		c := newFastConn(l.s, nc, l)
		if !l.s.trackConn(c, true) {
			nc.Close()
			continue
		}
		go c.serve()
	}
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case err := <-l.errs:
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting, and the fast path's idle connections close.
func (l *handoffListener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		err = l.Listener.Close()
		l.s.closeConns(false)
	})
	return err
}

// deliver hands c to net/http, or closes it if net/http is no longer
// serving.
func (l *handoffListener) deliver(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	}
}

// prefixConn is a connection some of whose bytes were read already: Read
// returns those first.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
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
