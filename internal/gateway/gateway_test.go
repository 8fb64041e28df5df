package gateway

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/activator"
	"github.com/berth-dev/berth/internal/manifest"
	"github.com/berth-dev/berth/internal/metrics"
	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/runtime/fake"
)

// upstream is an instance's server with a count of the connections it
// accepted.
type upstream struct {
	*httptest.Server
	conns atomic.Int32
}

func newUpstream(t testing.TB, h http.Handler) *upstream {
	u := &upstream{}
	u.Server = httptest.NewUnstartedServer(h)
	u.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			u.conns.Add(1)
		}
	}
	u.Start()
	t.Cleanup(u.Close)
	return u
}

// gatewayTo returns a gateway server whose one app, "web" at web.localhost,
// runs on the fake driver with every instance answering at u.
func gatewayTo(t testing.TB, u *upstream, manifestExtra string) (*httptest.Server, *metrics.Set) {
	t.Helper()
	drv := fake.New()
	drv.AddrFunc = func(string) string { return u.Listener.Addr().String() }
	drv.AddImage("img", runtime.Image{ID: "sha256:img", Size: 1})
	act := activator.New(activator.Options{Driver: drv, Owner: "test", StartTimeout: 5 * time.Second})
	t.Cleanup(act.Close)
	m, err := manifest.Parse("berth.yaml", []byte("name: web\nimage: img\n"+manifestExtra))
	if err != nil {
		t.Fatal(err)
	}
	act.SetApp(activator.App{Namespace: "default", Name: "web", Revision: 1, Image: "sha256:img", Spec: *m})
	set := metrics.New(func() []metrics.AppState { return nil })
	gw := New(act, slog.New(slog.DiscardHandler), set)
	gw.SetRoutes(NewTable([]Route{{Host: "web.localhost", Target: &Target{Namespace: "default", Name: "web", RequestTimeout: m.Limits.RequestTimeout.D()}}}))
	return serveGateway(t, gw), set
}

// plainClient does not ask for gzip, so a test sees what the gateway adds.
var plainClient = &http.Client{Transport: &http.Transport{DisableCompression: true}}

func get(t *testing.T, srv *httptest.Server, method, path string, body io.Reader) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "web.localhost"
	resp, err := plainClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// scrape returns the metrics in the text format.
func scrape(t *testing.T, set *metrics.Set) string {
	t.Helper()
	rec := httptest.NewRecorder()
	set.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Body.String()
}

func TestProxyForwardsAndCounts(t *testing.T) {
	u := newUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, "%s %s host=%s xff=%s ae=%q", r.Method, r.URL.RequestURI(), r.Host, r.Header.Get("X-Forwarded-For"), r.Header.Get("Accept-Encoding"))
	}))
	srv, set := gatewayTo(t, u, "")
	for range 5 {
		resp, body := get(t, srv, http.MethodGet, "/a?b=c", nil)
		if want := "GET /a?b=c host=web.localhost xff=127.0.0.1 ae=\"\""; resp.StatusCode != 200 || body != want {
			t.Fatalf("got %d %q, want 200 %q", resp.StatusCode, body, want)
		}
	}
	if resp, _ := get(t, srv, http.MethodGet, "/missing", nil); resp.StatusCode != 404 {
		t.Fatalf("got %d, want 404", resp.StatusCode)
	}
	resp, body := get(t, srv, http.MethodHead, "/", nil)
	if resp.StatusCode != 200 || body != "" {
		t.Fatalf("HEAD: got %d %q", resp.StatusCode, body)
	}
	scrape := scrape(t, set)
	for _, want := range []string{
		`berth_requests_total{app="web",code="200",namespace="default"} 6`,
		`berth_requests_total{app="web",code="404",namespace="default"} 1`,
		`berth_request_duration_seconds_count{app="web",namespace="default"} 7`,
	} {
		if !strings.Contains(scrape, want+"\n") {
			t.Errorf("metrics lack %s:\n%s", want, scrape)
		}
	}
	// Sequential requests share one keep-alive connection (the readiness
	// probe may have made another).
	if n := u.conns.Load(); n > 2 {
		t.Errorf("upstream accepted %d connections for sequential requests, want them reused", n)
	}
}

