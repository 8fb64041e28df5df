//go:build linux

package gateway

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The event loop holds the fast path's connections between requests and
// serves their common case without a goroutine: a request that a ready
// instance with a free slot and an idle keep-alive connection answers
// quickly, with a length that fits loopAnswerMax. One goroutine waits on its
// own epoll set for all such connections — parked in Go's netpoller, which
// watches the epoll descriptor, when nothing is ready — reads a request once
// the client has sent it, and sends it on and the answer back with one
// system call each. Go's netpoller instead tries every read before it waits
// (a read that returns EAGAIN per wait: three reads a request where nginx
// makes two) and parks and wakes
// a goroutine per wait; on this kind of machine a system call costs more
// than the rest (docs/benchmarks.md).
//
// Anything else goes back to the connection's goroutine (fastpath.go) at
// the point reached, through connLoop, the state only the loop leaves: a
// request the loop does not serve, with the bytes read (toGoroutine); a
// request the instance is slow to answer (watchAfter) or answers otherwise,
// with what was read of the answer (handOver); an answer the client did not
// take at once, with the rest (pendingOut). The goroutine gives the
// connection back when it waits for the next request.

// loopAnswerMax is the longest answer, head and body, the loop relays
// itself; loopHeadMax, the longest request head (the goroutine's reader).
const (
	loopAnswerMax = 16 << 10
	loopHeadMax   = 8 << 10
)

var loopAnswers = sync.Pool{New: func() any { b := make([]byte, loopAnswerMax); return &b }}

type eventLoop struct {
	s    *Server
	log  *slog.Logger
	ep   int // the epoll set
	wake int // an eventfd in it: requestClose
	ef   *os.File
	rc   syscall.RawConn
	evs  []unix.EpollEvent
	nev  int
	wait func(uintptr) bool

	mu       sync.Mutex
	adopted  []*fastConn // given by goroutines, not yet in conns
	shut     bool
	closeReq atomic.Int32 // 1: close the idle connections; 2: all
	served   atomic.Int64 // requests the loop answered itself (tests)

	conns     map[int]*fastConn // clients, by descriptor
	ups       map[int]*fastConn // instance connections in use, to their client
	now       time.Time
	deadline  time.Time // the park's
	nextScan  time.Time
	lastSweep time.Time
}

// loopConn is a connection's state in the event loop.
type loopConn struct {
	fd       int
	fdOK     bool // fd is known
	buf      []byte
	n        int  // bytes in buf: what the client sent, the request first
	readable bool // the client may have sent more while a request was out
	partial  bool // buf holds the start of a head
	expires  time.Time
	reqLen   int     // the request's head, at the start of buf
	lr       loopReq // the request out, if lr.up is not nil
	ans      []byte  // the answer so far
	nans     int
	ansBuf   *[]byte // ans's, from loopAnswers
}

// dropAnswer lets go of the answer's buffer, to the pool if reuse.
func (lc *loopConn) dropAnswer(reuse bool) {
	if reuse && lc.ansBuf != nil {
		loopAnswers.Put(lc.ansBuf)
	}
	lc.ans, lc.nans, lc.ansBuf = nil, 0, nil
}

func newEventLoop(s *Server, log *slog.Logger) *eventLoop {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		log.Warn("gateway: no event loop", "err", err)
		return nil
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err == nil {
		err = unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)})
	}
	if err == nil {
		err = unix.SetNonblock(ep, true)
	}
	ef := os.NewFile(uintptr(ep), "epoll")
	var rc syscall.RawConn
	if err == nil {
		rc, err = ef.SyscallConn()
	}
	if err != nil {
		log.Warn("gateway: no event loop", "err", err)
		ef.Close()
		if wake > 0 {
			unix.Close(wake)
		}
		return nil
	}
	l := &eventLoop{s: s, log: log, ep: ep, wake: wake, ef: ef, rc: rc, evs: make([]unix.EpollEvent, 256),
		conns: map[int]*fastConn{}, ups: map[int]*fastConn{}}
	l.wait = func(uintptr) bool {
		l.nev = l.ready()
		return l.nev > 0
	}
	go l.run()
	return l
}

// adopt gives c, between requests with nothing buffered, to the loop;
// false if the loop has stopped.
func (l *eventLoop) adopt(c *fastConn) bool {
	lc := &c.lc
	if lc.buf == nil {
		lc.buf = make([]byte, loopHeadMax)
	}
	lc.n, lc.readable, lc.partial = 0, false, false
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.shut {
		return false
	}
	l.adopted = append(l.adopted, c)
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(lc.fd)}
	if err := unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, lc.fd, &ev); err != nil {
		l.adopted = l.adopted[:len(l.adopted)-1]
		return false
	}
	return true
}

