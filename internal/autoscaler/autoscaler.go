// Package autoscaler decides how many instances an app should have. Decide is
// a pure function of the app's scaling spec, the autoscaler's own state, an
// observation of demand and the current time, in the manner of Knative's KPA:
// a stable window averages demand for steady decisions, a panic window ten
// times shorter reacts to bursts, and scale-down is never hurried. See
// docs/scaling.md for the algorithm and its knobs.
package autoscaler

import (
	"math"
	"time"

	"github.com/berth-dev/berth/internal/manifest"
)

// PanicThreshold: when panic-window demand needs at least this many times the
// ready instances, the autoscaler panics (scales up at once, never down).
const PanicThreshold = 2.0

// Spec is the part of an app's manifest the autoscaler reads.
type Spec struct {
	Min, Max, Warm int
	// Concurrency is the per-instance cap; Target the utilisation aimed at (0–1].
	Concurrency int
	Target      float64
	// CPUTarget is a fraction of the slot (0 = CPU is not a signal).
	CPUTarget      float64
	StableWindow   time.Duration
	ScaleDownDelay time.Duration
	IdleTimeout    time.Duration
}

// SpecOf reads a validated manifest.
func SpecOf(m *manifest.Manifest) Spec {
	return Spec{
		Min: m.Scale.Min, Max: m.Scale.Max, Warm: m.Scale.Warm,
		Concurrency: m.Scale.Concurrency, Target: float64(m.Scale.Target) / 100,
		CPUTarget:    float64(m.Scale.CPUTarget) / 100,
		StableWindow: m.Scale.Window.D(), ScaleDownDelay: m.Scale.ScaleDownDelay.D(),
		IdleTimeout: idleTimeout(m),
	}
}

// idleTimeout is how long an app goes without requests before it sleeps: the
// first sleep tier's time (limits.idle_timeout unless tiers say otherwise).
func idleTimeout(m *manifest.Manifest) time.Duration {
	if len(m.Sleep) > 0 && m.Sleep[0].After > 0 {
		return m.Sleep[0].After.D()
	}
	return m.Limits.IdleTimeout.D()
}

// PanicWindow is a tenth of the stable window, as in Knative.
func (s Spec) PanicWindow() time.Duration { return s.StableWindow / 10 }

// Observation is what the activator saw of one app.
type Observation struct {
	// Ready is the number of the serving revision's ready instances.
	Ready int
	// StableDemand and PanicDemand are the average number of requests in
	// flight or queued over the stable and the panic window.
	StableDemand float64
	PanicDemand  float64
	// CPU is the ready instances' average CPU use as a fraction of their
	// slot over the stable window (0 if unknown).
	CPU float64
	// Active: requests are in flight or queued right now.
	Active bool
	// LastActive is when the app last had a request in flight.
	LastActive time.Time
}

// State is the autoscaler's memory of one app between decisions.
type State struct {
	PanicUntil time.Time
	// recent holds recent desired counts, for the scale-down delay.
	recent []point
	last   int
}

type point struct {
	at      time.Time
	desired int
}

// Decision is the outcome of one Decide.
type Decision struct {
	// Desired is the number of instances demand calls for, within min and max.
	Desired int
	// Total adds the warm pool: the instances to keep ready.
	Total int
	Panic bool
	// Reason names the signal that decided, for logs and metrics:
	// "idle", "concurrency", "cpu", "panic", "delay", "min" or "max".
	Reason string
}

// Decide returns the desired number of instances at now and updates st.
func Decide(spec Spec, st *State, obs Observation, now time.Time) Decision {
	perInstance := float64(spec.Concurrency) * spec.Target
	if perInstance <= 0 {
		perInstance = 1
	}
	desired := ceil(obs.StableDemand / perInstance)
	reason := "concurrency"
	if spec.CPUTarget > 0 && obs.Ready > 0 && obs.CPU > 0 {
		if c := ceil(float64(obs.Ready) * obs.CPU / spec.CPUTarget); c > desired {
			desired, reason = c, "cpu"
		}
	}

	panicDesired := ceil(obs.PanicDemand / perInstance)
	if panicDesired > 0 && float64(panicDesired) >= PanicThreshold*float64(max(obs.Ready, 1))-1e-9 && panicDesired > obs.Ready {
		st.PanicUntil = now.Add(spec.StableWindow)
	}
	idle := !obs.Active && !obs.LastActive.IsZero() && now.Sub(obs.LastActive) >= spec.IdleTimeout ||
		!obs.Active && obs.LastActive.IsZero()
	panicking := now.Before(st.PanicUntil) && !idle
	if panicking {
		if panicDesired > desired {
			desired, reason = panicDesired, "panic"
		}
		if st.last > desired { // never scale down while panicking
			desired, reason = st.last, "panic"
		}
	}

	switch {
	case idle:
		desired, reason = 0, "idle"
		st.PanicUntil = time.Time{}
		st.recent = st.recent[:0]
	case desired == 0:
		// Demand within idle_timeout but below one instance's worth on
		// average: keep one.
		desired = 1
	}

	if spec.ScaleDownDelay > 0 && !idle {
		st.recent = append(st.recent, point{now, desired})
		keep := st.recent[:0]
		held := desired
		for _, p := range st.recent {
			if now.Sub(p.at) <= spec.ScaleDownDelay {
				keep = append(keep, p)
				if p.desired > held {
					held = p.desired
				}
			}
		}
		st.recent = keep
		if held > desired {
			desired, reason = held, "delay"
		}
	}

	if desired < spec.Min {
		desired, reason = spec.Min, "min"
	}
	if desired > spec.Max {
		desired, reason = spec.Max, "max"
	}
	st.last = desired
	return Decision{Desired: desired, Total: min(desired+spec.Warm, max(spec.Max, spec.Warm)), Panic: panicking, Reason: reason}
}

func ceil(f float64) int {
	if f <= 0 {
		return 0
	}
	return int(math.Ceil(f - 1e-9))
}
