package manifest

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestScalingFields(t *testing.T) {
	m, err := Parse("berth.yaml", []byte(`name: a
scale: {min: 1, max: 4, concurrency: 5, target: 50, cpu_target: 75, warm: 2, queue: 20, window: 10s, scale_down_delay: 30s}
limits: {idle_timeout: 2s, drain_timeout: 5s}
sleep: ["pause 2s", "stop 1m", "remove 1h"]
health: {path: /ready, liveness_path: /live}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := Scale{Min: 1, Max: 4, Concurrency: 5, Target: 50, CPUTarget: 75, Warm: 2, Queue: 20, Window: Duration(10 * time.Second), ScaleDownDelay: Duration(30 * time.Second)}
	if m.Scale != want {
		t.Errorf("scale = %+v; want %+v", m.Scale, want)
	}
	if got := m.Sleep.TierAt(time.Second); got != "" {
		t.Errorf("TierAt(1s) = %q; want awake", got)
	}
	for idle, mode := range map[time.Duration]string{2 * time.Second: "pause", 5 * time.Minute: "stop", 2 * time.Hour: "remove"} {
		if got := m.Sleep.TierAt(idle); got != mode {
			t.Errorf("TierAt(%s) = %q; want %q", idle, got, mode)
		}
	}
	if m.Health.Interval.D() != DefaultInterval || m.Health.Failures != DefaultFailures {
		t.Errorf("liveness defaults = %+v", m.Health)
	}
	// A single mode sleeps after idle_timeout.
	m, _ = Parse("berth.yaml", []byte("name: a\nsleep: pause\nlimits: {idle_timeout: 3s}\n"))
	if len(m.Sleep) != 1 || m.Sleep[0] != (SleepTier{SleepPause, Duration(3 * time.Second)}) {
		t.Errorf("sleep: pause = %v", m.Sleep)
	}
}

func TestScalingProblems(t *testing.T) {
	for _, tc := range []struct{ yaml, field, msg string }{
		{"scale: {min: 5, max: 2}", "scale.min", "must not exceed scale.max (2)"},
		{"scale: {max: 1001}", "scale.max", "between 1 and 1000"},
		{"scale: {target: 5}", "scale.target", "between 10 and 100"},
		{"scale: {cpu_target: 150}", "scale.cpu_target", "between 1 and 100"},
		{"scale: {warm: 20, max: 10}", "scale.warm", "must not exceed scale.max"},
		{"scale: {queue: 100000}", "scale.queue", "between 1 and 10000"},
		{"scale: {window: 1s}", "scale.window", "between 6s and 1h"},
		{"sleep: freeze", "sleep", "pause, stop, remove"},
		{`sleep: ["stop 10m", "pause 1m"]`, "sleep[1]", "increasing time"},
		{`sleep: ["remove 1m", "stop 10m"]`, "sleep[0]", "remove must be the last tier"},
		{`sleep: ["pause soon"]`, "sleep", "MODE DURATION"},
		{"health: {liveness_path: live}", "health.liveness_path", "/"},
		{"health: {liveness_path: /l, failures: 11}", "health.failures", "between 1 and 10"},
		{"limits: {drain_timeout: 1h}", "limits.drain_timeout", "between 1s and 30m"},
	} {
		_, err := Parse("berth.yaml", []byte("name: a\n"+tc.yaml+"\n"))
		var ve *ValidationError
		if !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Field != tc.field || !strings.Contains(ve.Problems[0].Message, tc.msg) {
			t.Errorf("%s: got %v; want one problem on %s containing %q", tc.yaml, err, tc.field, tc.msg)
		}
	}
}

func TestInstancesKey(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want KeySource
	}{
		{"instances: {key: \"header:X-Session-Id\"}", KeySource{"header", "X-Session-Id"}},
		{"instances: {key: \"cookie:sid\"}", KeySource{"cookie", "sid"}},
		{"instances: {key: \"path:/s/{key}/\", strip_prefix: true}", KeySource{"path", "/s/"}},
		{"instances: {key: \"path:/u/{key}\"}", KeySource{"path", "/u/"}},
	} {
		m, err := Parse("berth.yaml", []byte("name: a\n"+tc.yaml+"\n"))
		if err != nil || !m.Keyed() || m.KeySource() != tc.want {
			t.Errorf("%s: %v, %+v; want %+v", tc.yaml, err, m, tc.want)
		}
	}
	for _, tc := range []struct{ yaml, field, msg string }{
		{`instances: {key: "query:id"}`, "instances.key", `"header:NAME"`},
		{`instances: {key: "header:"}`, "instances.key", "header:NAME"},
		{`instances: {key: "header:bad name"}`, "instances.key", "header:NAME"},
		{`instances: {key: "path:/s/"}`, "instances.key", "{key}"},
		{`instances: {key: "path:/s/{key}/x"}`, "instances.key", "{key}"},
		{`instances: {key: "cookie:sid", strip_prefix: true}`, "instances.strip_prefix", "only applies to a path key"},
	} {
		_, err := Parse("berth.yaml", []byte("name: a\n"+tc.yaml+"\n"))
		var ve *ValidationError
		if !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Field != tc.field || !strings.Contains(ve.Problems[0].Message, tc.msg) {
			t.Errorf("%s: %v; want one problem on %s containing %q", tc.yaml, err, tc.field, tc.msg)
		}
	}
	for key, ok := range map[string]bool{"abc": true, "user-42.x_y": true, "": false, "-x": false, "a b": false, "ä": false, strings.Repeat("a", 129): false} {
		if KeyRE.MatchString(key) != ok {
			t.Errorf("KeyRE(%q) = %v", key, !ok)
		}
	}
}
