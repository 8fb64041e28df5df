package activator

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/manifest"
	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/runtime/fake"
)

const owner = "test-owner"

// setup returns an activator over a fake driver whose running instances
// answer at a real local listener, so readiness probes pass.
func setup(t *testing.T) (*Activator, *fake.Driver) {
	return setupWith(t, "")
}

// setupWith registers app "web" with the given extra manifest lines.
func setupWith(t *testing.T, extra string) (*Activator, *fake.Driver) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	drv := fake.New()
	drv.AddrFunc = func(string) string { return strings.TrimPrefix(srv.URL, "http://") }
	drv.AddImage("img", runtime.Image{ID: "sha256:img", Size: 1})
	act := New(Options{Driver: drv, Owner: owner, StartTimeout: 5 * time.Second})
	t.Cleanup(act.Close)
	act.SetApp(testApp(t, 1, extra))
	return act, drv
}

// testApp is app "web" at revision rev; extra is appended to its manifest.
func testApp(t *testing.T, rev int, extra string) App {
	t.Helper()
	if extra == "" {
		extra = "scale: {concurrency: 100}\nlimits: {idle_timeout: 1s}\n"
	}
	m, err := manifest.Parse("berth.yaml", []byte("name: web\nimage: img\n"+extra))
	if err != nil {
		t.Fatal(err)
	}
	return App{Namespace: "default", Name: "web", Revision: rev, Image: "sha256:img", Spec: *m}
}

func containers(t *testing.T, drv *fake.Driver) []runtime.Status {
	t.Helper()
	sts, err := drv.List(context.Background(), map[string]string{runtime.LabelOwner: owner})
	if err != nil {
		t.Fatal(err)
	}
	return sts
}

