package activator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Phase is one timed step of a cold start.
type Phase struct {
	Name string
	Dur  time.Duration
}

// FormatPhases renders phases the way Server-Timing does:
// "create;dur=12.3, start;dur=80.1, ready;dur=140.0" (milliseconds).
func FormatPhases(phases []Phase) string {
	var b strings.Builder
	for i, p := range phases {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s;dur=%.1f", p.Name, float64(p.Dur.Microseconds())/1000)
	}
	return b.String()
}

// QueueFullError: the app's instances are at capacity and scale.queue
// requests already wait.
type QueueFullError struct {
	App   string
	Limit int
}

func (e *QueueFullError) Error() string {
	return fmt.Sprintf("app %s is at capacity and %d requests already wait (scale.queue)", e.App, e.Limit)
}

// CrashLoopError: the app's instances keep failing; no start is tried until
// the back-off ends.
type CrashLoopError struct {
	App        string
	RetryAfter time.Duration
	LastError  string
}

func (e *CrashLoopError) Error() string {
	return fmt.Sprintf("app %s is crash-looping; next start in %s (last failure: %s)", e.App, e.RetryAfter.Round(time.Second), e.LastError)
}

// ErrQueueFull matches *QueueFullError with errors.Is.
var ErrQueueFull = errors.New("queue full")

func (e *QueueFullError) Is(target error) bool { return target == ErrQueueFull }

// Lease is a claim on one ready instance for one request. Release it exactly
// once, when the response (or stream) is done.
type Lease struct {
	// Addr is host:port of the instance.
	Addr string
	// ColdStart lists the phases of the start or wake this request waited
	// for; nil when it waited for none.
	ColdStart []Phase

	act  *Activator
	app  *app
	inst *instance
}

// Release ends the lease; the instance's idle timer starts when its last
// lease ends, and a waiting request may take its place.
func (l *Lease) Release() {
	now := l.act.now()
	l.app.mu.Lock()
	l.inst.inflight--
	l.inst.lastActive = now
	l.app.lastActive = now
	l.app.broadcast()
	l.app.mu.Unlock()
}

// Unreachable reports that the leased instance could not be connected to:
// it is taken out of service at once (the reconciler would notice a dead
// container only later) and replaced on demand.
func (l *Lease) Unreachable(err error) {
	l.app.mu.Lock()
	defer l.app.mu.Unlock()
	in := l.inst
	if in.state != stateReady {
		return
	}
	l.act.log.Warn("instance unreachable; replacing it", "app", l.app.cfg.Name, "ns", l.app.cfg.Namespace, "instance", in.id, "err", err)
	in.state = stateFailed
	l.app.drop(in)
	l.app.lastError = fmt.Sprintf("instance %s was unreachable: %v", in.id, err)
	if in.containerID != "" {
		l.act.removeLater(in.containerID)
	}
	l.app.broadcast()
}

// Acquire returns a lease for a request. A tagged request (rev > 0) goes to
// that revision of the app; any other by the app's traffic split (see
// SetSplit), a key to the revision that first served it. With a key (an app
// with instances.key) the lease is on the key's own instance, see
// keyInstance. Without, it is a ready instance of the revision with a free
// concurrency slot, the one with the fewest requests in flight.
// Without one it starts, wakes or unparks instances as demand needs (up to
// scale.max) and waits in the bounded queue until one has room, ctx
// expires, the queue is full (*QueueFullError), a start it waited for fails
// (*StartError) or the app is crash-looping (*CrashLoopError).
func (a *Activator) Acquire(ctx context.Context, ns, name string, rev int, key string) (*Lease, error) {
	primary, ok := a.lookup(ns, name)
	if !ok {
		return nil, fmt.Errorf("%s/%s: %w", ns, name, ErrAppNotFound)
	}
	for {
		ap, err := a.route(ctx, primary, rev, key)
		if err != nil {
			return nil, err
		}
		lease, err := a.acquire(ctx, ap, ns, name, key)
		if err != errGone {
			return lease, err
		}
	}
}

