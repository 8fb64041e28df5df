package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fastInTests makes serveGateway serve through the fast path.
var fastInTests bool

// serveGateway serves gw the way the test asks: with net/http alone (as
// Gateway.ServeHTTP), or with the plain listener's Server and its fast path.
func serveGateway(t testing.TB, gw *Gateway) *httptest.Server {
	t.Helper()
	if !fastInTests {
		srv := httptest.NewServer(gw)
		t.Cleanup(srv.Close)
		return srv
	}
	return serveFast(t, gw)
}

// lastFast is the Server serveFast made last.
var lastFast *Server

func serveFast(t testing.TB, gw *Gateway) *httptest.Server {
	t.Helper()
	fs := NewServer(gw, slog.New(slog.DiscardHandler))
	lastFast = fs
	if fs.gw == nil {
		t.Fatalf("no fast path (%s=%q)", FastPathEnv, "off")
	}
	srv := httptest.NewUnstartedServer(gw)
	srv.Config = fs.Server
	srv.Listener = fs.fastListener(srv.Listener)
	srv.Start()
	t.Cleanup(func() {
		fs.Close()
		srv.Close()
	})
	return srv
}

// TestFastPathRunsTheProxyTests runs the gateway's proxy tests through the
// fast path: same answers, headers, metrics, timeouts and connection reuse.
func TestFastPathRunsTheProxyTests(t *testing.T) {
	fastInTests = true
	t.Cleanup(func() { fastInTests = false })
	for _, tc := range []struct {
		name string
		f    func(*testing.T)
	}{
		{"ForwardsAndCounts", TestProxyForwardsAndCounts},
		{"RetriesClosedKeepAlive", TestProxyRetriesClosedKeepAlive},
		{"BodiesAndStreams", TestProxyBodiesAndStreams},
		{"AbandonedBodyClosesConnection", TestProxyAbandonedBodyClosesConnection},
		{"Timeout", TestProxyTimeout},
	} {
		t.Run(tc.name, tc.f)
	}
}