func acquire(t *testing.T, act *Activator) *Lease {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l, err := act.Acquire(ctx, "default", "web", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// waitState polls the app's view until its only instance has state want.
func waitState(t *testing.T, act *Activator, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		v, _ := act.View("default", "web")
		if len(v.Instances) == 1 && v.Instances[0].State == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("instances = %+v; want one %s", v.Instances, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestHerdOfFirstRequestsStartsOneInstance(t *testing.T) {
	act, drv := setup(t)
	// A slow start, so that every request arrives while it is under way.
	drv.Fail = func(op, _ string) error {
		if op == "start" {
			time.Sleep(300 * time.Millisecond)
		}
		return nil
	}
	var wg sync.WaitGroup
	leases := make([]*Lease, 50)
	for i := range leases {
		wg.Add(1)
		go func() { defer wg.Done(); leases[i] = acquire(t, act) }()
	}
	wg.Wait()
	if n := len(containers(t, drv)); n != 1 {
		t.Fatalf("%d containers for 50 concurrent first requests; want 1", n)
	}
	for i, l := range leases {
		if len(l.ColdStart) != 3 || l.ColdStart[0].Name != "create" {
			t.Fatalf("lease %d cold start = %v; want create, start, ready", i, l.ColdStart)
		}
	}
	v, _ := act.View("default", "web")
	if v.InFlight != 50 || v.Status != "ready" {
		t.Fatalf("view = %+v; want 50 in flight, ready", v)
	}
	for _, l := range leases {
		l.Release()
	}
	if l := acquire(t, act); l.ColdStart != nil {
		t.Fatalf("warm lease has cold start %v", l.ColdStart)
	}
}

func TestIdleInstanceSleepsAndWakes(t *testing.T) {
	act, drv := setup(t)
	l := acquire(t, act)
	id := containers(t, drv)[0].ID

	// Busy: never sleeps, however long (within max_duration).
	act.Tick(time.Now().Add(4 * time.Minute))
	waitState(t, act, "ready")
	l.Release()

	act.Tick(time.Now().Add(500 * time.Millisecond))
	waitState(t, act, "ready")
	act.Tick(time.Now().Add(2 * time.Second))
	waitState(t, act, "sleeping")
	if st := containers(t, drv)[0]; st.State != runtime.StateExited {
		t.Fatalf("sleeping instance's container is %s; want exited", st.State)
	}

	l = acquire(t, act)
	defer l.Release()
	if len(l.ColdStart) != 2 || l.ColdStart[0].Name != "start" {
		t.Fatalf("wake cold start = %v; want start, ready", l.ColdStart)
	}
	sts := containers(t, drv)
	if len(sts) != 1 || sts[0].ID != id || sts[0].State != runtime.StateRunning {
		t.Fatalf("after wake: %+v; want container %s running again", sts, id)
	}
}

func TestCrashedInstanceIsReplaced(t *testing.T) {
	act, drv := setup(t)
	acquire(t, act).Release()
	old := containers(t, drv)[0].ID
	if err := drv.SetExit(old, 137); err != nil {
		t.Fatal(err)
	}
	if err := act.ReconcileOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	v, _ := act.View("default", "web")
	if len(v.Instances) != 0 || !strings.Contains(v.LastError, "code 137") {
		t.Fatalf("after crash: %+v; want no instances and the exit code as last error", v)
	}
	acquire(t, act).Release()
	waitGone(t, drv, old)
}

func waitGone(t *testing.T, drv *fake.Driver, id string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := drv.Inspect(context.Background(), id); errors.Is(err, runtime.ErrNotFound) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s still exists", id)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRestartAdoptsAndRemovesDangling(t *testing.T) {
	act, drv := setup(t)
	acquire(t, act).Release()
	running := containers(t, drv)[0].ID
	ctx := context.Background()
	dangling, err := drv.Create(ctx, runtime.InstanceSpec{Name: "ghost", Image: "img", Labels: map[string]string{
		runtime.LabelOwner: owner, runtime.LabelNamespace: "default", runtime.LabelApp: "ghost", runtime.LabelRevision: "1", runtime.LabelInstance: "g1",
	}})
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := drv.Create(ctx, runtime.InstanceSpec{Name: "other", Image: "img", Labels: map[string]string{runtime.LabelOwner: "someone-else"}})
	if err != nil {
		t.Fatal(err)
	}
	// An intermediate build container inherits the image's owner label but is no instance.
	builder, err := drv.Create(ctx, runtime.InstanceSpec{Name: "build-step", Image: "img", Labels: map[string]string{runtime.LabelOwner: owner, runtime.LabelApp: "web"}})
	if err != nil {
		t.Fatal(err)
	}

	// A new activator, as after kill -9: same driver, same app, empty registry.
	act2 := New(Options{Driver: drv, Owner: owner, StartTimeout: 5 * time.Second})
	t.Cleanup(act2.Close)
	act2.SetApp(testApp(t, 1, ""))
	if err := act2.ReconcileOnce(ctx); err != nil {
		t.Fatal(err)
	}
	l := acquire(t, act2)
	defer l.Release()
	if l.ColdStart != nil && (len(l.ColdStart) != 1 || l.ColdStart[0].Name != "adopt") {
		t.Fatalf("first lease after adoption has cold start %v; want at most the adoption probe", l.ColdStart)
	}
	waitGone(t, drv, dangling)
	if _, err := drv.Inspect(ctx, running); err != nil {
		t.Fatalf("the adopted container is gone: %v", err)
	}
	if v, _ := act2.View("default", "web"); len(v.Instances) != 1 || v.Instances[0].ContainerID != running {
		t.Fatalf("instances after adoption: %+v; want only %s", v.Instances, running)
	}
	if _, err := drv.Inspect(ctx, foreign); err != nil {
		t.Fatalf("another owner's container was touched: %v", err)
	}
	if _, err := drv.Inspect(ctx, builder); err != nil {
		t.Fatalf("a build container was removed: %v", err)
	}
}

func TestNewRevisionRetiresOldInstances(t *testing.T) {
	act, drv := setup(t)
	l := acquire(t, act)
	old := containers(t, drv)[0].ID
	act.SetApp(testApp(t, 2, ""))

	// The old instance is busy: it keeps serving its request; new requests go to revision 2.
	l2 := acquire(t, act)
	if len(l2.ColdStart) == 0 {
		t.Fatal("request after a new revision did not start a new instance")
	}
	act.Tick(time.Now())
	if _, err := drv.Inspect(context.Background(), old); err != nil {
		t.Fatalf("busy old instance removed: %v", err)
	}
	l.Release()
	act.Tick(time.Now())
	waitGone(t, drv, old)
	l2.Release()
}

func TestFailedStartReachesEveryWaiter(t *testing.T) {
	act, drv := setup(t)
	drv.Fail = func(op, target string) error {
		if op == "start" {
			time.Sleep(200 * time.Millisecond) // every waiter arrives first
			return errors.New("engine says no")
		}
		return nil
	}
	var wg sync.WaitGroup
	errs := make([]error, 5)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = act.Acquire(context.Background(), "default", "web", 0, "")
		}()
	}
	wg.Wait()
	for i, err := range errs {
		var se *StartError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), "engine says no") {
			t.Fatalf("waiter %d: %v; want the StartError", i, err)
		}
	}
	v, _ := act.View("default", "web")
	if v.Status != "failed" || v.LastError == "" {
		t.Fatalf("view after failed start = %+v", v)
	}
}

