package activator

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/runtime"
)

func TestSplitWheelFollowsSharesExactly(t *testing.T) {
	for _, percents := range [][]int{{90, 10}, {50, 50}, {33, 33, 34}, {1, 99}, {70, 20, 10}} {
		entries := make([]*app, len(percents))
		for i := range entries {
			entries[i] = &app{}
		}
		s := newSplit(entries, percents)
		for _, n := range []int{100, 1000} {
			got := map[*app]int{}
			for range n {
				got[s.pick()]++
			}
			for i, e := range entries {
				if want := percents[i] * n / 100; got[e] != want {
					t.Fatalf("%v over %d picks: entry %d got %d; want %d", percents, n, i, got[e], want)
				}
			}
		}
		// Smooth: the 10 % entry of 90/10 is not picked twice in a row.
		if percents[0] == 90 {
			for i := 1; i < 100; i++ {
				if s.wheel[i] == 1 && s.wheel[i-1] == 1 {
					t.Fatalf("wheel %v picks the small share back to back", s.wheel)
				}
			}
		}
	}
}

// revisionsOf acquires n leases, releasing each, and counts their revisions.
func revisionsOf(t *testing.T, act *Activator, rev int, key string, n int) map[int]int {
	t.Helper()
	got := map[int]int{}
	for range n {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		l, err := act.Acquire(ctx, "default", "web", rev, key)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		got[l.inst.revision]++
		l.Release()
	}
	return got
}

func TestSplitSpreadsRequestsOverRevisions(t *testing.T) {
	act, drv := setup(t)
	v1, v2 := testApp(t, 1, ""), testApp(t, 2, "")
	if err := act.PrewarmPool(context.Background(), v2, 1); err != nil {
		t.Fatal(err)
	}
	if err := act.SetSplit("default", "web", []Share{{App: v1, Percent: 90}, {App: v2, Percent: 10}}); err != nil {
		t.Fatal(err)
	}
	if got := revisionsOf(t, act, 0, "", 1000); got[1] != 900 || got[2] != 100 {
		t.Fatalf("1000 requests at 90/10 went %v", got)
	}
	// Each revision runs its own instances.
	revs := map[string]int{}
	for _, st := range containers(t, drv) {
		revs[st.Labels[runtime.LabelRevision]]++
	}
	if revs["1"] != 1 || revs["2"] != 1 {
		t.Fatalf("containers by revision = %v; want one each", revs)
	}
	// Back to one revision: all traffic there; the pool stays for its tag.
	if err := act.SetSplit("default", "web", nil); err != nil {
		t.Fatal(err)
	}
	if got := revisionsOf(t, act, 0, "", 50); got[1] != 50 {
		t.Fatalf("after the split ended requests went %v", got)
	}
	if got := revisionsOf(t, act, 2, "", 5); got[2] != 5 {
		t.Fatalf("tagged requests for revision 2 went %v", got)
	}
}

func TestTaggedRequestsStartTheirRevision(t *testing.T) {
	act, drv := setup(t)
	asked := 0
	act.opts.Revision = func(_ context.Context, ns, name string, rev int) (App, error) {
		asked++
		if rev != 3 {
			return App{}, fmt.Errorf("no such revision: %w", ErrRevisionNotFound)
		}
		return testApp(t, 3, ""), nil
	}
	if got := revisionsOf(t, act, 3, "", 3); got[3] != 3 {
		t.Fatalf("tagged requests went %v", got)
	}
	if asked != 1 {
		t.Fatalf("the revision was looked up %d times; want once", asked)
	}
	if got := revisionsOf(t, act, 1, "", 2); got[1] != 2 {
		t.Fatalf("a tag of the serving revision went %v", got)
	}
	if got := revisionsOf(t, act, 0, "", 2); got[1] != 2 {
		t.Fatalf("untagged requests went %v; a tagged revision takes no traffic", got)
	}
	if _, err := act.Acquire(context.Background(), "default", "web", 7, ""); !errors.Is(err, ErrRevisionNotFound) {
		t.Fatalf("unknown revision: %v; want ErrRevisionNotFound", err)
	}
	// A tagged pool keeps nothing up without requests: scale.min 0.
	if st := containers(t, drv); len(st) != 2 {
		t.Fatalf("%d containers; want 2 (revisions 1 and 3)", len(st))
	}
	v, _ := act.View("default", "web")
	if len(v.Instances) != 2 {
		t.Fatalf("view has %d instances; want both revisions'", len(v.Instances))
	}
}

