package cli

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/internal/server"
)

func TestDiscoveryFromDataDir(t *testing.T) {
	f := newFakeAPI(t)
	f.apps["web"] = client.App{Name: "web", Revision: 3, Status: "ready", URL: "http://web.localhost:8080/", Instances: []client.Instance{{ID: "i1"}},
		CreatedAt: time.Now().Add(-90 * time.Minute)}
	dir := dataDir(t, f.srv.URL, goodToken)

	// --data, BERTH_DATA and the default data directory all lead to it.
	home := t.TempDir()
	writeFile(t, filepath.Join(home, ".local/share/berth/server.json"), `{"api":"`+f.srv.URL+`"}`)
	writeFile(t, filepath.Join(home, ".local/share/berth/admin.token"), "  "+goodToken+"\n")
	for name, tc := range map[string]struct {
		env  map[string]string
		args []string
	}{
		"flag":    {nil, []string{"apps", "--data", dir}},
		"env":     {map[string]string{"BERTH_DATA": dir}, []string{"apps"}},
		"default": {map[string]string{"HOME": home}, []string{"apps"}},
	} {
		t.Run(name, func(t *testing.T) {
			r := runCLI(t, tc.env, tc.args...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
			if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "NAME REVISION STATUS IN-FLIGHT INSTANCES URL AGE" ||
				strings.Join(strings.Fields(lines[1]), " ") != "web 3 ready 0 1 http://web.localhost:8080/ 90m" {
				t.Errorf("apps table:\n%s", r.stdout)
			}
		})
	}
}

func TestFlagsBeatEnvBeatDiscovery(t *testing.T) {
	f := newFakeAPI(t)
	dead := deadAPI(t)
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"flags beat env", map[string]string{"BERTH_API": dead, "BERTH_TOKEN": "wrong"},
			[]string{"--api", f.srv.URL, "--token", goodToken}},
		{"env beats server.json and admin.token", map[string]string{"BERTH_API": f.srv.URL, "BERTH_TOKEN": goodToken,
			"BERTH_DATA": dataDir(t, dead, "wrong")}, nil},
		{"flags beat server.json and admin.token", map[string]string{"BERTH_DATA": dataDir(t, dead, "wrong")},
			[]string{"--api", f.srv.URL, "--token", goodToken}},
		{"empty env counts as unset", map[string]string{"BERTH_API": "", "BERTH_TOKEN": "", "BERTH_DATA": dataDir(t, f.srv.URL, goodToken)}, nil},
		{"api without scheme", nil, []string{"--api", strings.TrimPrefix(f.srv.URL, "http://"), "--token", goodToken}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := runCLI(t, tc.env, append([]string{"apps", "-o", "json"}, tc.args...)...); r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
		})
	}

	// The wrong token reaches the server and is refused in one line.
	r := runCLI(t, nil, "apps", "--api", f.srv.URL, "--token", "nope")
	if r.code != 1 || r.stderr != "berth: Unauthorized: send the admin token\n" {
		t.Errorf("wrong token: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestNoToken(t *testing.T) {
	dir := dataDir(t, "http://127.0.0.1:1", "")
	r := runCLI(t, map[string]string{"BERTH_DATA": dir}, "apps")
	if r.code != 1 || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "berth: no API token") ||
		!strings.Contains(r.stderr, "--token") || !strings.Contains(r.stderr, "BERTH_TOKEN") {
		t.Fatalf("exit %d, stderr %q; want one line saying how to give a token", r.code, r.stderr)
	}
}

