package manifest

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"
)

// Validate fills m's defaults and checks every field. It returns nil, or a
// *ValidationError listing all the problems at once. Parse runs it after
// decoding; run it yourself on a manifest decoded elsewhere (a revision's spec
// read back from the store as JSON). It is idempotent.
func (m *Manifest) Validate(file string) error {
	if m == nil {
		return &ValidationError{File: file, Problems: []Problem{{Message: "there is no manifest"}}}
	}
	return m.check().err(file)
}

// check fills the defaults and returns every problem, without lines.
func (m *Manifest) check() problems {
	m.setDefaults()
	var ps problems
	m.checkKind(&ps) // job.go
	m.checkName(&ps)
	m.checkSource(&ps)
	if !m.Port.Auto() {
		checkInt(&ps, "port", int(m.Port))
	}
	checkOneOf(&ps, "protocol", m.Protocol, ProtocolHTTP1, ProtocolH2C, ProtocolGRPC)
	checkOneOf(&ps, "isolation", m.Isolation, IsolationRunc, IsolationGVisor)
	m.checkEnv(&ps)
	m.checkSize(&ps)
	checkInt(&ps, "scale.concurrency", m.Scale.Concurrency)
	checkDuration(&ps, "limits.idle_timeout", m.Limits.IdleTimeout, MinIdleTimeout, MaxIdleTimeout, DefaultIdleTimeout)
	checkDuration(&ps, "limits.max_duration", m.Limits.MaxDuration, MinMaxDuration, MaxMaxDuration, DefaultMaxDuration)
	checkDuration(&ps, "limits.request_timeout", m.Limits.RequestTimeout, MinRequestTimeout, MaxRequestTimeout, DefaultRequestTimeout)
	m.checkScaling(&ps)
	m.checkInstances(&ps)
	m.checkRoutes(&ps)
	if m.Health.Path != "" {
		if msg := urlPathProblem(m.Health.Path, true); msg != "" {
			ps.add("health.path", m.Health.Path, "%s", msg)
		}
	}
	m.checkLabels(&ps)
	return ps
}

// maxEntries bounds the maps and lists, by path.
var maxEntries = map[string]int{"env": MaxEnv, "labels": MaxLabels, "routes": MaxRoutes}

func tooMany(n, max int) string {
	return fmt.Sprintf("has %d entries; at most %d are allowed", n, max)
}

// intRanges are the allowed ranges of the integer fields, by path.
var intRanges = map[string][2]int{
	"port":              {MinPort, MaxPort},
	"scale.concurrency": {MinConcurrency, MaxConcurrency},
}

// intRange is " between MIN and MAX" for an integer field, or "".
func intRange(path string) string {
	if r, ok := intRanges[path]; ok {
		return fmt.Sprintf(" between %d and %d", r[0], r[1])
	}
	return ""
}

func checkInt(ps *problems, path string, v int) {
	if r := intRanges[path]; v < r[0] || v > r[1] {
		ps.add(path, fmt.Sprint(v), "must be%s", intRange(path))
	}
}

func checkOneOf(ps *problems, path, v string, allowed ...string) {
	if !slices.Contains(allowed, v) {
		ps.add(path, v, "must be one of %s", strings.Join(allowed, ", "))
	}
}

func checkDuration(ps *problems, path string, d Duration, lo, hi, example time.Duration) {
	if d.D() < lo || d.D() > hi {
		ps.add(path, d.String(), "must be a duration between %s and %s, e.g. %q", Duration(lo), Duration(hi), Duration(example).String())
	}
}

var nameRE = regexp.MustCompile(`^[a-z]([a-z0-9-]*[a-z0-9])?$`)

const nameRule = `a DNS label of lowercase letters, digits and '-', starting with a letter, not ending with '-', at most 40 characters, e.g. "gif-maker"`

func (m *Manifest) checkName(ps *problems) {
	switch {
	case m.Name == "":
		ps.add("name", "", "is required: the app's name, %s", nameRule)
	case len(m.Name) > MaxNameLength:
		ps.add("name", m.Name, "is %d characters long; must be at most %d", len(m.Name), MaxNameLength)
	case !nameRE.MatchString(m.Name):
		msg := "must be " + nameRule
		if lower := strings.ToLower(m.Name); lower != m.Name && nameRE.MatchString(lower) {
			msg += fmt.Sprintf(" (did you mean %q?)", lower)
		}
		ps.add("name", m.Name, "%s", msg)
	}
}

