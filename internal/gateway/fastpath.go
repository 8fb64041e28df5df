package gateway

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/internal/activator"
)

// The fast path serves the plain listener's most common requests — GET,
// HEAD and OPTIONS without a body, over HTTP/1.1, to an app that is not
// keyed, internal or h2c — on one goroutine per connection: it reads the
// request head itself, routes it with the Table, takes a lease, forwards the
// request over directTransport's keep-alive connections, and streams the
// answer back (fastproxy.go). Go's HTTP/1.1 server does the same work with a
// background-read goroutine per request, a header map per request and per
// answer, and more goroutine hand-offs; here that was the largest share of
// the gateway's cost (docs/benchmarks.md).
//
// Everything else is handed, with the bytes read so far, to net/http, which
// serves the connection from then on through Gateway.ServeHTTP: h2c's
// preface, upgrades, bodies, Expect, odd or malformed heads (net/http
// answers those 400), heads longer than the read buffer. Answers, errors,
// metrics and headers are those of ServeHTTP; fastpath_test.go holds the two
// side by side.

// fastConn is a client connection on the fast path.
type fastConn struct {
	s  *Server
	g  *Gateway
	hl *handoffListener
	nc net.Conn
	br *bufio.Reader // over connReader{c}
	bw *bufio.Writer
	// state is idle while waiting for a request; Shutdown closes idle
	// connections.
	state    atomic.Int32
	clientIP string

	req  reqHead
	resp respHead
	head []byte    // the answer's head, read from the instance
	out  []byte    // the answer's head, for the client
	ew   errWriter // answers the gateway makes itself
	// headPending: the answer's head, in out, is not yet written; needType:
	// it lacks a Content-Type, to be sniffed from the body's start.
	headPending, needType bool
	chunkLine             []byte
	// host and path are the last request's, as strings, for Table.Match:
	// kept while the client sends the same.
	host, path string

	// The watch: a request that takes longer than watchAfter gets a read
	// on the client's connection, to notice the client going away (as
	// net/http does for every request) and cancel the request.
	timer    *time.Timer
	wmu      sync.Mutex
	wcond    sync.Cond
	armed    bool // a request is in progress
	watching bool // the read is under way
	aborting bool
	gone     bool // the client went away
	cancel   context.CancelFunc
	up       *upConn // the instance's connection, interrupted when the client goes
	hasByte  bool    // the watch read a byte of the next request
	byteBuf  [1]byte

	upOut []byte // the request's head for the instance
	// prefix is what the client sent that the event loop read but did
	// not serve; the reader returns it first.
	prefix []byte
	// lr is a request the event loop began and this connection's
	// goroutine is to finish; pendingOut, an answer the loop could not
	// write at once, which the goroutine is to send first.
	lr         *loopReq
	pendingOut []byte
	lc         loopConn // the event loop's state (eventloop.go)
}

// loopReq is a request the event loop began and handed to the
// connection's goroutine: admitted (release), leased, sent at sent on up
// but for rest, and up's answer read as far as up.prefix.
type loopReq struct {
	t       *Target
	release func()
	lease   *activator.Lease
	up      *upConn
	rest    []byte
	sent    time.Time
	start   time.Time // for the metrics
}

const (
	connActive int32 = iota
	connIdle
	connClosed
	connLoop // the event loop has it; only the loop changes this state
)

// watchAfter is how long a request runs before the fast path watches its
// client.
const watchAfter = 20 * time.Millisecond

// Client connection buffers. A request head longer than the read buffer
// goes to net/http.
var (
	fastReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 8<<10) }}
	fastWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 8<<10) }}
)

func newFastConn(s *Server, nc net.Conn, hl *handoffListener) *fastConn {
	c := &fastConn{s: s, g: s.gw, hl: hl, nc: nc}
	c.state.Store(connIdle)
	c.wcond.L = &c.wmu
	if host, _, err := net.SplitHostPort(nc.RemoteAddr().String()); err == nil {
		c.clientIP = host
	}
	return c
}

