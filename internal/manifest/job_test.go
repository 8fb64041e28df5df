package manifest

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestKindOf(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"name: web\n", KindApp},
		{"kind: job\nname: ci\n", KindJob},
		{"name: ci\nkind: app\n", KindApp},
		{"kind: jobb\n", "jobb"},
		{"kind: [job]\n", KindApp},
		{"kind: null\nname: x\n", KindApp},
		{"not: [yaml\n", KindApp},
		{"", KindApp},
	} {
		if got := KindOf([]byte(c.in)); got != c.want {
			t.Errorf("KindOf(%q) = %q; want %q", c.in, got, c.want)
		}
	}
}

func TestParseJobMinimalGetsEveryDefault(t *testing.T) {
	j, err := ParseJob("job.yaml", []byte("kind: job\nname: ci\n"))
	if err != nil {
		t.Fatal(err)
	}
	three := 3
	want := &Job{
		Kind: KindJob, Name: "ci",
		Build:       &Build{Context: DefaultBuildContext, Dockerfile: DefaultDockerfile},
		Slot:        DefaultSlot,
		Parallelism: 1, Retries: &three, Timeout: Duration(10 * time.Minute), Isolation: "runc",
	}
	if !reflect.DeepEqual(j, want) {
		t.Errorf("ParseJob(minimal) =\n%+v\nwant\n%+v", j, want)
	}
}

func TestParseJobFullRoundTripsThroughJSON(t *testing.T) {
	src := `kind: job
name: nightly
image: registry.example.com/ci/runner:2
command: [/bin/sh, -c]
args: ["echo hi", ""]
env: {STAGE: prod}
cpu: 500m
memory: 1Gi
parallelism: 4
retries: 0
timeout: 90s
isolation: gvisor
labels: {team: ci}
`
	j, err := ParseJob("job.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if j.RetryLimit() != 0 || j.Parallelism != 4 || j.Timeout.D() != 90*time.Second || j.Isolation != "gvisor" {
		t.Fatalf("parsed %+v", j)
	}
	if r := j.Resources(); r.NanoCPUs != 500_000_000 || r.MemoryBytes != 1<<30 {
		t.Fatalf("Resources() = %+v", r)
	}
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	var back Job
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if err := back.Validate("stored"); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, j) {
		t.Errorf("JSON round trip changed the job:\n%+v\n%+v", &back, j)
	}
}

func TestParseJobReportsTheField(t *testing.T) {
	for _, c := range []struct {
		name, src, field, value, msg string
		line                         int
	}{
		{"no name", "kind: job\n", "name", "", "is required", 0},
		{"bad name", "kind: job\nname: CI_1\n", "name", "CI_1", "DNS label", 2},
		{"parallelism high", "kind: job\nname: a\nparallelism: 101\n", "parallelism", "101", "between 1 and 100", 3},
		{"parallelism zero", "kind: job\nname: a\nparallelism: 0\n", "parallelism", "0", "between 1 and 100", 3},
		{"parallelism text", "kind: job\nname: a\nparallelism: many\n", "parallelism", "many", "whole number between 1 and 100", 3},
		{"retries high", "kind: job\nname: a\nretries: 11\n", "retries", "11", "between 0 and 10", 3},
		{"retries negative", "kind: job\nname: a\nretries: -1\n", "retries", "-1", "between 0 and 10", 3},
		{"timeout long", "kind: job\nname: a\ntimeout: 25h\n", "timeout", "25h", "between 1s and 24h", 3},
		{"timeout zero", "kind: job\nname: a\ntimeout: 0s\n", "timeout", "0s", "between 1s and 24h", 3},
		{"timeout short", "kind: job\nname: a\ntimeout: 500ms\n", "timeout", "500ms", "between 1s and 24h", 3},
		{"isolation", "kind: job\nname: a\nisolation: kata\n", "isolation", "kata", `"runc" (the default) or "gvisor"`, 3},
		{"env reserved", "kind: job\nname: a\nenv: {BERTH_ATTEMPT: x}\n", "env.BERTH_ATTEMPT", "", "reserved", 3},
		{"env name", "kind: job\nname: a\nenv: {1X: x}\n", `env["1X"]`, "", "letters, digits", 3},
		{"empty command", "kind: job\nname: a\ncommand: ['']\n", "command[0]", "", "must not be empty", 3},
		{"command not list", "kind: job\nname: a\ncommand: echo hi\n", "command", "echo hi", "must be a list", 3},
		{"unknown field", "kind: job\nname: a\nport: 80\n", "port", "", "unknown field; allowed fields are: kind, name, image, build, command, args", 3},
		{"misspelt", "kind: job\nname: a\nparalelism: 2\n", "paralelism", "", `did you mean "parallelism"?`, 3},
		{"slot", "kind: job\nname: a\nslot: big\n", "slot", "big", "must be a slot", 3},
		{"image and build", "kind: job\nname: a\nimage: x\nbuild: {}\n", "image", "x", "set exactly one", 3},
		{"wrong kind", "kind: app\nname: a\n", "kind", "app", `must be "job"`, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseJob("job.yaml", []byte(c.src))
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("ParseJob: err = %v; want a *ValidationError", err)
			}
			for _, p := range ve.Problems {
				if p.Field == c.field && p.Value == c.value && strings.Contains(p.Message, c.msg) && p.Line == c.line {
					return
				}
			}
			t.Errorf("problems = %v\nwant field %q, value %q, line %d and a message containing %q", ve.Problems, c.field, c.value, c.line, c.msg)
		})
	}
}

func TestParseJobReportsEveryProblemAtOnce(t *testing.T) {
	_, err := ParseJob("job.yaml", []byte("kind: job\nname: A\nparallelism: 0\nretries: 20\ntimeout: 1ms\nisolation: x\n"))
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 5 {
		t.Fatalf("err = %v; want 5 problems", err)
	}
	if !strings.HasPrefix(err.Error(), "job.yaml: 5 problems\njob.yaml: name:") {
		t.Errorf("Error() = %q", err)
	}
}

func TestAppManifestKind(t *testing.T) {
	if _, err := Parse("berth.yaml", []byte("kind: app\nname: web\n")); err != nil {
		t.Errorf("kind: app: %v", err)
	}
	for src, msg := range map[string]string{
		"kind: job\nname: web\n":   "this is a job manifest",
		"kind: batch\nname: web\n": `must be "app" (the default) or "job"`,
	} {
		_, err := Parse("berth.yaml", []byte(src))
		if err == nil || !strings.Contains(err.Error(), msg) || !strings.Contains(err.Error(), "kind:") {
			t.Errorf("Parse(%q) = %v; want a kind problem containing %q", src, err, msg)
		}
	}
}

func TestEnvProblem(t *testing.T) {
	for _, c := range []struct {
		name, value string
		ok          bool
	}{
		{"STAGE", "x", true}, {"_x1", "", true}, {"1X", "", false}, {"A-B", "", false},
		{"BERTH_X", "", false}, {"A", "a\x00b", false},
	} {
		if got := EnvProblem(c.name, c.value) == ""; got != c.ok {
			t.Errorf("EnvProblem(%q, %q) ok = %v; want %v", c.name, c.value, got, c.ok)
		}
	}
}