func TestParseRequest(t *testing.T) {
	cases := []struct {
		name, head string
		ok         bool
		out        string // the head for the instance, if ok
		closeConn  bool
	}{
		{"plain", "GET /a?b=c%20d HTTP/1.1\r\nHost: web.localhost\r\nUser-Agent: x\r\n\r\n", true,
			"GET /a?b=c%20d HTTP/1.1\r\nHost: web.localhost\r\nUser-Agent: x\r\n", false},
		{"hop-by-hop and forwarded dropped", "HEAD / HTTP/1.1\r\nhost: a:8080\r\nConnection: keep-alive, close\r\nKeep-Alive: 5\r\n" +
			"X-Forwarded-For: 1.2.3.4\r\nforwarded: for=x\r\nProxy-Authorization: y\r\nTE: trailers, gzip\r\nContent-Length: 0\r\nAccept:  */* \r\n\r\n", true,
			"HEAD / HTTP/1.1\r\nhost: a:8080\r\nAccept:  */* \r\nTe: trailers\r\n", true},
		{"options", "OPTIONS /x HTTP/1.1\r\nHost: a\r\n\r\n", true, "OPTIONS /x HTTP/1.1\r\nHost: a\r\n", false},
		{"post", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\n", false, "", false},
		{"body on get", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", false, "", false},
		{"chunked get", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", false, "", false},
		{"websocket", "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", false, "", false},
		{"h2c upgrade", "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAA\r\n\r\n", false, "", false},
		{"h2 preface", "PRI * HTTP/2.0\r\n\r\n", false, "", false},
		{"expect", "GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n", false, "", false},
		{"connection names a header", "GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Secret\r\nX-Secret: 1\r\n\r\n", false, "", false},
		{"http/1.0", "GET / HTTP/1.0\r\nHost: a\r\n\r\n", false, "", false},
		{"absolute form", "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", false, "", false},
		{"asterisk", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", false, "", false},
		{"encoded path", "GET /a%2Fb HTTP/1.1\r\nHost: a\r\n\r\n", false, "", false},
		{"no host", "GET / HTTP/1.1\r\nAccept: x\r\n\r\n", false, "", false},
		{"empty host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", false, "", false},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", false, "", false},
		{"bad host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", false, "", false},
		{"bare lf", "GET / HTTP/1.1\nHost: a\n\n", false, "", false},
		{"folded", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n", false, "", false},
		{"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", false, "", false},
		{"no colon", "GET / HTTP/1.1\r\nHost a\r\n\r\n", false, "", false},
		{"ctl in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n", false, "", false},
		{"nul in target", "GET /\x00 HTTP/1.1\r\nHost: a\r\n\r\n", false, "", false},
		{"two spaces", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", false, "", false},
		{"lower method", "get / HTTP/1.1\r\nHost: a\r\n\r\n", false, "", false},
		{"trailing garbage", "GET / HTTP/1.1\r\nHost: a\r\n\r\nx", false, "", false},
		{"empty", "", false, "", false},
	}
	var h reqHead
	for _, c := range cases {
		ok := parseRequest([]byte(c.head), &h)
		if ok != c.ok {
			t.Errorf("%s: ok %v, want %v", c.name, ok, c.ok)
			continue
		}
		if ok && (string(h.out) != c.out || h.closeConn != c.closeConn) {
			t.Errorf("%s: out %q close %v, want %q %v", c.name, h.out, h.closeConn, c.out, c.closeConn)
		}
	}
}

// FuzzParseRequest checks that the fast path's parser never panics and
// takes only heads net/http reads the same way. `go test` runs the seeds.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"HEAD /x?y HTTP/1.1\r\nHost: a:1\r\nConnection: close\r\nTe: trailers\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: [::1]:80\r\nX: \xff\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
		"OPTIONS /%41 HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a/../b HTTP/1.1\r\nHost: a\r\n\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, head string) {
		var h reqHead
		if !parseRequest([]byte(head), &h) {
			return
		}
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(head)))
		if err != nil {
			t.Fatalf("fast path takes %q, net/http refuses it: %v", head, err)
		}
		if r.Method != h.method || r.Host != string(h.host) || r.URL.Path != string(h.path) || r.Close != h.closeConn || r.ContentLength > 0 {
			t.Fatalf("%q: fast path reads %s %q %q close=%v, net/http %s %q %q close=%v", head,
				h.method, h.host, h.path, h.closeConn, r.Method, r.Host, r.URL.Path, r.Close)
		}
	})
}

func TestParseResponse(t *testing.T) {
	cases := []struct {
		name, head string
		err        bool
		code       int
		cl         int64
		chunked    bool
		close      bool
		lines      string
	}{
		{"length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\n", false, 200, 5, false, false,
			"Content-Length: 5\r\nContent-Type: text/plain\r\n"},
		{"chunked wins", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\nTrailer: X\r\n\r\n", false, 200, -1, true, false,
			"Content-Length: 5\r\n"},
		{"hop-by-hop", "HTTP/1.1 204 No Content\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: t=5\r\nUpgrade: x\r\nX-End: 2\r\n\r\n", false, 204, -1, false, true,
			"X-End: 2\r\n"},
		{"http/1.0", "HTTP/1.0 200 OK\n\n", false, 200, -1, false, true, ""},
		{"http/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", false, 200, 0, false, false, "Content-Length: 0\r\n"},
		{"no reason", "HTTP/1.1 404\r\n\r\n", false, 404, -1, false, false, ""},
		{"bad code", "HTTP/1.1 2x0 OK\r\n\r\n", true, 0, 0, false, false, ""},
		{"code too short", "HTTP/1.1 20 OK\r\n\r\n", true, 0, 0, false, false, ""},
		{"http/2", "HTTP/2 200 OK\r\n\r\n", true, 0, 0, false, false, ""},
		{"conflicting lengths", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", true, 0, 0, false, false, ""},
		{"negative length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", true, 0, 0, false, false, ""},
		{"gzip coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", true, 0, 0, false, false, ""},
		{"bad header", "HTTP/1.1 200 OK\r\nNo colon\r\n\r\n", true, 0, 0, false, false, ""},
	}
	var h respHead
	for _, c := range cases {
		err := parseResponse([]byte(c.head), &h)
		if (err != nil) != c.err {
			t.Errorf("%s: err %v, want error %v", c.name, err, c.err)
			continue
		}
		if err == nil && (h.code != c.code || h.contentLength != c.cl || h.chunked != c.chunked || h.close != c.close || string(h.lines) != c.lines) {
			t.Errorf("%s: code %d cl %d chunked %v close %v lines %q", c.name, h.code, h.contentLength, h.chunked, h.close, h.lines)
		}
	}
}

// rawUpstream is an instance that answers each request with a canned
// answer by path, written as is, and keeps the connection for the next
// request when the answer's framing allows (keepsConn).
func rawUpstream(t *testing.T, answers map[string]string) *upstream {
	return newUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := answers[r.URL.Path]
		if !ok {
			w.WriteHeader(http.StatusOK) // the readiness probe
			return
		}
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		for ok {
			brw.WriteString(a)
			brw.Flush()
			if !keepsConn(a) {
				return
			}
			if r, err = http.ReadRequest(brw.Reader); err != nil {
				return
			}
			a, ok = answers[r.URL.Path]
		}
	}))
}

