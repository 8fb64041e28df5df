package e2e

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/client"
)

// loadGen sends GET / to an app from two loops, each every 40 ms, and
// records every answer, until stop.
type loadGen struct {
	mu       sync.Mutex
	answers  []string
	failures []string
	stop     chan struct{}
	wg       sync.WaitGroup
	started  time.Time
}

func startLoad(s *berthServer, host string) *loadGen {
	g := &loadGen{stop: make(chan struct{}), started: time.Now()}
	for range 2 {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			for {
				select {
				case <-g.stop:
					return
				case <-time.After(40 * time.Millisecond):
				}
				resp, body, err := s.get(host, "/")
				g.mu.Lock()
				if err != nil || resp.StatusCode != 200 {
					g.failures = append(g.failures, strings.TrimSpace(body)+errString(err))
				} else {
					g.answers = append(g.answers, strings.TrimSpace(body))
				}
				g.mu.Unlock()
			}
		}()
	}
	return g
}

// last returns the prefix ("v1", "v2") of the latest answer.
func (g *loadGen) last() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.answers) == 0 {
		return ""
	}
	v, _, _ := strings.Cut(g.answers[len(g.answers)-1], ":")
	return v
}

// TestRolloutRollbackAndFailedRevisionUnderLoad: under a steady load of more
// than 20 requests a second, deploying v2 over v1 switches the answers with
// no failed request, a v3 that crashes at start fails its deploy while v2
// keeps serving, and a rollback switches the answers back to v1.
func TestRolloutRollbackAndFailedRevisionUnderLoad(t *testing.T) {
	s, _ := newPlatform(t)
	s.mustBerth("deploy", appDir(t, shopManifest("v1", "")))
	if resp, body, err := s.get("shop.localhost", "/"); err != nil || resp.StatusCode != 200 || !strings.HasPrefix(body, "v1:") {
		t.Fatalf("v1: %v %v %q", resp, err, body)
	}
	g := startLoad(s, "shop.localhost")

	s.mustBerth("deploy", appDir(t, shopManifest("v2", "")))
	eventually(t, 10*time.Second, "answers from v2", func() bool { return g.last() == "v2" })

	_, errOut, code := s.berth("deploy", appDir(t, shopManifest("v3", ", CRASH_AT_START: \"3\"")))
	if code != 1 || !strings.Contains(errOut, "revision 3") || !strings.Contains(errOut, "crashing with 3") || !strings.Contains(errOut, "revision 2 still serves") {
		t.Fatalf("broken v3 deploy: exit %d, stderr %q; want a failure naming the revision, its log tail and the one still serving", code, errOut)
	}
	time.Sleep(time.Second) // keep the load on v2 a little after the failed deploy
	if v := g.last(); v != "v2" {
		t.Fatalf("after the failed v3 the app answers %q; want v2", v)
	}

	if out := s.mustBerth("rollback", "shop"); !strings.Contains(out, "revision 1 serves") {
		t.Fatalf("berth rollback: %q", out)
	}
	eventually(t, 10*time.Second, "answers from v1 again", func() bool { return g.last() == "v1" })
	g.finish(t)

	got := revisionStates(t, s, "shop")
	if got[1] != "ready/100" || got[2] != "ready/0" || got[3] != "failed/0" {
		t.Fatalf("revisions = %v; want r1 ready with all traffic, r2 ready, r3 failed", got)
	}
}

// shopManifest is app shop answering "V:…", with more env entries in extra.
func shopManifest(v string, extra string) string {
	return "name: shop\nenv: {MESSAGE: \"" + v + ":\"" + extra + "}\n"
}

// finish stops the load and fails the test if a request failed or the load
// ran below 20 requests a second.
func (g *loadGen) finish(t *testing.T) {
	t.Helper()
	close(g.stop)
	g.wg.Wait()
	elapsed := time.Since(g.started)
	if len(g.failures) > 0 {
		t.Fatalf("%d of %d requests failed under load: %v", len(g.failures), len(g.failures)+len(g.answers), g.failures)
	}
	if rate := float64(len(g.answers)) / elapsed.Seconds(); rate < 20 {
		t.Fatalf("the load ran at %.1f requests/s; the test needs at least 20", rate)
	}
}

// revisionStates maps each revision of app to "status/traffic".
func revisionStates(t *testing.T, s *berthServer, app string) map[int]string {
	t.Helper()
	var revs []client.Revision
	if err := json.Unmarshal([]byte(s.mustBerth("revisions", app, "-o", "json")), &revs); err != nil {
		t.Fatal(err)
	}
	got := map[int]string{}
	for _, r := range revs {
		got[r.Number] = r.Status + "/" + strconv.Itoa(r.Traffic)
	}
	return got
}
