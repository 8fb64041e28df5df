package manifest

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Port is the TCP port an app listens on: a number, or PortAuto to have Berth
// discover it after the instance starts. Written as a number or "auto".
type Port int

// PortAuto (zero, and so also an absent port) asks for port discovery.
const PortAuto Port = 0

// PortAutoName is PortAuto as written in berth.yaml and in JSON.
const PortAutoName = "auto"

// portSyntax says what a port must look like.
var portSyntax = fmt.Sprintf("must be a whole number between %d and %d, or %q to discover the port the app listens on", MinPort, MaxPort, PortAutoName)

// Auto reports whether the port is to be discovered.
func (p Port) Auto() bool { return p == PortAuto }

// String is the port's number, or "auto".
func (p Port) String() string {
	if p.Auto() {
		return PortAutoName
	}
	return strconv.Itoa(int(p))
}

// parsePort reads "auto" or a number in range.
func parsePort(s string) (Port, error) {
	if s == PortAutoName {
		return PortAuto, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < MinPort || n > MaxPort {
		return 0, fmt.Errorf("%s", portSyntax)
	}
	return Port(n), nil
}

// UnmarshalYAML accepts a whole number (1–65535) or "auto". An explicit 0 is
// an error: absent means auto, a zero is more likely a mistake.
func (p *Port) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("%s, not %s", portSyntax, describeKind(n))
	}
	switch n.ShortTag() {
	case "!!int":
	case "!!str":
		if n.Value != PortAutoName {
			if strings.TrimSpace(n.Value) != "" && strings.Trim(n.Value, "0123456789") == "" {
				return fmt.Errorf("%s; write it without quotes", portSyntax)
			}
			return fmt.Errorf("%s", portSyntax)
		}
	default:
		return fmt.Errorf("%s, not %s", portSyntax, describeKind(n))
	}
	v, err := parsePort(n.Value)
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// MarshalYAML writes a number or "auto".
func (p Port) MarshalYAML() (any, error) {
	if p.Auto() {
		return PortAutoName, nil
	}
	return int(p), nil
}

// MarshalJSON writes a number or "auto".
func (p Port) MarshalJSON() ([]byte, error) {
	if p.Auto() {
		return json.Marshal(PortAutoName)
	}
	return json.Marshal(int(p))
}

// UnmarshalJSON reads a number or "auto" (revisions stored before port
// discovery hold a number). A JSON 0 is read as auto.
func (p *Port) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		if s != PortAutoName {
			return fmt.Errorf("port %q: %s", s, portSyntax)
		}
		*p = PortAuto
		return nil
	}
	var n int
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("port: %s", portSyntax)
	}
	*p = Port(n)
	return nil
}
