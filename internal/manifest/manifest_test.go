package manifest

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// minimal is the smallest valid manifest.
const minimal = "name: web\n"

// full sets every field.
const full = `# every field
name: gif-maker
image: registry.example.com:5000/media/gif-maker:1.2
port: 3000
protocol: grpc
isolation: gvisor
env:
  LOG_LEVEL: info
  EMPTY: ""
cpu: 500m
memory: 1Gi
scale:
  concurrency: 50
limits:
  idle_timeout: 90s
  max_duration: 10m
  request_timeout: 2m30s
routes:
  - host: gif.example.com
  - path: /gif
  - host: gif.example.com
    path: /v2
health:
  path: /healthz
labels:
  team: media
  example.com/tier: ""
`

func TestParseMinimalGetsEveryDefault(t *testing.T) {
	m, err := Parse("berth.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	want := &Manifest{
		Name:      "web",
		Build:     &Build{Context: DefaultBuildContext, Dockerfile: DefaultDockerfile},
		Port:      PortAuto,
		Protocol:  DefaultProtocol,
		Isolation: DefaultIsolation,
		Slot:      DefaultSlot,
		Scale:     Scale{Max: DefaultMax, Concurrency: DefaultConcurrency, Target: DefaultTarget, Queue: DefaultQueue, Window: Duration(DefaultWindow)},
		Limits: Limits{IdleTimeout: Duration(time.Minute), MaxDuration: Duration(5 * time.Minute), RequestTimeout: Duration(60 * time.Second),
			DrainTimeout: Duration(DefaultDrainTimeout)},
		Sleep: Sleep{{Mode: SleepStop, After: Duration(time.Minute)}},
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("Parse(minimal) =\n%+v\nwant\n%+v", m, want)
	}
}

func TestParseFull(t *testing.T) {
	m, err := Parse("berth.yaml", []byte(full))
	if err != nil {
		t.Fatal(err)
	}
	want := &Manifest{
		Name:      "gif-maker",
		Image:     "registry.example.com:5000/media/gif-maker:1.2",
		Port:      3000,
		Protocol:  ProtocolGRPC,
		Isolation: IsolationGVisor,
		Env:       map[string]string{"LOG_LEVEL": "info", "EMPTY": ""},
		CPU:       "500m",
		Memory:    "1Gi",
		Scale:     Scale{Max: DefaultMax, Concurrency: 50, Target: DefaultTarget, Queue: DefaultQueue, Window: Duration(DefaultWindow)},
		Limits: Limits{IdleTimeout: Duration(90 * time.Second), MaxDuration: Duration(10 * time.Minute), RequestTimeout: Duration(150 * time.Second),
			DrainTimeout: Duration(DefaultDrainTimeout)},
		Sleep:  Sleep{{Mode: SleepStop, After: Duration(90 * time.Second)}},
		Routes: []Route{{Host: "gif.example.com"}, {Path: "/gif"}, {Host: "gif.example.com", Path: "/v2"}},
		Health: Health{Path: "/healthz"},
		Labels: map[string]string{"team": "media", "example.com/tier": ""},
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("Parse(full) =\n%+v\nwant\n%+v", m, want)
	}
}

