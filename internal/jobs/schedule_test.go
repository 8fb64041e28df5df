package jobs

import (
	"reflect"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/manifest"
	"github.com/berth-dev/berth/internal/store"
)

func TestPick(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ex := func(id, ns, job, status string) store.Execution {
		return store.Execution{ID: id, Namespace: ns, Job: job, Status: status, Spec: manifest.Job{Parallelism: 1}}
	}
	later := ex("later", "a", "j", store.StatusQueued)
	later.NotBefore = now.Add(time.Second)
	due := ex("due", "a", "j", store.StatusQueued)
	due.NotBefore = now
	par := map[string]int{"a/j": 10, "a/one": 1, "b/j": 10}
	cases := []struct {
		name   string
		active []store.Execution
		lim    Limits
		want   []string
	}{
		{"empty", nil, Limits{Global: 4, PerNamespace: 4}, nil},
		{"FIFO up to the global limit", []store.Execution{
			ex("1", "a", "j", "queued"), ex("2", "a", "j", "queued"), ex("3", "a", "j", "queued"),
		}, Limits{Global: 2, PerNamespace: 2}, []string{"1", "2"}},
		{"running ones count", []store.Execution{
			ex("1", "a", "j", "running"), ex("2", "a", "j", "queued"), ex("3", "a", "j", "queued"),
		}, Limits{Global: 2, PerNamespace: 2}, []string{"2"}},
		{"global full", []store.Execution{
			ex("1", "a", "j", "running"), ex("2", "b", "j", "running"), ex("3", "a", "j", "queued"),
		}, Limits{Global: 2, PerNamespace: 2}, nil},
		{"a namespace's max_jobs quota caps it below the per-namespace limit", []store.Execution{
			ex("1", "a", "j", "running"), ex("2", "a", "j", "queued"), ex("3", "b", "j", "queued"), ex("4", "b", "j", "queued"),
		}, Limits{Global: 4, PerNamespace: 4, Quota: func(ns string) int { return map[string]int{"a": 1}[ns] }}, []string{"3", "4"}},
		{"per-namespace limit skips to the next namespace", []store.Execution{
			ex("1", "a", "j", "running"), ex("2", "a", "j", "queued"), ex("3", "b", "j", "queued"),
		}, Limits{Global: 4, PerNamespace: 1}, []string{"3"}},
		{"parallelism of the job", []store.Execution{
			ex("1", "a", "one", "queued"), ex("2", "a", "one", "queued"), ex("3", "a", "j", "queued"),
		}, Limits{Global: 4, PerNamespace: 4}, []string{"1", "3"}},
		{"parallelism counts running", []store.Execution{
			ex("1", "a", "one", "running"), ex("2", "a", "one", "queued"),
		}, Limits{Global: 4, PerNamespace: 4}, nil},
		{"unknown job: the execution's own parallelism", []store.Execution{
			ex("1", "a", "gone", "queued"), ex("2", "a", "gone", "queued"),
		}, Limits{Global: 4, PerNamespace: 4}, []string{"1"}},
		{"backoff holds a retry without blocking others", []store.Execution{
			later, ex("2", "a", "j", "queued"), due,
		}, Limits{Global: 4, PerNamespace: 4}, []string{"2", "due"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Pick(c.active, func(ns, job string) int { return par[ns+"/"+job] }, c.lim, now)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("Pick = %v; want %v", got, c.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	for _, c := range []struct {
		n    int
		want time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {6, 32 * time.Second}, {7, time.Minute}, {50, time.Minute}} {
		if got := Backoff(time.Second, time.Minute, c.n); got != c.want {
			t.Errorf("Backoff(1s, 1m, %d) = %s; want %s", c.n, got, c.want)
		}
	}
}

func TestOutcome(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	two := 2
	cases := []struct {
		name      string
		attempts  int
		cancel    bool
		res       Result
		status    string
		reason    string
		notBefore time.Duration
	}{
		{"success", 1, false, Result{Reason: store.ReasonExit}, store.StatusSucceeded, store.ReasonExit, 0},
		{"failure retried", 1, false, Result{Reason: store.ReasonExit, ExitCode: 3}, store.StatusQueued, store.ReasonExit, time.Second},
		{"second retry waits longer", 2, false, Result{Reason: store.ReasonExit, ExitCode: 3}, store.StatusQueued, store.ReasonExit, 2 * time.Second},
		{"retries spent", 3, false, Result{Reason: store.ReasonExit, ExitCode: 3}, store.StatusFailed, store.ReasonExit, 0},
		{"timeout is a failed attempt", 1, false, Result{Reason: store.ReasonTimeout, ExitCode: 137}, store.StatusQueued, store.ReasonTimeout, time.Second},
		{"lost is a failed attempt", 3, false, Result{Reason: store.ReasonLost, ExitCode: -1}, store.StatusFailed, store.ReasonLost, 0},
		{"cancel wins over success", 1, true, Result{Reason: store.ReasonExit}, store.StatusCancelled, store.ReasonCancelled, 0},
		{"cancelled", 1, false, Result{Reason: store.ReasonCancelled, ExitCode: 143}, store.StatusCancelled, store.ReasonCancelled, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ex := store.Execution{Status: store.StatusRunning, Spec: manifest.Job{Retries: &two}, CancelRequested: c.cancel}
			for i := range c.attempts {
				ex.Attempts = append(ex.Attempts, store.Attempt{Number: i + 1})
			}
			Outcome(&ex, c.res, now, time.Second, time.Minute)
			if ex.Status != c.status || ex.Reason != c.reason || ex.ExitCode != c.res.ExitCode {
				t.Fatalf("status %s reason %s exit %d; want %s %s %d", ex.Status, ex.Reason, ex.ExitCode, c.status, c.reason, c.res.ExitCode)
			}
			if a := ex.Current(); !a.EndedAt.Equal(now) || a.Reason != c.res.Reason {
				t.Fatalf("attempt not recorded: %+v", a)
			}
			if c.notBefore > 0 && !ex.NotBefore.Equal(now.Add(c.notBefore)) {
				t.Fatalf("NotBefore = %s; want now+%s", ex.NotBefore, c.notBefore)
			}
			if store.Terminal(ex.Status) != !ex.FinishedAt.IsZero() {
				t.Fatalf("FinishedAt %s with status %s", ex.FinishedAt, ex.Status)
			}
		})
	}
}
