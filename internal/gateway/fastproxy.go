package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/berth-dev/berth/internal/activator"
)

// The fast path's proxy: what Gateway.ServeHTTP and httputil.ReverseProxy
// do for a plain request, on the connection's goroutine, with the
// connections of directTransport (upstream.go).

// Requests whose Context().Err() tells acquireError and proxyFailed whether
// the client went away: the fast path has no request to pass them.
var (
	clientHere = new(http.Request)
	clientGone = func() *http.Request {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return clientHere.WithContext(ctx)
	}()
)

func clientReq(gone bool) *http.Request {
	if gone {
		return clientGone
	}
	return clientHere
}

// acquire takes a lease on an instance of t (never keyed on the fast path).
func (c *fastConn) acquire(ctx context.Context, t *Target) (*activator.Lease, error) {
	return c.g.act.Acquire(ctx, t.Namespace, t.Name, t.Revision, "")
}

// proxy serves c.req for t. code is the status for the metrics (200 when
// nothing was written, as with ServeHTTP's statusRecorder); keep is false
// when the connection must close. lr, if not nil, is the request as far as
// the event loop took it: admitted, leased and sent.
func (c *fastConn) proxy(t *Target, lr *loopReq) (code int, keep bool) {
	g := c.g
	c.ew.reset()
	var release func()
	if lr != nil {
		release = lr.release
	} else {
		var ok bool
		if release, ok = g.admit(&c.ew, t); !ok {
			return c.ew.code, c.writeErr()
		}
	}
	defer release()
	began := time.Now()
	if lr != nil {
		began = lr.sent
	}
	ctx, cancel := context.WithDeadline(context.Background(), began.Add(t.RequestTimeout))
	defer cancel()
	c.arm(cancel)
	var lease *activator.Lease
	var err error
	if lr != nil {
		lease = lr.lease
	} else if lease, err = c.acquire(ctx, t); err != nil {
		g.acquireError(&c.ew, clientReq(c.disarm()), t, err)
		return c.errCode(), c.writeErr()
	}
	defer lease.Release()
	up, err := c.exchange(ctx, lease.Addr, lr)
	var op *net.OpError
	if err != nil && errors.As(err, &op) && op.Op == "dial" && ctx.Err() == nil {
		lease.Unreachable(err)
		// Never sent and with no body: safe to send to another instance
		// once (as Gateway.proxyError does).
		if c.req.method == http.MethodGet || c.req.method == http.MethodHead {
			next, aerr := c.acquire(ctx, t)
			if aerr != nil {
				g.acquireError(&c.ew, clientReq(c.disarm()), t, aerr)
				return c.errCode(), c.writeErr()
			}
			defer next.Release()
			lease = next
			up, err = c.exchange(ctx, lease.Addr, nil)
		}
	}
	if err != nil {
		gone := c.disarm()
		if lease.ColdStart != nil {
			c.ew.Header().Set(ColdStartHeader, activator.FormatPhases(lease.ColdStart))
		}
		ctxErr := ctx.Err()
		if gone {
			ctxErr = context.Canceled
		}
		g.proxyFailed(&c.ew, ctxErr, string(c.req.host), err)
		return c.errCode(), c.writeErr()
	}
	return c.resp.code, c.relay(up, lease.ColdStart)
}

func (c *fastConn) errCode() int {
	if c.ew.code == 0 {
		return http.StatusOK
	}
	return c.ew.code
}

// exchange sends c.req to the instance at addr and reads its answer's head
// into c.resp, passing interim (1xx) answers on. Like directTransport it
// sends the request again on a new connection when a reused one failed
// before any byte of the answer came back. With lr the first try goes on
// where the event loop left it.
func (c *fastConn) exchange(ctx context.Context, addr string, lr *loopReq) (*upConn, error) {
	dt := c.s.dt
	for {
		var up *upConn
		var reused, fromLoop bool
		var err error
		if lr != nil && lr.up != nil {
			up, reused, fromLoop = lr.up, true, true
			lr.up = nil
		} else if up, reused, err = dt.get(ctx, addr); err != nil {
			return nil, err
		}
		dl, _ := ctx.Deadline()
		c.setUp(up, dl)
		if fromLoop {
			// The loop sent the request but lr.rest, and read up.prefix.
			up.nread = int64(len(up.prefix))
			if len(lr.rest) > 0 {
				_, err = up.Conn.Write(lr.rest)
			}
		} else {
			up.nread = 0
			err = c.writeRequest(up)
		}
		if err == nil {
			err = c.readAnswerHead(up)
		}
		if err == nil {
			return up, nil
		}
		c.setUp(nil, time.Time{})
		up.Close()
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("%s %s: %w", c.req.method, addr, ctx.Err())
		case errors.Is(err, os.ErrDeadlineExceeded):
			// The connection's deadline, the request's, passed a moment
			// before the context's timer fired.
			return nil, fmt.Errorf("%s %s: %w", c.req.method, addr, context.DeadlineExceeded)
		case reused && up.nread == 0 && !errors.Is(err, errBadAnswer):
			dt.dropIdle(addr) // the instance had closed the idle connection
			continue
		}
		return nil, err
	}
}

