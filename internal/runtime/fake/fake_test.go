package fake

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/runtime/runtimetest"
)

const testImage = "berth-test/app:1"

func newDriver(t *testing.T) runtime.Driver {
	d := New()
	d.AddImage(testImage, runtime.Image{ID: "sha256:0123", Size: 1 << 20})
	return d
}

func TestConformance(t *testing.T) {
	runtimetest.Run(t, newDriver, testImage, runtimetest.Options{Timeout: 10 * time.Second})
}

func spec(name string) runtime.InstanceSpec {
	return runtime.InstanceSpec{Name: name, Image: testImage, Port: 8080, Labels: map[string]string{runtime.LabelApp: "a"}}
}

func TestSetExitAndHooks(t *testing.T) {
	ctx := context.Background()
	d := newDriver(t).(*Driver)
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	d.Now = func() time.Time { return now }
	d.AddrFunc = func(id string) string { return "10.0.0.1:" + id[:4] }

	id, err := d.Create(ctx, spec("one"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	st, _ := d.Inspect(ctx, id)
	if st.Addr != "10.0.0.1:"+id[:4] || !st.StartedAt.Equal(now) {
		t.Fatalf("running status = %+v", st)
	}
	now = now.Add(time.Minute)
	if err := d.SetExit(id, 137); err != nil {
		t.Fatal(err)
	}
	st, _ = d.Inspect(ctx, id)
	if st.State != runtime.StateExited || st.ExitCode != 137 || st.Addr != "" || !st.FinishedAt.Equal(now) {
		t.Fatalf("after SetExit: %+v", st)
	}
	if err := d.SetExit("nope", 1); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("SetExit(nope) = %v", err)
	}
	if err := d.AppendLog(id, "boom"); err != nil {
		t.Fatal(err)
	}
	rc, _ := d.Logs(ctx, id, runtime.LogOptions{})
	b, _ := io.ReadAll(rc)
	if string(b) != "listening on :8080\nboom\n" {
		t.Fatalf("logs = %q", b)
	}

	injected := errors.New("engine down")
	d.Fail = func(op, target string) error {
		if op == "start" {
			return injected
		}
		return nil
	}
	if err := d.Start(ctx, id); !errors.Is(err, injected) {
		t.Fatalf("Start with Fail hook = %v", err)
	}
}

func TestFollowEndsWhenContainerExits(t *testing.T) {
	ctx := context.Background()
	d := newDriver(t).(*Driver)
	id, _ := d.Create(ctx, spec("f"))
	d.Start(ctx, id)
	rc, err := d.Logs(ctx, id, runtime.LogOptions{Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	d.AppendLog(id, "more")
	d.SetExit(id, 2)
	b, err := io.ReadAll(rc)
	if err != nil || string(b) != "listening on :8080\nmore\n" {
		t.Fatalf("followed logs = %q, %v", b, err)
	}
}

func TestBuild(t *testing.T) {
	ctx := context.Background()
	d := New()
	var ctxTar bytes.Buffer
	tw := tar.NewWriter(&ctxTar)
	tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: 11})
	tw.Write([]byte("FROM scratc"))
	tw.Close()
	size := int64(ctxTar.Len())

	var progress strings.Builder
	img, err := d.Build(ctx, runtime.BuildRequest{Context: bytes.NewReader(ctxTar.Bytes()), Tag: "x:1"}, &progress)
	if err != nil || img.Size != size || !strings.HasPrefix(img.ID, "sha256:") || progress.Len() == 0 {
		t.Fatalf("Build = %+v, %v (progress %q)", img, err, progress.String())
	}
	if got, err := d.ResolveImage(ctx, "x:1"); err != nil || got != img {
		t.Fatalf("ResolveImage after Build = %+v, %v", got, err)
	}
	_, err = d.Build(ctx, runtime.BuildRequest{Context: bytes.NewReader(ctxTar.Bytes()), Dockerfile: "other/Dockerfile", Tag: "x:2"}, nil)
	if !errors.Is(err, runtime.ErrBuildFailed) {
		t.Fatalf("Build without its Dockerfile = %v, want ErrBuildFailed", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	d := newDriver(t).(*Driver)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := spec("c" + string(rune('a'+i%26)) + string(rune('a'+i/26)))
			id, err := d.Create(ctx, s)
			if err != nil {
				t.Error(err)
				return
			}
			d.Start(ctx, id)
			d.List(ctx, map[string]string{runtime.LabelApp: "a"})
			d.Stop(ctx, id, 0)
			d.Remove(ctx, id)
		}()
	}
	wg.Wait()
	if list, _ := d.List(ctx, nil); len(list) != 0 {
		t.Fatalf("left %d containers", len(list))
	}
}
