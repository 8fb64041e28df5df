package activator

import (
	"fmt"

	"github.com/berth-dev/berth/internal/quota"
)

// KeyLimitError: a new key would need an instance, but scale.max keys are
// already awake.
type KeyLimitError struct {
	App string
	Max int
}

func (e *KeyLimitError) Error() string {
	return fmt.Sprintf("app %s already runs %d keys' instances (scale.max); a new key must wait until one sleeps", e.App, e.Max)
}

// keyInstance returns the key's instance if it can take a request now. If it
// cannot yet, it makes sure it is coming — a warm instance is claimed, a
// sleeping one woken (with its memory if paused, its filesystem if stopped)
// or a new one started — and returns nil so the caller waits. A new key
// beyond scale.max awake keys is refused. Callers hold ap.mu.
func (a *Activator) keyInstance(ap *app, key string) (*instance, error) {
	in := ap.keys[key]
	if in != nil && (in.state == stateFailed || in.state == stateRemoving) {
		delete(ap.keys, key)
		in = nil
	}
	if in == nil {
		in = ap.claimWarm()
		if in == nil {
			if ap.awakeKeys() >= ap.cfg.Spec.Scale.Max {
				return nil, &KeyLimitError{App: ap.cfg.Name, Max: ap.cfg.Spec.Scale.Max}
			}
			if !a.admitNew(ap) {
				return nil, &quota.Error{Namespace: ap.cfg.Namespace, Name: quota.MaxInstances, Limit: a.instanceQuota(ap.cfg.Namespace)}
			}
			in = a.newInstance(ap)
		}
		in.key = key
		if ap.keys == nil {
			ap.keys = map[string]*instance{}
		}
		ap.keys[key] = in
		a.log.Info("key assigned", "app", ap.cfg.Name, "ns", ap.cfg.Namespace, "key", key, "instance", in.id)
	}
	switch in.state {
	case stateReady:
		if in.inflight < ap.cfg.Spec.Scale.Concurrency {
			return in, nil
		}
	case stateNew, stateSleeping:
		a.beginStart(ap, in)
	}
	return nil, nil
}

// claimWarm returns a ready instance of the serving revision that no key
// owns yet, or nil. Callers hold ap.mu.
func (ap *app) claimWarm() *instance {
	for _, in := range ap.instances {
		if in.key == "" && in.state == stateReady && ap.serving(in) {
			return in
		}
	}
	return nil
}

// awakeKeys counts the keys whose instance is up or coming up. Callers hold ap.mu.
func (ap *app) awakeKeys() int {
	n := 0
	for _, in := range ap.keys {
		switch in.state {
		case stateNew, stateStarting, stateReady, stateStopping:
			n++
		}
	}
	return n
}

// scaleKeyed keeps scale.warm unclaimed instances ready for new keys; the
// keys' own instances follow their keys' traffic, not the autoscaler.
// Callers hold ap.mu.
func (a *Activator) scaleKeyed(ap *app) {
	var warm []*instance
	for _, in := range ap.instances {
		if in.key == "" && ap.serving(in) && (in.state == stateNew || in.state == stateStarting || in.state == stateReady) {
			warm = append(warm, in)
		}
	}
	want := ap.cfg.Spec.Scale.Warm
	ap.decision.Total = ap.awakeKeys() + want
	for n := len(warm); n < want && a.admitNew(ap); n++ {
		a.beginStart(ap, a.newInstance(ap))
	}
	for _, in := range warm[min(want, len(warm)):] {
		if in.state == stateReady {
			a.beginRetire(ap, in, "warm pool above scale.warm")
		}
	}
}