func TestServingARevisionRetiresItsPool(t *testing.T) {
	act, drv := setup(t)
	v1, v2 := testApp(t, 1, ""), testApp(t, 2, "")
	if err := act.PrewarmPool(context.Background(), v2, 1); err != nil {
		t.Fatal(err)
	}
	if err := act.SetSplit("default", "web", []Share{{App: v1, Percent: 50}, {App: v2, Percent: 50}}); err != nil {
		t.Fatal(err)
	}
	revisionsOf(t, act, 0, "", 10)
	// A stream on the pool's instance outlives the switch.
	var held *Lease
	for held == nil {
		l, err := act.Acquire(context.Background(), "default", "web", 0, "")
		if err != nil {
			t.Fatal(err)
		}
		if l.inst.revision == 2 {
			held = l
		} else {
			l.Release()
		}
	}
	if err := act.Prewarm(context.Background(), v2, 1); err != nil {
		t.Fatal(err)
	}
	act.SetApp(v2)
	if got := revisionsOf(t, act, 0, "", 20); got[2] != 20 {
		t.Fatalf("after revision 2 took over requests went %v", got)
	}
	act.Tick(time.Now())
	if n := len(containers(t, drv)); n != 3 {
		t.Fatalf("%d containers while the old pool's stream runs; want 3", n)
	}
	held.Release()
	deadline := time.Now().Add(5 * time.Second)
	for {
		act.Tick(time.Now())
		act.mu.RLock()
		retired := len(act.retired)
		act.mu.RUnlock()
		if revs := containerRevisions(t, drv); retired == 0 && revs["1"] == 0 && revs["2"] == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("containers by revision %v, %d retired pools; want the drained ones gone", containerRevisions(t, drv), retired)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func containerRevisions(t *testing.T, drv interface {
	List(context.Context, map[string]string) ([]runtime.Status, error)
}) map[string]int {
	t.Helper()
	sts, err := drv.List(context.Background(), map[string]string{runtime.LabelOwner: owner})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, st := range sts {
		out[st.Labels[runtime.LabelRevision]]++
	}
	return out
}

func TestKeysStayOnTheirRevisionInASplit(t *testing.T) {
	extra := "instances: {key: \"header:X-Session\"}\nscale: {max: 50}\nlimits: {idle_timeout: 1m}\n"
	act, _ := setupWith(t, extra)
	v1, v2 := testApp(t, 1, extra), testApp(t, 2, extra)
	if err := act.SetSplit("default", "web", []Share{{App: v1, Percent: 50}, {App: v2, Percent: 50}}); err != nil {
		t.Fatal(err)
	}
	seen := map[int]int{}
	for i := range 10 {
		key := fmt.Sprintf("user-%d", i)
		first := revisionsOf(t, act, 0, key, 1)
		for rev := range first {
			seen[rev]++
			if again := revisionsOf(t, act, 0, key, 5); again[rev] != 5 {
				t.Fatalf("key %s first served by revision %d, then %v", key, rev, again)
			}
		}
	}
	if seen[1] != 5 || seen[2] != 5 {
		t.Fatalf("new keys went %v; want 5 per revision", seen)
	}
}

func TestRestartAdoptsAPoolsInstances(t *testing.T) {
	act, drv := setup(t)
	v1, v2 := testApp(t, 1, ""), testApp(t, 2, "")
	if err := act.PrewarmPool(context.Background(), v2, 1); err != nil {
		t.Fatal(err)
	}
	act.Close()

	again := New(Options{Driver: drv, Owner: owner, StartTimeout: 5 * time.Second})
	t.Cleanup(again.Close)
	again.SetApp(v1)
	if err := again.SetSplit("default", "web", []Share{{App: v1, Percent: 50}, {App: v2, Percent: 50}}); err != nil {
		t.Fatal(err)
	}
	if err := again.ReconcileOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if revs := containerRevisions(t, drv); revs["2"] != 1 {
		t.Fatalf("containers by revision after restart = %v; want revision 2's kept", revs)
	}
	got := revisionsOf(t, again, 2, "", 3)
	if got[2] != 3 {
		t.Fatalf("tagged requests went %v", got)
	}
	if revs := containerRevisions(t, drv); revs["2"] != 1 {
		t.Fatalf("containers by revision = %v; want the adopted one to serve, not a new one", revs)
	}
}

func TestTaggedRequestAfterRemovalStartsNothing(t *testing.T) {
	act, drv := setup(t)
	primary, _ := act.lookup("default", "web")
	if err := act.RemoveApp(context.Background(), "default", "web"); err != nil {
		t.Fatal(err)
	}
	// A tagged request that looked the app up just before the removal.
	p := act.pool(primary, testApp(t, 2, ""), false)
	if _, err := act.acquire(context.Background(), p, "default", "web", ""); !errors.Is(err, ErrAppNotFound) {
		t.Fatalf("acquire on a removed app's new pool: %v; want ErrAppNotFound", err)
	}
	if n := len(containers(t, drv)); n != 0 {
		t.Fatalf("%d containers after the app was removed", n)
	}
}
