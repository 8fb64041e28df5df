package e2e

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
)

// countVersions sends n requests to host from 4 loops and counts the
// answers by their "vN:" prefix; any failure fails the test.
func countVersions(t *testing.T, s *berthServer, host string, n int) map[string]int {
	t.Helper()
	var mu sync.Mutex
	got := map[string]int{}
	var failures []string
	var wg sync.WaitGroup
	next := make(chan struct{}, n)
	for range n {
		next <- struct{}{}
	}
	close(next)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				resp, body, err := s.get(host, "/")
				mu.Lock()
				if err != nil || resp.StatusCode != 200 {
					failures = append(failures, strings.TrimSpace(body)+errString(err))
				} else {
					v, _, _ := strings.Cut(body, ":")
					got[v]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of %d requests to %s failed: %v", len(failures), n, host, failures[:min(5, len(failures))])
	}
	return got
}

// TestTrafficSplitAndTaggedRoutes: `berth traffic` splits requests 90/10
// within ±5 points over 1,000 requests, moving traffic under load without
// a failed request; every ready revision answers at its own rN. host
// whatever its share; a restart keeps the split; a deploy ends it.
func TestTrafficSplitAndTaggedRoutes(t *testing.T) {
	s, _ := newPlatform(t)
	s.mustBerth("deploy", appDir(t, shopManifest("v1", "")))
	s.mustBerth("deploy", appDir(t, shopManifest("v2", "")))
	g := startLoad(s, "shop.localhost")

	out := s.mustBerth("traffic", "shop", "r1=90", "r2=10")
	if !strings.Contains(out, "r1") || !strings.Contains(out, "90%") || !strings.Contains(out, "http://r2.shop.localhost") {
		t.Fatalf("berth traffic: %q; want each revision's share and its own URL", out)
	}
	time.Sleep(time.Second)
	g.finish(t)

	got := countVersions(t, s, "shop.localhost", 1000)
	if share := got["v1"] * 100 / 1000; share < 85 || share > 95 || got["v1"]+got["v2"] != 1000 {
		t.Fatalf("1,000 requests at r1=90 r2=10 were answered %v; want v1 90%% ± 5", got)
	}
	if states := revisionStates(t, s, "shop"); states[1] != "ready/90" || states[2] != "ready/10" {
		t.Fatalf("revisions = %v; want r1 90%%, r2 10%%", states)
	}
	if out := s.mustBerth("status", "shop"); !strings.Contains(out, "r1 90%, r2 10%") {
		t.Fatalf("berth status shows no split: %q", out)
	}

	// Tagged routes reach one revision whatever its share.
	for host, want := range map[string]string{"r1.shop.localhost": "v1", "r2.shop.localhost": "v2"} {
		if got := countVersions(t, s, host, 20); got[want] != 20 {
			t.Fatalf("%s answered %v; want only %s", host, got, want)
		}
	}
	resp, body, err := s.get("r9.shop.localhost", "/")
	if err != nil || resp.StatusCode != 404 || !strings.Contains(body, "revision 9") {
		t.Fatalf("unknown revision: %v %v %q; want 404 naming revision 9", resp, err, body)
	}

	// Bad splits are refused with the reason.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"r1=50", "r2=40"}, "add up to 90"},
		{[]string{"r1=50", "r7=50"}, "revision 7"},
		{[]string{"r1=150", "r2=-50"}, "allowed: 0 to 100"},
		{[]string{"r1:50"}, "want REVISION=PERCENT"},
	} {
		if _, errOut, code := s.berth(append([]string{"traffic", "shop"}, tc.args...)...); code == 0 || !strings.Contains(errOut, tc.want) {
			t.Fatalf("berth traffic shop %v: exit %d, stderr %q; want %q", tc.args, code, errOut, tc.want)
		}
	}

	// A restart keeps the split and adopts both revisions' instances.
	s.stop(syscall.SIGTERM)
	s = startServer(t, s.dir)
	got = countVersions(t, s, "shop.localhost", 200)
	if got["v1"] < 170 || got["v1"] > 190 || got["v1"]+got["v2"] != 200 {
		t.Fatalf("after a restart 200 requests were answered %v; want v1 90%% ± 5", got)
	}

	// A deploy sends all traffic to the new revision.
	s.mustBerth("deploy", appDir(t, shopManifest("v3", "")))
	if got := countVersions(t, s, "shop.localhost", 50); got["v3"] != 50 {
		t.Fatalf("after deploying v3 requests were answered %v; want only v3", got)
	}
	if states := revisionStates(t, s, "shop"); states[3] != "ready/100" || states[1] != "ready/0" || states[2] != "ready/0" {
		t.Fatalf("revisions after the deploy = %v", states)
	}

	// --no-traffic: v4 starts and answers at its own URL only; a broken v5
	// fails without touching v3.
	if out := s.mustBerth("deploy", "--no-traffic", appDir(t, shopManifest("v4", ""))); !strings.Contains(out, "http://r4.shop.localhost") {
		t.Fatalf("deploy --no-traffic: %q; want the revision's own URL", out)
	}
	if got := countVersions(t, s, "shop.localhost", 50); got["v3"] != 50 {
		t.Fatalf("after deploying v4 without traffic requests were answered %v; want only v3", got)
	}
	if got := countVersions(t, s, "r4.shop.localhost", 5); got["v4"] != 5 {
		t.Fatalf("r4's own URL answered %v", got)
	}
	if _, errOut, code := s.berth("deploy", "--no-traffic", appDir(t, shopManifest("v5", ", CRASH_AT_START: \"5\""))); code == 0 || !strings.Contains(errOut, "revision 3 still serves") {
		t.Fatalf("broken v5 without traffic: exit %d, %q", code, errOut)
	}
	if states := revisionStates(t, s, "shop"); states[3] != "ready/100" || states[4] != "ready/0" || states[5] != "failed/0" {
		t.Fatalf("revisions after --no-traffic deploys = %v", states)
	}
}

