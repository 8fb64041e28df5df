package gateway

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"sync"
	"time"
)

// directTransport is the RoundTripper for the gateway's most common request:
// HTTP/1.1 to an instance, a GET, HEAD or OPTIONS without a body and without
// an upgrade. It writes the request and reads the answer on the calling
// goroutine over a pool of keep-alive connections per instance, where
// http.Transport hands each request to a writer and a reader goroutine and
// back (three goroutine switches a request, the largest share of the
// gateway's own CPU after system calls). Every other request — a body to
// stream while the answer streams back, an upgrade, another method — goes to
// next, the standard transport, unchanged.
//
// Like http.Transport it sends a request again when its reused keep-alive
// connection failed before any byte of the answer came back: the instance
// had closed it while idle (it stopped, slept or timed the connection out).
// Such a request has no body and an idempotent method, so that is safe; the
// other idle connections to that instance are dropped too, as they are most
// likely just as dead, and the request goes on a new connection.
type directTransport struct {
	next        http.RoundTripper
	dial        func(ctx context.Context, network, addr string) (net.Conn, error)
	idleTimeout time.Duration
	maxIdle     int // per instance

	pools sync.Map // addr → *connPool
	// sweeping is set while a sweep of idle connections is scheduled.
	mu       sync.Mutex
	sweeping bool
}

// connPool is one instance's idle connections, most recently used last.
type connPool struct {
	mu   sync.Mutex
	idle []*upConn
	// dead pools were removed from the map by a sweep; put finds another.
	dead bool
}

// upConn is a keep-alive connection to an instance.
type upConn struct {
	net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	addr      string
	nread     int64 // bytes read since the last request was written
	idleSince time.Time
	// prefix is what the event loop read of an answer it handed to the
	// connection's goroutine (counted in nread already); fd is the socket,
	// once the loop has used it, and inLoop whether it is in the loop's
	// epoll set.
	prefix []byte
	fd     int
	inLoop bool
}

func (c *upConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	n, err := c.Conn.Read(p)
	c.nread += int64(n)
	return n, err
}

// direct reports whether req takes the direct path.
func direct(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		return false
	}
	return req.URL.Scheme == "http" && (req.Body == nil || req.Body == http.NoBody) &&
		req.Header.Get("Upgrade") == "" && len(req.Trailer) == 0
}

func (t *directTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !direct(req) {
		return t.next.RoundTrip(req)
	}
	ctx := req.Context()
	for {
		c, reused, err := t.get(ctx, req.URL.Host)
		if err != nil {
			return nil, err
		}
		resp, err := t.exchange(ctx, c, req)
		if err == nil {
			return resp, nil
		}
		c.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Host, ctx.Err())
		}
		if reused && c.nread == 0 {
			t.dropIdle(req.URL.Host)
			continue // the instance had closed the idle connection
		}
		return nil, err
	}
}

// aLongTimeAgo, as a deadline, interrupts a connection's pending I/O.
var aLongTimeAgo = time.Unix(1, 0)

// exchange writes req on c and reads the answer's header; the answer's body
// reads from c, which goes back to the pool once the body is read to the end.
func (t *directTransport) exchange(ctx context.Context, c *upConn, req *http.Request) (*http.Response, error) {
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(aLongTimeAgo) })
	c.nread = 0
	err := req.Write(c.bw)
	if err == nil {
		err = c.bw.Flush()
	}
	var resp *http.Response
	for err == nil {
		if resp, err = http.ReadResponse(c.br, req); err != nil {
			break
		}
		code := resp.StatusCode
		if code < 100 || code > 199 || code == http.StatusSwitchingProtocols {
			break
		}
		// An interim answer (103 Early Hints): the proxy's trace forwards it.
		if trace := httptrace.ContextClientTrace(ctx); trace != nil && trace.Got1xxResponse != nil {
			if err = trace.Got1xxResponse(code, textproto.MIMEHeader(resp.Header)); err != nil {
				break
			}
		}
	}
	if err != nil {
		stop()
		return nil, err
	}
	reuse := !resp.Close && !req.Close && resp.StatusCode != http.StatusSwitchingProtocols
	resp.Body = &upBody{t: t, c: c, ctx: ctx, body: resp.Body, stop: stop, reuse: reuse}
	return resp, nil
}

