package activator

import (
	"context"
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

// Lease is a claim on one ready instance for one request. Release it exactly
// once, when the response (or stream) is done.
type Lease struct {
	// Addr is host:port of the instance.
	Addr string
	// ColdStart lists the phases this request waited for; nil when an
	// instance was ready on arrival.
	ColdStart []Phase

	app  *app
	inst *instance
	now  func() time.Time
}

// Release ends the lease; the instance's idle timer starts when its last
// lease ends.
func (l *Lease) Release() {
	l.app.mu.Lock()
	l.inst.inflight--
	l.inst.lastActive = l.now()
	l.app.mu.Unlock()
}

// Acquire returns a lease on a ready instance of the app's serving revision,
// picking the one with the fewest requests in flight. If none is ready it
// starts or wakes one — one start however many callers arrive — and waits
// until it answers, ctx expires or the start fails (*StartError).
func (a *Activator) Acquire(ctx context.Context, ns, name string) (*Lease, error) {
	ap, ok := a.lookup(ns, name)
	if !ok {
		return nil, fmt.Errorf("%s/%s: %w", ns, name, ErrAppNotFound)
	}
	var waitedFor *instance
	for {
		ap.mu.Lock()
		if ap.removed {
			ap.mu.Unlock()
			return nil, fmt.Errorf("%s/%s: %w", ns, name, ErrAppNotFound)
		}
		if in := ap.pick(); in != nil {
			in.inflight++
			in.lastActive = a.now()
			lease := &Lease{Addr: in.addr, app: ap, inst: in, now: a.now}
			if waitedFor != nil {
				lease.ColdStart = waitedFor.phases
			}
			ap.mu.Unlock()
			return lease, nil
		}
		if waitedFor != nil && waitedFor.state == stateFailed {
			err := waitedFor.err
			ap.mu.Unlock()
			return nil, err
		}
		in := ap.wakeable()
		if in == nil {
			in = a.newInstance(ap)
		}
		if in.state == stateSleeping || in.state == stateNew {
			a.beginStart(ap, in)
		}
		done := in.transition
		ap.mu.Unlock()

		waitedFor = in
		select {
		case <-done:
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for an instance of %s/%s: %w", ns, name, ctx.Err())
		}
	}
}

// pick returns the serving revision's ready instance with the fewest
// requests in flight, or nil. Callers hold ap.mu.
func (ap *app) pick() *instance {
	var best *instance
	for _, in := range ap.instances {
		if in.state != stateReady || in.draining || in.revision != ap.cfg.Revision {
			continue
		}
		if best == nil || in.inflight < best.inflight {
			best = in
		}
	}
	return best
}

// wakeable returns an instance of the serving revision that is on its way to
// ready or can be woken: starting, stopping (wait, then wake) or sleeping.
func (ap *app) wakeable() *instance {
	for _, in := range ap.instances {
		if in.draining || in.revision != ap.cfg.Revision {
			continue
		}
		switch in.state {
		case stateStarting, stateStopping, stateSleeping:
			return in
		}
	}
	return nil
}
