package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/berth-dev/berth/client"
)

// TestPortDiscovery: an image with no EXPOSE whose app ignores $PORT and
// listens on 9123 answers without a port: line, from zero and after a
// restart of the instance, and `berth status` shows the discovered port.
func TestPortDiscovery(t *testing.T) {
	s, dc := newPlatform(t)
	s.mustBerth("deploy", appDir(t, "name: odd\nenv: {LISTEN_PORT: \"9123\"}\nlimits: {idle_timeout: 1s}\n"))
	for _, when := range []string{"from zero", "from sleep"} {
		if when == "from sleep" {
			waitAsleep(t, s, dc, "odd")
		}
		resp, body, err := s.get("odd.localhost", "/")
		if err != nil || resp.StatusCode != 200 || !strings.HasPrefix(body, "hello from ") {
			t.Fatalf("%s: %v %v %q", when, resp, err, body)
		}
		var app client.App
		if err := json.Unmarshal([]byte(s.mustBerth("status", "odd", "-o", "json")), &app); err != nil {
			t.Fatal(err)
		}
		if len(app.Instances) != 1 || app.Instances[0].Port != 9123 || !strings.HasSuffix(app.Instances[0].Addr, ":9123") {
			t.Fatalf("%s: status instances %+v; want one on the discovered port 9123", when, app.Instances)
		}
		var spec struct{ Port any }
		if err := json.Unmarshal(app.Spec, &spec); err != nil || spec.Port != "auto" {
			t.Fatalf("%s: spec %s; want port auto", when, app.Spec)
		}
	}
	if table := s.mustBerth("status", "odd"); !strings.Contains(table, "PORT") || !strings.Contains(table, " 9123 ") {
		t.Fatalf("berth status table lacks the port:\n%s", table)
	}
	cs := s.containers(t, dc, "odd")
	if len(cs) != 1 || len(cs[0].Ports) != 0 {
		t.Fatalf("containers %+v; want one with no published or exposed ports", cs)
	}
}
