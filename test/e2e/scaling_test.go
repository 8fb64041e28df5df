package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dockerclient "github.com/docker/docker/client"

	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/internal/gateway"
)

func (s *berthServer) status(t *testing.T, app string) client.App {
	t.Helper()
	var a client.App
	if err := json.Unmarshal([]byte(s.mustBerth("status", app, "-o", "json")), &a); err != nil {
		t.Fatal(err)
	}
	return a
}

// running counts the app's running containers.
func (s *berthServer) running(t *testing.T, dc *dockerclient.Client, app string) int {
	n := 0
	for _, c := range s.containers(t, dc, app) {
		if c.State == "running" {
			n++
		}
	}
	return n
}

// TestScaleOutUnderLoadAndBack: 50 concurrent slow requests to an app with
// concurrency 5 and max 10 run on at least 5 instances, all succeed, and the
// app returns to min once the load is gone.
func TestScaleOutUnderLoadAndBack(t *testing.T) {
	s, dc := newPlatform(t)
	s.mustBerth("deploy", appDir(t, "name: burst\nscale: {min: 1, max: 10, concurrency: 5, window: 6s}\nlimits: {idle_timeout: 2s}\n"))
	eventually(t, 30*time.Second, "min instance up", func() bool { return s.running(t, dc, "burst") == 1 })

	var peak atomic.Int64
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			if n := int64(s.running(t, dc, "burst")); n > peak.Load() {
				peak.Store(n)
			}
		}
	}()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, body, err := s.get("burst.localhost", "/slow?ms=3000")
			if err != nil || resp.StatusCode != 200 {
				failed.Add(1)
				t.Logf("request failed: %v %v %q", resp, err, body)
			}
		}()
	}
	wg.Wait()
	close(stop)
	if failed.Load() > 0 {
		t.Fatalf("%d of 50 requests failed", failed.Load())
	}
	if peak.Load() < 5 {
		t.Fatalf("peak of %d running instances for 50 requests at concurrency 5; want at least 5", peak.Load())
	}
	if peak.Load() > 10 {
		t.Fatalf("peak of %d running instances; max is 10", peak.Load())
	}
	eventually(t, 60*time.Second, "scale back to min 1", func() bool { return s.running(t, dc, "burst") == 1 })
}