// imageRE loosely matches a Docker image reference: an optional registry,
// lowercase path components, an optional tag and an optional digest.
var imageRE = regexp.MustCompile(`^` +
	`(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]+)?/)?` + // registry[:port]/
	`[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*` + // path
	`(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?` + // :tag
	`(?:@[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,})?` + // @digest
	`$`)

// imageIDRE matches an image ID.
var imageIDRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

func (m *Manifest) checkSource(ps *problems) {
	if m.Image != "" && m.Build != nil {
		ps.add("image", m.Image, "image and build are both set; set exactly one: image to run an existing image, build to build one from a Dockerfile")
	}
	if m.Image != "" {
		switch {
		case strings.IndexFunc(m.Image, unicode.IsSpace) >= 0:
			ps.add("image", m.Image, "must not contain whitespace")
		case len(m.Image) > 512 || !imageRE.MatchString(m.Image) && !imageIDRE.MatchString(m.Image):
			ps.add("image", m.Image, `must be an image reference such as "nginx:1.27" or "registry.example.com/team/app@sha256:<digest>" (repository names are lowercase), or an image ID "sha256:<64 hex digits>"`)
		}
	}
	if m.Build != nil {
		if msg := relPathProblem(m.Build.Context, "the directory of the manifest"); msg != "" {
			ps.add("build.context", m.Build.Context, "%s", msg)
		}
		if msg := relPathProblem(m.Build.Dockerfile, "build.context"); msg != "" {
			ps.add("build.dockerfile", m.Build.Dockerfile, "%s", msg)
		}
	}
}

var drivePrefix = regexp.MustCompile(`^[A-Za-z]:`)