func TestParseDefaultsFillTheOtherHalfOfTheSlot(t *testing.T) {
	m, err := Parse("berth.yaml", []byte("name: web\ncpu: \"2\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Slot != "" || m.CPU != "2" || m.Memory != DefaultMemory {
		t.Errorf("slot, cpu, memory = %q, %q, %q; want \"\", \"2\", %q", m.Slot, m.CPU, m.Memory, DefaultMemory)
	}
	m, err = Parse("berth.yaml", []byte("name: web\nmemory: 2Gi\nbuild: {context: app}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m.CPU != DefaultCPU || m.Memory != "2Gi" || *m.Build != (Build{Context: "app", Dockerfile: DefaultDockerfile}) {
		t.Errorf("cpu, memory, build = %q, %q, %+v", m.CPU, m.Memory, *m.Build)
	}
}

// badCases each have exactly one problem.
var badCases = []struct {
	name, yaml, field, msg string
	line                   int
}{
	{"empty", "", "", "the manifest is empty", 0},
	{"only comments", "# nothing\n", "", "the manifest is empty", 0},
	{"not yaml", "name: [web\n", "", "not valid YAML", 1},
	{"tabs", "name: web\nscale:\n\tconcurrency: 3\n", "", "spaces; the file has tabs", 3},
	{"two documents", "name: a\n---\nname: b\n", "", "more than one YAML document", 3},
	{"list at the top", "- name: web\n", "", "must be a mapping of fields", 1},
	{"unknown field", "name: web\nreplicas: 3\n", "replicas", "unknown field; allowed fields are: name, image, build, port,", 2},
	{"unknown nested field", "name: web\nscale:\n  concurency: 3\n", "scale.concurency", `did you mean "concurrency"?`, 3},
	{"camel case", "name: web\nlimits: {idleTimeout: 1m}\n", "limits.idleTimeout", `did you mean "idle_timeout"?`, 2},
	{"key twice", "name: web\nport: 80\nport: 81\n", "port", "is set twice (first on line 2)", 3},
	{"string for a mapping", "name: web\nbuild: .\n", "build", "must be a mapping with the fields context, dockerfile", 2},
	{"list for a string", "name: [web]\n", "name", "must be a string, not a list", 1},
	{"name missing", "port: 80\n", "name", "is required", 0},
	{"name uppercase", "name: Web\n", "name", `did you mean "web"?`, 1},
	{"name starts with a digit", "name: 1web\n", "name", "starting with a letter", 1},
	{"name ends with dash", "name: web-\n", "name", "not ending with '-'", 1},
	{"name too long", "name: " + strings.Repeat("a", 41) + "\n", "name", "must be at most 40", 1},
	{"image and build", "name: web\nimage: nginx\nbuild: {}\n", "image", "image and build are both set", 2},
	{"image with space", "name: web\nimage: 'nginx latest'\n", "image", "must not contain whitespace", 2},
	{"image uppercase", "name: web\nimage: Nginx:1\n", "image", "must be an image reference", 2},
	{"context absolute", "name: web\nbuild: {context: /src}\n", "build.context", "must be a path relative to", 2},
	{"context escapes", "name: web\nbuild:\n  context: a/../../b\n", "build.context", `must stay inside the directory of the manifest`, 3},
	{"dockerfile escapes", "name: web\nbuild:\n  dockerfile: ../Dockerfile\n", "build.dockerfile", "must stay inside build.context", 3},
	{"port too big", "name: web\nport: 70000\n", "port", "must be a whole number between 1 and 65535, or \"auto\"", 2},
	{"port negative", "name: web\nport: -1\n", "port", "must be a whole number between 1 and 65535", 2},
	{"port quoted", "name: web\nport: '80'\n", "port", "write it without quotes", 2},
	{"port word", "name: web\nport: automatic\n", "port", `or "auto" to discover`, 2},
	{"port list", "name: web\nport: [80]\n", "port", "not a list", 2},
	{"protocol", "name: web\nprotocol: http2\n", "protocol", "must be one of http1, h2c, grpc", 2},
	{"isolation", "name: web\nisolation: kata\n", "isolation", "must be one of runc, gvisor", 2},
	{"env PORT", "name: web\nenv:\n  PORT: '80'\n", "env.PORT", "is reserved: Berth sets PORT", 3},
	{"env BERTH_", "name: web\nenv: {BERTH_APP: x}\n", "env.BERTH_APP", "names starting with BERTH_ are set by Berth", 2},
	{"env bad name", "name: web\nenv: {LOG-LEVEL: x}\n", "env.LOG-LEVEL", "names must be letters, digits and '_'", 2},
	{"env value a mapping", "name: web\nenv: {A: {b: c}}\n", "env.A", "must be a string, not a mapping", 2},
	{"slot syntax", "name: web\nslot: small\n", "slot", `must be a slot c<vCPUs>-m<MiB> such as "c.125-m512"`, 2},
	{"slot cpu too big", "name: web\nslot: c128-m512\n", "slot", "between 0.01 and 64", 2},
	{"slot memory too small", "name: web\nslot: c1-m8\n", "slot", "between 16 and 262144", 2},
	{"slot and cpu", "name: web\nslot: c1-m2048\ncpu: 500m\n", "slot", "slot and cpu are both set", 2},
	{"slot and memory", "name: web\nmemory: 1Gi\nslot: c1-m2048\n", "slot", "slot and memory are both set", 3},
	{"cpu too small", "name: web\ncpu: 5m\n", "cpu", "must be between 10m and 64", 2},
	{"cpu syntax", "name: web\ncpu: 1 core\n", "cpu", "must be a CPU quantity", 2},
	{"memory bytes", "name: web\nmemory: 512\n", "memory", `did you mean "512Mi"?`, 2},
	{"memory too big", "name: web\nmemory: 1Ti\n", "memory", "must be between 16Mi and 256Gi", 2},
	{"memory suffix", "name: web\nmemory: 1GB\n", "memory", "must be a memory quantity", 2},
	{"concurrency too big", "name: web\nscale: {concurrency: 257}\n", "scale.concurrency", "must be between 1 and 256", 2},
	{"concurrency negative", "name: web\nscale:\n  concurrency: -3\n", "scale.concurrency", "must be between 1 and 256", 3},
	{"duration without unit", "name: web\nlimits:\n  idle_timeout: 90\n", "limits.idle_timeout", `must have a unit: write "90s"`, 3},
	{"duration syntax", "name: web\nlimits:\n  idle_timeout: 1d\n", "limits.idle_timeout", `must be a duration with a unit, e.g. "90s"`, 3},
	{"idle timeout too long", "name: web\nlimits:\n  idle_timeout: 31m\n", "limits.idle_timeout", `must be a duration between 1s and 30m, e.g. "1m"`, 3},
	{"duration negative", "name: web\nlimits:\n  request_timeout: -1s\n", "limits.request_timeout", "must be a duration between 1s and 30m", 3},
	{"max duration too short", "name: web\nlimits: {max_duration: 5s}\n", "limits.max_duration", "must be a duration between 10s and 30m", 2},
	{"route empty", "name: web\nroutes:\n  - {}\n", "routes[0]", "needs a host, a path or both", 3},
	{"route host scheme", "name: web\nroutes:\n  - host: https://a.example\n", "routes[0].host", "without a scheme", 3},
	{"route host port", "name: web\nroutes:\n  - path: /a\n  - host: a.example:8080\n", "routes[1].host", "without a port", 4},
	{"route host wildcard", "name: web\nroutes: [{host: '*.example.com'}]\n", "routes[0].host", "wildcards are not supported", 2},
	{"route host uppercase", "name: web\nroutes: [{host: A.example}]\n", "routes[0].host", `must be lowercase: "a.example"`, 2},
	{"route host label", "name: web\nroutes: [{host: a_b.example}]\n", "routes[0].host", "must be a DNS name", 2},
	{"route path relative", "name: web\nroutes: [{path: gif}]\n", "routes[0].path", "must start with '/'", 2},
	{"route path query", "name: web\nroutes:\n  - path: /a?b=1\n", "routes[0].path", "must not contain '?'", 3},
	{"route path dotdot", "name: web\nroutes: [{path: /a/../b}]\n", "routes[0].path", `must not contain "." or ".." segments`, 2},
	{"route twice", "name: web\nroutes:\n  - {path: /a}\n  - {host: b.example}\n  - {path: /a}\n", "routes[2]", "is the same route as routes[0]", 5},
	{"route a string", "name: web\nroutes: [/a]\n", "routes[0]", "must be a mapping with the fields host, path", 2},
	{"routes a mapping", "name: web\nroutes: {path: /a}\n", "routes", "must be a list, not a mapping", 2},
	{"health path", "name: web\nhealth: {path: healthz}\n", "health.path", "must start with '/'", 2},
	{"label reserved", "name: web\nlabels: {dev.berth.app: x}\n", `labels["dev.berth.app"]`, "is reserved", 2},
	{"label key", "name: web\nlabels: {-team: x}\n", `labels["-team"]`, "starting and ending with a letter or digit", 2},
	{"label prefix", "name: web\nlabels: {Example.com/team: x}\n", `labels["Example.com/team"]`, "the prefix before '/' must be a DNS name", 2},
	{"label value", "name: web\nlabels: {team: media team}\n", "labels.team", "values must be empty or at most 63", 2},
	{"merge of a scalar", "name: web\nscale:\n  <<: 3\n", "scale", "a merge key must point to a mapping", 3},
	{"unknown field in a merge", "name: web\ndefaults: &d {concurrency: 3, min: 1}\n", "defaults", "unknown field", 2},
}

func TestParseReportsTheField(t *testing.T) {
	for _, tc := range badCases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse("berth.yaml", []byte(tc.yaml))
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Parse = %+v, %v; want a *ValidationError", m, err)
			}
			if m != nil {
				t.Errorf("Parse returned a manifest with its error: %+v", m)
			}
			if ve.File != "berth.yaml" || len(ve.Problems) != 1 {
				t.Fatalf("want one problem in berth.yaml, got:\n%v", err)
			}
			p := ve.Problems[0]
			if p.Field != tc.field || !strings.Contains(p.Message, tc.msg) || p.Line != tc.line {
				t.Errorf("problem = %q (field %q, line %d)\nwant field %q, line %d and a message containing %q",
					p.String(), p.Field, p.Line, tc.field, tc.line, tc.msg)
			}
		})
	}
}