// upBody is an answer's body; it returns its connection to the pool when
// read to the end and closed, and closes the connection otherwise (an
// unread rest is not drained: it may be long, or endless).
type upBody struct {
	t     *directTransport
	c     *upConn
	ctx   context.Context
	body  io.ReadCloser
	stop  func() bool
	reuse bool
	eof   bool
	done  bool
}

func (b *upBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, http.ErrBodyReadAfterClose
	}
	n, err := b.body.Read(p)
	switch {
	case err == io.EOF:
		b.eof = true
	case err != nil && b.ctx.Err() != nil:
		err = fmt.Errorf("read answer: %w", b.ctx.Err())
	}
	return n, err
}

func (b *upBody) Close() error {
	if b.done {
		return nil
	}
	b.done = true
	if b.stop() && b.eof && b.reuse {
		b.t.put(b.c)
	} else {
		b.c.Close()
	}
	return nil
}

// get returns an idle connection to addr, or dials a new one. A dial error
// is the dialer's *net.OpError (Op "dial"), as with http.Transport.
func (t *directTransport) get(ctx context.Context, addr string) (*upConn, bool, error) {
	if c := t.idleConn(addr); c != nil {
		return c, true, nil
	}
	nc, err := t.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, false, err
	}
	c := &upConn{Conn: nc, addr: addr}
	c.br = bufio.NewReaderSize(c, 4<<10)
	c.bw = bufio.NewWriterSize(nc, 4<<10)
	return c, false, nil
}

// idleConn takes an idle connection to addr from the pool; nil if there is
// none.
func (t *directTransport) idleConn(addr string) *upConn {
	v, ok := t.pools.Load(addr)
	if !ok {
		return nil
	}
	p := v.(*connPool)
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for n := len(p.idle); n > 0; n = len(p.idle) {
		c := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		if now.Sub(c.idleSince) < t.idleTimeout {
			return c
		}
		c.Close()
	}
	return nil
}

// dropIdle closes the idle connections to addr.
func (t *directTransport) dropIdle(addr string) {
	v, ok := t.pools.Load(addr)
	if !ok {
		return
	}
	p := v.(*connPool)
	p.mu.Lock()
	for _, c := range p.idle {
		c.Close()
	}
	clear(p.idle)
	p.idle = p.idle[:0]
	p.mu.Unlock()
}

// put returns c to its instance's pool, or closes it if the pool is full.
func (t *directTransport) put(c *upConn) {
	if c.br.Buffered() > 0 { // the instance sent more than its answer
		c.Close()
		return
	}
	c.idleSince = time.Now()
	for {
		v, ok := t.pools.Load(c.addr)
		if !ok {
			v, _ = t.pools.LoadOrStore(c.addr, &connPool{})
		}
		p := v.(*connPool)
		p.mu.Lock()
		switch {
		case p.dead:
			p.mu.Unlock()
			continue
		case len(p.idle) >= t.maxIdle:
			p.mu.Unlock()
			c.Close()
			return
		}
		p.idle = append(p.idle, c)
		p.mu.Unlock()
		t.scheduleSweep()
		return
	}
}

// scheduleSweep makes sure a sweep of idle connections is coming.
func (t *directTransport) scheduleSweep() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.sweeping {
		t.sweeping = true
		time.AfterFunc(t.idleTimeout/2, t.sweep)
	}
}

// sweep closes connections idle for longer than idleTimeout — those to
// instances that are gone, mostly — and forgets empty pools. It schedules
// itself again while idle connections remain.
func (t *directTransport) sweep() {
	now, left := time.Now(), 0
	t.pools.Range(func(k, v any) bool {
		p := v.(*connPool)
		p.mu.Lock()
		keep := p.idle[:0]
		for _, c := range p.idle {
			if now.Sub(c.idleSince) >= t.idleTimeout {
				c.Close()
			} else {
				keep = append(keep, c)
			}
		}
		clear(p.idle[len(keep):])
		p.idle = keep
		if len(keep) == 0 {
			p.dead = true
			t.pools.CompareAndDelete(k, v)
		}
		left += len(keep)
		p.mu.Unlock()
		return true
	})
	t.mu.Lock()
	t.sweeping = false
	t.mu.Unlock()
	if left > 0 {
		t.scheduleSweep()
	}
}