// keepsConn reports whether a canned answer ends where its framing says
// (a whole length, a last chunk, or none), so that the connection can carry
// another.
func keepsConn(a string) bool {
	i := strings.Index(a, "\r\n\r\n")
	if i < 0 || !strings.HasPrefix(a, "HTTP/1.1 ") || strings.Contains(a[:i], "Connection: close") {
		return false
	}
	head, body := a[:i], a[i+4:]
	if strings.HasPrefix(a, "HTTP/1.1 1") { // an interim answer: look at the final one
		return keepsConn(body)
	}
	if strings.HasPrefix(a, "HTTP/1.1 204") || strings.HasPrefix(a, "HTTP/1.1 304") {
		return body == ""
	}
	if strings.Contains(head, "Transfer-Encoding: chunked") {
		return strings.HasSuffix(body, "\r\n\r\n")
	}
	_, n, ok := strings.Cut(head, "Content-Length: ")
	if !ok {
		return false
	}
	n, _, _ = strings.Cut(n, "\r\n")
	return n == strconv.Itoa(len(body))
}

// testConn is a client's connection to a gateway.
type testConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialTest(t *testing.T, addr string) *testConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return &testConn{t: t, c: c, br: bufio.NewReader(c)}
}

// read reads an answer to a request with method, its body in full.
func (tc *testConn) read(method string) *http.Response {
	tc.t.Helper()
	resp, err := http.ReadResponse(tc.br, &http.Request{Method: method})
	if err != nil {
		tc.t.Fatalf("answer to %s: %v", method, err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tc.t.Fatalf("answer to %s: body: %v", method, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp
}

// do sends a request to web.localhost with extra head lines and returns
// its final answer and body.
func (tc *testConn) do(method, path, extra string) (*http.Response, string) {
	tc.t.Helper()
	fmt.Fprintf(tc.c, "%s %s HTTP/1.1\r\nHost: web.localhost\r\n%s\r\n", method, path, extra)
	resp := tc.read(method)
	for resp.StatusCode < 200 { // interim answers
		resp = tc.read(method)
	}
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// roundTrip sends raw on a new connection to srv and reads n answers.
func roundTrip(t *testing.T, srv *httptest.Server, raw string, method string, n int) []*http.Response {
	t.Helper()
	tc := dialTest(t, srv.Listener.Addr().String())
	io.WriteString(tc.c, raw)
	var out []*http.Response
	for range n {
		out = append(out, tc.read(method))
	}
	return out
}

// secondAnswer sends a GET /length on a new connection to srv, waits for its
// answer, then sends raw on the same connection and returns its answer.
func secondAnswer(t *testing.T, srv *httptest.Server, raw, method string) *http.Response {
	t.Helper()
	tc := dialTest(t, srv.Listener.Addr().String())
	tc.do("GET", "/length", "")
	time.Sleep(5 * time.Millisecond) // the connection is the loop's
	io.WriteString(tc.c, raw)
	return tc.read(method)
}

// describe is what a client can tell of an answer, Date aside.
func describe(resp *http.Response) string {
	body, _ := io.ReadAll(resp.Body)
	h := resp.Header.Clone()
	h.Del("Date")
	var keys []string
	for k, v := range h {
		keys = append(keys, k+"="+strings.Join(v, ","))
	}
	slices.Sort(keys)
	return fmt.Sprintf("%q te=%v len=%d close=%v %v body=%q trailer=%v", resp.Status, resp.TransferEncoding,
		resp.ContentLength, resp.Close, keys, body, resp.Trailer)
}

// TestFastPathAnswersLikeTheHandler sends the same requests through the
// handler and through the fast path, for answers of every framing, and
// compares what the client gets.
func TestFastPathAnswersLikeTheHandler(t *testing.T) {
	u := rawUpstream(t, map[string]string{
		"/length":    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-App: 1\r\nContent-Length: 5\r\n\r\nhello",
		"/sniff":     "HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n<html>hi</html>",
		"/chunked":   "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
		"/trailers":  "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTrailer: X-Sum\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nX-Sum: 42\r\n\r\n",
		"/eof":       "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nuntil the end",
		"/http10":    "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nold",
		"/nocontent": "HTTP/1.1 204 No Content\r\nX-App: 1\r\n\r\n",
		"/notmod":    "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n",
		"/hints":     "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok",
		"/hop":       "HTTP/1.1 200 OK\r\nConnection: X-Hop\r\nX-Hop: secret\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok",
		"/empty":     "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		"/missing":   "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nnope",
		"/garbage":   "this is not HTTP\r\n\r\n",
		"/short":     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nabc",
	})
	slow, _ := gatewayTo(t, u, "")
	fastInTests = true
	fast, _ := gatewayTo(t, u, "")
	fastSrv := lastFast
	fastInTests = false
	for _, srv := range []*httptest.Server{slow, fast} { // start the instances
		roundTrip(t, srv, "GET /length HTTP/1.1\r\nHost: web.localhost\r\n\r\n", "GET", 1)
	}
	for _, c := range []struct{ method, path string }{
		{"GET", "/length"}, {"HEAD", "/length"}, {"GET", "/sniff"}, {"GET", "/chunked"}, {"HEAD", "/chunked"},
		{"GET", "/trailers"}, {"GET", "/eof"}, {"GET", "/http10"}, {"GET", "/nocontent"}, {"GET", "/notmod"},
		{"GET", "/hints"}, {"GET", "/hop"}, {"GET", "/empty"}, {"GET", "/reason"}, {"GET", "/unknown"}, {"OPTIONS", "/missing"}, {"GET", "/garbage"},
	} {
		raw := c.method + " " + c.path + " HTTP/1.1\r\nHost: web.localhost\r\n\r\n"
		want := describe(roundTrip(t, slow, raw, c.method, 1)[0])
		if got := describe(roundTrip(t, fast, raw, c.method, 1)[0]); got != want {
			t.Errorf("%s %s:\nfast path: %s\nhandler:   %s", c.method, c.path, got, want)
		}
		// The same as a connection's second request, which the event
		// loop takes.
		if got := describe(secondAnswer(t, fast, raw, c.method)); got != want {
			t.Errorf("%s %s, second on a connection:\nfast path: %s\nhandler:   %s", c.method, c.path, got, want)
		}
	}
	if loop := fastSrv.loop; loop != nil && loop.served.Load() < 5 {
		t.Errorf("the event loop answered %d of the second requests", loop.served.Load())
	}
	// No route: the same problem; a client that asks to close gets
	// Connection: close.
	for _, c := range []struct{ method, raw string }{
		{"GET", "GET /x HTTP/1.1\r\nHost: nowhere.localhost\r\n\r\n"},
		{"HEAD", "HEAD /x HTTP/1.1\r\nHost: nowhere.localhost\r\n\r\n"},
		{"GET", "GET /length HTTP/1.1\r\nHost: web.localhost\r\nConnection: close\r\n\r\n"},
		{"GET", "GET /x HTTP/1.1\r\nHost: nowhere.localhost\r\nConnection: close\r\n\r\n"},
	} {
		if got, want := describe(roundTrip(t, fast, c.raw, c.method, 1)[0]), describe(roundTrip(t, slow, c.raw, c.method, 1)[0]); got != want {
			t.Errorf("%q:\nfast path: %s\nhandler:   %s", c.raw, got, want)
		}
	}
	// An answer cut short closes the client's connection mid-body.
	c, err := net.Dial("tcp", fast.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /short HTTP/1.1\r\nHost: web.localhost\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(resp.Body); err == nil {
		t.Errorf("an answer cut short reached the client whole: %q", b)
	}
}

// TestFastPathPipelined answers requests sent back to back in order, and
// keeps the connection open for more.
func TestFastPathPipelined(t *testing.T) {
	u := newUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "chunked ")
			w.(http.Flusher).Flush()
		}
		io.WriteString(w, r.Method+" "+r.URL.Path)
	}))
	fastInTests = true
	srv, _ := gatewayTo(t, u, "")
	fastInTests = false
	req := func(method, path string) string {
		return method + " " + path + " HTTP/1.1\r\nHost: web.localhost\r\n\r\n"
	}
	raw := req("GET", "/a") + req("HEAD", "/b") + req("GET", "/stream") + req("GET", "/c")
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, raw)
	br := bufio.NewReader(c)
	for _, want := range []struct{ method, body string }{{"GET", "GET /a"}, {"HEAD", ""}, {"GET", "chunked GET /stream"}, {"GET", "GET /c"}} {
		resp, err := http.ReadResponse(br, &http.Request{Method: want.method})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(b) != want.body {
			t.Fatalf("pipelined %s: %d %q, want 200 %q", want.method, resp.StatusCode, b, want.body)
		}
	}
	// A POST on the same connection goes to net/http, which carries on.
	io.WriteString(c, "POST /p HTTP/1.1\r\nHost: web.localhost\r\nContent-Length: 2\r\n\r\nhi"+req("GET", "/after"))
	for _, want := range []string{"POST /p", "GET /after"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if string(b) != want {
			t.Fatalf("after hand-off: %q, want %q", b, want)
		}
	}
}

