package manifest

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/berth-dev/berth/internal/runtime"
)

// Kinds of manifest: the top-level kind field. An absent kind is an app.
const (
	KindApp = "app"
	KindJob = "job"
)

// Job defaults and ranges.
const (
	DefaultParallelism = 1
	MinParallelism     = 1
	MaxParallelism     = 100

	DefaultRetries = 3
	MinRetries     = 0
	MaxRetries     = 10

	DefaultJobTimeout = 10 * time.Minute
	MinJobTimeout     = time.Second
	MaxJobTimeout     = 24 * time.Hour

	// MaxArgs bounds command and args.
	MaxArgs = 1000
)

// Job is a parsed, defaulted and validated `kind: job` manifest: a container
// that runs to completion, once per execution, with retries and a timeout.
type Job struct {
	// Kind is "job".
	Kind string `yaml:"kind" json:"kind"`
	// Name is the job's name, a DNS label like an app's.
	Name string `yaml:"name" json:"name"`
	// Image and Build say what runs, as for an app.
	Image string `yaml:"image,omitempty" json:"image,omitempty"`
	Build *Build `yaml:"build,omitempty" json:"build,omitempty"`
	// Command, when set, replaces the image's ENTRYPOINT; Args its CMD.
	// An execution may override Args.
	Command []string `yaml:"command,omitempty" json:"command,omitempty"`
	Args    []string `yaml:"args,omitempty" json:"args,omitempty"`
	// Env is extra environment; an execution may add to it.
	Env    map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
	Slot   string            `yaml:"slot,omitempty" json:"slot,omitempty"`
	CPU    string            `yaml:"cpu,omitempty" json:"cpu,omitempty"`
	Memory string            `yaml:"memory,omitempty" json:"memory,omitempty"`
	// Parallelism is the most executions of this job that run at once (1–100, default 1).
	Parallelism int `yaml:"parallelism,omitempty" json:"parallelism"`
	// Retries is how many times a failed attempt is retried (0–10, default 3).
	Retries *int `yaml:"retries,omitempty" json:"retries"`
	// Timeout bounds one attempt (1s–24h, default 10m).
	Timeout Duration `yaml:"timeout,omitempty" json:"timeout"`
	// Isolation is the sandbox: "runc" (default) or "gvisor".
	Isolation string            `yaml:"isolation,omitempty" json:"isolation"`
	Labels    map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
}

func init() {
	// The schema walk names these ranges in its type errors.
	intRanges["parallelism"] = [2]int{MinParallelism, MaxParallelism}
	intRanges["retries"] = [2]int{MinRetries, MaxRetries}
	maxEntries["command"] = MaxArgs
	maxEntries["args"] = MaxArgs
}

// KindOf returns the kind field of the manifest in data as written ("app"
// when it has none). It does not validate: a file that is not YAML, or
// whose kind is not a string, is "app" and Parse reports what is wrong.
func KindOf(data []byte) string {
	root, p := parseDocument(data)
	if p != nil || root.Kind != yaml.MappingNode {
		return KindApp
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := resolve(root.Content[i]), resolve(root.Content[i+1])
		if k != nil && k.Value == "kind" && v != nil && v.Kind == yaml.ScalarNode && !isNull(v) {
			return v.Value
		}
	}
	return KindApp
}

// checkKind is the app manifest's check of its kind field.
func (m *Manifest) checkKind(ps *problems) {
	switch m.Kind {
	case "", KindApp:
	case KindJob:
		ps.add("kind", m.Kind, "this is a job manifest; it has the fields of a job (see docs/jobs.md), not an app's")
	default:
		ps.add("kind", m.Kind, `must be "app" (the default) or "job"`)
	}
}

// ParseJob is Parse for a `kind: job` manifest: strict decoding, defaults,
// and every problem at once as a *ValidationError.
func ParseJob(file string, data []byte) (*Job, error) {
	root, p := parseDocument(data)
	if p != nil {
		return nil, &ValidationError{File: file, Problems: []Problem{*p}}
	}
	w := newSchemaWalker()
	if root.Kind != yaml.MappingNode {
		w.problem(root, "", scalarValue(root), "the manifest must be a mapping of fields (kind: job, name: …), not "+describeKind(root))
		return nil, w.ps.err(file)
	}
	w.walk(root, reflect.TypeFor[Job](), "")
	if w.budget < 0 {
		return nil, problems{{Message: "the file is too complex to check (too many aliases)", Line: 1}}.err(file)
	}
	j := new(Job)
	if err := root.Decode(j); err != nil && len(w.ps) == 0 {
		return nil, problems{yamlProblem(err, data)}.err(file)
	}
	ps := append(w.ps, j.explicitZeros(w)...)
	for _, vp := range j.check() {
		if vp.Field != "" && w.isBad(vp.Field) {
			continue
		}
		vp.Line = w.lineOf(vp.Field)
		ps = append(ps, vp)
	}
	if len(ps) == 0 {
		return j, nil
	}
	sortByLine(ps)
	if len(ps) > maxProblems {
		more := len(ps) - maxProblems
		ps = append(ps[:maxProblems], Problem{Message: fmt.Sprintf("and %d more problems; fix these first", more)})
	}
	return nil, ps.err(file)
}

// Validate fills j's defaults and checks every field, like Manifest.Validate.
func (j *Job) Validate(file string) error {
	if j == nil {
		return &ValidationError{File: file, Problems: []Problem{{Message: "there is no job manifest"}}}
	}
	return j.check().err(file)
}

