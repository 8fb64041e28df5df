package activator

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/berth-dev/berth/internal/autoscaler"
	"github.com/berth-dev/berth/internal/manifest"
	"github.com/berth-dev/berth/internal/runtime"
)

// Tick runs the control loop once for every app at time now: it samples
// demand, asks the autoscaler how many instances to keep, brings instances
// up or parks the excess, and applies each instance's lifecycle: parked
// instances sleep once idle, sleeping ones descend the sleep tiers, retiring
// ones (past max_duration) hand over to a replacement, draining ones are
// removed when idle or after drain_timeout. Engine calls run in the background.
func (a *Activator) Tick(now time.Time) {
	emptied := false
	for _, ap := range a.snapshot() {
		ap.mu.Lock()
		if !ap.removed {
			if !ap.gone { // a retired pool only drains
				a.scaleApp(ap, now)
			}
			for _, in := range append([]*instance(nil), ap.instances...) {
				a.lifecycle(ap, in, now)
			}
			emptied = emptied || ap.gone && len(ap.instances) == 0
		}
		ap.mu.Unlock()
	}
	if emptied {
		a.forgetRetired()
	}
}

// snapshot returns every registry entry: apps, their pools and retired
// pools.
func (a *Activator) snapshot() []*app {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]*app, 0, len(a.apps)+len(a.retired))
	for _, ap := range a.apps {
		out = append(out, ap)
		for _, p := range ap.pools {
			out = append(out, p)
		}
	}
	return append(out, a.retired...)
}

// forgetRetired drops retired pools that have no instances left.
func (a *Activator) forgetRetired() {
	a.mu.Lock()
	defer a.mu.Unlock()
	kept := a.retired[:0]
	for _, p := range a.retired {
		p.mu.Lock()
		empty := len(p.instances) == 0
		p.mu.Unlock()
		if !empty {
			kept = append(kept, p)
		}
	}
	clear(a.retired[len(kept):])
	a.retired = kept
}

// scaleApp samples demand and moves the number of up instances towards the
// autoscaler's decision. Callers hold ap.mu.
func (a *Activator) scaleApp(ap *app, now time.Time) {
	if ap.cfg.Spec.Keyed() {
		a.scaleKeyed(ap)
		return
	}
	inflight, ready := 0, 0
	var up []*instance
	for _, in := range ap.instances {
		inflight += in.inflight
		if !ap.serving(in) || in.parked || in.retiring {
			continue
		}
		switch in.state {
		case stateReady:
			ready++
			up = append(up, in)
		case stateNew, stateStarting:
			up = append(up, in)
		}
	}
	demand := inflight + ap.queued
	if demand > 0 {
		ap.lastActive = now
	}
	window := ap.scale.StableWindow
	if demand > 0 || len(ap.instances) > 0 || !ap.demand.Empty() {
		ap.demand.Record(now, float64(demand), window)
	}
	obs := autoscaler.Observation{
		Ready:        ready,
		StableDemand: ap.demand.Average(now, window),
		PanicDemand:  ap.demand.Average(now, ap.scale.PanicWindow()),
		CPU:          ap.cpu.Average(now, window),
		Active:       demand > 0,
		LastActive:   ap.lastActive,
	}
	dec := autoscaler.Decide(ap.scale, &ap.scaler, obs, now)
	if dec.Total != ap.decision.Total {
		if m := a.opts.Metrics; m != nil {
			dir := "up"
			if dec.Total < ap.decision.Total {
				dir = "down"
			}
			m.ScaleDecisions.WithLabelValues(ap.cfg.Namespace, ap.cfg.Name, dir, dec.Reason).Inc()
		}
		a.log.Info("scale", "app", ap.cfg.Name, "ns", ap.cfg.Namespace, "from", ap.decision.Total, "to", dec.Total,
			"reason", dec.Reason, "panic", dec.Panic, "stable_demand", obs.StableDemand, "panic_demand", obs.PanicDemand)
	}
	ap.decision = dec

	if now.Before(ap.backoffUntil) {
		return // crash-looping: no starts until the back-off ends
	}
	want := dec.Total
	if ap.failures > 0 && demand == 0 {
		// After a failure, start again for waiting requests, min and warm
		// only, not for demand that the window merely remembers.
		want = min(want, ap.scale.Min+ap.scale.Warm)
	}
	for n := len(up); n < want; n++ {
		if !a.bringUp(ap) {
			break
		}
	}
	if excess := len(up) - dec.Total; excess > 0 {
		// Park the least busy ready instances; starting ones are left to finish.
		sort.SliceStable(up, func(i, j int) bool {
			if up[i].inflight != up[j].inflight {
				return up[i].inflight < up[j].inflight
			}
			return up[i].lastActive.Before(up[j].lastActive)
		})
		for _, in := range up {
			if excess == 0 {
				break
			}
			if in.state == stateReady {
				in.parked = true
				excess--
			}
		}
	}
}