// TestFastPathHandsOff leaves upgrades, h2c, bodies and bad heads to
// net/http.
func TestFastPathHandsOff(t *testing.T) {
	u := newUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "echo" {
			w.Header().Set("Connection", "Upgrade")
			w.Header().Set("Upgrade", "echo")
			w.WriteHeader(http.StatusSwitchingProtocols)
			c, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer c.Close()
			line, _ := brw.ReadString('\n')
			brw.WriteString("echo: " + line)
			brw.Flush()
			return
		}
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s %q", r.Proto, r.Method, r.URL.Path, b)
	}))
	fastInTests = true
	srv, _ := gatewayTo(t, u, "")
	fastInTests = false
	addr := srv.Listener.Addr().String()

	// An upgrade: the connection becomes a tunnel to the instance.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: web.localhost\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	io.WriteString(c, "ping\n")
	if line, err := br.ReadString('\n'); err != nil || line != "echo: ping\n" {
		t.Fatalf("through the tunnel: %q %v", line, err)
	}

	// h2c with prior knowledge.
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	h2 := &http.Client{Transport: &http.Transport{Protocols: &p}}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/h2", nil)
	req.Host = "web.localhost"
	resp, err = h2.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 || string(b) != `HTTP/1.1 GET /h2 ""` {
		t.Fatalf("h2c: %s %d %q", resp.Proto, resp.StatusCode, b)
	}

	// Bodies, and what net/http refuses with a 400 or answers itself.
	for _, c := range []struct{ raw, want string }{
		{"POST /p HTTP/1.1\r\nHost: web.localhost\r\nContent-Length: 4\r\n\r\nbody", `200 HTTP/1.1 POST /p "body"`},
		{"PUT /p HTTP/1.1\r\nHost: web.localhost\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", `200 HTTP/1.1 PUT /p "hi"`},
		{"GET /p HTTP/1.1\r\nHost: web.localhost\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi", "100"},
		{"GET /%70 HTTP/1.1\r\nHost: web.localhost\r\n\r\n", `200 HTTP/1.1 GET /p ""`},
		{"GET /old HTTP/1.0\r\nHost: web.localhost\r\n\r\n", `200 HTTP/1.1 GET /old ""`},
		{"GET / HTTP/1.1\r\n\r\n", "400"},
		{"GET / HTTP/1.1\r\nHost: web.localhost\r\nX: a\x01b\r\n\r\n", "400"},
		{"GET / HTTP/1.1\r\nHost: web.localhost\r\nHost: other\r\n\r\n", "400"},
		{"GET /big HTTP/1.1\r\nHost: web.localhost\r\nX-Big: " + strings.Repeat("b", 20<<10) + "\r\n\r\n", `200 HTTP/1.1 GET /big ""`},
		{"HELLO, THIS IS NOT HTTP AT ALL\r\n\r\n", "400"},
		{"\x00\x01 is not HTTP either, nor a preface\r\n\r\n", "400"},
	} {
		resp := roundTrip(t, srv, c.raw, "", 1)[0]
		b, _ := io.ReadAll(resp.Body)
		got := fmt.Sprint(resp.StatusCode)
		if resp.StatusCode == 200 {
			got += " " + string(b)
		}
		if got != c.want {
			t.Errorf("%.40q: %s, want %s", c.raw, got, c.want)
		}
	}
}