func TestProxyRetriesClosedKeepAlive(t *testing.T) {
	u := newUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			time.Sleep(100 * time.Millisecond)
		}
		io.WriteString(w, "ok")
	}))
	srv, _ := gatewayTo(t, u, "")
	// Several idle connections, all of which the instance then drops.
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); get(t, srv, http.MethodGet, "/hold", nil) }()
	}
	wg.Wait()
	for range 3 {
		// The instance drops its idle connections, as servers with a short
		// keep-alive timeout do; the next request must not see it.
		u.CloseClientConnections()
		if resp, body := get(t, srv, http.MethodGet, "/", nil); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("after the instance closed idle connections: %d %q", resp.StatusCode, body)
		}
	}
}

func TestProxyBodiesAndStreams(t *testing.T) {
	release := make(chan struct{})
	u := newUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/echo":
			io.Copy(w, r.Body)
		case "/sse":
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: first\n\n")
			w.(http.Flusher).Flush()
			<-release
			io.WriteString(w, "data: last\n\n")
		case "/big":
			w.Header().Set("Content-Length", "1048576")
			w.Write([]byte(strings.Repeat("x", 1<<20)))
		}
	}))
	srv, _ := gatewayTo(t, u, "")
	if resp, body := get(t, srv, http.MethodPost, "/echo", strings.NewReader("hello body")); resp.StatusCode != 200 || body != "hello body" {
		t.Fatalf("echo: %d %q", resp.StatusCode, body)
	}
	if resp, body := get(t, srv, http.MethodGet, "/big", nil); resp.StatusCode != 200 || len(body) != 1<<20 {
		t.Fatalf("big: %d, %d bytes", resp.StatusCode, len(body))
	}

	// A stream's first event arrives while the instance still holds it open.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/sse", nil)
	req.Host = "web.localhost"
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	close(release)
	if err != nil || line != "data: first\n" {
		t.Fatalf("first event: %q, %v", line, err)
	}
}

func TestProxyAbandonedBodyClosesConnection(t *testing.T) {
	u := newUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/endless" {
			for {
				if _, err := w.Write(make([]byte, 32<<10)); err != nil {
					return
				}
			}
		}
		io.WriteString(w, "ok")
	}))
	srv, _ := gatewayTo(t, u, "")
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/endless", nil)
	req.Host = "web.localhost"
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadFull(resp.Body, make([]byte, 100<<10))
	resp.Body.Close()
	srv.CloseClientConnections() // the client goes away mid-answer
	// The gateway gives up that connection rather than draining it, and
	// serves the next request on another.
	if resp, body := get(t, srv, http.MethodGet, "/", nil); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("after an abandoned answer: %d %q", resp.StatusCode, body)
	}
}

func TestProxyTimeout(t *testing.T) {
	u := newUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-time.After(10 * time.Second):
			case <-r.Context().Done():
			}
		}
	}))
	srv, set := gatewayTo(t, u, "limits: {request_timeout: 1s}\n")
	get(t, srv, http.MethodGet, "/", nil) // warm: the instance is up
	resp, body := get(t, srv, http.MethodGet, "/slow", nil)
	if resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(body, "request-timeout") {
		t.Fatalf("slow answer: %d %q, want 504 request-timeout", resp.StatusCode, body)
	}
	if want := `berth_requests_total{app="web",code="504",namespace="default"} 1`; !strings.Contains(scrape(t, set), want) {
		t.Errorf("metrics lack %s", want)
	}
}

func TestDirectEligibility(t *testing.T) {
	cases := []struct {
		method, upgrade string
		body            io.Reader
		want            bool
	}{
		{http.MethodGet, "", nil, true},
		{http.MethodHead, "", nil, true},
		{http.MethodOptions, "", nil, true},
		{http.MethodGet, "websocket", nil, false},
		{http.MethodPost, "", nil, false},
		{http.MethodPut, "", strings.NewReader("x"), false},
		{http.MethodGet, "", strings.NewReader("x"), false},
	}
	for _, c := range cases {
		req, _ := http.NewRequestWithContext(context.Background(), c.method, "http://10.0.0.1:8080/", c.body)
		if c.upgrade != "" {
			req.Header.Set("Upgrade", c.upgrade)
		}
		if got := direct(req); got != c.want {
			t.Errorf("%s upgrade=%q body=%v: direct %v, want %v", c.method, c.upgrade, c.body != nil, got, c.want)
		}
	}
}