// TestOldRevisionsAreCollected: with --keep-revisions 1, a third deploy
// removes the oldest revision that takes no traffic — its record, its image,
// its tagged URL — and keeps the serving one and the newest idle one; `berth
// rm` removes every image the app's deploys built.
func TestOldRevisionsAreCollected(t *testing.T) {
	s, dc := newPlatform(t, "--keep-revisions", "1")
	for _, v := range []string{"v1", "v2", "v3"} {
		s.mustBerth("deploy", appDir(t, shopManifest(v, "")))
	}
	if states := revisionStates(t, s, "shop"); len(states) != 2 || states[3] != "ready/100" || states[2] != "ready/0" {
		t.Fatalf("revisions = %v; want r3 serving and r2 kept, r1 collected", states)
	}
	ctx := context.Background()
	imageGone := func(rev int) bool {
		_, err := dc.ImageInspect(ctx, "berth.local/default/shop:r"+strconv.Itoa(rev))
		return cerrdefs.IsNotFound(err)
	}
	eventually(t, 10*time.Second, "revision 1's image removed", func() bool { return imageGone(1) })
	if imageGone(2) || imageGone(3) {
		t.Fatal("a kept revision's image was removed")
	}
	if resp, body, err := s.get("r1.shop.localhost", "/"); err != nil || resp.StatusCode != 404 {
		t.Fatalf("collected revision's URL: %v %v %q; want 404", resp, err, body)
	}
	if got := countVersions(t, s, "r2.shop.localhost", 5); got["v2"] != 5 {
		t.Fatalf("kept revision's URL answered %v", got)
	}
	if _, errOut, code := s.berth("rollback", "shop", "r1"); code == 0 || !strings.Contains(errOut, "revision 1") {
		t.Fatalf("rollback to a collected revision: exit %d, %q", code, errOut)
	}

	s.mustBerth("rm", "shop")
	eventually(t, 20*time.Second, "every image of shop removed", func() bool { return imageGone(2) && imageGone(3) })
}

// TestKeysStayOnTheirRevisionInASplit: with a 50/50 split of a per-key app,
// new keys land on both revisions and every key keeps answering from the
// revision that first served it.
func TestKeysStayOnTheirRevisionInASplit(t *testing.T) {
	s, _ := newPlatform(t)
	manifest := func(v string) string {
		return "name: rooms\nenv: {MESSAGE: \"" + v + ":\"}\ninstances: {key: \"header:X-Session-Id\"}\nscale: {max: 10}\n"
	}
	s.mustBerth("deploy", appDir(t, manifest("v1")))
	s.mustBerth("deploy", appDir(t, manifest("v2")))
	s.mustBerth("traffic", "rooms", "r1=50", "r2=50")
	seen := map[string]int{}
	for _, key := range []string{"ann", "ben", "cat", "dan", "eve", "fay"} {
		_, first := s.getKey(t, "rooms.localhost", "/", key)
		v, _, _ := strings.Cut(first, ":")
		seen[v]++
		for range 3 {
			if resp, body := s.getKey(t, "rooms.localhost", "/", key); resp.StatusCode != 200 || !strings.HasPrefix(body, v+":") {
				t.Fatalf("key %s first answered by %s, then %d %q", key, v, resp.StatusCode, body)
			}
		}
	}
	if seen["v1"] == 0 || seen["v2"] == 0 || seen["v1"]+seen["v2"] != 6 {
		t.Fatalf("new keys went %v; want both revisions", seen)
	}
}