// TestFastPathStreamsLargeBodies passes a large answer on while the
// instance is still sending it: the client reads the first half before the
// instance writes the second.
func TestFastPathStreamsLargeBodies(t *testing.T) {
	const half = 4 << 20
	firstRead := make(chan struct{})
	u := newUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/large" {
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(2*half))
		w.Write(bytes.Repeat([]byte("a"), half))
		w.(http.Flusher).Flush()
		select {
		case <-firstRead:
		case <-time.After(10 * time.Second):
			return // cut short: the test fails reading
		}
		w.Write(bytes.Repeat([]byte("b"), half))
	}))
	fastInTests = true
	srv, _ := gatewayTo(t, u, "")
	fastInTests = false
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/large", nil)
	req.Host = "web.localhost"
	resp, err := plainClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadFull(resp.Body, make([]byte, half)); err != nil {
		t.Fatal(err)
	}
	close(firstRead)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || len(rest) != half || rest[0] != 'b' {
		t.Fatalf("second half: %d bytes, %v", len(rest), err)
	}
}

// TestFastPathClientGoesAway cancels the request at the instance when the
// client leaves while waiting, as net/http's server does: on a connection's
// first request (its goroutine's) and on a later one (the event loop's, which
// hands it to the goroutine once it is slow).
func TestFastPathClientGoesAway(t *testing.T) {
	for _, kept := range []bool{false, true} {
		t.Run(fmt.Sprint("kept=", kept), func(t *testing.T) { clientGoesAway(t, kept) })
	}
}

