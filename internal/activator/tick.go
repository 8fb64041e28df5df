package activator

import (
	"context"
	"errors"
	"time"

	"github.com/berth-dev/berth/internal/runtime"
)

type action int

const (
	actNone action = iota
	// actSleep stops an idle instance; its container is kept for a fast wake.
	actSleep
	// actDrain stops routing to an instance; it is retired once idle.
	actDrain
	// actRetire removes an instance's container.
	actRetire
)

// decide is the lifecycle policy for one instance at time now. It is pure so
// tests can step synthetic time through it.
func decide(in *instance, cfg App, now time.Time) action {
	old := in.draining || in.revision != cfg.Revision
	switch in.state {
	case stateReady:
		if old {
			if in.inflight == 0 {
				return actRetire
			}
			return actNone
		}
		if max := cfg.Spec.Limits.MaxDuration.D(); max > 0 && now.Sub(in.startedAt) >= max {
			return actDrain
		}
		if idle := cfg.Spec.Limits.IdleTimeout.D(); in.inflight == 0 && now.Sub(in.lastActive) >= idle {
			return actSleep
		}
	case stateSleeping:
		if old {
			return actRetire
		}
	}
	return actNone
}

// Tick applies the lifecycle policy to every instance at time now: idle
// instances sleep, instances of old revisions or past their max duration are
// drained and removed. Engine calls run in the background.
func (a *Activator) Tick(now time.Time) {
	for _, ap := range a.snapshot() {
		ap.mu.Lock()
		for _, in := range ap.instances {
			act := decide(in, ap.cfg, now)
			if act == actDrain {
				in.draining = true
				a.log.Info("instance reached max duration; draining", "app", ap.cfg.Name, "ns", ap.cfg.Namespace, "instance", in.id)
				act = decide(in, ap.cfg, now)
			}
			switch act {
			case actSleep:
				a.beginStop(ap, in)
			case actRetire:
				a.beginRetire(ap, in)
			}
		}
		ap.mu.Unlock()
	}
}

func (a *Activator) snapshot() []*app {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]*app, 0, len(a.apps))
	for _, ap := range a.apps {
		out = append(out, ap)
	}
	return out
}

// beginStop puts a ready instance to sleep. Requests that arrive meanwhile
// wait for the stop to finish and then wake it. Callers hold ap.mu.
func (a *Activator) beginStop(ap *app, in *instance) {
	in.state = stateStopping
	in.addr = ""
	in.transition = make(chan struct{})
	id, cfg := in.containerID, ap.cfg
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(a.ctx), a.opts.StopGrace+30*time.Second)
		defer cancel()
		err := a.opts.Driver.Stop(ctx, id, a.opts.StopGrace)
		ap.mu.Lock()
		defer ap.mu.Unlock()
		switch {
		case err == nil:
			in.state = stateSleeping
			a.log.Info("instance asleep", "app", cfg.Name, "ns", cfg.Namespace, "instance", in.id)
		case errors.Is(err, runtime.ErrNotFound):
			in.state = stateFailed
			ap.drop(in)
		default:
			// The engine failed to stop it: forget it and remove the container.
			a.log.Warn("stop instance", "app", cfg.Name, "ns", cfg.Namespace, "instance", in.id, "err", err)
			in.state = stateFailed
			ap.drop(in)
			a.removeLater(id)
		}
		close(in.transition)
	}()
}

// beginRetire removes an instance that takes no more requests. Callers hold ap.mu.
func (a *Activator) beginRetire(ap *app, in *instance) {
	in.state = stateRemoving
	ap.drop(in)
	a.log.Info("instance retired", "app", ap.cfg.Name, "ns", ap.cfg.Namespace, "instance", in.id, "revision", in.revision)
	if in.containerID != "" {
		a.removeLater(in.containerID)
	}
}

// Run ticks every interval and reconciles with the engine every
// reconcileEvery, until ctx ends.
func (a *Activator) Run(ctx context.Context, interval, reconcileEvery time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	lastReconcile := a.now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := a.now()
		a.Tick(now)
		if now.Sub(lastReconcile) >= reconcileEvery {
			lastReconcile = now
			if err := a.ReconcileOnce(ctx); err != nil && ctx.Err() == nil {
				a.log.Warn("reconcile", "err", err)
			}
		}
	}
}
