package activator

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/runtime"
)

// holdMany acquires n leases concurrently and returns them once all are held.
func holdMany(t *testing.T, act *Activator, n int) []*Lease {
	t.Helper()
	var wg sync.WaitGroup
	leases := make([]*Lease, n)
	for i := range leases {
		wg.Add(1)
		go func() { defer wg.Done(); leases[i] = acquire(t, act) }()
	}
	wg.Wait()
	return leases
}

func TestConcurrencyCapScalesOutToMax(t *testing.T) {
	act, drv := setupWith(t, "scale: {concurrency: 5, max: 10}\n")
	leases := holdMany(t, act, 50)
	per := map[*instance]int{}
	for _, l := range leases {
		per[l.inst]++
	}
	if len(per) != 10 || len(containers(t, drv)) != 10 {
		t.Fatalf("50 requests at concurrency 5 ran on %d instances (%d containers); want 10", len(per), len(containers(t, drv)))
	}
	for in, n := range per {
		if n > 5 {
			t.Fatalf("instance %s holds %d requests; concurrency is 5", in.id, n)
		}
	}
	// At max and full: the next request waits for a free slot.
	got := make(chan *Lease)
	go func() { got <- acquire(t, act) }()
	select {
	case l := <-got:
		t.Fatalf("request beyond capacity got a lease on %s", l.inst.id)
	case <-time.After(50 * time.Millisecond):
	}
	leases[0].Release()
	if l := <-got; l.inst != leases[0].inst {
		t.Fatalf("the freed slot went to %s; want %s", l.inst.id, leases[0].inst.id)
	}
}

func TestQueueOverflow(t *testing.T) {
	act, _ := setupWith(t, "scale: {concurrency: 1, max: 1, queue: 2}\n")
	held := acquire(t, act)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 2 {
		go act.Acquire(ctx, "default", "web", 0, "")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		v, _ := act.View("default", "web")
		if v.Queued == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queued = %d; want 2", v.Queued)
		}
		time.Sleep(time.Millisecond)
	}
	_, err := act.Acquire(context.Background(), "default", "web", 0, "")
	var qf *QueueFullError
	if !errors.As(err, &qf) || qf.Limit != 2 || !errors.Is(err, ErrQueueFull) {
		t.Fatalf("third waiter: %v; want QueueFullError with limit 2", err)
	}
	held.Release()
}

func TestPauseTierWakesWithUnpause(t *testing.T) {
	act, drv := setupWith(t, "sleep: [\"pause 1s\", \"stop 3s\", \"remove 5s\"]\n")
	acquire(t, act).Release()
	id := containers(t, drv)[0].ID
	now := time.Now()
	act.Tick(now.Add(1500 * time.Millisecond))
	waitState(t, act, "sleeping")
	if st, _ := drv.Inspect(context.Background(), id); st.State != runtime.StatePaused {
		t.Fatalf("first tier left the container %s; want paused", st.State)
	}
	l := acquire(t, act)
	if len(l.ColdStart) != 1 || l.ColdStart[0].Name != "unpause" {
		t.Fatalf("wake from pause: cold start %v; want only unpause", l.ColdStart)
	}
	l.Release()

	// Down the tiers: paused, then stopped, then removed.
	now = time.Now()
	act.Tick(now.Add(1500 * time.Millisecond))
	waitState(t, act, "sleeping")
	act.Tick(now.Add(3500 * time.Millisecond))
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, _ := drv.Inspect(context.Background(), id)
		if st.State == runtime.StateExited {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("second tier left the container %s; want exited", st.State)
		}
		time.Sleep(time.Millisecond)
	}
	act.Tick(now.Add(5500 * time.Millisecond))
	waitGone(t, drv, id)
	if v, _ := act.View("default", "web"); len(v.Instances) != 0 {
		t.Fatalf("instances after the remove tier: %+v", v.Instances)
	}
}

func TestWarmPoolClaimHasNoColdStart(t *testing.T) {
	act, drv := setupWith(t, "scale: {warm: 2, concurrency: 1, target: 100}\n")
	act.Tick(time.Now())
	waitReadyCount(t, act, 2)
	l := acquire(t, act)
	if l.ColdStart != nil {
		t.Fatalf("warm claim waited for %v", l.ColdStart)
	}
	// Demand 1 + warm 2: a replacement starts in the background.
	act.Tick(time.Now())
	waitReadyCount(t, act, 3)
	if n := len(containers(t, drv)); n != 3 {
		t.Fatalf("%d containers; want 3", n)
	}
	l.Release()
}

func waitReadyCount(t *testing.T, act *Activator, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		v, _ := act.View("default", "web")
		n := 0
		for _, in := range v.Instances {
			if in.State == "ready" {
				n++
			}
		}
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d ready instances; want %d: %+v", n, want, v.Instances)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestMaxDurationReplacesBeforeDraining(t *testing.T) {
	act, drv := setupWith(t, "scale: {min: 1}\nlimits: {max_duration: 1m}\n")
	act.Tick(time.Now())
	waitReadyCount(t, act, 1)
	old := containers(t, drv)[0].ID
	l := acquire(t, act)

	later := time.Now().Add(61 * time.Second)
	act.Tick(later) // marks it retiring
	act.Tick(later) // starts the replacement
	waitReadyCount(t, act, 2)
	// The old instance still serves its request; new ones go to the replacement.
	l2 := acquire(t, act)
	if l2.inst == l.inst {
		t.Fatal("a new request went to the retiring instance")
	}
	act.Tick(later)
	if _, err := drv.Inspect(context.Background(), old); err != nil {
		t.Fatalf("the busy retiring instance was removed: %v", err)
	}
	l.Release()
	act.Tick(later)
	waitGone(t, drv, old)
	l2.Release()
}