// lifecycle applies the per-instance policy. Callers hold ap.mu.
func (a *Activator) lifecycle(ap *app, in *instance, now time.Time) {
	if in.staged != nil {
		// Prewarm owns it until its revision serves; one it gave up on is
		// removed once its start has ended.
		if in.draining && in.state == stateReady {
			a.beginRetire(ap, in, "rollout abandoned")
		}
		return
	}
	spec := &ap.cfg.Spec
	if in.key != "" {
		// A key's instance holds its state: it follows its own idleness
		// down the sleep tiers and is neither parked nor recycled.
		switch in.state {
		case stateReady:
			if in.inflight == 0 && now.Sub(in.lastActive) >= ap.scale.IdleTimeout {
				a.beginSleep(ap, in, firstMode(spec.Sleep))
			}
		case stateSleeping:
			a.descend(ap, in, now)
		}
		return
	}
	old := in.revision != ap.cfg.Revision
	switch in.state {
	case stateReady:
		switch {
		case in.draining || old:
			if in.inflight == 0 || now.Sub(in.drainingSince) >= spec.Limits.DrainTimeout.D() {
				a.beginRetire(ap, in, "drained")
			}
		case in.parked && in.inflight == 0:
			a.beginSleep(ap, in, firstMode(spec.Sleep))
		case in.retiring:
			// Hand over once another instance can serve, or nobody needs it.
			if ap.hasReadyPeer(in) || ap.decision.Total == 0 {
				in.draining, in.drainingSince = true, now
			}
		case spec.Limits.MaxDuration.D() > 0 && now.Sub(in.startedAt) >= spec.Limits.MaxDuration.D():
			in.retiring = true
			a.log.Info("instance reached max_duration; replacing it", "app", ap.cfg.Name, "ns", ap.cfg.Namespace, "instance", in.id)
		}
	case stateSleeping:
		if old || in.draining {
			a.beginRetire(ap, in, "old revision")
			return
		}
		a.descend(ap, in, now)
	}
}

// descend moves a sleeping instance to the sleep tier its idle time calls
// for. Callers hold ap.mu.
func (a *Activator) descend(ap *app, in *instance, now time.Time) {
	switch ap.cfg.Spec.Sleep.TierAt(now.Sub(in.lastActive)) {
	case manifest.SleepRemove:
		a.beginRetire(ap, in, "sleep tier remove")
	case manifest.SleepStop:
		if in.sleepMode == manifest.SleepPause {
			a.beginSleep(ap, in, manifest.SleepStop)
		}
	}
}

// hasReadyPeer reports whether another serving, non-retiring instance is ready.
func (ap *app) hasReadyPeer(self *instance) bool {
	for _, in := range ap.instances {
		if in != self && in.state == stateReady && ap.serving(in) && !in.retiring && !in.parked {
			return true
		}
	}
	return false
}

func firstMode(s manifest.Sleep) string {
	if len(s) == 0 {
		return manifest.SleepStop
	}
	return s[0].Mode
}

// beginSleep pauses or stops an idle instance (a paused one is thawed first
// when it goes deeper). Requests that arrive meanwhile count it as coming
// capacity and wake it as soon as it is asleep. Callers hold ap.mu.
func (a *Activator) beginSleep(ap *app, in *instance, mode string) {
	if mode == manifest.SleepRemove {
		a.beginRetire(ap, in, "sleep tier remove")
		return
	}
	pauser, canPause := a.opts.Driver.(runtime.Pauser)
	if mode == manifest.SleepPause && !canPause {
		mode = manifest.SleepStop
	}
	in.state, in.sleepMode, in.parked = stateStopping, mode, false
	id, cfg := in.containerID, ap.cfg
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(a.ctx), a.opts.StopGrace+30*time.Second)
		defer cancel()
		var err error
		switch {
		case mode == manifest.SleepPause:
			err = pauser.Pause(ctx, id)
		default: // the engine stops a paused container too
			err = a.opts.Driver.Stop(ctx, id, a.opts.StopGrace)
		}
		ap.mu.Lock()
		defer ap.mu.Unlock()
		if err != nil {
			a.log.Warn("put instance to sleep", "app", cfg.Name, "ns", cfg.Namespace, "instance", in.id, "mode", mode, "err", err)
			in.state = stateFailed
			ap.drop(in)
			if !errors.Is(err, runtime.ErrNotFound) {
				a.removeLater(id)
			}
		} else {
			in.state = stateSleeping
			if mode != manifest.SleepPause {
				in.addr = ""
			}
			a.log.Info("instance asleep", "app", cfg.Name, "ns", cfg.Namespace, "instance", in.id, "mode", mode)
		}
		ap.broadcast()
	}()
}

// beginRetire removes an instance that takes no more requests. Callers hold ap.mu.
func (a *Activator) beginRetire(ap *app, in *instance, why string) {
	in.state = stateRemoving
	ap.drop(in)
	a.log.Info("instance retired", "app", ap.cfg.Name, "ns", ap.cfg.Namespace, "instance", in.id, "revision", in.revision, "why", why)
	if in.containerID != "" {
		a.removeLater(in.containerID)
	}
}

// Run ticks every interval and, every reconcileEvery, reconciles with the
// engine, samples CPU and probes liveness, until ctx ends.
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
		a.probeLiveness(now)
		if now.Sub(lastReconcile) >= reconcileEvery {
			lastReconcile = now
			if err := a.ReconcileOnce(ctx); err != nil && ctx.Err() == nil {
				a.log.Warn("reconcile", "err", err)
			}
			a.sampleCPU(ctx, now)
		}
	}
}
