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
	stateStopping
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
	revision    int
	state       state
	// draining instances take no new requests and are removed when idle.
	draining bool
	addr     string
	inflight int
	// transition is closed when the current starting or stopping ends.
	transition chan struct{}
	// phases of the last start; err of the last failed start.
	phases     []Phase
	err        error
	createdAt  time.Time
	startedAt  time.Time
	lastActive time.Time
}

func newInstanceID() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b)
}

// newInstance registers a new instance of the serving revision. Callers hold ap.mu.
func (a *Activator) newInstance(ap *app) *instance {
	in := &instance{id: newInstanceID(), revision: ap.cfg.Revision, state: stateNew, createdAt: a.now()}
	ap.instances = append(ap.instances, in)
	return in
}

// drop forgets an instance. Callers hold ap.mu.
func (ap *app) drop(in *instance) {
	for i, x := range ap.instances {
		if x == in {
			ap.instances = append(ap.instances[:i], ap.instances[i+1:]...)
			return
		}
	}
}