func TestCrashLoopBacksOff(t *testing.T) {
	act, drv := setup(t)
	drv.Fail = func(op, _ string) error {
		if op == "start" {
			return errors.New("boom")
		}
		return nil
	}
	var se *StartError
	if _, err := act.Acquire(context.Background(), "default", "web", 0, ""); !errors.As(err, &se) {
		t.Fatalf("first request: %v; want the StartError", err)
	}
	// The first failure is retried at once; the second starts the back-off.
	if _, err := act.Acquire(context.Background(), "default", "web", 0, ""); !errors.As(err, &se) {
		t.Fatalf("second request: %v; want the StartError", err)
	}
	var cl *CrashLoopError
	if _, err := act.Acquire(context.Background(), "default", "web", 0, ""); !errors.As(err, &cl) || cl.RetryAfter <= 0 {
		t.Fatalf("during back-off: %v; want a CrashLoopError with a retry time", err)
	}
	if v, _ := act.View("default", "web"); v.Status != "crash-looping" {
		t.Fatalf("status = %q; want crash-looping", v.Status)
	}
}

func acquireKey(t *testing.T, act *Activator, key string) *Lease {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l, err := act.Acquire(ctx, "default", "web", 0, key)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestKeysGetTheirOwnInstances(t *testing.T) {
	act, drv := setupWith(t, "instances: {key: \"header:X-Session\"}\nscale: {max: 2, warm: 1}\nsleep: pause\nlimits: {idle_timeout: 1s}\n")
	act.Tick(time.Now())
	waitReadyCount(t, act, 1) // the warm one

	a := acquireKey(t, act, "alice")
	if a.ColdStart != nil {
		t.Fatalf("the first key did not claim the warm instance: cold start %v", a.ColdStart)
	}
	a.Release()
	b := acquireKey(t, act, "bob")
	b.Release()
	if a.inst == b.inst {
		t.Fatal("two keys share an instance")
	}
	if again := acquireKey(t, act, "alice"); again.inst != a.inst {
		t.Fatal("alice's second request went to another instance")
	} else {
		again.Release()
	}
	// Two keys awake at scale.max 2: a third is refused.
	var kl *KeyLimitError
	if _, err := act.Acquire(context.Background(), "default", "web", 0, "carol"); !errors.As(err, &kl) || kl.Max != 2 {
		t.Fatalf("third key: %v; want KeyLimitError with max 2", err)
	}
	// Idle keys sleep (pause) and wake on the same container.
	act.Tick(time.Now().Add(2 * time.Second))
	deadline := time.Now().Add(5 * time.Second)
	for {
		if st, _ := drv.Inspect(context.Background(), a.inst.containerID); st.State == runtime.StatePaused {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("alice's idle instance was not paused")
		}
		time.Sleep(time.Millisecond)
	}
	woke := acquireKey(t, act, "alice")
	defer woke.Release()
	if woke.inst != a.inst || len(woke.ColdStart) != 1 || woke.ColdStart[0].Name != "unpause" {
		t.Fatalf("alice woke on %s with %v; want her instance, unpaused", woke.inst.id, woke.ColdStart)
	}
	v, _ := act.View("default", "web")
	keys := map[string]bool{}
	for _, in := range v.Instances {
		keys[in.Key] = true
	}
	if !keys["alice"] || !keys["bob"] {
		t.Fatalf("view keys = %v", keys)
	}
}

func TestPrewarmMovesTrafficOnlyWhenReady(t *testing.T) {
	act, drv := setup(t)
	var failStarts atomic.Bool
	drv.Fail = func(op, _ string) error {
		if op == "start" && failStarts.Load() {
			return errors.New("exit 3")
		}
		return nil
	}
	l := acquire(t, act)
	l.Release()
	v1 := l.inst

	// Revision 2 starts beside revision 1 and serves only after SetApp.
	v2 := testApp(t, 2, "")
	if err := act.Prewarm(context.Background(), v2, 1); err != nil {
		t.Fatal(err)
	}
	act.Tick(time.Now()) // the loop leaves the staged instance alone
	if l := acquire(t, act); l.inst != v1 {
		t.Fatal("traffic moved before the revision was made to serve")
	} else {
		l.Release()
	}
	act.SetApp(v2)
	l2 := acquire(t, act)
	defer l2.Release()
	if l2.inst == v1 || l2.inst.revision != 2 || l2.ColdStart != nil {
		t.Fatalf("after SetApp: instance of revision %d, cold start %v; want the prewarmed revision 2", l2.inst.revision, l2.ColdStart)
	}
	act.Tick(time.Now())
	waitGone(t, drv, v1.containerID)

	// A revision whose start fails leaves the serving one alone.
	failStarts.Store(true)
	var se *StartError
	if err := act.Prewarm(context.Background(), testApp(t, 3, ""), 1); !errors.As(err, &se) {
		t.Fatalf("Prewarm of a failing revision = %v; want a StartError", err)
	}
	if v, _ := act.View("default", "web"); v.Status != "ready" || v.LastError != "" {
		t.Fatalf("serving app after a failed rollout: %+v", v)
	}
}