// TestQueueOverflow: beyond capacity and scale.queue waiting requests, the
// gateway answers 503 problem+json with Retry-After.
func TestQueueOverflow(t *testing.T) {
	s, _ := newPlatform(t)
	s.mustBerth("deploy", appDir(t, "name: narrow\nscale: {max: 1, concurrency: 1, queue: 2}\n"))
	if resp, _, err := s.get("narrow.localhost", "/"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("warm-up: %v %v", resp, err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for range 3 { // one in flight, two queued
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp, _, err := s.get("narrow.localhost", "/slow?ms=4000"); err != nil || resp.StatusCode != 200 {
				t.Errorf("in-capacity request: %v %v", resp, err)
			}
		}()
	}
	eventually(t, 10*time.Second, "one in flight and two queued", func() bool {
		a := s.status(t, "narrow")
		return a.InFlight == 1 && a.Queued == 2
	})
	resp, body, err := s.get("narrow.localhost", "/")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		resp.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(body, "queue-full") {
		t.Fatalf("overflow: %d Retry-After=%q %s %q; want 503 problem+json with Retry-After", resp.StatusCode,
			resp.Header.Get("Retry-After"), resp.Header.Get("Content-Type"), body)
	}
}

// TestPausedInstanceWakes: with sleep: pause the idle instance is frozen,
// and the next request thaws the same container without a start.
func TestPausedInstanceWakes(t *testing.T) {
	s, dc := newPlatform(t)
	s.mustBerth("deploy", appDir(t, "name: frozen\nsleep: pause\nlimits: {idle_timeout: 2s}\n"))
	resp, before, err := s.get("frozen.localhost", "/")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("first request: %v %v", resp, err)
	}
	eventually(t, 20*time.Second, "the idle instance to be paused", func() bool {
		cs := s.containers(t, dc, "frozen")
		return len(cs) == 1 && cs[0].State == "paused"
	})
	if a := s.status(t, "frozen"); len(a.Instances) != 1 || a.Instances[0].Sleep != "pause" {
		t.Fatalf("status while paused: %+v", a.Instances)
	}
	resp, after, err := s.get("frozen.localhost", "/")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("wake request: %v %v", resp, err)
	}
	if cold := resp.Header.Get(gateway.ColdStartHeader); !strings.HasPrefix(cold, "unpause;dur=") {
		t.Fatalf("%s = %q; want only an unpause", gateway.ColdStartHeader, cold)
	}
	if after != before {
		t.Fatalf("woke another instance: %q, before %q", after, before)
	}
	// The wake is counted by kind in the Prometheus metrics.
	mresp, err := http.Get(s.info.API + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer mresp.Body.Close()
	metrics, _ := io.ReadAll(mresp.Body)
	for _, want := range []string{
		`berth_cold_starts_total{app="frozen",kind="create",namespace="default"} 1`,
		`berth_cold_starts_total{app="frozen",kind="unpause",namespace="default"} 1`,
		`berth_requests_total{app="frozen",code="200",namespace="default"} 2`,
		`berth_instances{app="frozen",namespace="default",state="ready"} 1`,
		`berth_cold_start_phase_seconds_count{phase="unpause"} 1`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestWarmPoolClaim: a warm instance answers the first request with no
// container start, and a replacement joins the pool.
func TestWarmPoolClaim(t *testing.T) {
	s, dc := newPlatform(t)
	s.mustBerth("deploy", appDir(t, "name: pool\nscale: {warm: 1, concurrency: 1, target: 100}\n"))
	eventually(t, 30*time.Second, "one warm instance", func() bool { return s.running(t, dc, "pool") == 1 })
	eventually(t, 10*time.Second, "the warm instance ready", func() bool { return s.status(t, "pool").Status == "ready" })
	resp, _, err := s.get("pool.localhost", "/slow?ms=1500")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("request: %v %v", resp, err)
	}
	if cold := resp.Header.Get(gateway.ColdStartHeader); cold != "" {
		t.Fatalf("warm claim waited for a start: %s", cold)
	}
	eventually(t, 30*time.Second, "a replacement in the pool", func() bool { return s.running(t, dc, "pool") >= 2 })
}

// TestRecycleUnderSteadyLoad: instances past max_duration are replaced while
// ~20 requests a second flow, and none fails.
func TestRecycleUnderSteadyLoad(t *testing.T) {
	s, _ := newPlatform(t)
	s.mustBerth("deploy", appDir(t, "name: recycled\nscale: {min: 1}\nlimits: {max_duration: 10s, drain_timeout: 5s}\n"))
	var failures []string
	seen := map[string]bool{}
	deadline := time.Now().Add(28 * time.Second)
	for time.Now().Before(deadline) {
		resp, body, err := s.get("recycled.localhost", "/")
		if err != nil || resp.StatusCode != 200 {
			failures = append(failures, strings.TrimSpace(body)+errString(err))
		} else {
			seen[body] = true
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(failures) > 0 {
		t.Fatalf("%d requests failed while recycling: %v", len(failures), failures)
	}
	if len(seen) < 2 {
		t.Fatalf("answers came from %d instance(s); want the instance recycled at least once", len(seen))
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return " " + err.Error()
}

// TestKilledContainerIsReplaced: a container killed behind Berth's back is
// replaced and the app answers again.
func TestKilledContainerIsReplaced(t *testing.T) {
	s, dc := newPlatform(t)
	s.mustBerth("deploy", appDir(t, "name: phoenix\n"))
	resp, before, err := s.get("phoenix.localhost", "/")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("first request: %v %v", resp, err)
	}
	cs := s.containers(t, dc, "phoenix")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := dc.ContainerKill(ctx, cs[0].ID, "KILL"); err != nil {
		t.Fatal(err)
	}
	// A GET that finds the dead instance is retried on a new one.
	resp, after, err := s.get("phoenix.localhost", "/")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("request after the kill: %v %v %q", resp, err, after)
	}
	if after == before {
		t.Fatalf("answered by the killed instance: %q", after)
	}
	eventually(t, 20*time.Second, "the dead container removed", func() bool {
		_, err := dc.ContainerInspect(context.Background(), cs[0].ID)
		return dockerclient.IsErrNotFound(err)
	})
}

// TestCrashLoopIsVisible: an app that keeps crashing backs off and shows
// crash-looping with its exit code and log tail.
func TestCrashLoopIsVisible(t *testing.T) {
	s, _ := newPlatform(t)
	s.mustBerth("deploy", appDir(t, "name: loopy\nenv: {CRASH_AT_START: \"4\"}\n"))
	var last *http.Response
	var lastBody string
	for range 3 {
		resp, body, err := s.get("loopy.localhost", "/")
		if err != nil {
			t.Fatal(err)
		}
		last, lastBody = resp, body
	}
	if last.StatusCode != http.StatusServiceUnavailable || !strings.Contains(lastBody, "crash-looping") || last.Header.Get("Retry-After") == "" {
		t.Fatalf("third request: %d %q Retry-After=%q; want 503 crash-looping with Retry-After", last.StatusCode, lastBody, last.Header.Get("Retry-After"))
	}
	a := s.status(t, "loopy")
	if a.Status != "crash-looping" || !strings.Contains(a.LastError, "code 4") || !strings.Contains(a.LastError, "crashing with 4") {
		t.Fatalf("status %q, last error %q; want crash-looping with the exit code and log tail", a.Status, a.LastError)
	}
	if out := s.mustBerth("status", "loopy"); !strings.Contains(out, "crash-looping") {
		t.Fatalf("berth status does not say crash-looping:\n%s", out)
	}
}

// TestScaleCommand: berth scale changes min at once, and refuses a min above max.
func TestScaleCommand(t *testing.T) {
	s, dc := newPlatform(t)
	s.mustBerth("deploy", appDir(t, "name: knobs\nscale: {max: 3}\n"))
	out := s.mustBerth("scale", "knobs", "--min", "2")
	if !strings.Contains(out, "min 2, max 3") {
		t.Fatalf("berth scale output %q", out)
	}
	eventually(t, 30*time.Second, "two instances for min 2", func() bool { return s.running(t, dc, "knobs") == 2 })
	_, errOut, code := s.berth("scale", "knobs", "--min", "5")
	if code != 1 || !strings.Contains(errOut, "scale.min") || !strings.Contains(errOut, "5") || !strings.Contains(errOut, "scale.max (3)") {
		t.Fatalf("berth scale --min 5 over max 3: exit %d, %q; want the field, the value and the limit", code, errOut)
	}
	_, errOut, code = s.berth("scale", "knobs", "--warm", "-1")
	if code != 1 || !strings.Contains(errOut, "--warm -1") {
		t.Fatalf("berth scale --warm -1: exit %d, %q", code, errOut)
	}
}
