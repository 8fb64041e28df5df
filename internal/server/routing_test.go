package server

import (
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/manifest"
)

func TestRouteScope(t *testing.T) {
	p := &platform{domain: "localhost"}
	for _, c := range []struct {
		ns, host, path string
		err            string // "" = allowed
	}{
		{"default", "gif.localhost", "", ""},
		{"default", "gif.example.com", "", ""},
		{"default", "", "/gif", ""},
		{"default", "web.team-a.localhost", "", "belongs to namespace NS"},
		{"default", "web.default.internal", "", "reserved"},
		{"team-a", "api.team-a.localhost", "", ""},
		{"team-a", "api.example.com", "/v1", ""},
		{"team-a", "api.localhost", "", "namespace team-a may use NAME.team-a.localhost"},
		{"team-a", "api.team-b.localhost", "", "namespace team-a may use NAME.team-a.localhost"},
		{"team-a", "", "/gif", "every route needs a host"},
		{"team-a", "web.team-b.internal", "", "reserved"},
	} {
		err := p.checkRouteScope(c.ns, []manifest.Route{{Host: c.host, Path: c.path}})
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "routes[0]")) {
			t.Errorf("ns %s host %q path %q: %v; want %q", c.ns, c.host, c.path, err, c.err)
		}
	}
	m := &manifest.Manifest{Name: "web"}
	if h := p.defaultHost("default", m); h != "web.localhost" {
		t.Errorf("default host in default = %q", h)
	}
	if h := p.defaultHost("team-a", m); h != "web.team-a.localhost" {
		t.Errorf("default host in team-a = %q", h)
	}
}
