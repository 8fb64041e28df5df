// Package activator owns the instances of every app: it is the instance
// registry, the hold-and-wake logic on the request path, and the reconciler
// that keeps the registry and the engine in step.
//
// On the request path, Acquire returns a lease on a ready instance; when there
// is none it starts (or wakes) exactly one and holds every caller until it
// answers. Off the request path, Reconcile adopts containers the server owns,
// removes dangling ones and notices crashes, and Tick puts idle instances to
// sleep and retires instances of old revisions or past their max duration.
// Decisions take the current time as an argument so tests can step it.
package activator

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/autoscaler"
	"github.com/berth-dev/berth/internal/manifest"
	"github.com/berth-dev/berth/internal/metrics"
	"github.com/berth-dev/berth/internal/runtime"
)

// ErrAppNotFound: no app of that name is registered.
var ErrAppNotFound = errors.New("app not found")

// App is what the activator needs to run an app's serving revision.
type App struct {
	Namespace string
	Name      string
	Revision  int
	// Image is the image ID to run.
	Image string
	Spec  manifest.Manifest
}

// Key identifies an app across namespaces.
func (a App) Key() string { return a.Namespace + "/" + a.Name }

// Options configure an Activator.
type Options struct {
	Driver runtime.Driver
	// Owner is put on every container as runtime.LabelOwner.
	Owner string
	// StartTimeout bounds a start, from create to ready (default 2m).
	StartTimeout time.Duration
	// StopGrace is how long an instance has to exit after SIGTERM (default 10s).
	StopGrace time.Duration
	// Now is the clock; default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// Metrics, if set, counts cold starts and scaling decisions.
	Metrics *metrics.Set
	// Tenancy places instances in their namespace and applies its quota.
	Tenancy Tenancy
	// Revision returns what to run for revision rev of an app, for a
	// tagged request to a revision that is neither serving nor in a traffic
	// split; an error wrapping ErrRevisionNotFound if it cannot serve.
	Revision func(ctx context.Context, ns, name string, rev int) (App, error)
}

// Activator is safe for concurrent use.
type Activator struct {
	opts Options
	log  *slog.Logger
	now  func() time.Time
	// ctx outlives requests: starts and stops run on it, not on a caller's.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// mu guards apps, every app's pools and retired.
	mu   sync.RWMutex
	apps map[string]*app
	// retired holds pools whose instances still drain (split.go).
	retired []*app
	// live counts instances per namespace (tenancy.go).
	live nsCounter
	// removals tracks the containers being removed (reconcile.go).
	removals removals
}

// New returns an Activator with no apps.
func New(opts Options) *Activator {
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 2 * time.Minute
	}
	if opts.StopGrace <= 0 {
		opts.StopGrace = 10 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Activator{opts: opts, log: opts.Logger, now: opts.Now, ctx: ctx, cancel: cancel, apps: map[string]*app{}}
}

// Close cancels starts and stops in progress and waits for them to return.
// Containers are left as they are: the next server adopts them.
func (a *Activator) Close() {
	a.cancel()
	a.wg.Wait()
}

// app is one app's registry entry. Its mutex guards everything below it and
// the mutable fields of its instances.
type app struct {
	mu        sync.Mutex
	cfg       App
	scale     autoscaler.Spec
	instances []*instance
	// keys maps each key to its instance (apps with instances.key).
	keys    map[string]*instance
	removed bool
	// live is the activator's per-namespace instance count.
	live *nsCounter

	// split spreads requests over this entry and pools (nil: all here);
	// pools holds the entries of other revisions, guarded by the
	// Activator's mu; owner is a pool's app entry, gone is set once the
	// pool is retired (split.go).
	split *split
	pools map[int]*app
	owner *app
	gone  bool

	// queued counts requests waiting for capacity; notify is closed (and
	// replaced) whenever capacity may have appeared, waking them.
	queued     int
	notify     chan struct{}
	lastActive time.Time

	demand   autoscaler.Window
	cpu      autoscaler.Window
	scaler   autoscaler.State
	decision autoscaler.Decision

	// failures counts consecutive failed starts and crashes; while
	// backoffUntil is ahead no new start is tried (crash-loop back-off).
	failures     int
	backoffUntil time.Time
	// failSeq changes on every failed start; lastErr is that failure.
	failSeq   int
	lastErr   error
	lastError string
}

