package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	dockerclient "github.com/docker/docker/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/berth-dev/berth/internal/testimage"
)

// TestHTTP2WithCurl: curl speaks h2c (prior knowledge) to the plain listener
// and HTTP/2 over TLS (ALPN) to the TLS listener, to an app that speaks h2c
// itself and to one that speaks HTTP/1.1, each from zero, from sleep and
// warm.
func TestHTTP2WithCurl(t *testing.T) {
	dir := t.TempDir()
	cert, key := testimage.Cert(t, dir, "h2app.localhost", "h1app.localhost")
	s, dc := newPlatform(t, "--https", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key)
	if !strings.HasPrefix(s.info.GatewayTLS, "https://127.0.0.1:") {
		t.Fatalf("server.json gateway_tls = %q; want the TLS listener's URL", s.info.GatewayTLS)
	}
	s.mustBerth("deploy", appDir(t, "name: h2app\nprotocol: h2c\nenv: {H2C: \"1\"}\nlimits: {idle_timeout: 1s}\n"))
	s.mustBerth("deploy", appDir(t, "name: h1app\nlimits: {idle_timeout: 1s}\n"))

	for _, tc := range []struct{ app, upstream string }{{"h2app", "HTTP/2.0"}, {"h1app", "HTTP/1.1"}} {
		for _, when := range []string{"from zero", "warm", "from sleep"} {
			if when == "from sleep" {
				waitAsleep(t, s, dc, tc.app)
			}
			// h2c first: from zero and from sleep each listener gets a turn.
			body, version := curl(t, cert, s.info.Gateway, tc.app, "--http2-prior-knowledge")
			if version != "2" || body != tc.upstream {
				t.Fatalf("%s %s over h2c: HTTP version %q, upstream %q; want 2 and %s", tc.app, when, version, body, tc.upstream)
			}
			if when == "from sleep" {
				waitAsleep(t, s, dc, tc.app)
			}
			body, version = curl(t, cert, s.info.GatewayTLS, tc.app, "--http2")
			if version != "2" || body != tc.upstream {
				t.Fatalf("%s %s over TLS: HTTP version %q, upstream %q; want 2 (ALPN h2) and %s", tc.app, when, version, body, tc.upstream)
			}
			body, version = curl(t, cert, s.info.Gateway, tc.app, "--http1.1")
			if version != "1.1" || body != tc.upstream {
				t.Fatalf("%s %s over HTTP/1.1: version %q, upstream %q; want 1.1 and %s", tc.app, when, version, body, tc.upstream)
			}
		}
	}
}

// curl GETs /proto of app through the gateway at base and returns the body
// (the protocol the instance saw) and the HTTP version curl used.
func curl(t *testing.T, cacert, base, app string, flags ...string) (body, version string) {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	host := app + ".localhost"
	args := append([]string{"-sS", "--fail", "--max-time", "60", "--cacert", cacert,
		"--resolve", host + ":" + u.Port() + ":127.0.0.1", "-w", "\n%{http_version}"}, flags...)
	args = append(args, u.Scheme+"://"+host+":"+u.Port()+"/proto")
	out, err := exec.Command("curl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("curl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	body, version, _ = strings.Cut(string(out), "\n")
	return body, version
}

// waitAsleep waits until the app's only container has been stopped for
// idleness.
func waitAsleep(t *testing.T, s *berthServer, dc *dockerclient.Client, app string) {
	t.Helper()
	eventually(t, 30*time.Second, app+" to fall asleep", func() bool {
		cs := s.containers(t, dc, app)
		return len(cs) == 1 && cs[0].State == "exited"
	})
}

// TestWebSocketKeepsInstanceAwake: a WebSocket opened to a sleeping app wakes
// it, and while messages flow for three idle timeouts the instance does not
// sleep (if it did, the connection would break); once closed it sleeps.
func TestWebSocketKeepsInstanceAwake(t *testing.T) {
	s, dc := newPlatform(t)
	s.mustBerth("deploy", appDir(t, "name: ws\nlimits: {idle_timeout: 1s}\n"))
	if resp, _, err := s.get("ws.localhost", "/"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("first request: %v %v", resp, err)
	}
	waitAsleep(t, s, dc, "ws")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	wsURL := strings.Replace(s.info.Gateway, "http://", "ws://", 1) + "/ws"
	c, resp, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{Host: "ws.localhost"})
	if err != nil {
		t.Fatalf("dial a sleeping app: %v (response %+v)", err, resp)
	}
	defer c.CloseNow()
	cs := s.containers(t, dc, "ws")
	if len(cs) != 1 || cs[0].State != "running" {
		t.Fatalf("after the upgrade: %+v; want the container running", cs)
	}
	id := cs[0].ID

	const idle = time.Second
	start := time.Now()
	n := 0
	for time.Since(start) < 3*idle+500*time.Millisecond {
		msg := fmt.Sprintf("message %d", n)
		if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatalf("write %q after %s: %v", msg, time.Since(start), err)
		}
		_, got, err := c.Read(ctx)
		if err != nil || string(got) != msg {
			t.Fatalf("read after %s: %q, %v; want the echo %q", time.Since(start), got, err, msg)
		}
		n++
		time.Sleep(100 * time.Millisecond)
	}
	cs = s.containers(t, dc, "ws")
	if len(cs) != 1 || cs[0].ID != id || cs[0].State != "running" {
		t.Fatalf("after %d messages over %s: %+v; want container %s still running", n, time.Since(start), cs, id)
	}
	c.Close(websocket.StatusNormalClosure, "done")
	waitAsleep(t, s, dc, "ws")
}