// connReader is what the client reader reads: the byte the watch read, if
// any, then the connection.
type connReader struct{ c *fastConn }

func (r connReader) Read(p []byte) (int, error) {
	if len(r.c.prefix) > 0 {
		n := copy(p, r.c.prefix)
		r.c.prefix = r.c.prefix[n:]
		return n, nil
	}
	if r.c.hasByte && len(p) > 0 {
		r.c.hasByte = false
		p[0] = r.c.byteBuf[0]
		return 1, nil
	}
	return r.c.nc.Read(p)
}

// closeIf closes the connection if it is idle, or if all. The event loop
// closes those it has.
func (c *fastConn) closeIf(all bool) {
	for {
		switch st := c.state.Load(); {
		case st == connLoop:
			c.s.loop.requestClose(all)
			return
		case st == connIdle || all && st == connActive:
			if c.state.CompareAndSwap(st, connClosed) {
				c.nc.Close()
				return
			}
		default:
			return
		}
	}
}

// serve serves the connection on its goroutine until it closes, goes to
// net/http, or waits for its next request in the event loop.
func (c *fastConn) serve() {
	c.br = fastReaders.Get().(*bufio.Reader)
	c.br.Reset(connReader{c})
	c.bw = fastWriters.Get().(*bufio.Writer)
	c.bw.Reset(c.nc)
	handedOff, looped := false, false
	defer func() {
		// Like net/http, a panic ends the connection, not the server.
		if err := recover(); err != nil && err != http.ErrAbortHandler {
			stack := make([]byte, 64<<10)
			stack = stack[:runtime.Stack(stack, false)]
			c.s.ErrorLog.Printf("gateway: panic serving %v: %v\n%s", c.nc.RemoteAddr(), err, stack)
		}
		if looped {
			return // put away before the loop took it
		}
		if !handedOff {
			c.nc.Close()
		}
		c.s.trackConn(c, false)
		c.putAway()
	}()
	wait := c.s.ReadHeaderTimeout
	if out := c.pendingOut; out != nil {
		c.pendingOut = nil
		if _, err := c.nc.Write(out); err != nil || c.req.closeConn {
			return
		}
		wait = c.s.IdleTimeout
	}
	if lr := c.lr; lr != nil {
		c.lr = nil
		code, keep := c.proxy(lr.t, lr)
		c.observe(lr.t, code, lr.start)
		if !c.next(keep) {
			return
		}
		wait = c.s.IdleTimeout
	}
	for {
		if wait == c.s.IdleTimeout && c.toLoop() {
			looped = true
			c.putAway()
			if !c.s.loop.adopt(c) {
				c.nc.Close()
				c.s.trackConn(c, false)
			}
			return
		}
		n, mine, ok := c.readHead(wait)
		if !ok {
			return
		}
		if !mine || !parseRequest(c.headBytes(n), &c.req) {
			handedOff = c.handoff()
			return
		}
		keep, mine := c.serveRequest()
		if !mine {
			handedOff = c.handoff()
			return
		}
		c.br.Discard(n)
		if !c.next(keep) {
			return
		}
		wait = c.s.IdleTimeout
	}
}

// next ends a request: it reports whether the connection carries another,
// and sends what is buffered unless the client sent more already.
func (c *fastConn) next(keep bool) bool {
	if !keep || c.req.closeConn {
		c.bw.Flush()
		return false
	}
	return c.br.Buffered() > 0 || c.bw.Flush() == nil
}

// toLoop reports whether the connection, between requests with nothing
// buffered, is the event loop's now.
func (c *fastConn) toLoop() bool {
	return c.s.loop != nil && c.br.Buffered() == 0 && !c.hasByte && len(c.prefix) == 0 &&
		c.bw.Buffered() == 0 && !c.s.closing.Load() && c.loopable() && c.state.CompareAndSwap(connActive, connLoop)
}

