package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/client"
)

// TestAPIRequiresToken: every API call without a valid token is 401 problem+json.
func TestAPIRequiresToken(t *testing.T) {
	s, _ := newPlatform(t)
	fi, err := os.Stat(filepath.Join(s.dir, "admin.token"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin.token: %v, mode %v; want 0600", err, fi.Mode())
	}
	for _, tc := range []struct{ method, path, auth string }{
		{"GET", "/v1/apps", ""},
		{"GET", "/v1/apps", "Bearer wrong"},
		{"GET", "/v1/version", "Basic YWRtaW46YWRtaW4="},
		{"DELETE", "/v1/apps/x", ""},
		{"POST", "/v1/deploy", ""},
		{"GET", "/v1/nothing-here", ""},
	} {
		req, _ := http.NewRequest(tc.method, s.info.API+tc.path, nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var p client.Problem
		json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		if resp.StatusCode != 401 || resp.Header.Get("Content-Type") != "application/problem+json" || p.Status != 401 {
			t.Errorf("%s %s with %q: %d %s %+v; want 401 problem+json", tc.method, tc.path, tc.auth, resp.StatusCode, resp.Header.Get("Content-Type"), p)
		}
	}
	// The CLI with a wrong token fails with one line and a non-zero exit.
	_, errOut, code := s.berth("apps", "--token", "nope")
	if code == 0 || !strings.Contains(errOut, "nauthorized") {
		t.Fatalf("berth apps --token nope: exit %d, stderr %q", code, errOut)
	}
}

// TestBadManifests: each bad manifest is refused with an error that names the
// file, the field, the value and what is allowed; all problems at once.
func TestBadManifests(t *testing.T) {
	s, _ := newPlatform(t)
	for _, tc := range []struct {
		name, manifest string
		want           []string
	}{
		{"concurrency out of range", "name: bad1\nscale:\n  concurrency: 0\n", []string{"berth.yaml", "scale.concurrency", "1 and 256"}},
		{"unknown field", "name: bad2\nreplicas: 3\n", []string{"berth.yaml", "replicas", "unknown field"}},
		{"bad name", "name: Bad_Name\n", []string{"berth.yaml", "name", "Bad_Name"}},
		{"idle timeout too long", "name: bad4\nlimits:\n  idle_timeout: 2h\n", []string{"limits.idle_timeout", "2h", "30m"}},
		{"bad slot", "name: bad5\nslot: huge\n", []string{"slot", "huge", "c.125-m512"}},
		{"image and build", "name: bad6\nimage: x:1\nbuild: {context: .}\n", []string{"image", "build"}},
		{"several problems at once", "name: bad7\nport: 70000\nscale:\n  concurrency: 999\nlimits:\n  max_duration: 1h\n",
			[]string{"port", "70000", "scale.concurrency", "999", "limits.max_duration", "1h"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := s.berth("deploy", appDir(t, tc.manifest))
			if code != 1 {
				t.Fatalf("exit %d; want 1\nstderr: %s", code, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q does not contain %q", errOut, w)
				}
			}
		})
	}
}