func TestParseReportsAllProblems(t *testing.T) {
	const yaml = `name: Gif_Maker
scale:
  concurrency: 0
  replicas: 3
routes:
  - host: gif.example.com:443
`
	_, err := Parse("berth.yaml", []byte(yaml))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Parse: %v; want a *ValidationError", err)
	}
	want := `berth.yaml: 4 problems
berth.yaml: name: "Gif_Maker": must be a DNS label of lowercase letters, digits and '-', starting with a letter, not ending with '-', at most 40 characters, e.g. "gif-maker" (line 1)
berth.yaml: scale.concurrency: "0": must be between 1 and 256 (line 3)
berth.yaml: scale.replicas: unknown field; allowed fields are: min, max, concurrency, target, cpu_target, warm, queue, window, scale_down_delay (line 4)
berth.yaml: routes[0].host: "gif.example.com:443": must be a host name without a port, e.g. "gif.example.com" (line 6)`
	if err.Error() != want {
		t.Errorf("Error() =\n%s\nwant\n%s", err, want)
	}
	if len(ve.Problems) != 4 {
		t.Fatalf("%d problems, want 4", len(ve.Problems))
	}
}

func TestValidateStoredManifest(t *testing.T) {
	m, err := Parse("berth.yaml", []byte(full))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var back Manifest
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if err := back.Validate("stored"); err != nil {
		t.Fatalf("Validate of a stored valid manifest: %v", err)
	}
	if !reflect.DeepEqual(&back, m) {
		t.Errorf("JSON round trip =\n%+v\nwant\n%+v", back, *m)
	}

	back.Scale.Concurrency = 1000
	back.Env["PORT"] = "1"
	err = back.Validate("stored")
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 2 || ve.Problems[0].Field != "env.PORT" || ve.Problems[1].Field != "scale.concurrency" {
		t.Fatalf("Validate = %v; want env.PORT and scale.concurrency", err)
	}
	if ve.Problems[1].Line != 0 || ve.Problems[1].Value != "1000" {
		t.Errorf("problem = %+v; want value 1000 and no line", ve.Problems[1])
	}

	var nilManifest *Manifest
	if err := nilManifest.Validate("x"); err == nil {
		t.Error("Validate of a nil manifest succeeded")
	}
}