// loopable reports whether c's connection can go to an event loop.
func (c *fastConn) loopable() bool {
	if !c.lc.fdOK {
		fd, ok := sysFd(c.nc)
		if !ok {
			return false
		}
		c.lc.fd, c.lc.fdOK = fd, true
	}
	return true
}

// sysFd returns nc's descriptor.
func sysFd(nc net.Conn) (int, bool) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return 0, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, false
	}
	fd := -1
	rc.Control(func(f uintptr) { fd = int(f) })
	return fd, fd >= 0
}

// requestClose asks the loop to close its idle connections, or all.
func (l *eventLoop) requestClose(all bool) {
	v := int32(1)
	if all {
		v = 2
	}
	for {
		old := l.closeReq.Load()
		if old >= v || l.closeReq.CompareAndSwap(old, v) {
			break
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.shut {
		one := [8]byte{1}
		unix.Write(l.wake, one[:])
	}
}

func (l *eventLoop) run() {
	l.lastSweep = time.Now()
	for {
		n := l.poll()
		l.now = time.Now()
		for i := range n {
			l.event(int(l.evs[i].Fd))
		}
		if len(l.ups) > 0 && !l.now.Before(l.nextScan) {
			l.scan()
		}
		if l.now.Sub(l.lastSweep) >= time.Second {
			l.sweep()
		}
		if r := l.closeReq.Swap(0); r != 0 {
			l.closeConns(r == 2)
		}
		if l.s.closing.Load() && len(l.conns) == 0 && l.stop() {
			return
		}
	}
}

// ready takes the ready events without waiting.
func (l *eventLoop) ready() int {
	for {
		n, err := unix.EpollWait(l.ep, l.evs, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0
		}
		return n
	}
}

// poll returns the number of ready events in l.evs, parking in Go's
// netpoller until there are some, or until the next scan or sweep. (RawConn
// Read looks before it parks: that look is the loop's one epoll_wait when
// events are waiting.)
func (l *eventLoop) poll() int {
	var d time.Time
	switch {
	case len(l.ups) > 0:
		d = l.nextScan
	case len(l.conns) > 0 || l.s.closing.Load():
		d = l.lastSweep.Add(time.Second)
	}
	if !d.Equal(l.deadline) {
		l.ef.SetReadDeadline(d)
		l.deadline = d
	}
	l.nev = 0
	if err := l.rc.Read(l.wait); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		l.log.Error("gateway: event loop wait", "err", err)
		time.Sleep(10 * time.Millisecond)
	}
	return l.nev
}

// stop ends the loop once the server is closing and it has no connection.
func (l *eventLoop) stop() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.adopted) > 0 {
		return false
	}
	l.shut = true
	l.ef.Close()
	unix.Close(l.wake)
	return true
}

// stopped reports whether the loop has stopped.
func (l *eventLoop) stopped() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.shut
}

func (l *eventLoop) event(fd int) {
	defer func() {
		// Like net/http, a panic ends the connection, not the server.
		if err := recover(); err != nil {
			l.log.Error("gateway: panic in the event loop", "err", err)
			if c := l.conns[fd]; c != nil {
				l.close(c)
			} else if c := l.ups[fd]; c != nil {
				l.close(c)
			}
		}
	}()
	if fd == l.wake {
		var b [8]byte
		unix.Read(l.wake, b[:])
		return
	}
	if c := l.ups[fd]; c != nil {
		l.readAnswer(c)
		return
	}
	c := l.conns[fd]
	if c == nil {
		l.takeAdopted()
		if c = l.conns[fd]; c == nil {
			return // an instance connection in the pool, or a goroutine's
		}
	}
	if c.lc.lr.up != nil {
		c.lc.readable = true
		return
	}
	l.readClient(c)
}

func (l *eventLoop) takeAdopted() {
	l.mu.Lock()
	a := l.adopted
	l.adopted = nil
	l.mu.Unlock()
	for _, c := range a {
		l.conns[c.lc.fd] = c
		c.lc.expires = l.expiry(l.s.IdleTimeout)
	}
}

func (l *eventLoop) expiry(d time.Duration) time.Time {
	if d <= 0 {
		return time.Time{}
	}
	return l.now.Add(d)
}

