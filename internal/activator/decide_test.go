package activator

import (
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/manifest"
)

// TestDecide steps synthetic time through the lifecycle policy.
func TestDecide(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := App{Revision: 2, Spec: manifest.Manifest{Limits: manifest.Limits{
		IdleTimeout: manifest.Duration(2 * time.Second),
		MaxDuration: manifest.Duration(5 * time.Minute),
	}}}
	ready := func(mod func(*instance)) *instance {
		in := &instance{state: stateReady, revision: 2, startedAt: t0, lastActive: t0}
		if mod != nil {
			mod(in)
		}
		return in
	}
	for _, tc := range []struct {
		name string
		in   *instance
		now  time.Time
		want action
	}{
		{"fresh ready instance stays", ready(nil), t0.Add(time.Second), actNone},
		{"idle exactly idle_timeout sleeps", ready(nil), t0.Add(2 * time.Second), actSleep},
		{"idle longer sleeps", ready(nil), t0.Add(time.Minute), actSleep},
		{"busy never sleeps", ready(func(in *instance) { in.inflight = 1 }), t0.Add(time.Minute), actNone},
		{"recent activity restarts the idle clock", ready(func(in *instance) { in.lastActive = t0.Add(59 * time.Second) }), t0.Add(time.Minute), actNone},
		{"past max_duration drains", ready(func(in *instance) { in.lastActive = t0.Add(5 * time.Minute) }), t0.Add(5 * time.Minute), actDrain},
		{"busy past max_duration drains too", ready(func(in *instance) { in.inflight = 3 }), t0.Add(6 * time.Minute), actDrain},
		{"draining and idle retires", ready(func(in *instance) { in.draining = true }), t0, actRetire},
		{"draining and busy waits", ready(func(in *instance) { in.draining = true; in.inflight = 1 }), t0.Add(time.Hour), actNone},
		{"old revision idle retires", ready(func(in *instance) { in.revision = 1 }), t0, actRetire},
		{"old revision asleep retires", ready(func(in *instance) { in.revision = 1; in.state = stateSleeping }), t0, actRetire},
		{"current revision asleep stays", ready(func(in *instance) { in.state = stateSleeping }), t0.Add(time.Hour), actNone},
		{"starting is left alone", ready(func(in *instance) { in.state = stateStarting }), t0.Add(time.Hour), actNone},
		{"stopping is left alone", ready(func(in *instance) { in.state = stateStopping }), t0.Add(time.Hour), actNone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := decide(tc.in, cfg, tc.now); got != tc.want {
				t.Fatalf("decide = %v; want %v", got, tc.want)
			}
		})
	}
}

func TestFormatPhases(t *testing.T) {
	got := FormatPhases([]Phase{{"create", 12300 * time.Microsecond}, {"start", 80 * time.Millisecond}, {"ready", 1500 * time.Microsecond}})
	if want := "create;dur=12.3, start;dur=80.0, ready;dur=1.5"; got != want {
		t.Fatalf("FormatPhases = %q; want %q", got, want)
	}
}