func TestAcquireHonoursContext(t *testing.T) {
	act, drv := setup(t)
	drv.AddrFunc = func(string) string { return "127.0.0.1:1" } // never ready
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := act.Acquire(ctx, "default", "web", 0, ""); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire = %v; want deadline exceeded", err)
	}
	if _, err := act.Acquire(context.Background(), "default", "nope", 0, ""); !errors.Is(err, ErrAppNotFound) {
		t.Fatalf("Acquire unknown app = %v; want ErrAppNotFound", err)
	}
}

// TestListingFromBeforeARemovalAdoptsNothing: a listing taken before an
// instance's container was removed must not bring the instance back.
func TestListingFromBeforeARemovalAdoptsNothing(t *testing.T) {
	act, drv := setup(t)
	acquire(t, act).Release()
	listedAt := act.now()
	sts := containers(t, drv)
	ap, _ := act.lookup("default", "web")
	ap.mu.Lock()
	act.beginRetire(ap, ap.instances[0], "test")
	ap.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for len(containers(t, drv)) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the retired container was not removed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	act.Reconcile(sts, listedAt)
	if v, _ := act.View("default", "web"); len(v.Instances) != 0 {
		t.Fatalf("a stale listing adopted %+v back", v.Instances)
	}
	// A listing taken after the removal ended forgets it.
	act.Reconcile(nil, act.now().Add(time.Second))
	if act.removals.has(sts[0].ID) {
		t.Fatal("the removal is still remembered after a later listing")
	}
}

// TryAcquire leases only what Acquire would lease at once, and touches
// nothing otherwise: no start, no queue, no split, no tag.
func TestTryAcquireNeverWaitsOrStarts(t *testing.T) {
	act, drv := setupWith(t, "scale: {concurrency: 1}\nlimits: {idle_timeout: 1m}\n")
	if l, ok := act.TryAcquire("default", "web", 0); ok || l != nil {
		t.Fatal("TryAcquire leased with no instance")
	}
	if n := len(containers(t, drv)); n != 0 {
		t.Fatalf("TryAcquire started %d containers", n)
	}
	first := acquire(t, act) // starts the instance; its one slot is taken
	if _, ok := act.TryAcquire("default", "web", 0); ok {
		t.Fatal("TryAcquire leased a full instance")
	}
	first.Release()
	l, ok := act.TryAcquire("default", "web", 0)
	if !ok || l.ColdStart != nil || l.Addr != first.Addr {
		t.Fatalf("TryAcquire on a free warm instance: %+v %v", l, ok)
	}
	if v, _ := act.View("default", "web"); v.InFlight != 1 {
		t.Fatalf("in flight %d with a TryAcquire lease, want 1", v.InFlight)
	}
	l.Release()
	if _, ok := act.TryAcquire("default", "web", 2); ok {
		t.Fatal("TryAcquire leased for a tagged revision")
	}
	if _, ok := act.TryAcquire("default", "other", 0); ok {
		t.Fatal("TryAcquire leased for an app that does not exist")
	}
	v1, v2 := testApp(t, 1, ""), testApp(t, 2, "")
	if err := act.SetSplit("default", "web", []Share{{App: v1, Percent: 50}, {App: v2, Percent: 50}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := act.TryAcquire("default", "web", 0); ok {
		t.Fatal("TryAcquire leased for a split app (the split picks)")
	}
}