// RetryLimit is the number of retries after a failed attempt.
func (j *Job) RetryLimit() int {
	if j.Retries == nil {
		return DefaultRetries
	}
	return *j.Retries
}

// Resources is the CPU and memory of one attempt's container.
func (j *Job) Resources() runtime.Resources {
	return (&Manifest{Slot: j.Slot, CPU: j.CPU, Memory: j.Memory}).Resources()
}

// explicitZeros reports parallelism and timeout written as 0, which would
// otherwise silently become their defaults.
func (j *Job) explicitZeros(w *schemaWalker) problems {
	var ps problems
	if _, ok := w.lines["parallelism"]; ok && j.Parallelism == 0 && !w.isBad("parallelism") {
		ps = append(ps, Problem{Field: "parallelism", Value: "0", Line: w.lines["parallelism"], Message: "must be" + intRange("parallelism")})
		w.bad = append(w.bad, "parallelism")
	}
	if _, ok := w.lines["timeout"]; ok && j.Timeout == 0 && !w.isBad("timeout") {
		ps = append(ps, Problem{Field: "timeout", Value: "0s", Line: w.lines["timeout"],
			Message: fmt.Sprintf("must be a duration between %s and %s", Duration(MinJobTimeout), Duration(MaxJobTimeout))})
		w.bad = append(w.bad, "timeout")
	}
	return ps
}

func (j *Job) setDefaults() {
	if j.Kind == "" {
		j.Kind = KindJob
	}
	if len(j.Env) == 0 {
		j.Env = nil
	}
	if len(j.Labels) == 0 {
		j.Labels = nil
	}
	if len(j.Command) == 0 {
		j.Command = nil
	}
	if len(j.Args) == 0 {
		j.Args = nil
	}
	src := Manifest{Image: j.Image, Build: j.Build, Slot: j.Slot, CPU: j.CPU, Memory: j.Memory}
	src.setDefaults()
	j.Build, j.Slot, j.CPU, j.Memory = src.Build, src.Slot, src.CPU, src.Memory
	if j.Parallelism == 0 {
		j.Parallelism = DefaultParallelism
	}
	if j.Retries == nil {
		r := DefaultRetries
		j.Retries = &r
	}
	if j.Timeout == 0 {
		j.Timeout = Duration(DefaultJobTimeout)
	}
	if j.Isolation == "" {
		j.Isolation = runtime.IsolationRunc
	}
}

// check fills the defaults and returns every problem, without lines.
func (j *Job) check() problems {
	j.setDefaults()
	var ps problems
	if j.Kind != KindJob {
		ps.add("kind", j.Kind, `must be "job" in a job manifest`)
	}
	switch {
	case j.Name == "":
		ps.add("name", "", "is required: the job's name, %s", nameRule)
	case len(j.Name) > MaxNameLength:
		ps.add("name", j.Name, "is %d characters long; must be at most %d", len(j.Name), MaxNameLength)
	case !nameRE.MatchString(j.Name):
		ps.add("name", j.Name, "must be %s", nameRule)
	}
	// The fields a job shares with an app are checked by the app's rules.
	shared := &Manifest{Image: j.Image, Build: j.Build, Slot: j.Slot, CPU: j.CPU, Memory: j.Memory, Labels: j.Labels}
	shared.checkSource(&ps)
	shared.checkSize(&ps)
	shared.checkLabels(&ps)
	checkArgs(&ps, "command", j.Command, true)
	checkArgs(&ps, "args", j.Args, false)
	if len(j.Env) > MaxEnv {
		ps.add("env", "", "%s", tooMany(len(j.Env), MaxEnv))
	} else {
		for _, k := range sortedKeys(j.Env) {
			if msg := EnvProblem(k, j.Env[k]); msg != "" {
				ps.add(keyPath("env", k), "", "%s", msg)
			}
		}
	}
	checkInt(&ps, "parallelism", j.Parallelism)
	checkInt(&ps, "retries", j.RetryLimit())
	checkDuration(&ps, "timeout", j.Timeout, MinJobTimeout, MaxJobTimeout, DefaultJobTimeout)
	switch j.Isolation {
	case runtime.IsolationRunc, runtime.IsolationGVisor:
	default:
		ps.add("isolation", j.Isolation, "must be %q (the default) or %q", runtime.IsolationRunc, runtime.IsolationGVisor)
	}
	return ps
}

// checkArgs checks a command or args list.
func checkArgs(ps *problems, path string, args []string, command bool) {
	if len(args) > MaxArgs {
		ps.add(path, "", "%s", tooMany(len(args), MaxArgs))
		return
	}
	for i, a := range args {
		switch {
		case strings.ContainsRune(a, 0):
			ps.add(indexPath(path, i), "", "must not contain a NUL character")
		case command && i == 0 && a == "":
			ps.add(indexPath(path, i), "", `the program to run must not be empty, e.g. command: ["/bin/sh", "-c"]`)
		}
	}
}

// EnvProblem says what is wrong with one environment variable of a job (in
// the manifest or an execution's overrides), or returns "".
func EnvProblem(name, value string) string {
	switch {
	case !envNameRE.MatchString(name):
		return `names must be letters, digits and '_', not starting with a digit, e.g. "LOG_LEVEL"`
	case strings.HasPrefix(name, ReservedEnvPrefix):
		return fmt.Sprintf("is reserved: names starting with %s are set by Berth", ReservedEnvPrefix)
	case strings.ContainsRune(value, 0):
		return "values must not contain a NUL character"
	}
	return ""
}