// putAway ends the goroutine's use of the connection's buffers and timer.
func (c *fastConn) putAway() {
	if c.timer != nil {
		c.timer.Stop()
	}
	c.br.Reset(nil)
	c.bw.Reset(nil)
	fastReaders.Put(c.br)
	fastWriters.Put(c.bw)
	c.br, c.bw = nil, nil
}

// headBytes returns the first n buffered bytes: a request head.
func (c *fastConn) headBytes(n int) []byte {
	b, _ := c.br.Peek(n)
	return b
}

// crlf2 ends a request head.
var crlf2 = []byte("\r\n\r\n")

// readHead waits up to wait for a request to begin, then up to
// ReadHeaderTimeout for its head, which it leaves buffered: n is its
// length. mine is false for bytes the fast path does not serve; ok is false
// when the connection is done.
func (c *fastConn) readHead(wait time.Duration) (n int, mine, ok bool) {
	if c.s.closing.Load() {
		return 0, false, false
	}
	c.state.Store(connIdle)
	if c.s.closing.Load() {
		return 0, false, false
	}
	if c.br.Buffered() == 0 && !c.hasByte {
		c.nc.SetReadDeadline(deadline(wait))
		if _, err := c.br.Peek(1); err != nil {
			return 0, false, false
		}
	}
	if !c.state.CompareAndSwap(connIdle, connActive) {
		return 0, false, false // closed by Shutdown
	}
	timed := false
	for {
		b, _ := c.br.Peek(c.br.Buffered())
		if b[0] < 'A' || b[0] > 'Z' {
			return 0, false, true // not a method: TLS, say
		}
		if i := bytes.Index(b, crlf2); i >= 0 {
			return i + len(crlf2), true, true
		}
		if len(b) == c.br.Size() || bytes.Contains(b, []byte("\n\n")) {
			return 0, false, true
		}
		if !timed {
			c.nc.SetReadDeadline(deadline(c.s.ReadHeaderTimeout))
			timed = true
		}
		if c.bw.Buffered() > 0 && c.bw.Flush() != nil {
			return 0, false, false
		}
		if _, err := c.br.Peek(len(b) + 1); err != nil {
			return 0, false, false
		}
	}
}

func deadline(d time.Duration) time.Time {
	if d <= 0 {
		return time.Time{}
	}
	return time.Now().Add(d)
}

// handoff gives the connection, with the bytes read from it but not yet
// served, to net/http.
func (c *fastConn) handoff() bool {
	if c.bw.Flush() != nil {
		return false
	}
	prefix := make([]byte, c.br.Buffered(), c.br.Buffered()+1+len(c.prefix))
	c.br.Read(prefix)
	prefix, c.prefix = append(prefix, c.prefix...), nil
	if c.hasByte {
		prefix = append(prefix, c.byteBuf[0])
		c.hasByte = false
	}
	c.nc.SetReadDeadline(time.Time{})
	c.s.trackConn(c, false)
	c.hl.deliver(&prefixConn{Conn: c.nc, prefix: prefix})
	return true
}

// serveRequest serves the parsed request c.req. keep is false when the
// connection cannot carry another request; mine is false when net/http is
// to serve it (nothing was written then).
func (c *fastConn) serveRequest() (keep, mine bool) {
	target, ok := c.match()
	if !ok {
		c.ew.reset()
		c.g.noRoute(&c.ew, c.host, c.path)
		return c.writeErr(), true
	}
	if !fast(target) {
		return false, false
	}
	var start time.Time
	if c.g.metrics != nil {
		start = time.Now()
	}
	code, keep := c.proxy(target, nil)
	c.observe(target, code, start)
	return keep, true
}

// match routes c.req.
func (c *fastConn) match() (*Target, bool) {
	if string(c.req.host) != c.host {
		c.host = string(c.req.host)
	}
	if string(c.req.path) != c.path {
		c.path = string(c.req.path)
	}
	return c.g.routes.Load().Match(c.host, c.path)
}

// fast reports whether the fast path serves t's requests: net/http serves
// keyed, internal and h2c apps.
func fast(t *Target) bool {
	return !t.Internal && t.Key == nil && t.Protocol != UpstreamH2C
}

