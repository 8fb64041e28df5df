package activator

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

type state int

const (
	// stateNew: registered, no container yet.
	stateNew state = iota
	stateStarting
	stateReady
	// stateStopping: going to sleep (pausing or stopping).
	stateStopping
	// stateSleeping: paused or stopped; sleepMode says which.
	stateSleeping
	stateRemoving
	stateFailed
)

func (s state) String() string {
	switch s {
	case stateNew, stateStarting:
		return "starting"
	case stateReady:
		return "ready"
	case stateStopping:
		return "stopping"
	case stateSleeping:
		return "sleeping"
	case stateRemoving:
		return "removing"
	case stateFailed:
		return "failed"
	}
	return "unknown"
}

// instance is one container of an app. Its fields are guarded by the owning
// app's mutex.
type instance struct {
	id          string
	containerID string
	// staged is set on an instance of a revision that does not serve yet
	// (Prewarm): it is started with that revision's spec and left alone by
	// the control loop until SetApp makes the revision serve.
	staged *App
	// key is the key this instance belongs to (apps with instances.key);
	// "" for shared and for warm, unclaimed instances.
	key      string
	revision int
	state    state
	// sleepMode is the tier of a stopping or sleeping instance: pause or stop.
	sleepMode string
	// draining instances take no new requests and are removed once idle or
	// after drain_timeout; old revisions and recycled instances drain.
	draining      bool
	drainingSince time.Time
	// parked instances are beyond what the autoscaler wants: they take no new
	// requests and go to sleep once idle, unless demand returns first.
	parked bool
	// retiring instances reached max_duration: they serve until a
	// replacement is ready, then drain.
	retiring bool
	addr     string
	inflight int
	// phases of the last start or wake, and when it ended.
	phases  []Phase
	readyAt time.Time
	err     error

	createdAt  time.Time
	startedAt  time.Time
	lastActive time.Time

	// liveness probing.
	probing       bool
	lastProbe     time.Time
	livenessFails int
	// cpu sampling: the last reading and when it was taken.
	cpuTime time.Duration
	cpuAt   time.Time
}

func newInstanceID() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b)
}

// newInstance registers a new instance of the serving revision; callers
// count it first (admitNew). Callers hold ap.mu.
func (a *Activator) newInstance(ap *app) *instance {
	now := a.now()
	in := &instance{id: newInstanceID(), revision: ap.cfg.Revision, state: stateNew, createdAt: now, lastActive: now}
	ap.instances = append(ap.instances, in)
	return in
}

// drop forgets an instance (and its key). Callers hold ap.mu.
func (ap *app) drop(in *instance) {
	if in.key != "" && ap.keys[in.key] == in {
		delete(ap.keys, in.key)
	}
	for i, x := range ap.instances {
		if x == in {
			ap.live.add(ap.cfg.Namespace, -1)
			ap.instances = append(ap.instances[:i], ap.instances[i+1:]...)
			return
		}
	}
}

// serving reports whether in belongs to the serving revision and is not on
// its way out. Callers hold ap.mu.
func (ap *app) serving(in *instance) bool {
	return in.revision == ap.cfg.Revision && !in.draining && in.state != stateRemoving && in.state != stateFailed
}
