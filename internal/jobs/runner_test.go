package jobs

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/manifest"
	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/runtime/fake"
	"github.com/berth-dev/berth/internal/store"
)

const testOwner = "0123456789abcdef"

// env is one store and one fake engine shared by the runners of a test, as
// a data directory and Docker are shared by the runs of a server.
type env struct {
	t  *testing.T
	st *store.Store
	d  *fake.Driver
}

func newEnv(t *testing.T) *env {
	st, err := store.Open(filepath.Join(t.TempDir(), "berth.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	d := fake.New()
	d.AddImage("job:1", runtime.Image{ID: "sha256:job1"})
	return &env{t: t, st: st, d: d}
}

// job deploys a job definition.
func (e *env) job(name string, parallelism, retries int, timeout time.Duration) {
	spec := manifest.Job{Kind: "job", Name: name, Image: "job:1", Args: []string{"default"}, Env: map[string]string{"STAGE": "test"},
		Parallelism: parallelism, Retries: &retries, Timeout: manifest.Duration(timeout)}
	if _, err := e.st.CommitJob(context.Background(), store.JobDef{Namespace: "default", Name: name, Spec: spec, ImageID: "sha256:job1"}, time.Now()); err != nil {
		e.t.Fatal(err)
	}
}

// start runs a runner until the returned stop is called (or the test ends).
func (e *env) start(workers int) (*Runner, func()) {
	r := New(Options{Store: e.st, Driver: e.d, Owner: testOwner, Workers: workers,
		RetryBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Poll: 20 * time.Millisecond, LogFlush: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := r.Run(ctx); err != nil {
			e.t.Errorf("Run: %v", err)
		}
	}()
	stop := func() { cancel(); <-done }
	e.t.Cleanup(stop)
	return r, stop
}

func (e *env) enqueue(r *Runner, job string, args ...string) string {
	e.t.Helper()
	ex, err := r.Enqueue(context.Background(), "default", job, map[string]string{"EXTRA": "1"}, args)
	if err != nil {
		e.t.Fatal(err)
	}
	return ex.ID
}

// running lists the running job containers of an execution ("" for all).
func (e *env) running(execID string) []runtime.Status {
	sel := map[string]string{runtime.LabelOwner: testOwner}
	if execID != "" {
		sel[runtime.LabelExecution] = execID
	}
	all, _ := e.d.List(context.Background(), sel)
	var out []runtime.Status
	for _, st := range all {
		if st.State == runtime.StateRunning {
			out = append(out, st)
		}
	}
	return out
}

// container waits for the execution's attempt container to run.
func (e *env) container(execID string, attempt string) runtime.Status {
	e.t.Helper()
	var got runtime.Status
	e.eventually("container of "+execID+" attempt "+attempt, func() bool {
		for _, st := range e.running(execID) {
			if st.Labels[runtime.LabelAttempt] == attempt {
				got = st
				return true
			}
		}
		return false
	})
	return got
}

func (e *env) exit(id string, code int, lines ...string) {
	e.t.Helper()
	for _, l := range lines {
		if err := e.d.AppendLog(id, l); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := e.d.SetExit(id, code); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) final(id string) store.Execution {
	e.t.Helper()
	var ex store.Execution
	e.eventually("execution "+id+" to finish", func() bool {
		ex, _ = e.st.Execution(context.Background(), id)
		return store.Terminal(ex.Status)
	})
	return ex
}

func (e *env) eventually(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *env) logs(r *Runner, id string) string {
	e.t.Helper()
	rc, err := r.Logs(context.Background(), id, false)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return string(b)
}

func TestRunSucceedsInAFreshLabelledContainer(t *testing.T) {
	e := newEnv(t)
	e.job("ci", 1, 3, time.Minute)
	r, _ := e.start(4)
	id := e.enqueue(r, "ci", "one", "two")
	st := e.container(id, "1")
	spec, err := e.d.Spec(st.ID)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"BERTH_JOB": "ci", "BERTH_EXECUTION": id, "BERTH_ATTEMPT": "1", "STAGE": "test", "EXTRA": "1"} {
		if spec.Env[k] != want {
			t.Errorf("env %s = %q; want %q", k, spec.Env[k], want)
		}
	}
	if strings.Join(spec.Args, " ") != "one two" || spec.Network != DefaultNetwork || spec.Image != "sha256:job1" {
		t.Errorf("spec args %v network %q image %q", spec.Args, spec.Network, spec.Image)
	}
	if _, ok := spec.Labels[runtime.LabelInstance]; ok || spec.Labels[runtime.LabelJob] != "ci" || spec.Labels[runtime.LabelOwner] != testOwner {
		t.Errorf("labels %v", spec.Labels)
	}
	e.exit(st.ID, 0, "hello", "world")
	ex := e.final(id)
	if ex.Status != store.StatusSucceeded || len(ex.Attempts) != 1 || ex.Attempts[0].ContainerID != st.ID {
		t.Fatalf("execution %+v", ex)
	}
	if got := e.logs(r, id); got != "hello\nworld\n" {
		t.Errorf("logs = %q", got)
	}
	e.eventually("the container to be removed", func() bool {
		_, err := e.d.Inspect(context.Background(), st.ID)
		return errors.Is(err, runtime.ErrNotFound)
	})
}

func TestFailureIsRetriedThenFails(t *testing.T) {
	e := newEnv(t)
	e.job("flaky", 1, 2, time.Minute)
	r, _ := e.start(4)
	id := e.enqueue(r, "flaky")
	for n := range 3 {
		st := e.container(id, string(rune('1'+n)))
		e.exit(st.ID, 7, "try")
	}
	ex := e.final(id)
	if ex.Status != store.StatusFailed || ex.ExitCode != 7 || ex.Reason != store.ReasonExit || len(ex.Attempts) != 3 {
		t.Fatalf("execution %+v", ex)
	}
	want := "try\n--- berth: attempt 2 of 3 ---\ntry\n--- berth: attempt 3 of 3 ---\ntry\n"
	if got := e.logs(r, id); got != want {
		t.Errorf("logs = %q; want %q", got, want)
	}
}

func TestTimeoutKillsAndCounts(t *testing.T) {
	e := newEnv(t)
	e.job("slow", 1, 0, 50*time.Millisecond)
	r, _ := e.start(4)
	id := e.enqueue(r, "slow")
	ex := e.final(id)
	if ex.Status != store.StatusFailed || ex.Reason != store.ReasonTimeout || len(ex.Attempts) != 1 {
		t.Fatalf("execution %+v", ex)
	}
	if n := len(e.running("")); n != 0 {
		t.Fatalf("%d containers still run", n)
	}
}

func TestCancelQueuedAndRunning(t *testing.T) {
	e := newEnv(t)
	e.job("long", 1, 3, time.Minute)
	r, _ := e.start(4)
	first := e.enqueue(r, "long")
	second := e.enqueue(r, "long") // held back by parallelism 1
	st := e.container(first, "1")

	ex, err := r.Cancel(context.Background(), second)
	if err != nil || ex.Status != store.StatusCancelled || len(ex.Attempts) != 0 {
		t.Fatalf("cancel queued = %+v, %v", ex, err)
	}
	ex, err = r.Cancel(context.Background(), first)
	if err != nil || ex.Status != store.StatusCancelled || ex.Reason != store.ReasonCancelled || len(ex.Attempts) != 1 {
		t.Fatalf("cancel running = %+v, %v", ex, err)
	}
	if _, err := e.d.Inspect(context.Background(), st.ID); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("the cancelled container is still there: %v", err)
	}
	if _, err := r.Cancel(context.Background(), first); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("cancelling a cancelled execution: %v; want ErrConflict", err)
	}
}

func TestLimitsAreNeverExceeded(t *testing.T) {
	e := newEnv(t)
	e.job("par", 2, 0, time.Minute)
	e.job("other", 5, 0, time.Minute)
	r, _ := e.start(3)
	var ids []string
	for range 6 {
		ids = append(ids, e.enqueue(r, "par"), e.enqueue(r, "other"))
	}
	maxPar, maxAll := 0, 0
	for {
		run := e.running("")
		par := 0
		for _, st := range run {
			if st.Labels[runtime.LabelJob] == "par" {
				par++
			}
		}
		maxPar, maxAll = max(maxPar, par), max(maxAll, len(run))
		if len(run) == 0 {
			done := true
			for _, id := range ids {
				ex, _ := e.st.Execution(context.Background(), id)
				done = done && store.Terminal(ex.Status)
			}
			if done {
				break
			}
		}
		if len(run) > 0 {
			e.exit(run[0].ID, 0)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if maxPar > 2 || maxAll > 3 {
		t.Fatalf("at most %d of par (parallelism 2) and %d in all (3 workers) ran at once", maxPar, maxAll)
	}
	if maxAll < 3 {
		t.Fatalf("never more than %d ran at once; want the limit, 3, reached", maxAll)
	}
}

func TestRestartReattachesAndRecoversLost(t *testing.T) {
	e := newEnv(t)
	e.job("ci", 4, 1, time.Minute)
	r1, stop1 := e.start(4)
	keep := e.enqueue(r1, "ci")
	lose := e.enqueue(r1, "ci")
	done := e.enqueue(r1, "ci")
	kept := e.container(keep, "1")
	lost := e.container(lose, "1")
	exited := e.container(done, "1")
	if err := e.d.AppendLog(kept.ID, "before"); err != nil {
		t.Fatal(err)
	}
	e.eventually("the first line in the store", func() bool { return e.logs(r1, keep) == "before\n" })
	stop1() // the server goes away; its containers run on

	if n := len(e.running("")); n != 3 {
		t.Fatalf("%d containers run after the runner stopped; want all 3 kept", n)
	}
	e.d.Remove(context.Background(), lost.ID) // gone while the server was down
	e.exit(exited.ID, 0, "finished alone")    // ended while the server was down
	dangling, err := e.d.Create(context.Background(), runtime.InstanceSpec{Name: "dangling", Image: "job:1",
		Labels: map[string]string{runtime.LabelOwner: testOwner, runtime.LabelExecution: "ci-nope", runtime.LabelAttempt: "1"}})
	if err != nil {
		t.Fatal(err)
	}

	r2, _ := e.start(4)
	if ex := e.final(done); ex.Status != store.StatusSucceeded || len(ex.Attempts) != 1 || e.logs(r2, done) != "finished alone\n" {
		t.Fatalf("exited while down: %+v, logs %q", ex, e.logs(r2, done))
	}
	second := e.container(lose, "2")
	e.exit(second.ID, 0)
	if ex := e.final(lose); ex.Status != store.StatusSucceeded || len(ex.Attempts) != 2 || ex.Attempts[0].Reason != store.ReasonLost {
		t.Fatalf("lost attempt: %+v", ex)
	}
	if len(e.running(keep)) != 1 {
		t.Fatal("the re-attached container should still run, alone")
	}
	e.exit(kept.ID, 0, "after")
	ex := e.final(keep)
	if ex.Status != store.StatusSucceeded || len(ex.Attempts) != 1 {
		t.Fatalf("re-attached: %+v", ex)
	}
	if got := e.logs(r2, keep); got != "before\nafter\n" {
		t.Fatalf("re-attached logs = %q; want each line once", got)
	}
	if _, err := e.d.Inspect(context.Background(), dangling); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("the dangling job container was not removed: %v", err)
	}
}

func TestFollowLogsEndsWithTheExecution(t *testing.T) {
	e := newEnv(t)
	e.job("ci", 1, 0, time.Minute)
	r, _ := e.start(4)
	id := e.enqueue(r, "ci")
	rc, err := r.Logs(context.Background(), id, true)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	st := e.container(id, "1")
	e.exit(st.ID, 0, "streamed")
	b, err := io.ReadAll(rc)
	if err != nil || string(b) != "streamed\n" {
		t.Fatalf("followed logs = %q, %v", b, err)
	}
	if _, err := r.Logs(context.Background(), "nope", false); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("logs of a missing execution: %v", err)
	}
}
