package activator

import (
	"context"
	"fmt"
	"time"
)

// Prewarm starts n instances of a revision that does not serve yet and waits
// until all are ready, so that a rollout moves traffic only to instances that
// answer. On success they serve as soon as SetApp makes cfg the serving
// revision; on failure (or ctx's end) they are removed and the serving
// revision is untouched. The error of a failed start is a *StartError with
// the instance's exit code and log tail.
func (a *Activator) Prewarm(ctx context.Context, cfg App, n int) error {
	ap, ok := a.lookup(cfg.Namespace, cfg.Name)
	if !ok {
		return fmt.Errorf("%s: %w", cfg.Key(), ErrAppNotFound)
	}
	ap.mu.Lock()
	staged := make([]*instance, 0, n)
	for range n {
		now := a.now()
		in := &instance{id: newInstanceID(), revision: cfg.Revision, state: stateNew, createdAt: now, lastActive: now, staged: &cfg}
		ap.instances = append(ap.instances, in)
		ap.live.add(cfg.Namespace, 1) // a rollout may surge past max_instances
		a.beginStart(ap, in)
		staged = append(staged, in)
	}
	ap.mu.Unlock()
	return a.awaitReady(ctx, ap, cfg, staged, staged)
}

// PrewarmPool makes sure n instances of a revision that is not the serving
// one are up in its pool (see SetSplit), starting the missing ones, and
// waits until they answer, so that a traffic split moves requests only to
// instances that answer. On failure the instances it started are removed.
// For the serving revision it does nothing.
func (a *Activator) PrewarmPool(ctx context.Context, cfg App, n int) error {
	primary, ok := a.lookup(cfg.Namespace, cfg.Name)
	if !ok {
		return fmt.Errorf("%s: %w", cfg.Key(), ErrAppNotFound)
	}
	primary.mu.Lock()
	serving := primary.cfg.Revision
	primary.mu.Unlock()
	if cfg.Revision == serving {
		return nil
	}
	p := a.pool(primary, cfg, false)
	p.mu.Lock()
	var up, started []*instance
	for _, in := range p.instances {
		if p.serving(in) && !in.parked && !in.retiring && (in.state == stateNew || in.state == stateStarting || in.state == stateReady) {
			up = append(up, in)
		}
	}
	for len(up) < n {
		p.live.add(cfg.Namespace, 1) // as a rollout, it may surge past max_instances
		in := a.newInstance(p)
		a.beginStart(p, in)
		up, started = append(up, in), append(started, in)
	}
	p.lastActive = a.now()
	p.mu.Unlock()
	return a.awaitReady(ctx, p, cfg, up, started)
}

// awaitReady waits until every instance of watch is ready. If one fails, or
// ctx ends first, the instances of started are retired and the error
// returned.
func (a *Activator) awaitReady(ctx context.Context, ap *app, cfg App, watch, started []*instance) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ap.mu.Lock()
		ready := 0
		var failed error
		for _, in := range watch {
			switch in.state {
			case stateReady:
				ready++
			case stateFailed:
				failed = in.err
			}
		}
		if failed != nil || ctx.Err() != nil {
			for _, in := range started {
				switch in.state {
				case stateReady:
					a.beginRetire(ap, in, "rollout failed")
				case stateNew, stateStarting:
					in.draining = true // retired by the loop once its start ends
				}
			}
			ap.mu.Unlock()
			if failed == nil {
				failed = fmt.Errorf("revision %d of %s not ready in time: %w", cfg.Revision, cfg.Key(), ctx.Err())
			}
			return failed
		}
		ap.mu.Unlock()
		if ready == len(watch) {
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
	}
}