// TestSSEEventsArriveOneByOne: each event of a server-sent event stream
// reaches the client before the app sends the next one — the app waits for
// the client's step request, so a gateway that buffered would hang here.
func TestSSEEventsArriveOneByOne(t *testing.T) {
	s, dc := newPlatform(t)
	s.mustBerth("deploy", appDir(t, "name: sse\nlimits: {idle_timeout: 1s}\n"))
	for _, when := range []string{"from zero", "from sleep"} {
		if when == "from sleep" {
			waitAsleep(t, s, dc, "sse")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.info.Gateway+"/sse?n=4&step="+when[5:], nil)
		req.Host = "sse.localhost"
		resp, err := httpClient.Do(req)
		if err != nil {
			cancel()
			t.Fatalf("%s: %v", when, err)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" || len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
			t.Fatalf("%s: content type %q, transfer encoding %v; want a chunked event stream", when, ct, resp.TransferEncoding)
		}
		r := bufio.NewReader(resp.Body)
		for i := range 4 {
			if i > 0 {
				if resp, body, err := s.get("sse.localhost", "/sse/step?id="+when[5:]); err != nil || resp.StatusCode != 200 {
					t.Fatalf("%s: step %d: %v %q", when, i, err, body)
				}
			}
			ev := readEvent(t, r)
			if want := fmt.Sprintf("id: %d\ndata: event %d\n", i, i); ev != want {
				t.Fatalf("%s: event %d = %q; want %q", when, i, ev, want)
			}
		}
		resp.Body.Close()
		cancel()
	}
}

// readEvent reads one server-sent event, up to its blank line.
func readEvent(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read event: %v (so far %q)", err, b.String())
		}
		if line == "\n" {
			return b.String()
		}
		b.WriteString(line)
	}
}

// TestGRPCHealthCheck: grpc-go's health client reaches a gRPC app (protocol:
// grpc) through the gateway's h2c listener, from zero, warm and from sleep;
// the status comes in the trailers-carrying response.
func TestGRPCHealthCheck(t *testing.T) {
	s, dc := newPlatform(t)
	dir := grpcAppDir(t, "name: grpc\nprotocol: grpc\nlimits: {idle_timeout: 1s}\n")
	s.mustBerth("deploy", dir)
	conn, err := grpc.NewClient(strings.TrimPrefix(s.info.Gateway, "http://"),
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithAuthority("grpc.localhost"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	for _, when := range []string{"from zero", "warm", "from sleep"} {
		if when == "from sleep" {
			waitAsleep(t, s, dc, "grpc")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health check %s: %v, %v; want SERVING", when, resp, err)
		}
	}
}

// grpcAppDir is appDir for the grpcapp program.
func grpcAppDir(t *testing.T, manifest string) string {
	t.Helper()
	dir := testimage.ContextFor(t, "grpcapp")
	if err := os.WriteFile(filepath.Join(dir, "berth.yaml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}
