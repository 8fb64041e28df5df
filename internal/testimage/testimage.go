// Package testimage gives tests a ready-made Docker build context holding the
// testapp server (test/images/testapp) — or another program of test/images,
// such as grpcapp — compiled once per test process as a static Linux binary
// and placed in a FROM scratch image. The directory it
// returns works both as a `berth deploy DIR` directory and as a build context
// for a driver's Build (see Tar).
package testimage

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// compiled is one program's build, done once per process.
type compiled struct {
	once   sync.Once
	binary []byte
	err    error
}

var (
	mu       sync.Mutex
	programs = map[string]*compiled{}
)

// Context compiles testapp (once per process), writes it with a Dockerfile
// into a fresh temporary directory and returns that directory. The Dockerfile
// is FROM scratch, COPY testapp /testapp, ENTRYPOINT ["/testapp"], followed by
// extraDockerfileLines (e.g. "ENV MESSAGE=v2").
func Context(t testing.TB, extraDockerfileLines ...string) string {
	t.Helper()
	return ContextFor(t, "testapp", extraDockerfileLines...)
}

// ContextFor is Context for the program test/images/PROGRAM: the image runs
// /PROGRAM.
func ContextFor(t testing.TB, program string, extraDockerfileLines ...string) string {
	t.Helper()
	root := RepoRoot(t)
	mu.Lock()
	c, ok := programs[program]
	if !ok {
		c = &compiled{}
		programs[program] = c
	}
	mu.Unlock()
	c.once.Do(func() { c.binary, c.err = compile(root, program) })
	if c.err != nil {
		t.Fatalf("testimage: %v", c.err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, program), c.binary, 0o755); err != nil {
		t.Fatalf("testimage: %v", err)
	}
	lines := append([]string{`FROM scratch`, `COPY ` + program + ` /` + program, `ENTRYPOINT ["/` + program + `"]`}, extraDockerfileLines...)
	df := strings.Join(lines, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatalf("testimage: %v", err)
	}
	return dir
}

func compile(root, program string) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "berth-"+program+"-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, program)
	pkg := "./test/images/" + program
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %s: %w\n%s", pkg, err, msg)
	}
	return os.ReadFile(out)
}

// Tar returns the contents of dir as an uncompressed tar stream, with paths
// relative to dir, as a build context.
func Tar(t testing.TB, dir string) io.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.AddFS(os.DirFS(dir)); err != nil {
		t.Fatalf("testimage: tar %s: %v", dir, err)
	}
	if err := tw.Close(); err != nil {
		t.Fatalf("testimage: tar %s: %v", dir, err)
	}
	return &buf
}

// RepoRoot returns the directory holding go.mod, searched upward from the
// working directory (a test's package directory) and, failing that, from this
// package's source directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		starts = append(starts, filepath.Dir(file))
	}
	for _, dir := range starts {
		if root, ok := findGoMod(dir); ok {
			return root
		}
	}
	t.Fatalf("testimage: go.mod not found above %v", starts)
	return ""
}

func findGoMod(dir string) (string, bool) {
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}
