package autoscaler

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func spec() Spec {
	return Spec{Min: 0, Max: 10, Concurrency: 10, Target: 0.7, StableWindow: 60 * time.Second, IdleTimeout: time.Minute}
}

// step is one observation at an offset from t0 and the decision expected.
type step struct {
	at      time.Duration
	obs     Observation
	desired int
	total   int
	panic   bool
	reason  string
}

func run(t *testing.T, sp Spec, steps []step) {
	t.Helper()
	var st State
	for i, s := range steps {
		if s.obs.LastActive.IsZero() && s.obs.Active {
			s.obs.LastActive = t0.Add(s.at)
		}
		d := Decide(sp, &st, s.obs, t0.Add(s.at))
		total := s.total
		if total == 0 {
			total = s.desired
		}
		if d.Desired != s.desired || d.Total != total || d.Panic != s.panic || (s.reason != "" && d.Reason != s.reason) {
			t.Fatalf("step %d at %s: got %+v; want desired %d total %d panic %v reason %q", i, s.at, d, s.desired, total, s.panic, s.reason)
		}
	}
}

func TestStable(t *testing.T) {
	run(t, spec(), []step{
		// 7 = exactly one instance's target (10 × 0.7).
		{at: 0, obs: Observation{Ready: 1, StableDemand: 7, PanicDemand: 7, Active: true}, desired: 1, reason: "concurrency"},
		{at: time.Second, obs: Observation{Ready: 2, StableDemand: 7.1, PanicDemand: 7.1, Active: true}, desired: 2},
		{at: 2 * time.Second, obs: Observation{Ready: 3, StableDemand: 30, PanicDemand: 30, Active: true}, desired: 5},
		// Below one instance's worth but active: keep one.
		{at: 3 * time.Second, obs: Observation{Ready: 5, StableDemand: 0.2, PanicDemand: 0, Active: true}, desired: 1},
	})
}

func TestPanicScalesUpAtOnceAndNeverDown(t *testing.T) {
	run(t, spec(), []step{
		{at: 0, obs: Observation{Ready: 1, StableDemand: 5, PanicDemand: 5, Active: true}, desired: 1},
		// A burst: the panic window needs 8, ≥ 2× the one ready → panic.
		{at: time.Second, obs: Observation{Ready: 1, StableDemand: 8, PanicDemand: 50, Active: true}, desired: 8, panic: true, reason: "panic"},
		// Demand falls, but the panic holds the count for a stable window.
		{at: 10 * time.Second, obs: Observation{Ready: 8, StableDemand: 10, PanicDemand: 1, Active: true}, desired: 8, panic: true},
		{at: 60 * time.Second, obs: Observation{Ready: 8, StableDemand: 10, PanicDemand: 1, Active: true}, desired: 8, panic: true},
		// Panic over after a stable window without a new burst.
		{at: 62 * time.Second, obs: Observation{Ready: 8, StableDemand: 10, PanicDemand: 1, Active: true}, desired: 2, panic: false},
	})
}

func TestPanicFromZero(t *testing.T) {
	run(t, spec(), []step{
		{at: 0, obs: Observation{Ready: 0, StableDemand: 50, PanicDemand: 50, Active: true}, desired: 8, panic: true},
	})
}

func TestMinMaxAndWarm(t *testing.T) {
	sp := spec()
	sp.Min, sp.Max, sp.Warm = 2, 5, 2
	run(t, sp, []step{
		{at: 0, obs: Observation{}, desired: 2, total: 4, reason: "min"},
		{at: time.Second, obs: Observation{Ready: 4, StableDemand: 20, PanicDemand: 20, Active: true}, desired: 3, total: 5},
		{at: 2 * time.Second, obs: Observation{Ready: 5, StableDemand: 500, PanicDemand: 500, Active: true}, desired: 5, total: 5, panic: true, reason: "max"},
	})
}

func TestScaleToZeroAfterIdleTimeout(t *testing.T) {
	sp := spec()
	sp.IdleTimeout = 2 * time.Second
	last := t0.Add(time.Second)
	run(t, sp, []step{
		{at: time.Second, obs: Observation{Ready: 1, StableDemand: 3, PanicDemand: 3, Active: true}, desired: 1},
		// Inactive, but within idle_timeout: the window still remembers demand.
		{at: 2 * time.Second, obs: Observation{Ready: 1, StableDemand: 1, LastActive: last}, desired: 1},
		// Averages not yet zero, but nothing in flight for idle_timeout: zero.
		{at: 3 * time.Second, obs: Observation{Ready: 1, StableDemand: 1, LastActive: last}, desired: 0, reason: "idle"},
		// Never active: nothing to run.
		{at: 4 * time.Second, obs: Observation{}, desired: 0},
	})
}

func TestScaleToMinNotZero(t *testing.T) {
	sp := spec()
	sp.Min = 1
	run(t, sp, []step{{at: time.Hour, obs: Observation{Ready: 3, LastActive: t0}, desired: 1, reason: "min"}})
}

func TestScaleDownDelay(t *testing.T) {
	sp := spec()
	sp.ScaleDownDelay = 30 * time.Second
	run(t, sp, []step{
		{at: 0, obs: Observation{Ready: 4, StableDemand: 28, PanicDemand: 28, Active: true}, desired: 4},
		{at: 10 * time.Second, obs: Observation{Ready: 4, StableDemand: 7, PanicDemand: 7, Active: true}, desired: 4, reason: "delay"},
		{at: 31 * time.Second, obs: Observation{Ready: 4, StableDemand: 7, PanicDemand: 7, Active: true}, desired: 1},
	})
}

func TestCPUSignal(t *testing.T) {
	sp := spec()
	sp.CPUTarget = 0.75
	run(t, sp, []step{
		// Little concurrency but 2 instances at 90% CPU against a 75% target → 3.
		{at: 0, obs: Observation{Ready: 2, StableDemand: 2, PanicDemand: 2, CPU: 0.9, Active: true}, desired: 3, reason: "cpu"},
		// Concurrency wins when larger.
		{at: time.Second, obs: Observation{Ready: 4, StableDemand: 40, PanicDemand: 40, CPU: 0.5, Active: true}, desired: 6, reason: "concurrency"},
	})
}

func TestWindow(t *testing.T) {
	var w Window
	if w.Average(t0, time.Minute) != 0 {
		t.Fatal("empty window not zero")
	}
	// A fresh burst counts at full strength.
	w.Record(t0, 10, time.Minute)
	if got := w.Average(t0, time.Minute); got != 10 {
		t.Fatalf("fresh average = %v; want 10", got)
	}
	// Samples within a second are averaged; seconds are averaged over the window.
	w.Record(t0.Add(time.Second), 0, time.Minute)
	w.Record(t0.Add(time.Second+time.Millisecond), 4, time.Minute)
	if got := w.Average(t0.Add(time.Second), time.Minute); got != 6 {
		t.Fatalf("average = %v; want (10+2)/2 = 6", got)
	}
	// Seconds without samples count as zero; old buckets fall out.
	if got := w.Average(t0.Add(3*time.Second), 2*time.Second); got != 0 {
		t.Fatalf("average over an unsampled window = %v; want 0", got)
	}
	w.Record(t0.Add(2*time.Minute), 1, time.Minute)
	if len(w.buckets) != 1 {
		t.Fatalf("%d buckets kept; want the old ones dropped", len(w.buckets))
	}
}
