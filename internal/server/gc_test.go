package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
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
	want := map[string]bool{
		"berth.local/default/web:r1": true, "example/web:2": true, "berth.local/default/web:r3": false,
		"berth.local/default/web:r4": false, "berth.local/default/web:r5": true, "berth.local/default/web:r6": true,
	}
	// Images go in the background.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var wrong []string
		for ref, w := range want {
			_, err := drv.ResolveImage(ctx, ref)
			if has := err == nil; has != w || err != nil && !errors.Is(err, runtime.ErrNotFound) {
				wrong = append(wrong, fmt.Sprintf("%s present = %v (%v); want %v", ref, has, err, w))
			}
		}
		if len(wrong) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(wrong)
		}
	}
}

// TestImageInUseIsRetried: an image a container still uses (the engine
// refuses) is removed once the container is gone.
func TestImageInUseIsRetried(t *testing.T) {
	drv := fake.New()
	drv.AddImage("berth.local/default/web:r1", runtime.Image{ID: "sha256:1"})
	refusals := 2
	var mu sync.Mutex
	drv.Fail = func(op, ref string) error {
		mu.Lock()
		defer mu.Unlock()
		if op == "remove image" && refusals > 0 {
			refusals--
			return errors.New("conflict: image is being used by a container")
		}
		return nil
	}
	p := &platform{driver: drv, log: slog.New(slog.DiscardHandler)}
	p.removeImages(context.Background(), []store.Revision{{Number: 1, Image: "berth.local/default/web:r1"}})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := drv.ResolveImage(context.Background(), "berth.local/default/web:r1"); errors.Is(err, runtime.ErrNotFound) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the image was not removed after the engine stopped refusing")
		}
	}
}
