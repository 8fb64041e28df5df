package cli

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestDefaultDataDir(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		euid int
		want string
	}{
		{map[string]string{"BERTH_DATA": "/d", "HOME": "/h"}, 0, "/d"},
		{map[string]string{"HOME": "/h"}, 0, "/var/lib/berth"},
		{map[string]string{"HOME": "/h", "XDG_DATA_HOME": "/x"}, 1000, "/x/berth"},
		{map[string]string{"HOME": "/h", "XDG_DATA_HOME": "relative"}, 1000, "/h/.local/share/berth"},
		{map[string]string{"HOME": "/h"}, 1000, "/h/.local/share/berth"},
	} {
		e := &env{getenv: func(k string) string { return tc.env[k] }, euid: tc.euid}
		if got := e.defaultDataDir(); got != tc.want {
			t.Errorf("env %v euid %d: %q; want %q", tc.env, tc.euid, got, tc.want)
		}
	}
}

func TestIgnorePatterns(t *testing.T) {
	ig, err := parseIgnore(strings.NewReader("# c\n\n*.log\n/build/\nsrc/**/*.gen.go\n**/.git\nvendor\n!vendor/keep\n ! docs/*.md \n"))
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]bool{
		"x.log": true, "a/x.log": false, "build": true, "build/out/bin": true, "builder": false,
		"src/a.gen.go": true, "src/a/b/c.gen.go": true, "src/a.go": false,
		".git": true, "a/b/.git/config": true, "vendor/x": true, "vendor/keep": false, "vendor/keep/y": false,
		"docs/a.md": false, "main.go": false,
	} {
		if got := ig.excluded(path); got != want {
			t.Errorf("excluded(%q) = %v; want %v", path, got, want)
		}
	}
	if _, err := parseIgnore(strings.NewReader("[\n")); err == nil {
		t.Error("bad pattern accepted")
	}
}

// TestContextSkipsSpecialFiles: a named pipe in the context is left out.
func TestContextSkipsSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "Dockerfile"), "FROM scratch\n")
	if err := mkfifo(filepath.Join(dir, "pipe")); err != nil {
		t.Skip("cannot make a named pipe:", err)
	}
	var buf bytes.Buffer
	if err := writeContext(&buf, dir, "Dockerfile"); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&buf)
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
	if strings.Join(names, ",") != "Dockerfile" {
		t.Errorf("entries = %v; want only the Dockerfile", names)
	}
}

func TestHumanSizeAndAge(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 999: "999 B", 1000: "1.0 kB", 1_912_345: "1.9 MB", 23_400_000: "23 MB", 999_960: "1.0 MB", 5_000_000_000: "5.0 GB"} {
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %q; want %q", n, got, want)
		}
	}
	now := time.Now()
	for d, want := range map[time.Duration]string{5 * time.Second: "5s", 3 * time.Minute: "3m", 5 * time.Hour: "5h", 72 * time.Hour: "3d"} {
		if got := age(now.Add(-d), now); got != want {
			t.Errorf("age(%s) = %q; want %q", d, got, want)
		}
	}
	if age(time.Time{}, now) != "-" {
		t.Error("zero time is not -")
	}
}

func mkfifo(path string) error { return syscall.Mkfifo(path, 0o644) }