// broadcast wakes every waiting request. Callers hold ap.mu.
func (ap *app) broadcast() {
	if ap.queued > 0 {
		close(ap.notify)
		ap.notify = make(chan struct{})
	}
}

// SetApp registers an app or replaces its spec or serving revision.
// Instances of older revisions stop taking requests and are removed once
// idle (or after drain_timeout). A new serving revision also ends the app's
// traffic split (see SetSplit).
func (a *Activator) SetApp(cfg App) {
	a.mu.Lock()
	ap, ok := a.apps[cfg.Key()]
	if !ok {
		ap = &app{notify: make(chan struct{}), live: &a.live}
		a.apps[cfg.Key()] = ap
	}
	a.mu.Unlock()

	ap.mu.Lock()
	defer ap.mu.Unlock()
	if ap.cfg.Revision != cfg.Revision {
		ap.failures, ap.backoffUntil, ap.lastError = 0, time.Time{}, ""
		if ap.cfg.Revision != 0 {
			// A rollout counts as activity: the new revision's instances
			// stay up for the idle time rather than going straight to sleep.
			ap.lastActive = a.now()
		}
		// The new revision serves here now: all traffic comes here until
		// SetSplit says otherwise, and a pool of it drains.
		ap.split = nil
		ap.mu.Unlock()
		a.retirePool(ap, cfg.Revision)
		a.demotePools(ap, nil)
		ap.mu.Lock()
	}
	ap.cfg = cfg
	ap.scale = autoscaler.SpecOf(&cfg.Spec)
	now := a.now()
	for _, in := range ap.instances {
		if in.staged != nil && in.revision == cfg.Revision {
			in.staged = nil // its revision serves now
		}
		// A key keeps the instance (and revision) that first served it.
		if in.revision != cfg.Revision && !in.draining && in.key == "" {
			in.draining, in.drainingSince = true, now
		}
	}
	ap.broadcast()
}