// acquire is Acquire within one registry entry.
func (a *Activator) acquire(ctx context.Context, ap *app, ns, name, key string) (*Lease, error) {
	arrival := a.now()
	ap.mu.Lock()
	seq := ap.failSeq
	for {
		if ap.removed {
			ap.mu.Unlock()
			return nil, fmt.Errorf("%s/%s: %w", ns, name, ErrAppNotFound)
		}
		if ap.gone {
			ap.mu.Unlock()
			return nil, errGone
		}
		var in *instance
		var pending int
		if key == "" {
			in = ap.pick()
		} else {
			var err error
			if in, err = a.keyInstance(ap, key); err != nil {
				ap.mu.Unlock()
				return nil, err
			}
		}
		if in != nil {
			lease := a.lease(ap, in, arrival)
			ap.mu.Unlock()
			return lease, nil
		}
		if key == "" {
			pending = ap.pending()
		} else if ap.keys[key] != nil {
			pending = 1
		}
		if ap.failSeq != seq && pending == 0 {
			err := ap.lastErr
			ap.mu.Unlock()
			return nil, err
		}
		if now := a.now(); key == "" && now.Before(ap.backoffUntil) && pending == 0 {
			err := &CrashLoopError{App: name, RetryAfter: ap.backoffUntil.Sub(now), LastError: ap.lastError}
			ap.mu.Unlock()
			return nil, err
		}
		if key == "" {
			a.ensureCapacity(ap, ap.queued+1)
			if err := a.quotaRefusal(ap); err != nil {
				ap.mu.Unlock()
				return nil, err
			}
		}
		if ap.queued >= ap.cfg.Spec.Scale.Queue {
			ap.mu.Unlock()
			return nil, &QueueFullError{App: name, Limit: ap.cfg.Spec.Scale.Queue}
		}
		ap.queued++
		ch := ap.notify
		ap.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			ap.mu.Lock()
			ap.queued--
			ap.mu.Unlock()
			return nil, fmt.Errorf("waiting for an instance of %s/%s: %w", ns, name, ctx.Err())
		}
		ap.mu.Lock()
		ap.queued--
	}
}

// lease takes a slot of in for a request that arrived at arrival. Callers
// hold ap.mu.
func (a *Activator) lease(ap *app, in *instance, arrival time.Time) *Lease {
	now := a.now()
	in.inflight++
	in.lastActive, ap.lastActive = now, now
	lease := &Lease{Addr: in.addr, act: a, app: ap, inst: in}
	if !in.readyAt.Before(arrival) {
		lease.ColdStart = in.phases
	}
	return lease
}

// TryAcquire is Acquire's common case without waiting: a lease on a ready
// instance of the app's serving revision with a free slot, when there is one
// now and the request is not tagged (rev is 0 or the serving revision), keyed
// or split. Otherwise ok is false and nothing changed: Acquire does the rest.
func (a *Activator) TryAcquire(ns, name string, rev int) (lease *Lease, ok bool) {
	ap, ok := a.lookup(ns, name)
	if !ok {
		return nil, false
	}
	arrival := a.now()
	ap.mu.Lock()
	defer ap.mu.Unlock()
	if ap.removed || ap.gone || ap.split != nil || rev > 0 && rev != ap.cfg.Revision {
		return nil, false
	}
	in := ap.pick()
	if in == nil {
		return nil, false
	}
	return a.lease(ap, in, arrival), true
}

// pick returns the serving ready instance with a free slot and the fewest
// requests in flight, preferring instances that are not retiring; nil if
// none. Callers hold ap.mu.
func (ap *app) pick() *instance {
	var best *instance
	limit := ap.cfg.Spec.Scale.Concurrency
	for _, in := range ap.instances {
		if in.state != stateReady || !ap.serving(in) || in.parked || in.key != "" || in.inflight >= limit {
			continue
		}
		if best == nil || best.retiring && !in.retiring || best.retiring == in.retiring && in.inflight < best.inflight {
			best = in
		}
	}
	return best
}

// pending is the number of request slots that serving instances have free
// or will have once their start or wake ends. Callers hold ap.mu.
func (ap *app) pending() int {
	n := 0
	limit := ap.cfg.Spec.Scale.Concurrency
	for _, in := range ap.instances {
		if !ap.serving(in) || in.parked {
			continue
		}
		switch in.state {
		case stateReady:
			n += limit - in.inflight
		case stateNew, stateStarting, stateStopping:
			// A stopping instance is woken as soon as it is asleep.
			n += limit
		}
	}
	return n
}

// ensureCapacity brings up instances until need request slots are free or
// coming: first parked instances come back, then sleeping ones wake (paused
// before stopped), then new ones start, never beyond scale.max. Callers hold
// ap.mu.
func (a *Activator) ensureCapacity(ap *app, need int) {
	limit := ap.cfg.Spec.Scale.Concurrency
	for pending := ap.pending(); pending < need; pending += limit {
		if !a.bringUp(ap) {
			return
		}
	}
}

// bringUp adds one instance's worth of capacity, cheapest first; false if
// the app is at scale.max. Callers hold ap.mu.
func (a *Activator) bringUp(ap *app) bool {
	var parked, paused, stopped *instance
	count := 0
	for _, in := range ap.instances {
		if !ap.serving(in) {
			continue
		}
		if !in.retiring { // a retiring instance's replacement may exceed max
			count++
		}
		switch {
		case in.parked && in.state == stateReady:
			parked = in
		case in.state == stateSleeping && in.sleepMode == "pause":
			paused = in
		case in.state == stateSleeping:
			stopped = in
		}
	}
	switch {
	case parked != nil:
		parked.parked = false
	case paused != nil:
		a.beginStart(ap, paused)
	case stopped != nil:
		a.beginStart(ap, stopped)
	case count < ap.cfg.Spec.Scale.Max && a.admitNew(ap):
		a.beginStart(ap, a.newInstance(ap))
	default:
		return false
	}
	return true
}