// readClient reads what the client sent and serves it.
func (l *eventLoop) readClient(c *fastConn) {
	lc := &c.lc
	lc.readable = false
	for lc.n < len(lc.buf) {
		m, err := unix.Read(lc.fd, lc.buf[lc.n:])
		if err == unix.EAGAIN {
			break
		}
		if err == unix.EINTR {
			continue
		}
		if m <= 0 {
			l.close(c) // gone, or an error
			return
		}
		lc.n += m
		if lc.n == len(lc.buf) {
			lc.readable = true // there may be more
		}
		if lc.n < len(lc.buf) {
			break
		}
	}
	l.serveBuffered(c)
}

// serveBuffered serves the requests the client has sent, one at a time.
func (l *eventLoop) serveBuffered(c *fastConn) {
	lc := &c.lc
	for lc.lr.up == nil {
		if l.s.closing.Load() {
			l.close(c)
			return
		}
		if lc.n == 0 {
			if lc.readable {
				l.readClient(c)
				return
			}
			lc.expires = l.expiry(l.s.IdleTimeout)
			return
		}
		b := lc.buf[:lc.n]
		if b[0] < 'A' || b[0] > 'Z' {
			l.toGoroutine(c, b) // not a method: TLS, say
			return
		}
		i := bytes.Index(b, crlf2)
		if i < 0 {
			if lc.n == len(lc.buf) || bytes.Contains(b, []byte("\n\n")) {
				l.toGoroutine(c, b)
				return
			}
			if !lc.partial {
				lc.partial = true
				lc.expires = l.expiry(l.s.ReadHeaderTimeout)
			}
			return
		}
		lc.partial = false
		n := i + len(crlf2)
		if !parseRequest(b[:n], &c.req) {
			l.toGoroutine(c, b) // net/http's
			return
		}
		if !l.start(c, n) {
			return
		}
	}
}

// start sends the request whose head is the first n bytes of the client's
// buffer, if the instance and a connection to it are at hand; false if it
// went to the goroutine instead.
func (l *eventLoop) start(c *fastConn, n int) bool {
	lc := &c.lc
	buffered := lc.buf[:lc.n]
	t, ok := c.match()
	if !ok || !fast(t) || c.g.try == nil {
		l.toGoroutine(c, buffered) // a 404, net/http's, or no TryAcquirer
		return false
	}
	c.ew.reset()
	release, ok := c.g.admit(&c.ew, t)
	if !ok {
		l.toGoroutine(c, buffered) // to answer 429
		return false
	}
	lease, ok := c.g.try.TryAcquire(t.Namespace, t.Name, t.Revision)
	if !ok {
		release()
		l.toGoroutine(c, buffered)
		return false
	}
	up := l.s.dt.idleConn(lease.Addr)
	if up != nil && !l.register(up) {
		up.Close()
		up = nil
	}
	if up == nil {
		lease.Release()
		release()
		l.toGoroutine(c, buffered)
		return false
	}
	c.upOut = c.appendRequest(c.upOut[:0])
	m, err := unix.Write(up.fd, c.upOut)
	if err == unix.EAGAIN {
		m, err = 0, nil
	}
	if err != nil {
		// The instance closed the idle connection: the goroutine sends
		// the request again on a new one, as exchange does.
		up.Close()
		l.s.dt.dropIdle(lease.Addr)
		lease.Release()
		release()
		l.toGoroutine(c, buffered)
		return false
	}
	lc.reqLen, lc.nans = n, 0
	lc.lr = loopReq{t: t, release: release, lease: lease, up: up, sent: l.now}
	if c.g.metrics != nil {
		lc.lr.start = l.now
	}
	l.ups[up.fd] = c
	if m < len(c.upOut) {
		lc.lr.rest = c.upOut[m:]
		l.handOver(c)
		return false
	}
	if len(l.ups) == 1 {
		l.nextScan = l.now.Add(watchAfter / 2)
	}
	return true
}

// register adds up to the loop's epoll set, once.
func (l *eventLoop) register(up *upConn) bool {
	if up.inLoop {
		return true
	}
	fd, ok := sysFd(up.Conn)
	if !ok {
		return false
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(fd)}
	if err := unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return false
	}
	up.fd, up.inLoop = fd, true
	return true
}

// readAnswer reads what the instance sent and relays it when it is all
// there.
func (l *eventLoop) readAnswer(c *fastConn) {
	lc := &c.lc
	if lc.ans == nil {
		lc.ansBuf = loopAnswers.Get().(*[]byte)
		lc.ans = *lc.ansBuf
	}
	for lc.nans < len(lc.ans) {
		m, err := unix.Read(lc.lr.up.fd, lc.ans[lc.nans:])
		if err == unix.EAGAIN {
			break
		}
		if err == unix.EINTR {
			continue
		}
		if m <= 0 {
			l.handOver(c) // the goroutine meets the end or error and acts on it
			return
		}
		lc.nans += m
		if lc.nans < len(lc.ans) {
			break
		}
	}
	l.answer(c)
}

