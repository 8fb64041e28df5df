package manifest

import (
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// schemaWalker checks a YAML tree against the Go types it will be decoded
// into: the job of yaml.v3's KnownFields(true), except that it goes on after
// the first unknown field or type mismatch and reports each with its path and
// line. Entries that do not fit are removed from the tree (list items are
// nulled, to keep indexes) so that the decode that follows sees only what fits,
// and their paths are remembered so that validation does not report them twice.
type schemaWalker struct {
	ps     problems
	lines  map[string]int // path → line, for problems found later
	bad    []string       // paths with a problem
	budget int            // nodes left to visit; aliases can make a small file huge
}

// walkBudget bounds the nodes visited, aliases expanded.
const walkBudget = 100_000

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

func newSchemaWalker() *schemaWalker {
	return &schemaWalker{lines: make(map[string]int), budget: walkBudget}
}

func (w *schemaWalker) problem(n *yaml.Node, path, value, msg string) {
	w.ps = append(w.ps, Problem{Field: path, Value: value, Message: msg, Line: n.Line})
	w.bad = append(w.bad, path)
}

func (w *schemaWalker) line(path string, n *yaml.Node) {
	if _, ok := w.lines[path]; !ok {
		w.lines[path] = n.Line
	}
}

// lineOf returns the line of path, or of its nearest ancestor that has one.
func (w *schemaWalker) lineOf(path string) int {
	for path != "" {
		if l, ok := w.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return 0
		}
		path = path[:i]
	}
	return 0
}

// isBad reports whether path lies at or beneath a path with a problem.
func (w *schemaWalker) isBad(path string) bool {
	for _, b := range w.bad {
		if under(path, b) || b == "" {
			return true
		}
	}
	return false
}

// walk checks n against t; false means n does not fit.
func (w *schemaWalker) walk(n *yaml.Node, t reflect.Type, path string) bool {
	if w.budget--; w.budget < 0 {
		return true
	}
	n = resolve(n)
	if n == nil || isNull(n) {
		return true
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			w.problem(n, path, scalarValue(n), err.Error())
			return false
		}
		return true
	}
	if max, ok := maxEntries[path]; ok {
		if c := entryCount(n); c > max {
			w.problem(n, path, "", tooMany(c, max))
			return false
		}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return w.walk(n, t.Elem(), path)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			w.problem(n, path, scalarValue(n), "must be a mapping with the fields "+strings.Join(fieldNames(t), ", ")+", not "+describeKind(n))
			return false
		}
		w.entries(n, path, func(k, v *yaml.Node, key string) bool {
			f, ok := fieldByName(t, key)
			p := fieldPath(path, key)
			if !ok {
				msg := "unknown field"
				if len(w.ps) < maxProblems { // past that, the message is not shown
					msg = unknownField(key, fieldNames(t))
				}
				w.problem(k, p, "", msg)
				return false
			}
			w.line(p, k)
			return w.walk(v, f.Type, p)
		})
		return true
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			w.problem(n, path, scalarValue(n), "must be a mapping of names to strings, e.g. "+path+": {KEY: value}, not "+describeKind(n))
			return false
		}
		w.entries(n, path, func(k, v *yaml.Node, key string) bool {
			p := keyPath(path, key)
			w.line(p, k)
			return w.walk(v, t.Elem(), p)
		})
		return true
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.problem(n, path, scalarValue(n), "must be a list, not "+describeKind(n))
			return false
		}
		for i, item := range n.Content {
			p := indexPath(path, i)
			w.line(p, item)
			if !w.walk(item, t.Elem(), p) {
				n.Content[i] = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null", Line: item.Line, Column: item.Column}
			}
		}
		return true
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			w.problem(n, path, "", "must be a string, not "+describeKind(n))
			return false
		}
		return true
	case reflect.Int, reflect.Int64:
		var i int
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
			w.problem(n, path, scalarValue(n), "must be a whole number"+intRange(path))
			return false
		}
		return true
	}
	return true
}

// entries calls fn for each key/value pair of the mapping n, following merge
// keys ("<<: *defaults"), and removes the pairs fn rejects. A key set twice is
// a problem; a merged key that the mapping sets itself is overridden, as in
// yaml.v3.
func (w *schemaWalker) entries(n *yaml.Node, path string, fn func(k, v *yaml.Node, key string) bool) {
	seen := make(map[string]int)
	w.pairs(n, path, seen, false, fn)
}

