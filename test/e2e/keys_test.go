package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/client"
)

// getKey sends GET path through the gateway with the key in X-Session-Id
// (none if key is "").
func (s *berthServer) getKey(t *testing.T, host, path, key string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.info.Gateway+path, nil)
	req.Host = host
	if key != "" {
		req.Header.Set("X-Session-Id", key)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, strings.TrimSpace(string(body))
}

// TestPerKeyInstances: each key gets its own container with its own state;
// the same key keeps its container and state across requests and across a
// pause and wake; a new key beyond scale.max gets 429; no key gets 400.
func TestPerKeyInstances(t *testing.T) {
	s, dc := newPlatform(t)
	s.mustBerth("deploy", appDir(t, "name: rooms\ninstances: {key: \"header:X-Session-Id\"}\nscale: {max: 2}\nsleep: pause\nlimits: {idle_timeout: 2s}\n"))
	const host = "rooms.localhost"

	for i, want := range []string{"memory=1 disk=1 key=alice", "memory=2 disk=2 key=alice"} {
		if resp, body := s.getKey(t, host, "/counter", "alice"); resp.StatusCode != 200 || body != want {
			t.Fatalf("alice request %d: %d %q; want %q", i, resp.StatusCode, body, want)
		}
	}
	if resp, body := s.getKey(t, host, "/counter", "bob"); resp.StatusCode != 200 || body != "memory=1 disk=1 key=bob" {
		t.Fatalf("bob: %d %q; want his own fresh state", resp.StatusCode, body)
	}
	if n := len(s.containers(t, dc, "rooms")); n != 2 {
		t.Fatalf("%d containers for two keys; want 2", n)
	}

	// A third key while two are awake (busy, so no idle timer can put one to
	// sleep meanwhile): the cap, scale.max 2.
	var busy sync.WaitGroup
	for _, key := range []string{"alice", "bob"} {
		busy.Add(1)
		go func() {
			defer busy.Done()
			req, _ := http.NewRequest(http.MethodGet, s.info.Gateway+"/slow?ms=3000", nil)
			req.Host = host
			req.Header.Set("X-Session-Id", key)
			if resp, err := httpClient.Do(req); err != nil {
				t.Errorf("%s's slow request: %v", key, err)
			} else {
				resp.Body.Close()
			}
		}()
	}
	eventually(t, 10*time.Second, "alice and bob busy", func() bool { return s.status(t, "rooms").InFlight == 2 })
	resp, body := s.getKey(t, host, "/counter", "carol")
	busy.Wait()
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "scale.max") || !strings.Contains(body, "2") {
		t.Fatalf("third key: %d %q; want 429 naming scale.max 2", resp.StatusCode, body)
	}
	// No key at all.
	resp, body = s.getKey(t, host, "/counter", "")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `header \"X-Session-Id\"`) {
		t.Fatalf("no key: %d %q; want 400 naming the header", resp.StatusCode, body)
	}
	// A key that may not reach Docker labels.
	if resp, body = s.getKey(t, host, "/counter", "../etc"); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad key: %d %q; want 400", resp.StatusCode, body)
	}

	// Idle keys pause; alice wakes with her memory.
	eventually(t, 20*time.Second, "both key instances paused", func() bool {
		n := 0
		for _, c := range s.containers(t, dc, "rooms") {
			if c.State == "paused" {
				n++
			}
		}
		return n == 2
	})
	if resp, body := s.getKey(t, host, "/counter", "alice"); resp.StatusCode != 200 || body != "memory=3 disk=3 key=alice" {
		t.Fatalf("alice after pause: %d %q; want her state kept", resp.StatusCode, body)
	}

	// berth instances lists the keys.
	var ins []client.Instance
	if err := json.Unmarshal([]byte(s.mustBerth("instances", "rooms", "-o", "json")), &ins); err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, in := range ins {
		keys[in.Key] = in.State
	}
	if keys["alice"] != "ready" || keys["bob"] != "sleeping" {
		t.Fatalf("berth instances: %v; want alice ready and bob sleeping", keys)
	}
	if out := s.mustBerth("instances", "rooms"); !strings.Contains(out, "KEY") || !strings.Contains(out, "bob") {
		t.Fatalf("berth instances table:\n%s", out)
	}
}

// TestPerKeyStopKeepsFilesystem: with sleep: stop a key's instance is
// stopped when idle and started again with its filesystem.
func TestPerKeyStopKeepsFilesystem(t *testing.T) {
	s, dc := newPlatform(t)
	s.mustBerth("deploy", appDir(t, "name: desks\ninstances: {key: \"path:/s/{key}/\", strip_prefix: true}\nsleep: stop\nlimits: {idle_timeout: 2s}\n"))
	resp, body := s.getKey(t, "desks.localhost", "/s/dana/counter", "")
	if resp.StatusCode != 200 || body != "memory=1 disk=1 key=dana" {
		t.Fatalf("first: %d %q", resp.StatusCode, body)
	}
	eventually(t, 20*time.Second, "dana's instance stopped", func() bool {
		cs := s.containers(t, dc, "desks")
		return len(cs) == 1 && cs[0].State == "exited"
	})
	resp, body = s.getKey(t, "desks.localhost", "/s/dana/counter", "")
	if resp.StatusCode != 200 || body != "memory=1 disk=2 key=dana" {
		t.Fatalf("after stop: %d %q; want memory reset and the disk kept", resp.StatusCode, body)
	}
}
