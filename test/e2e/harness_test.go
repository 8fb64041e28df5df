// Package e2e drives the real berth binary against the real Docker engine:
// it builds the binary, starts `berth server` on loopback with a temporary
// data directory, deploys tiny test apps with `berth deploy` and talks to
// them through the gateway with real HTTP clients.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	dockerclient "github.com/docker/docker/client"

	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/server"
	"github.com/berth-dev/berth/internal/testimage"
)

var (
	buildOnce sync.Once
	berthBin  string
	buildErr  error
)

// binary builds cmd/berth once per test process.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "berth-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		berthBin = filepath.Join(dir, "berth")
		cmd := exec.Command("go", "build", "-o", berthBin, "./cmd/berth")
		cmd.Dir = testimage.RepoRoot(t)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // static, as `make build` makes it: network holders need it
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/berth: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return berthBin
}

// dockerClient is the test's own view of the engine, to check what Berth did.
func dockerClient(t *testing.T) *dockerclient.Client {
	t.Helper()
	c, err := dockerclient.NewClientWithOpts(dockerclient.FromEnv, dockerclient.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Ping(ctx); err != nil {
		t.Fatalf("docker is not reachable (run scripts/setup.sh): %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// server is one running `berth server`.
type berthServer struct {
	t    *testing.T
	dir  string
	cmd  *exec.Cmd
	info server.ServerInfo
	log  *bytes.Buffer
	done chan struct{}
}

// startServer starts `berth server` on dir (new or reused) on random
// loopback ports, with extra flags, and waits until it has written
// server.json.
func startServer(t *testing.T, dir string, extra ...string) *berthServer {
	t.Helper()
	os.Remove(filepath.Join(dir, server.InfoFile))
	s := &berthServer{t: t, dir: dir, log: &bytes.Buffer{}, done: make(chan struct{})}
	args := append([]string{"server", "--data", dir, "--api", "127.0.0.1:0", "--http", "127.0.0.1:0", "--log-level", "debug"}, extra...)
	s.cmd = exec.Command(binary(t), args...)
	s.cmd.Stdout = &lockedWriter{w: s.log}
	s.cmd.Stderr = s.cmd.Stdout
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		s.stop(syscall.SIGTERM)
		if t.Failed() {
			t.Logf("server log:\n%s", s.logText())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(filepath.Join(dir, server.InfoFile))
		if err == nil && json.Unmarshal(b, &s.info) == nil && s.info.PID == s.cmd.Process.Pid {
			return s
		}
		select {
		case <-s.done:
			t.Fatalf("berth server exited during start:\n%s", s.logText())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("berth server wrote no server.json within 60s:\n%s", s.logText())
	return nil
}

func (s *berthServer) logText() string {
	lw := s.cmd.Stdout.(*lockedWriter)
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return s.log.String()
}

// stop sends sig and waits for the process to end.
func (s *berthServer) stop(sig syscall.Signal) {
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
	case <-time.After(40 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// berth runs the CLI against this server and returns stdout, stderr and the exit code.
func (s *berthServer) berth(args ...string) (string, string, int) {
	s.t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(binary(s.t), args...)
	cmd.Env = append(os.Environ(), "BERTH_DATA="+s.dir, "BERTH_API=", "BERTH_TOKEN=")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		s.t.Fatalf("run berth %v: %v", args, err)
	}
	return stdout.String(), stderr.String(), code
}

// mustBerth runs the CLI and fails the test on a non-zero exit.
func (s *berthServer) mustBerth(args ...string) string {
	s.t.Helper()
	out, errOut, code := s.berth(args...)
	if code != 0 {
		s.t.Fatalf("berth %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// get sends a GET through the gateway with the given Host header.
func (s *berthServer) get(host, path string) (*http.Response, string, error) {
	req, err := http.NewRequest(http.MethodGet, s.info.Gateway+path, nil)
	if err != nil {
		return nil, "", err
	}
	req.Host = host
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, string(body), err
}

var httpClient = &http.Client{Timeout: 90 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// containers lists the app's instance containers that this server owns (not
// their network holders).
func (s *berthServer) containers(t *testing.T, dc *dockerclient.Client, app string) []container.Summary {
	t.Helper()
	f := filters.NewArgs(filters.Arg("label", runtime.LabelOwner+"="+s.info.Owner), filters.Arg("label", runtime.LabelInstance))
	if app != "" {
		f.Add("label", runtime.LabelApp+"="+app)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs, err := dc.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// removeOwned removes every container the server made; tests register it as cleanup.
func removeOwned(t *testing.T, dc *dockerclient.Client, owner string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f := filters.NewArgs(filters.Arg("label", runtime.LabelOwner+"="+owner))
	cs, err := dc.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Logf("cleanup: list containers: %v", err)
		return
	}
	for _, c := range cs {
		if err := dc.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil {
			t.Logf("cleanup: remove %s: %v", c.ID, err)
		}
	}
}

// newPlatform starts a fresh server (with extra flags) and registers the
// clean-up of its containers.
func newPlatform(t *testing.T, extra ...string) (*berthServer, *dockerclient.Client) {
	t.Helper()
	dc := dockerClient(t)
	return startOwned(t, dc, t.TempDir(), extra...), dc
}

// startOwned starts a server in dir and registers the removal of its
// containers first, so that it runs after the server has stopped: a server
// still running would replace what the clean-up removes.
func startOwned(t *testing.T, dc *dockerclient.Client, dir string, extra ...string) *berthServer {
	t.Helper()
	var owner string
	t.Cleanup(func() {
		if owner != "" {
			removeOwned(t, dc, owner)
		}
	})
	s := startServer(t, dir, extra...)
	owner = s.info.Owner
	return s
}

// appDir returns a deployable directory: the test app, its Dockerfile and
// the given berth.yaml.
func appDir(t *testing.T, manifest string) string {
	t.Helper()
	dir := testimage.Context(t)
	if err := os.WriteFile(filepath.Join(dir, "berth.yaml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
