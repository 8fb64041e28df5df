package activator

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/runtime"
)

// ReconcileOnce lists the engine's containers of this owner and reconciles
// the registry with them.
func (a *Activator) ReconcileOnce(ctx context.Context) error {
	listedAt := a.now()
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	sts, err := a.opts.Driver.List(lctx, map[string]string{runtime.LabelOwner: a.opts.Owner})
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	a.Reconcile(sts, listedAt)
	return nil
}

// Reconcile brings the registry in step with the engine's containers, as
// listed at listedAt:
//   - a container of an app's serving revision, or of a revision with a
//     pool (SetSplit), that the registry does not know (after a restart) is
//     adopted: a running one is probed and becomes ready, a stopped one
//     sleeps;
//   - a container of no app, or of an old revision, is dangling and removed;
//   - a ready instance whose container exited or vanished crashed: it is
//     forgotten, its container removed, and the next request starts another.
func (a *Activator) Reconcile(sts []runtime.Status, listedAt time.Time) {
	a.removals.forget(listedAt)
	byInstance := make(map[string]runtime.Status, len(sts))
	for _, st := range sts {
		// Only instances carry an instance label. Other containers with the
		// owner label, such as the engine's intermediate build containers
		// (they inherit the image's labels), are not the reconciler's.
		if id := st.Labels[runtime.LabelInstance]; id != "" {
			byInstance[id] = st
		}
	}
	for _, ap := range a.snapshot() {
		ap.mu.Lock()
		for _, in := range append([]*instance(nil), ap.instances...) {
			st, ok := byInstance[in.id]
			delete(byInstance, in.id)
			if in.startedAt.After(listedAt) || in.createdAt.After(listedAt) {
				continue // the listing predates this instance's last change
			}
			switch {
			case in.state == stateReady && (!ok || st.State != runtime.StateRunning):
				err := fmt.Errorf("instance %s vanished", in.id)
				if ok {
					err = fmt.Errorf("instance %s exited with code %d", in.id, st.ExitCode)
				}
				id := in.containerID
				in.containerID = "" // removed below, once its log tail is read
				a.startFailed(ap, in, err, a.now())
				if ok {
					a.removeWithTail(ap, id, ap.lastError)
				}
			case in.state == stateSleeping && !ok:
				in.state = stateFailed
				ap.drop(in)
			}
		}
		ap.mu.Unlock()
	}
	for _, st := range byInstance {
		// A container being removed, or removed since the listing, is not
		// adopted back.
		if !a.removals.has(st.ID) {
			a.adoptOrRemove(st)
		}
	}
}

// adoptOrRemove handles a container the registry does not know.
func (a *Activator) adoptOrRemove(st runtime.Status) {
	ns, name := st.Labels[runtime.LabelNamespace], st.Labels[runtime.LabelApp]
	rev, _ := strconv.Atoi(st.Labels[runtime.LabelRevision])
	instanceID := st.Labels[runtime.LabelInstance]
	ap, ok := a.lookup(ns, name)
	if ok {
		a.mu.RLock()
		if p := ap.pools[rev]; p != nil {
			ap = p // a revision in a traffic split, or a tagged one
		}
		a.mu.RUnlock()
		ap.mu.Lock()
		defer ap.mu.Unlock()
		// A key's instance keeps the revision that first served it.
		ok = !ap.removed && (rev == ap.cfg.Revision || st.Labels[runtime.LabelKey] != "" && ap.cfg.Spec.Keyed())
	}
	if !ok {
		a.log.Info("removing dangling container", "container", st.ID, "name", st.Name, "app", name, "ns", ns, "revision", rev)
		a.removeLater(st.ID)
		return
	}
	in := &instance{id: instanceID, containerID: st.ID, revision: rev, createdAt: a.now(), lastActive: a.now()}
	ap.instances = append(ap.instances, in)
	if key := st.Labels[runtime.LabelKey]; key != "" && ap.cfg.Spec.Keyed() && ap.keys[key] == nil {
		in.key = key
		if ap.keys == nil {
			ap.keys = map[string]*instance{}
		}
		ap.keys[key] = in
	}
	ap.live.add(ns, 1)
	switch st.State {
	case runtime.StateRunning:
		a.beginAdopt(ap, in, st.StartedAt)
	case runtime.StatePaused:
		in.state, in.sleepMode = stateSleeping, "pause"
	case runtime.StateExited, runtime.StateCreated:
		in.state, in.sleepMode = stateSleeping, "stop"
	default:
		in.state = stateRemoving
		ap.drop(in)
		a.removeLater(st.ID)
		return
	}
	a.log.Info("adopted instance", "app", name, "ns", ns, "instance", instanceID, "state", in.state.String())
}

// beginAdopt probes a running container found at start-up; requests count
// it as coming capacity. Callers hold ap.mu.
func (a *Activator) beginAdopt(ap *app, in *instance, startedAt time.Time) {
	in.state = stateStarting
	cfg := ap.cfg
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		ctx, cancel := context.WithTimeout(a.ctx, a.opts.StartTimeout)
		defer cancel()
		t := time.Now()
		addr, err := a.waitReady(ctx, cfg, in.id, in.containerID)
		ap.mu.Lock()
		defer ap.mu.Unlock()
		if err != nil {
			a.startFailed(ap, in, err, a.now())
			return
		}
		now := a.now()
		in.state, in.addr = stateReady, addr
		in.phases, in.readyAt = []Phase{{"adopt", time.Since(t)}}, now
		a.observeStart(cfg, in.phases)
		// Max duration counts from the container's own start, not the adoption.
		in.startedAt = startedAt
		if startedAt.IsZero() {
			in.startedAt = now
		}
		in.lastActive = now
		ap.broadcast()
	}()
}

// removeWithTail reads the last lines of a dead container into the app's
// last error (if it is still the error msg) and then removes the container.
func (a *Activator) removeWithTail(ap *app, containerID, msg string) {
	a.wg.Add(1)
	a.removals.begin(containerID)
	go func() {
		defer func() { a.removals.end(containerID, a.now()) }()
		defer a.wg.Done()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(a.ctx), 30*time.Second)
		defer cancel()
		if tail := a.logTail(ctx, containerID); tail != "" {
			ap.mu.Lock()
			if ap.lastError == msg {
				ap.lastError += "; last log lines:\n" + tail
			}
			ap.mu.Unlock()
		}
		if err := a.opts.Driver.Remove(ctx, containerID); err != nil {
			a.log.Warn("remove container", "container", containerID, "err", err)
		}
	}()
}

// removals remembers the containers the activator is removing and when each
// removal ended, so that the reconciler does not adopt back a container it
// finds in a listing taken before its removal ended (it would wake a
// container that is gone).
type removals struct {
	mu sync.Mutex
	m  map[string]time.Time // zero: under way
}

func (r *removals) begin(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]time.Time{}
	}
	r.m[id] = time.Time{}
}

func (r *removals) end(id string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.m[id]; ok {
		r.m[id] = at
	}
}

func (r *removals) has(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.m[id]
	return ok
}

// forget drops the removals that ended before a listing taken at listedAt:
// that listing cannot hold their containers.
func (r *removals) forget(listedAt time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, at := range r.m {
		if !at.IsZero() && at.Before(listedAt) {
			delete(r.m, id)
		}
	}
}
