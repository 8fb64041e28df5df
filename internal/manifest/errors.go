package manifest

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// ValidationError lists every problem found in one manifest file.
type ValidationError struct {
	// File is the manifest's file name as the user knows it ("berth.yaml").
	File string `json:"file"`
	// Problems, in the order of the file where lines are known.
	Problems []Problem `json:"problems"`
}

// Problem is one thing wrong with a manifest.
type Problem struct {
	// Field is the dotted path of the field: "scale.concurrency",
	// "routes[1].host", "env.FOO", `labels["app.kubernetes.io/name"]`. Empty
	// when the problem is the file itself (not YAML, empty, …).
	Field string `json:"field,omitempty"`
	// Value is the offending value as written; empty when there is none
	// (a missing field) or it is not a scalar.
	Value string `json:"value,omitempty"`
	// Message says what is wrong and what is allowed.
	Message string `json:"message"`
	// Line is the 1-based line in the file, when known (Parse knows it,
	// Validate of a decoded manifest does not).
	Line int `json:"line,omitempty"`
}

// String formats p as `scale.concurrency: "0": must be between 1 and 256 (line 7)`.
func (p Problem) String() string {
	var b strings.Builder
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	if p.Value != "" {
		b.WriteString(strconv.Quote(p.Value))
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	if p.Line > 0 {
		fmt.Fprintf(&b, " (line %d)", p.Line)
	}
	return b.String()
}

// Error returns one line per problem, each prefixed by the file name, after a
// header line ("berth.yaml: 3 problems") when there are several.
func (e *ValidationError) Error() string {
	file := e.File
	if file == "" {
		file = DefaultFile
	}
	switch len(e.Problems) {
	case 0:
		return file + ": invalid manifest"
	case 1:
		return file + ": " + e.Problems[0].String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d problems", file, len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n")
		b.WriteString(file)
		b.WriteString(": ")
		b.WriteString(p.String())
	}
	return b.String()
}

// problems collects Problems.
type problems []Problem

func (ps *problems) add(field, value, format string, args ...any) {
	*ps = append(*ps, Problem{Field: field, Value: value, Message: fmt.Sprintf(format, args...)})
}

// err returns nil when there are no problems, else a *ValidationError.
func (ps problems) err(file string) error {
	if len(ps) == 0 {
		return nil
	}
	return &ValidationError{File: file, Problems: ps}
}

// sortByLine orders problems by line, keeping the order of equal lines; those
// without a line (a missing required field) come first.
func sortByLine(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
}

var plainKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// keyPath is the path of a map entry: "env.FOO", or `labels["a.b/c"]` when the
// key would read ambiguously after a dot.
func keyPath(parent, key string) string {
	if plainKey.MatchString(key) {
		return parent + "." + key
	}
	return parent + "[" + strconv.Quote(key) + "]"
}

// indexPath is the path of a list item: "routes[1]".
func indexPath(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}

// under reports whether path is prefix or lies beneath it.
func under(path, prefix string) bool {
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	rest := path[len(prefix):]
	return rest == "" || rest[0] == '.' || rest[0] == '['
}
