package manifest

import (
	"fmt"
	"regexp"
	"strings"
)

// Instances configures per-key instances: like a Durable Object or
// Cloudflare's getContainer(id), every distinct key gets its own instance,
// and every request with that key goes to it while it lives.
type Instances struct {
	// Key says where the key is read: "header:NAME", "cookie:NAME" or
	// "path:/PREFIX/{key}/" (the key is the path segment at {key}).
	Key string `yaml:"key,omitempty" json:"key,omitempty"`
	// StripPrefix removes the path up to and including the key before the
	// request reaches the instance (only for path keys).
	StripPrefix bool `yaml:"strip_prefix,omitempty" json:"strip_prefix,omitempty"`
}

// KeySource is a parsed Instances.Key.
type KeySource struct {
	// Kind is "header", "cookie" or "path".
	Kind string
	// Name is the header or cookie name; for a path key, the prefix before
	// {key} (e.g. "/s/").
	Name string
}

// Describe names the source for error messages: `header "X-Session-Id"`.
func (k KeySource) Describe() string {
	if k.Kind == "path" {
		return fmt.Sprintf("path segment after %q", k.Name)
	}
	return fmt.Sprintf("%s %q", k.Kind, k.Name)
}

var (
	headerNameRE = regexp.MustCompile(`^[A-Za-z0-9!#$%&'*+.^_|~-]+$`)
	cookieNameRE = headerNameRE
	// KeyRE is what a key may look like once extracted: it reaches labels,
	// logs and the instance's environment, so it is kept plain.
	KeyRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
)

// KeyRule describes KeyRE for messages.
const KeyRule = "1–128 characters of letters, digits, '.', '_' and '-', starting with a letter or digit"

// ParseKeySource reads an instances.key value.
func ParseKeySource(s string) (KeySource, error) {
	kind, rest, ok := strings.Cut(s, ":")
	switch {
	case !ok || rest == "":
	case kind == "header" && headerNameRE.MatchString(rest):
		return KeySource{Kind: kind, Name: rest}, nil
	case kind == "cookie" && cookieNameRE.MatchString(rest):
		return KeySource{Kind: kind, Name: rest}, nil
	case kind == "path":
		prefix, after, found := strings.Cut(rest, "{key}")
		if found && strings.HasPrefix(prefix, "/") && strings.HasSuffix(prefix, "/") && (after == "" || after == "/") &&
			urlPathProblem(prefix, false) == "" {
			return KeySource{Kind: kind, Name: prefix}, nil
		}
	}
	return KeySource{}, fmt.Errorf(`must be "header:NAME", "cookie:NAME" or "path:/PREFIX/{key}/", e.g. "header:X-Session-Id"`)
}

// Keyed reports whether the app gives each key its own instance.
func (m *Manifest) Keyed() bool { return m.Instances.Key != "" }

// KeySource returns the parsed key source of a validated keyed manifest.
func (m *Manifest) KeySource() KeySource {
	k, _ := ParseKeySource(m.Instances.Key)
	return k
}

func (m *Manifest) checkInstances(ps *problems) {
	in := m.Instances
	if in.Key == "" {
		if in.StripPrefix {
			ps.add("instances.strip_prefix", "true", "needs instances.key to be a path key")
		}
		return
	}
	k, err := ParseKeySource(in.Key)
	if err != nil {
		ps.add("instances.key", in.Key, "%s", err.Error())
		return
	}
	if in.StripPrefix && k.Kind != "path" {
		ps.add("instances.strip_prefix", "true", "only applies to a path key (path:/PREFIX/{key}/)")
	}
}