// writeRequest writes c.req's head to up with X-Forwarded-For, -Host and
// -Proto, as ProxyRequest.SetXForwarded sets them.
func (c *fastConn) writeRequest(up *upConn) error {
	c.upOut = c.appendRequest(c.upOut[:0])
	_, err := up.Conn.Write(c.upOut)
	return err
}

// appendRequest appends c.req's head for the instance to b.
func (c *fastConn) appendRequest(b []byte) []byte {
	b = append(b, c.req.out...)
	if c.clientIP != "" {
		b = append(append(append(b, "X-Forwarded-For: "...), c.clientIP...), "\r\n"...)
	}
	b = append(append(b, "X-Forwarded-Host: "...), c.req.host...)
	return append(b, "\r\nX-Forwarded-Proto: http\r\n\r\n"...)
}

// readAnswerHead reads the answer's head into c.resp. Interim answers (103
// Early Hints) go to the client as they come.
func (c *fastConn) readAnswerHead(up *upConn) error {
	for {
		var err error
		c.head, err = readHeadInto(up.br, c.head[:0])
		if err != nil {
			return err
		}
		if err := parseResponse(c.head, &c.resp); err != nil {
			return err
		}
		switch code := c.resp.code; {
		case code == http.StatusSwitchingProtocols:
			return fmt.Errorf("%w: it switched protocols, unasked", errBadAnswer)
		case code < 200:
			c.out = append(append(appendStatusLine(c.out[:0], code), c.resp.lines...), "\r\n"...)
			c.bw.Write(c.out)
			if err := c.bw.Flush(); err != nil {
				return fmt.Errorf("write interim answer to client: %w", err)
			}
			continue
		}
		return nil
	}
}

// relay sends the answer whose head is in c.resp to the client, its body
// streamed from up, and returns up to the pool if it can carry another
// request. keep is false when the client's connection must close.
func (c *fastConn) relay(up *upConn, cold []activator.Phase) (keep bool) {
	r := &c.resp
	noBody, untilEOF := c.answerHead(cold)
	var err error
	switch {
	case noBody:
		err = c.sendHead(nil)
	case r.chunked:
		err = c.pipeChunked(up)
	default:
		err = c.pipe(up, r.contentLength)
	}
	if err == nil {
		err = c.sendHead(nil) // an empty body
	}
	gone := c.disarm()
	if err == nil && !gone && !r.close && !untilEOF {
		up.SetDeadline(time.Time{})
		c.s.dt.put(up)
	} else {
		up.Close()
	}
	return err == nil && !gone
}

// answerHead puts the head of the answer in c.resp for the client in c.out,
// all but a sniffed Content-Type and the final CRLF (finishHead). noBody: the
// answer has none; untilEOF: its body lasts until the instance closes.
func (c *fastConn) answerHead(cold []activator.Phase) (noBody, untilEOF bool) {
	r := &c.resp
	noBody = c.req.method == http.MethodHead || r.code == http.StatusNoContent || r.code == http.StatusNotModified
	b := append(appendStatusLine(c.out[:0], r.code), r.lines...)
	if !r.hasDate {
		b = append(b, dateHeader()...)
	}
	if cold != nil {
		b = append(append(append(b, ColdStartHeader+": "...), activator.FormatPhases(cold)...), "\r\n"...)
	}
	untilEOF = !noBody && !r.chunked && r.contentLength < 0
	if !noBody && (r.chunked || untilEOF) {
		// An answer of unknown length goes on chunked, as net/http's
		// server sends it, so that the client's connection stays open.
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	}
	if c.req.closeConn {
		b = append(b, "Connection: close\r\n"...)
	}
	c.out, c.headPending, c.needType = b, true, !noBody && !r.hasType
	return noBody, untilEOF
}

// appendStatusLine appends the status line net/http's server writes for
// code (its own reason phrase, not the instance's).
func appendStatusLine(b []byte, code int) []byte {
	b = strconv.AppendInt(append(b, "HTTP/1.1 "...), int64(code), 10)
	if text := http.StatusText(code); text != "" {
		b = append(append(b, ' '), text...)
	} else {
		b = strconv.AppendInt(append(b, " status code "...), int64(code), 10)
	}
	return append(b, "\r\n"...)
}

// sendHead writes the answer's head to the client once, with the
// Content-Type net/http's server would sniff from sample, the body's start,
// if the instance sent none.
func (c *fastConn) sendHead(sample []byte) error {
	if !c.headPending {
		return nil
	}
	c.finishHead(sample)
	_, err := c.bw.Write(c.out)
	return err
}

// finishHead ends the head in c.out, with the Content-Type net/http's
// server would sniff from sample if the instance sent none.
func (c *fastConn) finishHead(sample []byte) {
	c.headPending = false
	if c.needType && len(sample) > 0 {
		c.out = append(append(append(c.out, "Content-Type: "...), http.DetectContentType(sample)...), "\r\n"...)
	}
	c.out = append(c.out, "\r\n"...)
}

