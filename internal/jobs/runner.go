package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/store"
)

// Defaults for Options.
const (
	DefaultWorkers      = 4
	DefaultNetwork      = "berth-jobs"
	DefaultRetryBackoff = time.Second
	DefaultMaxBackoff   = time.Minute
	DefaultStopGrace    = 5 * time.Second
	DefaultPoll         = time.Second
	DefaultLogFlush     = 250 * time.Millisecond
)

// Options configures a Runner.
type Options struct {
	Store  *store.Store
	Driver runtime.Driver
	// Owner is the server's owner label value.
	Owner string
	// Network is the network job containers join (default "berth-jobs").
	Network string
	// Workers is the global limit of running executions (default 4);
	// PerNamespace the limit per namespace (default Workers).
	Workers      int
	PerNamespace int
	// NamespaceQuota, if set, returns a namespace's max_jobs (≤ 0: none):
	// beyond it executions wait in the queue.
	NamespaceQuota func(ns string) int
	// RetryBackoff is the wait before the first retry, doubled for each
	// next one up to MaxBackoff (defaults 1s and 1m).
	RetryBackoff time.Duration
	MaxBackoff   time.Duration
	// StopGrace is how long a timed-out or cancelled attempt gets between
	// the stop signal and the kill (default 5s).
	StopGrace time.Duration
	// Poll is how often a running attempt's container is inspected, as a
	// back-up to its log stream ending (default 1s).
	Poll time.Duration
	// LogFlush is how often collected output is written to the store.
	LogFlush time.Duration
	Logger   *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Runner takes executions from the store's queue and runs them.
type Runner struct {
	opts Options
	log  *slog.Logger
	wake chan struct{}
	// stopped is closed when Run returns, ending log followers.
	stopped chan struct{}

	mu      sync.Mutex
	handles map[string]*handle // by execution ID, while an attempt runs
	logs    chan struct{}      // closed and replaced when a log or status changes
	wg      sync.WaitGroup
}

// handle lets Cancel reach a running attempt.
type handle struct {
	cancel chan struct{}
	once   sync.Once
}

func (h *handle) signal() { h.once.Do(func() { close(h.cancel) }) }

// New returns a Runner; Run starts it.
func New(opts Options) *Runner {
	if opts.Network == "" {
		opts.Network = DefaultNetwork
	}
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.PerNamespace <= 0 {
		opts.PerNamespace = opts.Workers
	}
	if opts.RetryBackoff <= 0 {
		opts.RetryBackoff = DefaultRetryBackoff
	}
	if opts.MaxBackoff < opts.RetryBackoff {
		opts.MaxBackoff = max(DefaultMaxBackoff, opts.RetryBackoff)
	}
	if opts.StopGrace <= 0 {
		opts.StopGrace = DefaultStopGrace
	}
	if opts.Poll <= 0 {
		opts.Poll = DefaultPoll
	}
	if opts.LogFlush <= 0 {
		opts.LogFlush = DefaultLogFlush
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Runner{
		opts: opts, log: opts.Logger, wake: make(chan struct{}, 1), stopped: make(chan struct{}),
		handles: map[string]*handle{}, logs: make(chan struct{}),
	}
}

// Run recovers what a previous run left (see Recover), then starts queued
// executions as slots free up, until ctx is cancelled. It returns once every
// attempt it watches has let go; their containers keep running, for the
// next Run to re-attach.
func (r *Runner) Run(ctx context.Context) error {
	defer close(r.stopped)
	defer r.wg.Wait()
	if err := r.Recover(ctx); err != nil {
		return err
	}
	for {
		next := r.schedule(ctx)
		wait := time.Second
		if !next.IsZero() {
			wait = min(wait, max(next.Sub(r.opts.Now()), time.Millisecond))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-r.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// Wake makes the loop look at the queue now.
func (r *Runner) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// schedule claims what may start and starts it; it returns the earliest
// NotBefore of a queued retry (zero if none) so the loop wakes for it.
func (r *Runner) schedule(ctx context.Context) time.Time {
	defs, err := r.opts.Store.Jobs(ctx)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Error("jobs: list job definitions", "err", err)
		}
		return time.Time{}
	}
	par := make(map[string]int, len(defs))
	for _, d := range defs {
		par[d.Namespace+"/"+d.Name] = d.Spec.Parallelism
	}
	now := r.opts.Now()
	var next time.Time
	claimed, err := r.opts.Store.Claim(ctx, func(active []store.Execution) []string {
		for _, ex := range active {
			if ex.Status == store.StatusQueued && ex.NotBefore.After(now) && (next.IsZero() || ex.NotBefore.Before(next)) {
				next = ex.NotBefore
			}
		}
		return Pick(active, func(ns, job string) int { return par[ns+"/"+job] }, Limits{Global: r.opts.Workers, PerNamespace: r.opts.PerNamespace, Quota: r.opts.NamespaceQuota}, now)
	}, func(ex *store.Execution, logEnd int64) []byte {
		n := len(ex.Attempts) + 1
		var sep []byte
		if n > 1 {
			sep = fmt.Appendf(nil, "--- berth: attempt %d of %d ---\n", n, ex.Spec.RetryLimit()+1)
		}
		ex.Status, ex.NotBefore = store.StatusRunning, time.Time{}
		ex.Attempts = append(ex.Attempts, store.Attempt{
			Number: n, Container: r.containerName(ex.ID, n), ClaimedAt: now, LogOffset: logEnd + int64(len(sep)),
		})
		return sep
	})
	if err != nil {
		if ctx.Err() == nil {
			r.log.Error("jobs: claim", "err", err)
		}
		return next
	}
	for _, ex := range claimed {
		r.log.Info("job attempt starting", "ns", ex.Namespace, "job", ex.Job, "execution", ex.ID, "attempt", ex.Current().Number)
		r.notify()
		r.spawn(ctx, ex, func(ctx context.Context, h *handle) { r.runAttempt(ctx, ex, h) })
	}
	return next
}

// spawn runs fn for ex's current attempt with a registered cancel handle.
func (r *Runner) spawn(ctx context.Context, ex store.Execution, fn func(context.Context, *handle)) {
	r.mu.Lock()
	h, ok := r.handles[ex.ID]
	if !ok {
		h = &handle{cancel: make(chan struct{})}
		r.handles[ex.ID] = h
	}
	r.mu.Unlock()
	if ex.CancelRequested {
		h.signal()
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer func() {
			r.mu.Lock()
			delete(r.handles, ex.ID)
			r.mu.Unlock()
		}()
		fn(ctx, h)
	}()
}

// containerName is unique on the engine: the owner part keeps the
// executions of servers sharing one engine apart.
func (r *Runner) containerName(id string, attempt int) string {
	owner := r.opts.Owner
	if len(owner) > 8 {
		owner = owner[:8]
	}
	return "berth-job-" + owner + "-" + id + "-" + strconv.Itoa(attempt)
}

// spec is the container of ex's current attempt.
func (r *Runner) spec(ex store.Execution) runtime.InstanceSpec {
	a := ex.Current()
	env := make(map[string]string, len(ex.Spec.Env)+len(ex.Env)+4)
	maps.Copy(env, ex.Spec.Env)
	maps.Copy(env, ex.Env)
	env["BERTH_JOB"] = ex.Job
	env["BERTH_NAMESPACE"] = ex.Namespace
	env["BERTH_EXECUTION"] = ex.ID
	env["BERTH_ATTEMPT"] = strconv.Itoa(a.Number)
	labels := make(map[string]string, len(ex.Spec.Labels)+5)
	maps.Copy(labels, ex.Spec.Labels)
	labels[runtime.LabelOwner] = r.opts.Owner
	labels[runtime.LabelNamespace] = ex.Namespace
	labels[runtime.LabelJob] = ex.Job
	labels[runtime.LabelExecution] = ex.ID
	labels[runtime.LabelAttempt] = strconv.Itoa(a.Number)
	args := ex.Spec.Args
	if ex.Args != nil {
		args = ex.Args
	}
	return runtime.InstanceSpec{
		Name: a.Container, Image: ex.ImageID, Env: env, Labels: labels,
		Resources:  ex.Spec.Resources(),
		Entrypoint: ex.Spec.Command, Args: args,
		Isolation: ex.Spec.Isolation, Network: r.opts.Network,
	}
}

// Enqueue adds an execution of the job ns/name to the queue, with env added
// to the job's and args (when not nil) replacing its args.
func (r *Runner) Enqueue(ctx context.Context, ns, name string, env map[string]string, args []string) (store.Execution, error) {
	def, err := r.opts.Store.Job(ctx, ns, name)
	if err != nil {
		return store.Execution{}, err
	}
	ex, err := r.opts.Store.Enqueue(ctx, store.Execution{
		Namespace: ns, Job: name, JobRevision: def.Revision, Spec: def.Spec, ImageID: def.ImageID,
		Env: env, Args: args,
	}, r.opts.Now())
	if err != nil {
		return store.Execution{}, err
	}
	r.log.Info("job execution queued", "ns", ns, "job", name, "execution", ex.ID)
	r.notify()
	r.Wake()
	return ex, nil
}

// Cancel stops an execution: a queued one is cancelled at once, a running
// one has its container stopped and is cancelled when it is gone. It waits
// (until ctx ends) for the execution to reach its final state and returns it.
// Cancelling a finished execution is a store.ErrConflict.
func (r *Runner) Cancel(ctx context.Context, id string) (store.Execution, error) {
	ex, err := r.opts.Store.UpdateExecution(ctx, id, func(ex *store.Execution) error {
		switch {
		case store.Terminal(ex.Status):
			return fmt.Errorf("%w: execution %s has already ended (%s); only a queued or running execution can be cancelled", store.ErrConflict, id, ex.Status)
		case ex.Status == store.StatusQueued:
			ex.Status, ex.Reason, ex.FinishedAt = store.StatusCancelled, store.ReasonCancelled, r.opts.Now()
		default:
			ex.CancelRequested = true
		}
		return nil
	})
	if err != nil {
		return ex, err
	}
	r.log.Info("job execution cancel", "ns", ex.Namespace, "job", ex.Job, "execution", id, "status", ex.Status)
	r.mu.Lock()
	if h := r.handles[id]; h != nil {
		h.signal()
	}
	r.mu.Unlock()
	r.notify()
	wctx, cancel := context.WithTimeout(ctx, r.opts.StopGrace+30*time.Second)
	defer cancel()
	for !store.Terminal(ex.Status) {
		select {
		case <-wctx.Done():
			return ex, nil // the attempt is told; it ends on its own
		case <-time.After(100 * time.Millisecond):
		}
		if ex, err = r.opts.Store.Execution(ctx, id); err != nil {
			return ex, err
		}
	}
	return ex, nil
}

// notify wakes log followers.
func (r *Runner) notify() {
	r.mu.Lock()
	close(r.logs)
	r.logs = make(chan struct{})
	r.mu.Unlock()
}

// changed returns a channel closed at the next notify.
func (r *Runner) changed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.logs
}

// errStale: the execution moved on without this attempt (it cannot, while
// the attempt's goroutine lives; this guards the invariant).
var errStale = errors.New("execution is no longer running this attempt")