// observe records a request that began at start in the metrics.
func (c *fastConn) observe(t *Target, code int, start time.Time) {
	if c.g.metrics != nil {
		c.g.observe(t, &statusRecorder{code: code}, start)
	}
}

// arm starts the watch of a request that cancel cancels.
func (c *fastConn) arm(cancel context.CancelFunc) {
	c.wmu.Lock()
	c.armed, c.gone, c.cancel = true, false, cancel
	c.wmu.Unlock()
	if c.timer == nil {
		c.timer = time.AfterFunc(watchAfter, c.watch)
	} else {
		c.timer.Reset(watchAfter)
	}
}

// setUp tells the watch which instance connection to interrupt, and gives
// that connection the request's deadline (or a past one if the client has
// gone already).
func (c *fastConn) setUp(up *upConn, deadline time.Time) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.up = up
	switch {
	case up == nil:
	case c.gone:
		up.SetDeadline(aLongTimeAgo)
	default:
		up.SetDeadline(deadline)
	}
}

// disarm ends the watch and reports whether the client went away.
func (c *fastConn) disarm() (gone bool) {
	c.timer.Stop()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.armed, c.cancel, c.up = false, nil, nil
	if c.watching {
		c.aborting = true
		c.nc.SetReadDeadline(aLongTimeAgo)
		for c.watching {
			c.wcond.Wait()
		}
		c.aborting = false
	}
	return c.gone
}

// watch reads from the client while a request is in progress: a byte is
// the next request's (kept for the reader); an error is the client gone.
func (c *fastConn) watch() {
	c.wmu.Lock()
	if !c.armed || c.watching || c.hasByte {
		c.wmu.Unlock()
		return
	}
	c.watching = true
	c.nc.SetReadDeadline(time.Time{})
	c.wmu.Unlock()
	n, err := c.nc.Read(c.byteBuf[:])
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if n == 1 {
		c.hasByte = true
	} else if err != nil && !c.aborting {
		c.gone = true
		c.cancel()
		if c.up != nil {
			c.up.SetDeadline(aLongTimeAgo)
		}
	}
	c.watching = false
	c.wcond.Broadcast()
}

// errWriter collects an answer the gateway makes itself (problem+json) for
// the fast path to write.
type errWriter struct {
	h    http.Header
	code int
	body bytes.Buffer
}

func (w *errWriter) reset() {
	clear(w.h)
	w.code = 0
	w.body.Reset()
}

func (w *errWriter) Header() http.Header {
	if w.h == nil {
		w.h = http.Header{}
	}
	return w.h
}

func (w *errWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *errWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}

// writeErr writes c.ew's answer to the client. Nothing written (the client
// went away) closes the connection.
func (c *fastConn) writeErr() (keep bool) {
	w := &c.ew
	if w.code == 0 {
		return false
	}
	c.out = appendStatusLine(c.out[:0], w.code)
	c.bw.Write(c.out)
	w.h.Write(c.bw)
	c.bw.Write(dateHeader())
	c.bw.WriteString("Content-Length: ")
	c.bw.Write(strconv.AppendInt(c.out[:0], int64(w.body.Len()), 10))
	if c.req.closeConn {
		c.bw.WriteString("\r\nConnection: close")
	}
	c.bw.WriteString("\r\n\r\n")
	if c.req.method != http.MethodHead {
		c.bw.Write(w.body.Bytes())
	}
	return true
}

// dates caches the Date header line, which changes once a second.
var dates atomic.Pointer[dateLine]

type dateLine struct {
	sec  int64
	line []byte
}

// dateHeader returns "Date: …\r\n" for now.
func dateHeader() []byte {
	now := time.Now()
	if d := dates.Load(); d != nil && d.sec == now.Unix() {
		return d.line
	}
	d := &dateLine{sec: now.Unix(), line: now.UTC().AppendFormat([]byte("Date: "), http.TimeFormat)}
	d.line = append(d.line, "\r\n"...)
	dates.Store(d)
	return d.line
}