func clientGoesAway(t *testing.T, kept bool) {
	cancelled := make(chan struct{})
	var started atomic.Bool
	u := newUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/hold" {
			return
		}
		started.Store(true)
		select {
		case <-r.Context().Done():
			close(cancelled)
		case <-time.After(10 * time.Second):
		}
	}))
	fastInTests = true
	srv, _ := gatewayTo(t, u, "")
	fastInTests = false
	get(t, srv, http.MethodGet, "/", nil) // the instance is up
	c := dialTest(t, srv.Listener.Addr().String())
	if kept {
		c.do("GET", "/", "")
		c.do("GET", "/", "")
		if loop := lastFast.loop; loop != nil && loop.served.Load() == 0 {
			t.Fatal("the event loop did not take the connection")
		}
	}
	io.WriteString(c.c, "GET /hold HTTP/1.1\r\nHost: web.localhost\r\n\r\n")
	for deadline := time.Now().Add(5 * time.Second); !started.Load(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the request did not reach the instance")
		}
	}
	c.c.Close()
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the instance's request was not cancelled when the client went away")
	}
	// The gateway goes on serving.
	if resp, _ := get(t, srv, http.MethodGet, "/", nil); resp.StatusCode != 200 {
		t.Fatalf("after a client went away: %d", resp.StatusCode)
	}
}

// TestFastPathColdStart holds the first request through the start and
// names its phases, as the handler does.
func TestFastPathColdStart(t *testing.T) {
	u := newUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	fastInTests = true
	srv, set := gatewayTo(t, u, "")
	fastInTests = false
	resp, body := get(t, srv, http.MethodGet, "/", nil)
	if resp.StatusCode != 200 || body != "ok" || resp.Header.Get(ColdStartHeader) == "" {
		t.Fatalf("first request: %d %q %s=%q", resp.StatusCode, body, ColdStartHeader, resp.Header.Get(ColdStartHeader))
	}
	resp, _ = get(t, srv, http.MethodGet, "/", nil)
	if h := resp.Header.Get(ColdStartHeader); h != "" {
		t.Fatalf("warm request has %s: %q", ColdStartHeader, h)
	}
	if want := `berth_requests_total{app="web",code="200",namespace="default"} 2`; !strings.Contains(scrape(t, set), want) {
		t.Errorf("metrics lack %s", want)
	}
}

