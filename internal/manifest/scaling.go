package manifest

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Scaling defaults and ranges (see docs/scaling.md).
const (
	DefaultMin          = 0
	DefaultMax          = 10
	DefaultTarget       = 70
	DefaultQueue        = 100
	DefaultWindow       = 60 * time.Second
	DefaultDrainTimeout = 30 * time.Second
	DefaultInterval     = 10 * time.Second
	DefaultFailures     = 3

	MaxInstances    = 1000
	MinTarget       = 10
	MaxTarget       = 100
	MaxWarm         = 100
	MaxQueue        = 10000
	MinWindow       = 6 * time.Second
	MaxWindow       = time.Hour
	MaxScaleDown    = time.Hour
	MinDrainTimeout = time.Second
	MaxDrainTimeout = 30 * time.Minute
	MinInterval     = time.Second
	MaxInterval     = 5 * time.Minute
	MaxFailures     = 10
)

// Sleep modes, from the lightest to the deepest.
const (
	// SleepPause freezes the instance: memory kept, wakes in milliseconds.
	SleepPause = "pause"
	// SleepStop stops it: memory freed, filesystem and network kept.
	SleepStop = "stop"
	// SleepRemove removes it: the next request starts a new one.
	SleepRemove = "remove"
)

// SleepTier is one step of an idle instance's descent: after After without a
// request in flight, it becomes Mode.
type SleepTier struct {
	Mode  string
	After Duration
}

// Sleep is a list of tiers with increasing After. In YAML it is a mode
// ("pause"), which sleeps after limits.idle_timeout, or a list of "MODE
// DURATION" strings: ["pause 1m", "stop 10m", "remove 1h"].
type Sleep []SleepTier

func (s SleepTier) String() string { return s.Mode + " " + s.After.String() }

// UnmarshalYAML accepts a mode or a list of "MODE DURATION" tiers.
func (s *Sleep) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if !isSleepMode(n.Value) {
			return fmt.Errorf("must be one of pause, stop, remove, or a list of tiers such as [\"pause 1m\", \"stop 10m\"]")
		}
		*s = Sleep{{Mode: n.Value}}
		return nil
	case yaml.SequenceNode:
		var out Sleep
		for i, item := range n.Content {
			t, err := parseTier(item.Value)
			if item.Kind != yaml.ScalarNode || err != nil {
				return fmt.Errorf("tier %d %q: must be \"MODE DURATION\" with MODE pause, stop or remove, e.g. \"stop 10m\"", i, item.Value)
			}
			out = append(out, t)
		}
		*s = out
		return nil
	}
	return fmt.Errorf("must be a mode (pause, stop, remove) or a list of tiers such as [\"pause 1m\", \"stop 10m\"]")
}

