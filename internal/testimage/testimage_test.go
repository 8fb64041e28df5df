package testimage

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestContext(t *testing.T) {
	dir := Context(t, "ENV MESSAGE=v2")
	df, err := os.ReadFile(filepath.Join(dir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	want := "FROM scratch\nCOPY testapp /testapp\nENTRYPOINT [\"/testapp\"]\nENV MESSAGE=v2\n"
	if string(df) != want {
		t.Fatalf("Dockerfile = %q, want %q", df, want)
	}
	fi, err := os.Stat(filepath.Join(dir, "testapp"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o100 == 0 || fi.Size() == 0 {
		t.Fatalf("testapp: mode %v size %d, want an executable", fi.Mode(), fi.Size())
	}

	names := map[string]int64{}
	tr := tar.NewReader(Tar(t, dir))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names[h.Name] = h.Size
	}
	if names["testapp"] != fi.Size() || names["Dockerfile"] != int64(len(want)) {
		t.Fatalf("tar entries = %v", names)
	}
}

func TestRepoRoot(t *testing.T) {
	root := RepoRoot(t)
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil || !strings.Contains(string(mod), "module github.com/berth-dev/berth") {
		t.Fatalf("RepoRoot = %s: go.mod %q, %v", root, mod, err)
	}
}

func TestContextForAnotherProgram(t *testing.T) {
	dir := ContextFor(t, "grpcapp")
	df, err := os.ReadFile(filepath.Join(dir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "FROM scratch\nCOPY grpcapp /grpcapp\nENTRYPOINT [\"/grpcapp\"]\n"; string(df) != want {
		t.Fatalf("Dockerfile = %q, want %q", df, want)
	}
	if fi, err := os.Stat(filepath.Join(dir, "grpcapp")); err != nil || fi.Size() == 0 {
		t.Fatalf("grpcapp: %v", err)
	}
}