// answer relays the answer if it is complete and simple (a known length,
// no interim answer), hands the request over if it is not simple, or waits.
func (l *eventLoop) answer(c *fastConn) {
	lc := &c.lc
	b := lc.ans[:lc.nans]
	i := bytes.Index(b, crlf2)
	if i < 0 {
		if lc.nans == len(lc.ans) {
			l.handOver(c)
		}
		return
	}
	hn := i + len(crlf2)
	if parseResponse(b[:hn], &c.resp) != nil || c.resp.code < 200 {
		l.handOver(c)
		return
	}
	noBody, untilEOF := c.answerHead(lc.lr.lease.ColdStart)
	body := 0
	if !noBody {
		if c.resp.chunked || untilEOF || c.resp.contentLength > int64(len(lc.ans)-hn) {
			l.handOver(c)
			return
		}
		body = int(c.resp.contentLength)
	}
	if lc.nans < hn+body {
		return // more to come
	}
	c.finishHead(b[hn : hn+min(body, 512)])
	c.out = append(c.out, b[hn:hn+body]...)
	lr := lc.lr
	lc.lr = loopReq{}
	delete(l.ups, lr.up.fd)
	if !c.resp.close && lc.nans == hn+body {
		l.s.dt.put(lr.up)
	} else {
		lr.up.Close()
	}
	lc.dropAnswer(true)
	lr.lease.Release()
	lr.release()
	c.observe(lr.t, c.resp.code, lr.start)
	l.served.Add(1)
	closeConn := c.req.closeConn
	lc.n = copy(lc.buf, lc.buf[lc.reqLen:lc.n])
	m, err := unix.Write(lc.fd, c.out)
	if err == unix.EAGAIN {
		m, err = 0, nil
	}
	switch {
	case err != nil:
		l.close(c)
	case m < len(c.out):
		c.pendingOut = append([]byte(nil), c.out[m:]...)
		l.toGoroutine(c, lc.buf[:lc.n])
	case closeConn:
		l.close(c)
	default:
		l.serveBuffered(c)
	}
}

// scan hands the requests out for longer than watchAfter to their
// goroutines, which watch their clients and time them out.
func (l *eventLoop) scan() {
	for _, c := range l.ups {
		if l.now.Sub(c.lc.lr.sent) >= watchAfter {
			l.handOver(c)
		}
	}
	l.nextScan = l.now.Add(watchAfter / 2)
}

// sweep closes the connections idle, or sending a head, for too long.
func (l *eventLoop) sweep() {
	l.takeAdopted()
	for _, c := range l.conns {
		lc := &c.lc
		if lc.lr.up == nil && !lc.expires.IsZero() && l.now.After(lc.expires) {
			l.close(c)
		}
	}
	l.lastSweep = l.now
}

// closeConns closes the idle connections, or all.
func (l *eventLoop) closeConns(all bool) {
	l.takeAdopted()
	for _, c := range l.conns {
		if all || c.lc.lr.up == nil && c.lc.n == 0 {
			l.close(c)
		}
	}
}

// handOver gives the request out and its connection to the goroutine.
func (l *eventLoop) handOver(c *fastConn) {
	lc := &c.lc
	lr := lc.lr
	lc.lr = loopReq{}
	delete(l.ups, lr.up.fd)
	if lc.nans > 0 {
		lr.up.prefix = lc.ans[:lc.nans]
	}
	lc.dropAnswer(lc.nans == 0) // the prefix keeps the buffer; the pool gets another
	c.lr = &lr
	l.toGoroutine(c, lc.buf[lc.reqLen:lc.n])
}

// toGoroutine gives c to its goroutine, which reads prefix first.
func (l *eventLoop) toGoroutine(c *fastConn, prefix []byte) {
	unix.EpollCtl(l.ep, unix.EPOLL_CTL_DEL, c.lc.fd, nil)
	delete(l.conns, c.lc.fd)
	c.prefix = nil
	if len(prefix) > 0 {
		c.prefix = prefix
	}
	c.state.Store(connActive)
	go c.serve()
}

// close closes c, ending its request if one is out.
func (l *eventLoop) close(c *fastConn) {
	lc := &c.lc
	if lr := lc.lr; lr.up != nil {
		lc.lr = loopReq{}
		delete(l.ups, lr.up.fd)
		lr.up.Close()
		lr.lease.Release()
		lr.release()
	}
	lc.dropAnswer(true)
	delete(l.conns, lc.fd)
	c.state.Store(connClosed)
	c.nc.Close()
	l.s.trackConn(c, false)
}