// relPathProblem checks a slash-separated path relative to base that must not
// leave base; it returns what is wrong, or "".
func relPathProblem(p, base string) string {
	switch {
	case strings.IndexFunc(p, unicode.IsControl) >= 0:
		return "must not contain control characters"
	case strings.HasPrefix(p, "/") || drivePrefix.MatchString(p):
		return fmt.Sprintf(`must be a path relative to %s, e.g. "." or "app"`, base)
	case strings.Contains(p, `\`):
		return `must use '/' as the path separator`
	}
	if c := path.Clean(p); c == ".." || strings.HasPrefix(c, "../") {
		return fmt.Sprintf(`must stay inside %s; ".." leads out of it`, base)
	}
	return ""
}

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (m *Manifest) checkEnv(ps *problems) {
	if len(m.Env) > MaxEnv {
		ps.add("env", "", "%s", tooMany(len(m.Env), MaxEnv))
		return
	}
	for _, k := range sortedKeys(m.Env) {
		p := keyPath("env", k)
		switch {
		case !envNameRE.MatchString(k):
			ps.add(p, "", `names must be letters, digits and '_', not starting with a digit, e.g. "LOG_LEVEL"`)
		case k == EnvPort:
			ps.add(p, "", "is reserved: Berth sets PORT to the value of port (%d); change port instead", m.EnvPortValue())
		case strings.HasPrefix(k, ReservedEnvPrefix):
			ps.add(p, "", "is reserved: names starting with %s are set by Berth", ReservedEnvPrefix)
		case strings.ContainsRune(m.Env[k], 0):
			ps.add(p, "", "values must not contain a NUL character")
		}
	}
}

func (m *Manifest) checkSize(ps *problems) {
	if m.Slot != "" && (m.CPU != "" || m.Memory != "") {
		both := "cpu"
		switch {
		case m.CPU != "" && m.Memory != "":
			both = "cpu and memory"
		case m.Memory != "":
			both = "memory"
		}
		ps.add("slot", m.Slot, "slot and %s are both set; set either slot (e.g. %q) or cpu and memory (e.g. cpu: 500m, memory: 1Gi)", both, DefaultSlot)
	}
	if m.Slot != "" {
		if _, err := ParseSlot(m.Slot); err != nil {
			ps.add("slot", m.Slot, "%v", err)
		}
	}
	if m.CPU != "" {
		if _, err := ParseCPU(m.CPU); err != nil {
			ps.add("cpu", m.CPU, "%v", err)
		}
	}
	if m.Memory != "" {
		if _, err := ParseMemory(m.Memory); err != nil {
			ps.add("memory", m.Memory, "%v", err)
		}
	}
}

func (m *Manifest) checkRoutes(ps *problems) {
	if len(m.Routes) > MaxRoutes {
		ps.add("routes", "", "%s", tooMany(len(m.Routes), MaxRoutes))
		return
	}
	seen := make(map[Route]int, len(m.Routes))
	for i, r := range m.Routes {
		p := indexPath("routes", i)
		if r.Host == "" && r.Path == "" {
			ps.add(p, "", `needs a host, a path or both, e.g. {host: gif.example.com} or {path: /gif}`)
			continue
		}
		if r.Host != "" {
			if msg := hostProblem(r.Host); msg != "" {
				ps.add(p+".host", r.Host, "%s", msg)
			}
		}
		if r.Path != "" {
			if msg := urlPathProblem(r.Path, false); msg != "" {
				ps.add(p+".path", r.Path, "%s", msg)
			}
		}
		if j, dup := seen[r]; dup {
			ps.add(p, "", "is the same route as routes[%d]; remove one", j)
		} else {
			seen[r] = i
		}
	}
}

var dnsLabelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// hostProblem checks a route's host; it returns what is wrong, or "".
func hostProblem(h string) string {
	const eg = `e.g. "gif.example.com"`
	switch {
	case strings.Contains(h, "://"):
		return "must be a host name without a scheme, " + eg
	case strings.Contains(h, "*"):
		return "wildcards are not supported; list each host in its own route"
	case strings.Contains(h, "/"):
		return "must be a host name only; put a path prefix in path"
	case strings.Contains(h, ":"):
		return "must be a host name without a port, " + eg
	case strings.ToLower(h) != h && dnsName(strings.ToLower(h)):
		return fmt.Sprintf("must be lowercase: %q", strings.ToLower(h))
	case !dnsName(h):
		return "must be a DNS name: dot-separated labels of lowercase letters, digits and '-' (at most 63 characters each, 253 in all), " + eg
	}
	return ""
}

// dnsName reports whether s is a lowercase DNS name without a trailing dot.
func dnsName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if !dnsLabelRE.MatchString(label) {
			return false
		}
	}
	return true
}

// urlPathProblem checks a route's path prefix (or, with query, a health
// path that may carry a query); it returns what is wrong, or "".
func urlPathProblem(p string, query bool) string {
	switch {
	case !strings.HasPrefix(p, "/"):
		return `must start with '/', e.g. "/gif"`
	case strings.IndexFunc(p, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return "must not contain spaces or control characters (write %20)"
	case strings.Contains(p, "#"):
		return "must not contain '#'"
	case !query && strings.Contains(p, "?"):
		return "must not contain '?': a route matches a path prefix, not a query"
	}
	p, _, _ = strings.Cut(p, "?")
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "." || seg == ".." {
			return `must not contain "." or ".." segments`
		}
	}
	return ""
}

var labelNameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$`)

const labelNameRule = `at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`

func (m *Manifest) checkLabels(ps *problems) {
	if len(m.Labels) > MaxLabels {
		ps.add("labels", "", "%s", tooMany(len(m.Labels), MaxLabels))
		return
	}
	for _, k := range sortedKeys(m.Labels) {
		p := keyPath("labels", k)
		prefix, name, hasPrefix := strings.Cut(k, "/")
		if !hasPrefix {
			name, prefix = k, ""
		}
		switch {
		case strings.HasPrefix(k, ReservedLabelPrefix) || hasPrefix && prefix == strings.TrimSuffix(ReservedLabelPrefix, "."):
			ps.add(p, "", "is reserved: keys starting with %q are Berth's own labels", ReservedLabelPrefix)
		case hasPrefix && !dnsName(prefix):
			ps.add(p, "", `the prefix before '/' must be a DNS name, e.g. "example.com/team"`)
		case !labelNameRE.MatchString(name):
			ps.add(p, "", `keys must be a name of %s, optionally after a DNS prefix and '/', e.g. "team" or "example.com/team"`, labelNameRule)
		}
		if v := m.Labels[k]; v != "" && !labelNameRE.MatchString(v) {
			ps.add(p, v, "values must be empty or %s", labelNameRule)
		}
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