func TestValidateFillsDefaults(t *testing.T) {
	m := Manifest{Name: "web", Image: "nginx"}
	if err := m.Validate("x"); err != nil {
		t.Fatal(err)
	}
	if m.Build != nil || !m.Port.Auto() || m.Protocol != ProtocolHTTP1 || m.Isolation != IsolationRunc || m.Slot != DefaultSlot || m.Limits.IdleTimeout.D() != DefaultIdleTimeout {
		t.Errorf("defaults not filled: %+v", m)
	}
}

func TestProblemString(t *testing.T) {
	for _, tc := range []struct {
		p    Problem
		want string
	}{
		{Problem{Field: "scale.concurrency", Value: "0", Message: "must be between 1 and 256"}, `scale.concurrency: "0": must be between 1 and 256`},
		{Problem{Field: "name", Message: "is required", Line: 3}, `name: is required (line 3)`},
		{Problem{Message: "the manifest is empty"}, `the manifest is empty`},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
	one := &ValidationError{File: "app.yaml", Problems: []Problem{{Field: "port", Value: "0", Message: "must be between 1 and 65535"}}}
	if got, want := one.Error(), `app.yaml: port: "0": must be between 1 and 65535`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestDefaultHost(t *testing.T) {
	m := Manifest{Name: "gif"}
	for domain, want := range map[string]string{"localhost": "gif.localhost", ".example.com": "gif.example.com", "": "gif"} {
		if got := m.DefaultHost(domain); got != want {
			t.Errorf("DefaultHost(%q) = %q, want %q", domain, got, want)
		}
	}
}

// FuzzParse checks that no input makes Parse panic, that it returns either a
// manifest or a *ValidationError with problems, and that what it accepts
// survives a JSON round trip and re-validation unchanged.
func FuzzParse(f *testing.F) {
	f.Add(minimal)
	f.Add(full)
	for _, tc := range badCases {
		f.Add(tc.yaml)
	}
	f.Add("a: &a [*a]\n")
	f.Add("name: web\nscale: &s {concurrency: 3}\nlimits: {<<: *s}\n")
	f.Fuzz(func(t *testing.T, data string) {
		m, err := Parse("berth.yaml", []byte(data))
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 || m != nil {
				t.Fatalf("Parse = %v, %v; want nil and a *ValidationError with problems", m, err)
			}
			_ = err.Error()
			return
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var back Manifest
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("unmarshal %s: %v", b, err)
		}
		if err := back.Validate("berth.yaml"); err != nil {
			t.Fatalf("Parse accepted %q but Validate of its JSON says: %v", data, err)
		}
		if !reflect.DeepEqual(&back, m) {
			t.Fatalf("JSON round trip changed the manifest:\n%+v\n%+v", back, *m)
		}
		_ = m.Resources()
	})
}

func TestParseBoundsTheWork(t *testing.T) {
	repeat := func(head, line string, n int) string {
		var b strings.Builder
		b.WriteString(head)
		for i := range n {
			b.WriteString(strings.ReplaceAll(line, "#", strconv.Itoa(i)))
		}
		return b.String()
	}
	// Ten levels of ten-fold merges: 10^10 keys once expanded.
	bomb := "x0: &a0 {concurrency: 1}\n"
	for i := 1; i <= 10; i++ {
		bomb += fmt.Sprintf("x%d: &a%d {<<: [%s]}\n", i, i, strings.Repeat(fmt.Sprintf("*a%d,", i-1), 10))
	}
	bomb += "name: web\nscale: {<<: *a10}\n"

	for _, tc := range []struct {
		name, yaml, field, msg string
	}{
		{"env", repeat("name: web\nenv:\n", "  K#: v\n", MaxEnv+1), "env", "has 1001 entries; at most 1000"},
		{"labels", repeat("name: web\nlabels:\n", "  k#: v\n", MaxLabels+1), "labels", "at most 100"},
		{"routes", repeat("name: web\nroutes:\n", "  - path: /#\n", MaxRoutes+1), "routes", "at most 100"},
		{"aliases", bomb, "", "too many aliases"},
	} {
		_, err := Parse("berth.yaml", []byte(tc.yaml))
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("%s: Parse: %v; want a *ValidationError", tc.name, err)
		}
		if p := ve.Problems[0]; p.Field != tc.field || !strings.Contains(p.Message, tc.msg) {
			t.Errorf("%s: first problem %q; want field %q and %q", tc.name, p, tc.field, tc.msg)
		}
	}

	_, err := Parse("berth.yaml", []byte(repeat("name: web\n", "x#: 1\n", 150)))
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != maxProblems+1 || !strings.Contains(ve.Problems[maxProblems].Message, "and 50 more problems") {
		t.Errorf("150 unknown fields: got %d problems, want %d and a last one counting the rest", len(ve.Problems), maxProblems+1)
	}
}

