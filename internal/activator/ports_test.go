package activator

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/manifest"
)

func TestPickPort(t *testing.T) {
	for _, tc := range []struct {
		listening []int
		want      int
	}{
		{nil, 0},
		{[]int{9123}, 9123},
		{[]int{9090, 8080, 9123}, 8080}, // $PORT wins
		{[]int{9123, 9090}, 9090},       // else the lowest
	} {
		if got := pickPort(tc.listening, 8080); got != tc.want {
			t.Errorf("pickPort(%v, 8080) = %d, want %d", tc.listening, got, tc.want)
		}
	}
}

// autoApp is testApp with port: auto.
func autoApp(t *testing.T) App {
	app := testApp(t, 1, "")
	app.Spec.Port = manifest.PortAuto
	return app
}

// TestAutoPortIsDiscovered: with port: auto the instance is served on the
// port its container listens on, not $PORT, and the view reports it.
func TestAutoPortIsDiscovered(t *testing.T) {
	act, drv := setup(t)
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	port, _ := strconv.Atoi(srv.URL[strings.LastIndexByte(srv.URL, ':')+1:])
	drv.AddrFunc = func(string) string { return "127.0.0.1:1" } // the IP; the port is ignored
	drv.ListeningFunc = func(string) []int { return []int{port} }
	act.SetApp(autoApp(t))

	l := acquire(t, act)
	defer l.Release()
	if l.Addr != "127.0.0.1:"+strconv.Itoa(port) {
		t.Fatalf("lease at %s; want the discovered port %d", l.Addr, port)
	}
	v, _ := act.View("default", "web")
	if len(v.Instances) != 1 || v.Instances[0].Port != port {
		t.Fatalf("view = %+v; want one instance on port %d", v, port)
	}
	sts := containers(t, drv)
	if len(sts) != 1 || sts[0].Labels["dev.berth.port"] != "" {
		t.Fatalf("containers = %+v; want one without a port label", sts)
	}
}

// TestAutoPortNothingListens: a start in which nothing listens fails with a
// message that says so and suggests port:.
func TestAutoPortNothingListens(t *testing.T) {
	act, drv := setup(t)
	act.opts.StartTimeout = 500 * time.Millisecond
	// A loopback address (tests send traffic only to loopback) on which
	// neither a discovered port nor $PORT (8080) answers — unless a server
	// bound to all addresses on 8080 runs beside the test, as `make demo`'s
	// does: stop it first.
	drv.AddrFunc = func(string) string { return "127.0.0.3:1" }
	drv.ListeningFunc = func(string) []int { return nil }
	act.SetApp(autoApp(t))

	_, err := act.Acquire(context.Background(), "default", "web", 0, "")
	var se *StartError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "nothing listened on a TCP port within 500ms") || !strings.Contains(err.Error(), "set it with port: in berth.yaml") {
		t.Fatalf("Acquire = %v; want a StartError saying nothing listened and suggesting port:", err)
	}
}