// TestFastPathShutdown closes idle connections at once and lets a request
// in progress finish.
func TestFastPathShutdown(t *testing.T) {
	release := make(chan struct{})
	u := newUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			<-release
		}
		io.WriteString(w, "done")
	}))
	drvSrv, _ := gatewayTo(t, u, "") // for its gateway
	gw := drvSrv.Config.Handler.(*Gateway)
	fs := NewServer(gw, slog.New(slog.DiscardHandler))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- fs.Serve(ln) }()
	addr := ln.Addr().String()
	// idle has sent nothing (its goroutine's); kept is idle after two
	// requests (the event loop's); busy has a request in progress.
	idle, kept, busy := dialTest(t, addr), dialTest(t, addr), dialTest(t, addr)
	kept.do("GET", "/", "")
	kept.do("GET", "/", "")
	busy.do("GET", "/", "")
	io.WriteString(busy.c, "GET /hold HTTP/1.1\r\nHost: web.localhost\r\n\r\n")
	time.Sleep(100 * time.Millisecond)
	shut := make(chan error, 1)
	go func() { shut <- fs.Shutdown(context.Background()) }()
	for name, c := range map[string]*testConn{"idle": idle, "kept": kept} {
		if _, err := c.br.ReadByte(); err != io.EOF {
			t.Errorf("%s connection on shutdown: %v, want EOF", name, err)
		}
	}
	select {
	case err := <-shut:
		t.Fatalf("shutdown returned %v with a request in progress", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if resp := busy.read("GET"); resp.StatusCode != 200 {
		t.Errorf("request in progress during shutdown: %d", resp.StatusCode)
	} else if b, _ := io.ReadAll(resp.Body); string(b) != "done" {
		t.Errorf("request in progress during shutdown: %q", b)
	}
	if err := <-shut; err != nil {
		t.Errorf("shutdown: %v", err)
	}
	if err := <-served; err != http.ErrServerClosed {
		t.Errorf("serve: %v", err)
	}
	loopStops(t, fs)
}

// loopStops waits for the event loop of s, closing, to stop.
func loopStops(t *testing.T, s *Server) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); s.loop != nil && !s.loop.stopped(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the event loop did not stop")
		}
	}
}

// BenchmarkServe compares the handler with the fast path, serial requests
// on one keep-alive connection to an instance in the same process:
//
//	go test -run '^$' -bench Serve -benchmem ./internal/gateway
func BenchmarkServe(b *testing.B) {
	for _, fast := range []bool{false, true} {
		name := "handler"
		if fast {
			name = "fastpath"
		}
		b.Run(name, func(b *testing.B) {
			u := newUpstream(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain")
				io.WriteString(w, "hello from the instance")
			}))
			fastInTests = fast
			srv, _ := gatewayTo(b, u, "")
			fastInTests = false
			c, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			raw := []byte("GET / HTTP/1.1\r\nHost: web.localhost\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := c.Write(raw); err != nil {
					b.Fatal(err)
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatal(resp.Status)
				}
			}
		})
	}
}

// TestFastPathInstanceGone: an instance that stopped listening is marked
// unreachable and the request retried, with the handler's answer.
func TestFastPathInstanceGone(t *testing.T) {
	u := newUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	slow, _ := gatewayTo(t, u, "")
	fastInTests = true
	fast, _ := gatewayTo(t, u, "")
	fastInTests = false
	for _, srv := range []*httptest.Server{slow, fast} {
		if resp, _ := get(t, srv, http.MethodGet, "/", nil); resp.StatusCode != 200 {
			t.Fatalf("warm-up: %d", resp.StatusCode)
		}
	}
	u.Close()
	answers := make(chan string, 2)
	for _, srv := range []*httptest.Server{slow, fast} {
		go func() { // both at once: each waits for a start that fails
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
			req.Host = "web.localhost"
			resp, err := plainClient.Do(req)
			if err != nil {
				answers <- err.Error()
				return
			}
			defer resp.Body.Close()
			var p struct{ Type string }
			json.NewDecoder(resp.Body).Decode(&p)
			answers <- fmt.Sprintf("%d %s", resp.StatusCode, p.Type)
		}()
	}
	a, b := <-answers, <-answers
	if a != b || strings.HasPrefix(a, "200") {
		t.Fatalf("instance gone: fast path and handler answered %q and %q, want the same error", a, b)
	}
	t.Log(a)
}