// RemoveApp unregisters an app and removes all its containers, of every
// revision.
func (a *Activator) RemoveApp(ctx context.Context, ns, name string) error {
	a.mu.Lock()
	ap, ok := a.apps[ns+"/"+name]
	var entries []*app
	if ok {
		entries = a.entriesOf(ap)
		delete(a.apps, ns+"/"+name)
		kept := a.retired[:0]
		for _, p := range a.retired {
			if p.owner != ap {
				kept = append(kept, p)
			}
		}
		clear(a.retired[len(kept):])
		a.retired = kept
	}
	a.mu.Unlock()
	if !ok {
		return ErrAppNotFound
	}
	var ids []string
	for _, e := range entries {
		e.mu.Lock()
		e.removed = true
		e.broadcast()
		for _, in := range e.instances {
			if in.containerID != "" {
				ids = append(ids, in.containerID)
			}
			in.state = stateRemoving
		}
		e.live.add(ns, -len(e.instances))
		e.instances = nil
		e.mu.Unlock()
	}
	var errs []error
	for _, id := range ids {
		if err := a.opts.Driver.Remove(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (a *Activator) lookup(ns, name string) (*app, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	ap, ok := a.apps[ns+"/"+name]
	return ap, ok
}

// InstanceView is a read-only copy of an instance's state.
type InstanceView struct {
	ID          string
	ContainerID string
	// Key is the key the instance belongs to, if any.
	Key      string
	Revision int
	// State is starting, ready, draining, stopping, sleeping, removing or failed.
	State string
	// Sleep is the tier a sleeping instance is in: pause or stop.
	Sleep string
	Addr  string
	// Port is the port the instance is served on (Addr's), once ready:
	// the manifest's, or the discovered one with `port: auto`.
	Port       int
	InFlight   int
	CreatedAt  time.Time
	StartedAt  time.Time
	LastActive time.Time
}

// AppView is a read-only copy of an app's runtime state.
type AppView struct {
	// Status is ready, starting, sleeping, failed or crash-looping.
	Status    string
	InFlight  int
	Queued    int
	LastError string
	// Desired is the autoscaler's last decision (with the warm pool).
	Desired     int
	Panic       bool
	ScaleReason string
	Instances   []InstanceView
}

// View reports an app's instances, of every revision, oldest first.
func (a *Activator) View(ns, name string) (AppView, error) {
	ap, ok := a.lookup(ns, name)
	if !ok {
		return AppView{}, ErrAppNotFound
	}
	a.mu.RLock()
	entries := a.entriesOf(ap)
	a.mu.RUnlock()
	v := AppView{Status: "sleeping"}
	for _, e := range entries {
		e.mu.Lock()
		v.Queued += e.queued
		v.Desired += e.decision.Total
		if e == ap {
			v.LastError, v.Panic, v.ScaleReason = e.lastError, e.decision.Panic, e.decision.Reason
		}
		for _, in := range e.instances {
			v.InFlight += in.inflight
			st := in.state.String()
			if in.state == stateReady && (in.draining || in.parked) {
				st = "draining"
			}
			v.Instances = append(v.Instances, InstanceView{
				ID: in.id, ContainerID: in.containerID, Key: in.key, Revision: in.revision, State: st, Sleep: in.sleepMode,
				Addr: in.addr, Port: addrPort(in.addr), InFlight: in.inflight, CreatedAt: in.createdAt, StartedAt: in.startedAt, LastActive: in.lastActive,
			})
			switch {
			case in.state == stateReady:
				v.Status = "ready"
			case (in.state == stateStarting || in.state == stateNew) && v.Status != "ready":
				v.Status = "starting"
			}
		}
		e.mu.Unlock()
	}
	ap.mu.Lock()
	failures := ap.failures
	ap.mu.Unlock()
	if v.Status == "sleeping" && v.LastError != "" {
		v.Status = "failed"
		if failures >= 2 {
			v.Status = "crash-looping"
		}
	}
	sort.Slice(v.Instances, func(i, j int) bool { return v.Instances[i].CreatedAt.Before(v.Instances[j].CreatedAt) })
	return v, nil
}

// States reports every app's registry state, its revisions' pools
// included, for the metrics' gauges.
func (a *Activator) States() []metrics.AppState {
	a.mu.RLock()
	groups := make([][]*app, 0, len(a.apps))
	for _, ap := range a.apps {
		groups = append(groups, a.entriesOf(ap))
	}
	a.mu.RUnlock()
	out := make([]metrics.AppState, 0, len(groups))
	for _, entries := range groups {
		var st metrics.AppState
		st.Instances = map[string]int{}
		for i, e := range entries {
			e.mu.Lock()
			if i == 0 {
				st.Namespace, st.Name = e.cfg.Namespace, e.cfg.Name
			}
			st.Queued += e.queued
			st.Desired += e.decision.Total
			for _, in := range e.instances {
				st.InFlight += in.inflight
				st.Instances[in.state.String()]++
			}
			e.mu.Unlock()
		}
		out = append(out, st)
	}
	return out
}

// observeStart counts a finished start or wake and times its phases.
func (a *Activator) observeStart(cfg App, phases []Phase) {
	m := a.opts.Metrics
	if m == nil || len(phases) == 0 {
		return
	}
	m.ColdStarts.WithLabelValues(cfg.Namespace, cfg.Name, phases[0].Name).Inc()
	for _, p := range phases {
		m.ColdStartPhase.WithLabelValues(p.Name).Observe(p.Dur.Seconds())
	}
}
