package manifest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// String formats d like time.Duration.String but without zero trailing units:
// "90s", "1m", "1m30s", "1h", "1.5s".
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// durationSyntax says what a duration must look like.
const durationSyntax = `a duration with a unit, e.g. "90s", "1m" or "1m30s" (units: ms, s, m, h)`

// ParseDuration parses a Go duration string ("90s", "1m30s"). A bare number,
// even 0, is an error: write a unit.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("must be " + durationSyntax)
	}
	if isBareNumber(s) {
		return 0, fmt.Errorf("must have a unit: write %q or %q, not %s", s+"s", s+"m", s)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New("must be " + durationSyntax)
	}
	return Duration(d), nil
}

// isBareNumber reports whether s is a number without a unit ("2", "1.5", "-3").
func isBareNumber(s string) bool {
	s = strings.TrimLeft(s, "+-")
	if s == "" {
		return false
	}
	dot := false
	for _, c := range s {
		switch {
		case c == '.' && !dot:
			dot = true
		case c < '0' || c > '9':
			return false
		}
	}
	return s != "."
}

// UnmarshalYAML accepts a duration string ("90s", "1m", "1m30s"). A bare
// integer is an error asking for a unit.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("must be " + durationSyntax + ", not " + describeKind(n))
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalYAML writes d as its String.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalJSON writes d as a JSON string such as "1m30s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a JSON string such as "1m30s". A JSON number is taken
// as nanoseconds, the way encoding/json writes a time.Duration.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] != '"' {
		var n int64
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("duration: want a string such as \"90s\": %w", err)
		}
		*d = Duration(n)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = v
	return nil
}
