//go:build linux

package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestEventLoopServesKeptConnections: a connection's requests after the
// first are the event loop's; those it does not finish itself (slow, long,
// chunked, interim answers, bodies) go back to the connection's goroutine
// and the connection carries on. Every answer is checked, and the loop must
// have answered the plain ones itself.
func TestEventLoopServesKeptConnections(t *testing.T) {
	u := newUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			time.Sleep(60 * time.Millisecond)
		case "/large":
			io.WriteString(w, strings.Repeat("l", 100<<10))
			return
		case "/chunked":
			io.WriteString(w, "chunk one ")
			w.(http.Flusher).Flush()
		case "/hints":
			w.Header().Set("Link", "</a.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
		case "/nocontent":
			w.WriteHeader(http.StatusNoContent)
			return
		case "/body":
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "body %s", b)
			return
		}
		w.Header().Set("X-Got", r.Header.Get("X-Forwarded-For")+"|"+r.Header.Get("X-Forwarded-Host")+"|"+
			r.Header.Get("X-Forwarded-Proto")+"|"+r.Header.Get("Keep-Alive"))
		fmt.Fprintf(w, "%s %s", r.Method, r.URL.Path)
	}))
	fastInTests = true
	srv, _ := gatewayTo(t, u, "")
	fastInTests = false
	loop := lastFast.loop
	if loop == nil {
		t.Fatal("no event loop")
	}
	c := dialTest(t, srv.Listener.Addr().String())
	plain := func(i int) {
		t.Helper()
		path := fmt.Sprintf("/p%d", i)
		resp, body := c.do("GET", path, "Keep-Alive: 5\r\nX-Forwarded-For: 6.6.6.6\r\n")
		if resp.StatusCode != 200 || body != "GET "+path || resp.Header.Get("X-Got") != "127.0.0.1|web.localhost|http|" ||
			resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" || resp.Header.Get("Date") == "" {
			t.Fatalf("GET %s: %d %q %v", path, resp.StatusCode, body, resp.Header)
		}
	}
	for i := range 20 {
		plain(i)
	}
	if n := loop.served.Load(); n < 15 {
		t.Fatalf("the event loop answered %d of 20 requests on a kept connection", n)
	}
	for _, step := range []struct{ method, path, extra, want string }{
		{"GET", "/slow", "", "GET /slow"},
		{"GET", "/large", "", strings.Repeat("l", 100<<10)},
		{"GET", "/chunked", "", "chunk one GET /chunked"},
		{"GET", "/hints", "", "GET /hints"},
		{"HEAD", "/head", "", ""},
		{"GET", "/nocontent", "", ""},
	} {
		resp, body := c.do(step.method, step.path, step.extra)
		if body != step.want {
			t.Fatalf("%s %s: %d %.40q, want %.40q", step.method, step.path, resp.StatusCode, body, step.want)
		}
		plain(0) // the connection carries on
	}
	before := loop.served.Load()
	for i := range 5 {
		plain(i)
	}
	if loop.served.Load() == before {
		t.Fatal("the connection did not go back to the event loop")
	}
	// Two requests at once, then one that closes the connection.
	fmt.Fprintf(c.c, "GET /a HTTP/1.1\r\nHost: web.localhost\r\n\r\nGET /b HTTP/1.1\r\nHost: web.localhost\r\n\r\n")
	for _, want := range []string{"GET /a", "GET /b"} {
		resp, err := http.ReadResponse(c.br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := io.ReadAll(resp.Body); string(b) != want {
			t.Fatalf("pipelined: %q, want %q", b, want)
		}
	}
	if resp, _ := c.do("GET", "/last", "Connection: close\r\n"); !resp.Close {
		t.Fatal("Connection: close was not answered in kind")
	}
	if _, err := c.br.ReadByte(); err != io.EOF {
		t.Fatalf("after Connection: close the gateway kept the connection: %v", err)
	}
	// A body goes to net/http, which keeps the connection.
	c = dialTest(t, srv.Listener.Addr().String())
	plain(1)
	plain(2)
	fmt.Fprintf(c.c, "POST /body HTTP/1.1\r\nHost: web.localhost\r\nContent-Length: 2\r\n\r\nhi")
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != "body hi" {
		t.Fatalf("POST after the loop's requests: %q", b)
	}
	plain(3)
}

// TestEventLoopStopsWithoutConnections: a loop that never had a connection
// stops too when its server shuts down.
func TestEventLoopStopsWithoutConnections(t *testing.T) {
	u := newUpstream(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	fastInTests = true
	gatewayTo(t, u, "")
	fastInTests = false
	fs := lastFast
	time.Sleep(20 * time.Millisecond) // the loop parks with nothing to wait for
	if err := fs.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	loopStops(t, fs)
}
