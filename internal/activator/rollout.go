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

	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ap.mu.Lock()
		ready := 0
		var failed error
		for _, in := range staged {
			switch in.state {
			case stateReady:
				ready++
			case stateFailed:
				failed = in.err
			}
		}
		if failed != nil || ctx.Err() != nil {
			for _, in := range staged {
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
		if ready == len(staged) {
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
	}
}
