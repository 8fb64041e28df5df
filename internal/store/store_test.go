package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/manifest"
)

func open(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "berth.db")
	s, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestRevisionsAndApps(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	if n, err := s.NextRevision(ctx, "default", "web"); err != nil || n != 1 {
		t.Fatalf("NextRevision of a new app = %d, %v; want 1", n, err)
	}
	for want := 1; want <= 3; want++ {
		rev := Revision{Namespace: "default", App: "web", Spec: manifest.Manifest{Name: "web", Port: manifest.Port(8000 + want)}, ImageID: "sha256:x"}
		n, err := s.CommitRevision(ctx, rev, now.Add(time.Duration(want)*time.Minute))
		if err != nil || n != want {
			t.Fatalf("CommitRevision #%d = %d, %v", want, n, err)
		}
	}
	if _, err := s.CommitRevision(ctx, Revision{Namespace: "default", App: "api"}, now); err != nil {
		t.Fatal(err)
	}

	list, err := s.ListServing(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].App.Name != "api" || list[1].App.Name != "web" {
		t.Fatalf("ListServing = %+v", list)
	}
	web := list[1]
	if web.App.Revision != 3 || web.Revision.Number != 3 || web.Revision.Spec.Port != 8003 {
		t.Fatalf("web serves %+v", web)
	}
	if !web.App.CreatedAt.Equal(now.Add(time.Minute)) || !web.App.UpdatedAt.Equal(now.Add(3*time.Minute)) {
		t.Fatalf("web times = %v, %v", web.App.CreatedAt, web.App.UpdatedAt)
	}
	if r, err := s.Revision(ctx, "default", "web", 2); err != nil || r.Spec.Port != 8002 {
		t.Fatalf("Revision 2 = %+v, %v", r, err)
	}

	if err := s.DeleteApp(ctx, "default", "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.App(ctx, "default", "web"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("App after delete: %v, want ErrNotFound", err)
	}
	if _, err := s.Revision(ctx, "default", "web", 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Revision after delete: %v, want ErrNotFound", err)
	}
	if err := s.DeleteApp(ctx, "default", "web"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second DeleteApp: %v, want ErrNotFound", err)
	}
	if n, _ := s.NextRevision(ctx, "default", "api"); n != 2 {
		t.Fatalf("api NextRevision = %d, want 2", n)
	}
}

func TestOwnerIDIsStableAcrossReopen(t *testing.T) {
	ctx := context.Background()
	s, path := open(t)
	id, err := s.OwnerID(ctx)
	if err != nil || len(id) != 16 {
		t.Fatalf("OwnerID = %q, %v", id, err)
	}
	if _, err := Open(path, 50*time.Millisecond); err == nil {
		t.Fatal("a second Open of a locked store succeeded")
	}
	s.Close()
	s2, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if id2, _ := s2.OwnerID(ctx); id2 != id {
		t.Fatalf("OwnerID after reopen = %q, want %q", id2, id)
	}
}