// MarshalJSON writes the tiers as "MODE DURATION" strings.
func (s Sleep) MarshalJSON() ([]byte, error) {
	out := make([]string, len(s))
	for i, t := range s {
		out[i] = t.String()
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *Sleep) UnmarshalJSON(b []byte) error {
	var in []string
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	*s = nil
	for _, v := range in {
		t, err := parseTier(v)
		if err != nil {
			return err
		}
		*s = append(*s, t)
	}
	return nil
}

func parseTier(v string) (SleepTier, error) {
	mode, dur, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !isSleepMode(mode) {
		return SleepTier{}, fmt.Errorf("sleep tier %q: want \"MODE DURATION\"", v)
	}
	d, err := ParseDuration(strings.TrimSpace(dur))
	if err != nil {
		return SleepTier{}, fmt.Errorf("sleep tier %q: %w", v, err)
	}
	return SleepTier{Mode: mode, After: d}, nil
}

func isSleepMode(s string) bool { return s == SleepPause || s == SleepStop || s == SleepRemove }

// TierAt is the sleep mode an instance idle for idle should be in, or "" if
// it should stay awake.
func (s Sleep) TierAt(idle time.Duration) string {
	mode := ""
	for _, t := range s {
		if idle >= t.After.D() {
			mode = t.Mode
		}
	}
	return mode
}

// setScalingDefaults fills the scaling fields; a single-mode sleep takes
// limits.idle_timeout as its time.
func (m *Manifest) setScalingDefaults() {
	sc := &m.Scale
	if sc.Max == 0 {
		sc.Max = max(DefaultMax, sc.Min)
	}
	if sc.Target == 0 {
		sc.Target = DefaultTarget
	}
	if sc.Queue == 0 {
		sc.Queue = DefaultQueue
	}
	if sc.Window == 0 {
		sc.Window = Duration(DefaultWindow)
	}
	if m.Limits.DrainTimeout == 0 {
		m.Limits.DrainTimeout = Duration(DefaultDrainTimeout)
	}
	if len(m.Sleep) == 0 {
		m.Sleep = Sleep{{Mode: SleepStop}}
	}
	if len(m.Sleep) == 1 && m.Sleep[0].After == 0 {
		m.Sleep[0].After = m.Limits.IdleTimeout
	}
	if m.Health.LivenessPath != "" {
		if m.Health.Interval == 0 {
			m.Health.Interval = Duration(DefaultInterval)
		}
		if m.Health.Failures == 0 {
			m.Health.Failures = DefaultFailures
		}
	}
}

// checkScaling reports problems of the scaling, sleep and probe fields.
func (m *Manifest) checkScaling(ps *problems) {
	sc := m.Scale
	checkRange(ps, "scale.min", sc.Min, 0, MaxInstances)
	checkRange(ps, "scale.max", sc.Max, 1, MaxInstances)
	if sc.Min > sc.Max && sc.Max >= 1 {
		ps.add("scale.min", fmt.Sprint(sc.Min), "must not exceed scale.max (%d)", sc.Max)
	}
	checkRange(ps, "scale.target", sc.Target, MinTarget, MaxTarget)
	if sc.CPUTarget != 0 {
		checkRange(ps, "scale.cpu_target", sc.CPUTarget, 1, 100)
	}
	checkRange(ps, "scale.warm", sc.Warm, 0, MaxWarm)
	if sc.Warm > sc.Max && sc.Max >= 1 {
		ps.add("scale.warm", fmt.Sprint(sc.Warm), "must not exceed scale.max (%d): warm instances count towards it", sc.Max)
	}
	checkRange(ps, "scale.queue", sc.Queue, 1, MaxQueue)
	checkDuration(ps, "scale.window", sc.Window, MinWindow, MaxWindow, DefaultWindow)
	if sc.ScaleDownDelay != 0 {
		checkDuration(ps, "scale.scale_down_delay", sc.ScaleDownDelay, 0, MaxScaleDown, time.Minute)
	}
	checkDuration(ps, "limits.drain_timeout", m.Limits.DrainTimeout, MinDrainTimeout, MaxDrainTimeout, DefaultDrainTimeout)

	var last time.Duration
	for i, t := range m.Sleep {
		path := indexPath("sleep", i)
		if len(m.Sleep) == 1 {
			path = "sleep"
		}
		switch {
		case !isSleepMode(t.Mode):
			ps.add(path, t.Mode, "must be pause, stop or remove")
		case t.After.D() < MinIdleTimeout || t.After.D() > 24*time.Hour:
			ps.add(path, t.String(), "the time must be between 1s and 24h")
		case i > 0 && t.After.D() <= last:
			ps.add(path, t.String(), "tiers must come in increasing time, after %s", Duration(last))
		case i < len(m.Sleep)-1 && t.Mode == SleepRemove:
			ps.add(path, t.String(), "remove must be the last tier")
		}
		last = t.After.D()
	}

	if m.Health.LivenessPath != "" {
		if msg := urlPathProblem(m.Health.LivenessPath, true); msg != "" {
			ps.add("health.liveness_path", m.Health.LivenessPath, "%s", msg)
		}
		checkDuration(ps, "health.interval", m.Health.Interval, MinInterval, MaxInterval, DefaultInterval)
		checkRange(ps, "health.failures", m.Health.Failures, 1, MaxFailures)
	}
}

func checkRange(ps *problems, path string, v, lo, hi int) {
	if v < lo || v > hi {
		ps.add(path, fmt.Sprint(v), "must be between %d and %d", lo, hi)
	}
}
