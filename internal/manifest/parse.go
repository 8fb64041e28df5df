package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

// Parse decodes data, the contents of the manifest file (file is its name as
// the user knows it, for messages), fills the defaults and validates it. On
// any problem it returns a *ValidationError listing all the problems of the
// file at once; only a file that is not YAML at all (or is empty, or holds
// several documents) is reported with that one problem.
//
// Decoding is strict: a field that Manifest does not have is an error.
func Parse(file string, data []byte) (*Manifest, error) {
	root, p := parseDocument(data)
	if p != nil {
		return nil, &ValidationError{File: file, Problems: []Problem{*p}}
	}

	// Check the tree against the types first, reporting every unknown field
	// and mistyped value; what does not fit is taken out of the tree.
	w := newSchemaWalker()
	if root.Kind != yaml.MappingNode {
		w.problem(root, "", scalarValue(root), "the manifest must be a mapping of fields (name: …, image: …), not "+describeKind(root))
		return nil, w.ps.err(file)
	}
	w.walk(root, reflect.TypeFor[Manifest](), "")
	if w.budget < 0 {
		return nil, problems{{Message: "the file is too complex to check (too many aliases)", Line: 1}}.err(file)
	}

	m := new(Manifest)
	if err := root.Decode(m); err != nil && len(w.ps) == 0 {
		// The walk checks what decoding checks; this is a safety net.
		return nil, problems{yamlProblem(err, data)}.err(file)
	}
	ps := append(w.ps, explicitZeros(m, w)...)
	verr := m.Validate(file)
	var ve *ValidationError
	if errors.As(verr, &ve) {
		for _, vp := range ve.Problems {
			if vp.Field != "" && w.isBad(vp.Field) {
				continue // the walk reported this field already
			}
			vp.Line = w.lineOf(vp.Field)
			ps = append(ps, vp)
		}
	}
	if len(ps) > 0 {
		sortByLine(ps)
		if len(ps) > maxProblems {
			more := len(ps) - maxProblems
			ps = append(ps[:maxProblems], Problem{Message: fmt.Sprintf("and %d more problems; fix these first", more)})
		}
		return nil, ps.err(file)
	}
	return m, nil
}

// maxProblems bounds the problems Parse reports for one file.
const maxProblems = 100

// parseDocument parses data as one YAML document and returns its root node,
// or the problem that prevents it.
func parseDocument(data []byte) (*yaml.Node, *Problem) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, emptyProblem()
		}
		p := yamlProblem(err, data)
		return nil, &p
	}
	if len(doc.Content) != 1 || isNull(doc.Content[0]) {
		return nil, emptyProblem()
	}
	// A second document, unless it is empty ("---" at the end), is a mistake.
	for {
		var next yaml.Node
		err := dec.Decode(&next)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			p := yamlProblem(err, data)
			return nil, &p
		}
		if len(next.Content) == 1 && !isNull(next.Content[0]) {
			return nil, &Problem{
				Message: "the file holds more than one YAML document (another starts after a \"---\"); put the whole manifest in one",
				Line:    next.Content[0].Line,
			}
		}
	}
	return doc.Content[0], nil
}

func emptyProblem() *Problem {
	return &Problem{Message: `the manifest is empty; it needs at least a name, e.g. "name: gif-maker"`}
}

var yamlLineRE = regexp.MustCompile(`^yaml: line ([0-9]+): (.*)$`)

// yamlProblem turns a yaml.v3 syntax error into a Problem with its line.
func yamlProblem(err error, data []byte) Problem {
	p := Problem{Message: "not valid YAML: " + err.Error()}
	if sm := yamlLineRE.FindStringSubmatch(err.Error()); sm != nil {
		p.Line, _ = strconv.Atoi(sm[1])
		p.Message = "not valid YAML: " + sm[2]
	}
	if bytes.ContainsRune(data, '\t') {
		p.Message += " (YAML indents with spaces; the file has tabs)"
	}
	return p
}

// explicitZeros reports numeric fields written as 0 (or "0s"): absent fields
// take their defaults, but a zero the user wrote is a mistake to name, not a
// request for the default. The fields are marked bad so Validate's defaulted
// value is not reported again.
func explicitZeros(m *Manifest, w *schemaWalker) problems {
	var ps problems
	present := func(path string) bool { _, ok := w.lines[path]; return ok }
	for _, f := range []struct {
		path string
		zero bool
	}{
		{"scale.concurrency", m.Scale.Concurrency == 0},
	} {
		if f.zero && present(f.path) && !w.isBad(f.path) {
			ps = append(ps, Problem{Field: f.path, Value: "0", Message: "must be" + intRange(f.path), Line: w.lines[f.path]})
			w.bad = append(w.bad, f.path)
		}
	}
	for _, f := range []struct {
		path   string
		d      Duration
		lo, hi time.Duration
	}{
		{"limits.idle_timeout", m.Limits.IdleTimeout, MinIdleTimeout, MaxIdleTimeout},
		{"limits.max_duration", m.Limits.MaxDuration, MinMaxDuration, MaxMaxDuration},
		{"limits.request_timeout", m.Limits.RequestTimeout, MinRequestTimeout, MaxRequestTimeout},
	} {
		if f.d == 0 && present(f.path) && !w.isBad(f.path) {
			ps = append(ps, Problem{Field: f.path, Value: "0s", Line: w.lines[f.path],
				Message: fmt.Sprintf("must be a duration between %s and %s", Duration(f.lo), Duration(f.hi))})
			w.bad = append(w.bad, f.path)
		}
	}
	return ps
}