// TestExplicitZeroIsAnError: a zero the user wrote is named, not silently
// replaced by the default.
func TestExplicitZeroIsAnError(t *testing.T) {
	for _, tc := range []struct{ yaml, field string }{
		{"name: a\nport: 0\n", "port"},
		{"name: a\nscale:\n  concurrency: 0\n", "scale.concurrency"},
		{"name: a\nlimits:\n  idle_timeout: 0s\n", "limits.idle_timeout"},
		{"name: a\nlimits:\n  request_timeout: 0s\n", "limits.request_timeout"},
	} {
		_, err := Parse("berth.yaml", []byte(tc.yaml))
		var ve *ValidationError
		if !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Field != tc.field || !strings.Contains(ve.Problems[0].Message, "between") {
			t.Errorf("Parse(%q) = %v; want one problem on %s naming the range", tc.yaml, err, tc.field)
		}
	}
}

// TestPortAutoAndNumber: port is a number or "auto", absent is auto, and
// both survive the JSON round trip through the store.
func TestPortAutoAndNumber(t *testing.T) {
	for _, tc := range []struct {
		yaml     string
		want     Port
		json     string
		envValue int
	}{
		{"name: a\n", PortAuto, `"auto"`, DefaultPort},
		{"name: a\nport: auto\n", PortAuto, `"auto"`, DefaultPort},
		{"name: a\nport: 9123\n", 9123, `9123`, 9123},
	} {
		m, err := Parse("berth.yaml", []byte(tc.yaml))
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.yaml, err)
		}
		if m.Port != tc.want || m.EnvPortValue() != tc.envValue {
			t.Errorf("Parse(%q): port %v, PORT %d; want %v, %d", tc.yaml, m.Port, m.EnvPortValue(), tc.want, tc.envValue)
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"port":`+tc.json) {
			t.Errorf("JSON of %q = %s; want port %s", tc.yaml, b, tc.json)
		}
		var back Manifest
		if err := json.Unmarshal(b, &back); err != nil || back.Port != tc.want {
			t.Errorf("JSON round trip of %q: port %v, %v; want %v", tc.yaml, back.Port, err, tc.want)
		}
	}
	var old Manifest // a revision stored before port discovery
	if err := json.Unmarshal([]byte(`{"name":"a","port":8080}`), &old); err != nil || old.Port != 8080 {
		t.Errorf("old stored port: %v, %v", old.Port, err)
	}
	if err := json.Unmarshal([]byte(`{"name":"a","port":"8080"}`), &old); err == nil {
		t.Error("a JSON port string other than \"auto\" was accepted")
	}
}