func TestServerDown(t *testing.T) {
	env := map[string]string{"BERTH_API": deadAPI(t), "BERTH_TOKEN": goodToken}
	r := runCLI(t, env, "apps")
	if r.code != 1 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "berth server") {
		t.Errorf("apps with the server down: exit %d, stderr %q", r.code, r.stderr)
	}
	// version does not fail without a server.
	r = runCLI(t, env, "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "client: test\nserver: unreachable (") {
		t.Errorf("version with the server down: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, map[string]string{"BERTH_DATA": t.TempDir()}, "version")
	if r.code != 0 || !strings.Contains(r.stdout, "server: unreachable (no API token") {
		t.Errorf("version without a token: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// appDir makes a deployable directory with a .dockerignore.
func appDir(t *testing.T, manifest string) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "berth.yaml"), manifest)
	writeFile(t, filepath.Join(dir, "Dockerfile"), "FROM scratch\nCOPY app /app\n")
	writeFile(t, filepath.Join(dir, "main.go"), "package main\n")
	writeFile(t, filepath.Join(dir, "debug.log"), "noise\n")
	writeFile(t, filepath.Join(dir, "node_modules/lib/index.js"), "x\n")
	writeFile(t, filepath.Join(dir, "docs/a.md"), "a\n")
	writeFile(t, filepath.Join(dir, "docs/keep.md"), "keep\n")
	writeFile(t, filepath.Join(dir, "sub/debug.log"), "kept: *.log only matches at the root\n")
	writeFile(t, filepath.Join(dir, ".dockerignore"), "# comment\n*.log\n/node_modules\ndocs\n!docs/keep.md\n**/*.tmp\n")
	writeFile(t, filepath.Join(dir, "sub/deep/x.tmp"), "tmp\n")
	if err := os.WriteFile(filepath.Join(dir, "run.sh"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("main.go", filepath.Join(dir, "link.go")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestDeploySendsContext(t *testing.T) {
	f := newFakeAPI(t)
	env := map[string]string{"BERTH_DATA": dataDir(t, f.srv.URL, goodToken)}
	dir := appDir(t, "name: web\n")

	r := runCLI(t, env, "deploy", dir)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if want := "deployed web revision 1: http://web.localhost:8080/ (image berth.local/default/web:r1, 1.9 MB)\n"; r.stdout != want {
		t.Errorf("stdout = %q; want %q", r.stdout, want)
	}
	if r.stderr != "building web\nStep 1/2 : FROM scratch\n" {
		t.Errorf("stderr = %q; want the progress lines", r.stderr)
	}

	call := f.lastDeploy(t)
	if strings.Join(call.parts, ",") != "manifest,context" || call.manifestName != "berth.yaml" || call.manifest != "name: web\n" {
		t.Errorf("parts %v, manifest %q = %q", call.parts, call.manifestName, call.manifest)
	}
	var names []string
	for n := range call.files {
		names = append(names, n)
	}
	sort.Strings(names)
	want := []string{".dockerignore", "Dockerfile", "berth.yaml", "docs/keep.md", "link.go", "main.go", "run.sh", "sub/", "sub/debug.log", "sub/deep/"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("context entries:\n got %q\nwant %q", names, want)
	}
	if h := call.files["run.sh"]; h == nil || h.Mode&0o777 != 0o755 || h.Typeflag != tar.TypeReg {
		t.Errorf("run.sh header = %+v; want a regular file with mode 0755", h)
	}
	if h := call.files["link.go"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "main.go" {
		t.Errorf("link.go header = %+v; want a symlink to main.go", h)
	}
	if h := call.files["sub/"]; h == nil || h.Typeflag != tar.TypeDir {
		t.Errorf("sub/ header = %+v; want a directory", h)
	}
	if call.content["Dockerfile"] != "FROM scratch\nCOPY app /app\n" {
		t.Errorf("Dockerfile content = %q", call.content["Dockerfile"])
	}

	// -o json prints the result.
	r = runCLI(t, env, "deploy", dir, "-o", "json")
	var res client.DeployResult
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &res) != nil || res.App != "web" || res.ImageSize != 1_912_345 {
		t.Errorf("deploy -o json: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestDeployBuildSection(t *testing.T) {
	f := newFakeAPI(t)
	env := map[string]string{"BERTH_DATA": dataDir(t, f.srv.URL, goodToken)}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "deploy/web.yaml"), "name: web\nbuild:\n  context: src\n  dockerfile: docker/Dockerfile.prod\n")
	writeFile(t, filepath.Join(dir, "deploy/src/docker/Dockerfile.prod"), "FROM scratch\n")
	writeFile(t, filepath.Join(dir, "deploy/src/app.txt"), "hi\n")
	writeFile(t, filepath.Join(dir, "deploy/src/.dockerignore"), "docker\n")

	// -f is relative to the working directory; the context to the manifest.
	t.Chdir(dir)
	r := runCLI(t, env, "deploy", "-f", "deploy/web.yaml")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	call := f.lastDeploy(t)
	if call.manifestName != "web.yaml" {
		t.Errorf("manifest name = %q; want web.yaml", call.manifestName)
	}
	// The Dockerfile is sent even though .dockerignore excludes its directory.
	if _, ok := call.files["docker/Dockerfile.prod"]; !ok || call.content["app.txt"] != "hi\n" {
		t.Errorf("context entries = %v; want app.txt and docker/Dockerfile.prod", call.files)
	}
}

func TestDeployImageSendsNoContext(t *testing.T) {
	f := newFakeAPI(t)
	env := map[string]string{"BERTH_DATA": dataDir(t, f.srv.URL, goodToken)}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "berth.yaml"), "name: web\nimage: nginx:alpine\n")
	if r := runCLI(t, env, "deploy", dir); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if call := f.lastDeploy(t); strings.Join(call.parts, ",") != "manifest" {
		t.Errorf("parts = %v; want only the manifest", call.parts)
	}
	// A file instead of a directory is the manifest.
	writeFile(t, filepath.Join(dir, "other.yaml"), "name: web\nimage: busybox\n")
	if r := runCLI(t, env, "deploy", filepath.Join(dir, "other.yaml")); r.code != 0 || f.lastDeploy(t).manifestName != "other.yaml" {
		t.Fatalf("deploy FILE: exit %d: %s", r.code, r.stderr)
	}
}

func TestDeployFailsEarly(t *testing.T) {
	f := newFakeAPI(t)
	env := map[string]string{"BERTH_DATA": dataDir(t, f.srv.URL, goodToken)}

	noDockerfile := t.TempDir()
	writeFile(t, filepath.Join(noDockerfile, "berth.yaml"), "name: web\n")
	r := runCLI(t, env, "deploy", noDockerfile)
	if r.code != 1 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "Dockerfile") || !strings.Contains(r.stderr, "does not exist") {
		t.Errorf("no Dockerfile: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runCLI(t, env, "deploy", t.TempDir())
	if r.code != 1 || !strings.Contains(r.stderr, "berth.yaml") || !strings.Contains(r.stderr, "-f") {
		t.Errorf("no manifest: exit %d, stderr %q", r.code, r.stderr)
	}
	if n := f.callCount(); n != 0 {
		t.Errorf("%d requests reached the server; want none", n)
	}
}

func TestDeployInvalidManifest(t *testing.T) {
	f := newFakeAPI(t)
	f.reject = &client.Problem{Title: "Invalid manifest", Status: 400, Detail: "berth.yaml: 2 problems\n...", Errors: []client.FieldError{
		{File: "berth.yaml", Field: "port", Value: "70000", Message: "must be between 1 and 65535"},
		{File: "berth.yaml", Field: "scale.concurrency", Value: "999", Message: "must be between 1 and 256"},
	}}
	env := map[string]string{"BERTH_DATA": dataDir(t, f.srv.URL, goodToken)}
	r := runCLI(t, env, "deploy", appDir(t, "name: web\nport: 70000\n"))
	want := "berth: Invalid manifest\n" +
		"  berth.yaml: port: \"70000\": must be between 1 and 65535\n" +
		"  berth.yaml: scale.concurrency: \"999\": must be between 1 and 256\n"
	if r.code != 1 || r.stderr != want {
		t.Errorf("exit %d, stderr:\n%s\nwant:\n%s", r.code, r.stderr, want)
	}
}

func TestStatusLogsRm(t *testing.T) {
	f := newFakeAPI(t)
	now := time.Now()
	f.apps["web"] = client.App{
		Name: "web", Namespace: "default", Revision: 2, Status: "ready", InFlight: 1,
		URL: "http://web.localhost:8080/", URLs: []string{"http://web.localhost:8080/", "http://localhost:8080/web"},
		Image: "berth.local/default/web:r2", ImageID: "sha256:0123456789abcdef0123", ImageSize: 23_400_000,
		CreatedAt: now.Add(-3 * time.Hour), UpdatedAt: now.Add(-time.Minute), LastError: "exit 1\npanic: boom",
		Instances: []client.Instance{{ID: "web-r2-a1", State: "ready", Addr: "172.18.0.5:8080", Port: 8080, InFlight: 1,
			CreatedAt: now.Add(-10 * time.Second), LastActive: now.Add(-2 * time.Second)}},
	}
	env := map[string]string{"BERTH_DATA": dataDir(t, f.srv.URL, goodToken)}

	r := runCLI(t, env, "status", "web")
	for _, want := range []string{"revision:", "ready (1 in flight, 0 queued)", "http://localhost:8080/web", "sha256:0123456789ab)", "23 MB",
		"last error:\n  exit 1\n  panic: boom\n", "ID", "PORT", "LAST-ACTIVE", "web-r2-a1", "172.18.0.5:8080   8080", "2s ago"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status output lacks %q:\n%s", want, r.stdout)
		}
	}
	r = runCLI(t, env, "status", "web", "-o", "json")
	var app client.App
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &app) != nil || app.Instances[0].Addr != "172.18.0.5:8080" {
		t.Errorf("status -o json: exit %d, %q", r.code, r.stdout)
	}
	r = runCLI(t, env, "status", "ghost")
	if r.code != 1 || r.stderr != "berth: Not found: app ghost does not exist\n" {
		t.Errorf("status ghost: exit %d, stderr %q", r.code, r.stderr)
	}

	r = runCLI(t, env, "logs", "web", "-f", "--tail", "5")
	if r.code != 0 || r.stdout != "follow=true tail=5\nlistening on :8080\n" {
		t.Errorf("logs: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r = runCLI(t, env, "logs", "web", "--tail", "-1"); r.code != 1 || !strings.Contains(r.stderr, "--tail -1") {
		t.Errorf("logs --tail -1: exit %d, stderr %q", r.code, r.stderr)
	}

	if r = runCLI(t, env, "rm", "web"); r.code != 0 || r.stdout != "removed web\n" {
		t.Errorf("rm: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r = runCLI(t, env, "rm", "web"); r.code != 1 || !strings.Contains(r.stderr, "Not found") {
		t.Errorf("rm again: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestLogsFollowUntilCancelled: -f ends without error when the context is
// cancelled (Ctrl-C).
func TestLogsFollowUntilCancelled(t *testing.T) {
	lineSent := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "line 1\n")
		w.(http.Flusher).Flush()
		close(lineSent)
		<-r.Context().Done()
	}))
	defer srv.Close()
	var out syncBuffer
	e := &env{stdout: &out, stderr: io.Discard, getenv: func(string) string { return "" }, version: "test"}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-lineSent
		for !strings.Contains(out.String(), "line 1") {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	if code := run(ctx, e, []string{"logs", "web", "-f", "--api", srv.URL, "--token", "t"}); code != 0 || out.String() != "line 1\n" {
		t.Fatalf("exit %d, stdout %q", code, out.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestVersion(t *testing.T) {
	f := newFakeAPI(t)
	env := map[string]string{"BERTH_DATA": dataDir(t, f.srv.URL, goodToken)}
	r := runCLI(t, env, "version")
	if r.code != 0 || r.stdout != "client: test\nserver: v9.9.9 (API v1, driver fake) at "+f.srv.URL+"\n" {
		t.Errorf("version: exit %d, %q", r.code, r.stdout)
	}
	r = runCLI(t, env, "version", "-o", "json")
	var v versionInfo
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &v) != nil || v.Client != "test" || v.Server == nil || v.Server.Driver != "fake" {
		t.Errorf("version -o json: exit %d, %q", r.code, r.stdout)
	}
}

func TestBadOutputFormat(t *testing.T) {
	for _, args := range [][]string{{"apps", "-o", "yaml"}, {"status", "web", "--output", "wide"}, {"deploy", "-o", "table"}, {"version", "-o", "xml"}} {
		r := runCLI(t, nil, args...)
		if r.code != 1 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "--output (-o) \""+args[len(args)-1]+"\"") ||
			!strings.Contains(r.stderr, "allowed: ") || !strings.Contains(r.stderr, "json") {
			t.Errorf("%v: exit %d, stderr %q; want exit 1 naming the flag, the value and the formats", args, r.code, r.stderr)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"dploy"}, {"apps", "--bogus"}, {"status"}, {"rm", "a", "b"}, {"deploy", "a", "b"}, {"logs", "web", "--tail", "x"}} {
		r := runCLI(t, nil, args...)
		if r.code != 2 || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "berth: ") {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line", args, r.code, r.stderr)
		}
	}
	if r := runCLI(t, nil, "dploy"); !strings.Contains(r.stderr, "deploy") {
		t.Errorf("unknown command: stderr %q; want a suggestion", r.stderr)
	}
	if r := runCLI(t, nil, "--help"); r.code != 0 || !strings.Contains(r.stdout, "deploy") {
		t.Errorf("--help: exit %d", r.code)
	}
}

func TestServerCommand(t *testing.T) {
	var got server.Config
	e := func(environ map[string]string, out *bytes.Buffer) *env {
		return &env{stdout: out, stderr: out, getenv: func(k string) string { return environ[k] }, euid: 1000, version: "v1",
			runServer: func(_ context.Context, cfg server.Config) error { got = cfg; return nil }}
	}
	var out bytes.Buffer
	if code := run(context.Background(), e(map[string]string{"HOME": "/home/u"}, &out), []string{"server"}); code != 0 {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	if got.DataDir != "/home/u/.local/share/berth" || got.APIAddr != "127.0.0.1:7070" || got.HTTPAddr != ":8080" ||
		got.Network != "berth" || got.Domain != "localhost" || got.Version != "v1" || got.Logger == nil || got.ShutdownTimeout != 30*time.Second {
		t.Errorf("defaults: %+v", got)
	}
	if !got.Logger.Enabled(context.Background(), 0) || got.Logger.Enabled(context.Background(), -4) {
		t.Error("default log level is not info")
	}

	args := []string{"server", "--data", "/srv/b", "--api", "0.0.0.0:9", "--http", ":80", "--network", "n", "--domain", "apps.test", "--log-level", "debug", "--shutdown-timeout", "5s"}
	if code := run(context.Background(), e(map[string]string{"BERTH_DATA": "/x"}, &out), args); code != 0 {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	if got.DataDir != "/srv/b" || got.APIAddr != "0.0.0.0:9" || got.HTTPAddr != ":80" || got.Network != "n" || got.Domain != "apps.test" ||
		got.ShutdownTimeout != 5*time.Second || !got.Logger.Enabled(context.Background(), -4) {
		t.Errorf("flags: %+v", got)
	}

	out.Reset()
	if code := run(context.Background(), e(nil, &out), []string{"server", "--log-level", "loud"}); code != 1 ||
		out.String() != "berth: --log-level \"loud\" is not a level; allowed: debug, info, warn, error\n" {
		t.Errorf("bad level: exit %d, %q", code, out.String())
	}
}