// beforeWait sends what the client has not yet got before the proxy waits
// for the instance: streams (SSE, chunked answers) reach the client as they
// come, and a whole answer in one write. A head that still needs a sample of
// the body for its Content-Type waits for it.
func (c *fastConn) beforeWait() error {
	if c.headPending && c.needType {
		return nil
	}
	if err := c.sendHead(nil); err != nil {
		return err
	}
	if c.bw.Buffered() > 0 {
		return c.bw.Flush()
	}
	return nil
}

// pipe copies n bytes of the body from up to the client, or, with n < 0,
// everything up to the end of the connection, each read as a chunk.
func (c *fastConn) pipe(up *upConn, n int64) error {
	var buf *[]byte
	defer func() {
		if buf != nil {
			buffers.Put(buf)
		}
	}()
	for n != 0 {
		if up.br.Buffered() == 0 {
			if err := c.beforeWait(); err != nil {
				return err
			}
		}
		var p []byte
		peeked := false
		if up.br.Buffered() == 0 && (n < 0 || n > int64(up.br.Size())) {
			// Much to come: read past up's small buffer into a copy buffer.
			if buf == nil {
				buf = buffers.Get().(*[]byte)
			}
			p = *buf
			if n > 0 && int64(len(p)) > n {
				p = p[:n]
			}
			m, err := up.br.Read(p)
			if m == 0 {
				return c.bodyEnd(n, err)
			}
			p = p[:m]
		} else {
			if _, err := up.br.Peek(1); err != nil {
				return c.bodyEnd(n, err)
			}
			m := up.br.Buffered()
			if n > 0 && int64(m) > n {
				m = int(n)
			}
			p, _ = up.br.Peek(m)
			peeked = true
		}
		if err := c.sendHead(p[:min(len(p), 512)]); err != nil {
			return err
		}
		var err error
		if n < 0 {
			c.out = strconv.AppendInt(c.out[:0], int64(len(p)), 16)
			c.out = append(c.out, "\r\n"...)
			c.bw.Write(c.out)
		}
		if _, err = c.bw.Write(p); err == nil && n < 0 {
			_, err = c.bw.WriteString("\r\n")
		}
		if err != nil {
			return fmt.Errorf("write answer to client: %w", err)
		}
		if peeked {
			up.br.Discard(len(p))
		}
		if n > 0 {
			n -= int64(len(p))
		}
	}
	return nil
}

// bodyEnd is the end of up's body when n bytes of it were still due: the
// end of a body sent until the connection closes, or an error.
func (c *fastConn) bodyEnd(n int64, err error) error {
	if n < 0 && err == io.EOF {
		if err := c.sendHead(nil); err != nil {
			return err
		}
		_, err := c.bw.WriteString("0\r\n\r\n")
		return err
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("read answer: %w", err)
}

// pipeChunked copies a chunked body from up to the client, chunk by chunk,
// trailers included.
func (c *fastConn) pipeChunked(up *upConn) error {
	for {
		line, err := c.answerLine(up)
		if err != nil {
			return err
		}
		size, ok := parseChunkSize(trimCRLF(line))
		if !ok {
			return fmt.Errorf("%w: chunk size %q", errBadAnswer, truncate(string(line), 32))
		}
		if size == 0 {
			if err := c.sendHead(nil); err != nil {
				return err
			}
			c.bw.Write(line) // the last chunk, then trailers up to an empty line
			for {
				if line, err = c.answerLine(up); err != nil {
					return err
				}
				c.bw.Write(line)
				if len(trimCRLF(line)) == 0 {
					return nil
				}
			}
		}
		if c.headPending && c.needType {
			sample, err := up.br.Peek(1)
			if err == nil {
				sample, _ = up.br.Peek(int(min(int64(up.br.Buffered()), size, 512)))
			}
			c.sendHead(sample)
		}
		if err := c.sendHead(nil); err != nil {
			return err
		}
		if _, err := c.bw.Write(line); err != nil {
			return fmt.Errorf("write answer to client: %w", err)
		}
		if err := c.pipe(up, size); err != nil {
			return err
		}
		if line, err = c.answerLine(up); err != nil {
			return err
		}
		if len(trimCRLF(line)) != 0 {
			return fmt.Errorf("%w: chunk longer than its size", errBadAnswer)
		}
		c.bw.Write(line)
	}
}

// answerLine reads a line of a chunked body from up into c.chunkLine,
// sending the client what it has first if it has to wait.
func (c *fastConn) answerLine(up *upConn) ([]byte, error) {
	if up.br.Buffered() == 0 {
		if err := c.beforeWait(); err != nil {
			return nil, err
		}
	}
	line, err := up.br.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull:
		return nil, fmt.Errorf("%w: chunk line too long", errBadAnswer)
	case err == io.EOF:
		return nil, fmt.Errorf("read answer: %w", io.ErrUnexpectedEOF)
	case err != nil:
		return nil, fmt.Errorf("read answer: %w", err)
	}
	c.chunkLine = append(c.chunkLine[:0], line...)
	return c.chunkLine, nil
}

func trimCRLF(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}
