package jobs

import (
	"time"

	"github.com/berth-dev/berth/internal/store"
)

// Limits bound how many executions run at once.
type Limits struct {
	// Global caps the running executions of the whole server.
	Global int
	// PerNamespace caps those of one namespace.
	PerNamespace int
	// Quota, if set, returns a namespace's own cap (its max_jobs quota;
	// ≤ 0: none), applied on top of PerNamespace.
	Quota func(ns string) int
}

// forNamespace is the cap on ns's running executions.
func (l Limits) forNamespace(ns string) int {
	if l.Quota != nil {
		if q := l.Quota(ns); q > 0 {
			return min(q, l.PerNamespace)
		}
	}
	return l.PerNamespace
}

// Pick returns, in queue order, the IDs of the queued executions in active
// (the store's queue: queued and running executions, FIFO) that may start at
// now: those whose retry backoff has passed and whose start keeps the running
// executions within lim and within their job's parallelism. parallelism
// returns a job's current limit (≤ 0: the one the execution was enqueued
// with). A queued execution that may not start yet does not hold back the
// ones behind it, except that nothing starts once the global limit is full.
func Pick(active []store.Execution, parallelism func(ns, job string) int, lim Limits, now time.Time) []string {
	type jobKey struct{ ns, job string }
	global := 0
	perNS := map[string]int{}
	perJob := map[jobKey]int{}
	for _, ex := range active {
		if ex.Status == store.StatusRunning {
			global++
			perNS[ex.Namespace]++
			perJob[jobKey{ex.Namespace, ex.Job}]++
		}
	}
	var out []string
	for _, ex := range active {
		if global >= lim.Global {
			break
		}
		if ex.Status != store.StatusQueued || now.Before(ex.NotBefore) || perNS[ex.Namespace] >= lim.forNamespace(ex.Namespace) {
			continue
		}
		k := jobKey{ex.Namespace, ex.Job}
		p := parallelism(ex.Namespace, ex.Job)
		if p <= 0 {
			p = ex.Spec.Parallelism
		}
		if perJob[k] >= max(p, 1) {
			continue
		}
		global++
		perNS[ex.Namespace]++
		perJob[k]++
		out = append(out, ex.ID)
	}
	return out
}

// Backoff is the wait before retry number n (1 for the first retry): base
// doubled for each earlier retry, at most ceiling.
func Backoff(base, ceiling time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < ceiling; i++ {
		d *= 2
	}
	return min(d, ceiling)
}

// Result is how one attempt ended.
type Result struct {
	Reason   string // store.Reason*
	ExitCode int
	Error    string
	// StartedAt and FinishedAt are the container's, when known.
	StartedAt, FinishedAt time.Time
}

// Outcome records res as the end of ex's current attempt at now and moves
// the execution on: cancelled if a cancel was asked for, succeeded on exit
// code 0, queued again (after Backoff) while retries are left, else failed.
func Outcome(ex *store.Execution, res Result, now time.Time, base, ceiling time.Duration) {
	a := ex.Current()
	a.EndedAt, a.Reason, a.ExitCode, a.Error = now, res.Reason, res.ExitCode, res.Error
	if !res.StartedAt.IsZero() {
		a.StartedAt = res.StartedAt
	}
	if !res.FinishedAt.IsZero() {
		a.FinishedAt = res.FinishedAt
	}
	ex.Reason, ex.ExitCode = res.Reason, res.ExitCode
	retries := len(ex.Attempts) - 1
	switch {
	case ex.CancelRequested || res.Reason == store.ReasonCancelled:
		ex.Status, ex.Reason, ex.FinishedAt = store.StatusCancelled, store.ReasonCancelled, now
	case res.Reason == store.ReasonExit && res.ExitCode == 0:
		ex.Status, ex.FinishedAt = store.StatusSucceeded, now
	case retries < ex.Spec.RetryLimit():
		ex.Status, ex.NotBefore = store.StatusQueued, now.Add(Backoff(base, ceiling, retries+1))
	default:
		ex.Status, ex.FinishedAt = store.StatusFailed, now
	}
}
