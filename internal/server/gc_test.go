package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/activator"
	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/runtime/fake"
	"github.com/berth-dev/berth/internal/store"
)

// TestCollectKeepsWhatServes: revisions in the traffic split, the serving
// one and the newest idle ones survive; older ones go with their built
// images, while an image a manifest named stays.
func TestCollectKeepsWhatServes(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(filepath.Join(t.TempDir(), "berth.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	drv := fake.New()
	act := activator.New(activator.Options{Driver: drv, Owner: "o"})
	t.Cleanup(act.Close)
	p := &platform{store: st, driver: drv, act: act, log: slog.New(slog.DiscardHandler), keepRevisions: 1}

	now := time.Now()
	for n := 1; n <= 6; n++ {
		ref := fmt.Sprintf("berth.local/default/web:r%d", n)
		if n == 2 {
			ref = "example/web:2" // named by the manifest: the user's
		}
		drv.AddImage(ref, runtime.Image{ID: fmt.Sprintf("sha256:%d", n)})
		if _, err := st.AddRevision(ctx, store.Revision{Namespace: "default", App: "web", Image: ref}, now, true); err != nil {
			t.Fatal(err)
		}
	}
	// r6 serves, r1 takes a share: both stay whatever their age.
	if err := st.SetTraffic(ctx, "default", "web", 6, []store.Share{{Revision: 6, Percent: 80}, {Revision: 1, Percent: 20}}, now); err != nil {
		t.Fatal(err)
	}
	p.collectRevisions(ctx, "default", "web")

	revs, err := st.Revisions(ctx, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	var left []int
	for _, r := range revs {
		left = append(left, r.Number)
	}
	if fmt.Sprint(left) != "[1 5 6]" {
		t.Fatalf("revisions left %v; want [1 5 6] (split, newest idle, serving)", left)
	}
	for ref, want := range map[string]bool{
		"berth.local/default/web:r1": true, "example/web:2": true, "berth.local/default/web:r3": false,
		"berth.local/default/web:r4": false, "berth.local/default/web:r5": true, "berth.local/default/web:r6": true,
	} {
		_, err := drv.ResolveImage(ctx, ref)
		if has := err == nil; has != want || err != nil && !errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("image %s present = %v (%v); want %v", ref, has, err, want)
		}
	}
}