func (w *schemaWalker) pairs(n *yaml.Node, path string, seen map[string]int, merged bool, fn func(k, v *yaml.Node, key string) bool) {
	if w.budget--; w.budget < 0 {
		return
	}
	keep := make([]*yaml.Node, 0, len(n.Content))
	var merges [][2]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if isMerge(k) {
			merges = append(merges, [2]*yaml.Node{k, v})
			continue
		}
		kr := resolve(k)
		if kr == nil || kr.Kind != yaml.ScalarNode {
			// Not w.problem: the parent's other entries are still worth checking.
			w.ps = append(w.ps, Problem{Field: path, Message: "keys must be strings, not " + describeKind(kr), Line: k.Line})
			continue
		}
		key := kr.Value
		if isNull(kr) {
			key = ""
		}
		if first, dup := seen[key]; dup {
			if !merged {
				w.problem(k, fieldPath(path, key), "", "is set twice (first on line "+strconv.Itoa(first)+"); keep one")
			}
			continue
		}
		seen[key] = k.Line
		if fn(k, v, key) {
			keep = append(keep, k, v)
		}
	}
	for _, kv := range merges {
		if w.merge(kv[1], path, seen, fn) {
			keep = append(keep, kv[0], kv[1])
		} else {
			w.ps = append(w.ps, Problem{Field: path, Value: "<<", Message: `a merge key must point to a mapping or a list of mappings, e.g. "<<: *defaults"`, Line: kv[0].Line})
		}
	}
	n.Content = keep
}

// merge walks the mapping(s) a merge key points to; false if it points to
// anything else.
func (w *schemaWalker) merge(v *yaml.Node, path string, seen map[string]int, fn func(k, v *yaml.Node, key string) bool) bool {
	v = resolve(v)
	if v == nil {
		return false
	}
	switch v.Kind {
	case yaml.MappingNode:
		w.pairs(v, path, seen, true, fn)
		return true
	case yaml.SequenceNode:
		for _, item := range v.Content {
			if item.Kind != yaml.AliasNode && item.Kind != yaml.MappingNode {
				return false
			}
			if r := resolve(item); r == nil || r.Kind != yaml.MappingNode {
				return false
			}
		}
		for _, item := range v.Content {
			w.pairs(resolve(item), path, seen, true, fn)
		}
		return true
	}
	return false
}

// entryCount is the number of items of a list or pairs of a mapping.
func entryCount(n *yaml.Node) int {
	if n.Kind == yaml.MappingNode {
		return len(n.Content) / 2
	}
	return len(n.Content)
}

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.AliasNode {
		return nil
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func isMerge(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Value == "<<" && (n.Tag == "" || n.Tag == "!" || n.ShortTag() == "!!merge")
}

func scalarValue(n *yaml.Node) string {
	if n != nil && n.Kind == yaml.ScalarNode {
		return n.Value
	}
	return ""
}

func describeKind(n *yaml.Node) string {
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	switch n.ShortTag() {
	case "!!int", "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	case "!!null":
		return "null"
	}
	return "a string"
}

// fieldPath is the path of a struct field.
func fieldPath(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

// yamlName is a struct field's name in YAML, or "" if it has none.
func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" || !f.IsExported() {
		return ""
	}
	if name == "" {
		return strings.ToLower(f.Name)
	}
	return name
}

func fieldNames(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		if name := yamlName(t.Field(i)); name != "" {
			names = append(names, name)
		}
	}
	return names
}

func fieldByName(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if f := t.Field(i); yamlName(f) == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// unknownField says that key is not one of allowed, suggesting the closest.
func unknownField(key string, allowed []string) string {
	msg := "unknown field; "
	if s := closest(key, allowed); s != "" {
		msg += "did you mean " + strconv.Quote(s) + "? "
	}
	return msg + "allowed fields are: " + strings.Join(allowed, ", ")
}

// closest returns the name in names that key most likely misspells, or "".
func closest(key string, names []string) string {
	squash := func(s string) string {
		return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(s))
	}
	best, bestDist := "", 3
	for _, name := range names {
		if squash(name) == squash(key) {
			return name
		}
		if d := editDistance(strings.ToLower(key), name); d < bestDist && 2*d < len(name) {
			best, bestDist = name, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
