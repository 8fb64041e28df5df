package docker

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"

	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/runtime/runtimetest"
	"github.com/berth-dev/berth/internal/testimage"
)

// newDriver connects to the engine; an unreachable engine fails the test:
// these tests are never skipped.
func newDriver(t *testing.T) *Driver {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := New(ctx, Options{})
	if err != nil {
		t.Fatalf("docker engine unreachable (run scripts/setup.sh): %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

var (
	imageOnce sync.Once
	imageTag  string
	imageErr  error
)

// testImage builds the test app once per process, tagged uniquely, and
// removes it when the tests are done (see TestMain).
func testImage(t *testing.T) string {
	t.Helper()
	imageOnce.Do(func() {
		d := newDriver(t)
		tag := "berth-test/testapp:" + randHex(6)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		var progress bytes.Buffer
		_, imageErr = d.Build(ctx, runtime.BuildRequest{
			Context:    testimage.Tar(t, testimage.Context(t)),
			Dockerfile: "Dockerfile",
			Tag:        tag,
			Labels:     map[string]string{LabelManaged: "true"},
		}, &progress)
		if imageErr != nil {
			imageErr = errors.Join(imageErr, errors.New(progress.String()))
			return
		}
		imageTag = tag
	})
	if imageErr != nil {
		t.Fatalf("build test image: %v", imageErr)
	}
	if imageTag == "" {
		t.Fatal("build test image: failed in an earlier test")
	}
	return imageTag
}

func TestMain(m *testing.M) {
	code := m.Run()
	if imageTag != "" {
		removeImage(imageTag)
	}
	os.Exit(code)
}

func removeImage(ref string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if d, err := New(ctx, Options{}); err == nil {
		d.cli.ImageRemove(ctx, ref, image.RemoveOptions{Force: true, PruneChildren: true})
		d.Close()
	}
}

func TestConformance(t *testing.T) {
	img := testImage(t)
	runtimetest.Run(t, func(t *testing.T) runtime.Driver { return newDriver(t) }, img,
		runtimetest.Options{Probe: runtimetest.HTTPProbe})
}

// instance creates a container of the test image for one test, removed at
// cleanup.
func instance(t *testing.T, d *Driver, env map[string]string, res runtime.Resources) (string, runtime.InstanceSpec) {
	t.Helper()
	owner := "dt-" + randHex(6)
	env["PORT"] = "8080"
	spec := runtime.InstanceSpec{
		Name: "berth-" + owner, Image: testImage(t), Env: env, Port: 8080, Resources: res,
		Labels: map[string]string{runtime.LabelOwner: owner, runtime.LabelApp: "docker-test"},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id, err := d.Create(ctx, spec)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := d.Remove(ctx, id); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return id, spec
}

func TestHostConfig(t *testing.T) {
	t.Parallel()
	d := newDriver(t)
	ctx := t.Context()
	res := runtime.Resources{NanoCPUs: 125_000_000, MemoryBytes: 96 << 20}
	id, _ := instance(t, d, map[string]string{"B": "2", "A": "1"}, res)
	c, err := d.cli.ContainerInspect(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	hc := c.HostConfig
	if hc.NanoCPUs != res.NanoCPUs || hc.Memory != res.MemoryBytes || hc.MemorySwap != res.MemoryBytes {
		t.Errorf("NanoCpus %d Memory %d MemorySwap %d, want %d %d %d", hc.NanoCPUs, hc.Memory, hc.MemorySwap, res.NanoCPUs, res.MemoryBytes, res.MemoryBytes)
	}
	if hc.PidsLimit == nil || *hc.PidsLimit != DefaultPidsLimit {
		t.Errorf("PidsLimit = %v, want %d", hc.PidsLimit, DefaultPidsLimit)
	}
	if !slices.Equal(hc.CapDrop, []string{"ALL"}) || !slices.Equal(normCaps(hc.CapAdd), normCaps(CapAdd)) {
		t.Errorf("CapDrop %v CapAdd %v, want [ALL] and %v", hc.CapDrop, hc.CapAdd, CapAdd)
	}
	if !slices.Contains(hc.SecurityOpt, "no-new-privileges:true") {
		t.Errorf("SecurityOpt = %v, want no-new-privileges:true", hc.SecurityOpt)
	}
	if len(hc.PortBindings) != 0 || hc.PublishAllPorts {
		t.Errorf("PortBindings %v PublishAllPorts %v, want none", hc.PortBindings, hc.PublishAllPorts)
	}
	if hc.RestartPolicy.Name != "no" || hc.Init == nil || *hc.Init {
		t.Errorf("RestartPolicy %q Init %v, want no and false", hc.RestartPolicy.Name, hc.Init)
	}
	if hc.LogConfig.Type != "json-file" || hc.LogConfig.Config["max-size"] != "10m" || hc.LogConfig.Config["max-file"] != "2" {
		t.Errorf("LogConfig = %+v", hc.LogConfig)
	}
	if _, ok := c.NetworkSettings.Networks[d.Network()]; !ok {
		t.Errorf("networks %v, want %s", c.NetworkSettings.Networks, d.Network())
	}
	if c.Config.Labels[LabelPort] != "8080" {
		t.Errorf("label %s = %q, want 8080", LabelPort, c.Config.Labels[LabelPort])
	}
	if want := []string{"A=1", "B=2", "PORT=8080"}; !slices.Equal(c.Config.Env[:3], want) {
		t.Errorf("Env = %v, want it to start with %v", c.Config.Env, want)
	}
}

func TestEnvReachesApp(t *testing.T) {
	t.Parallel()
	d := newDriver(t)
	ctx := t.Context()
	id, _ := instance(t, d, map[string]string{"GREETING": "ahoy"}, runtime.Resources{})
	if err := d.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	st, err := d.Inspect(ctx, id)
	if err != nil || st.Addr == "" {
		t.Fatalf("Inspect = %+v, %v", st, err)
	}
	var body string
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + st.Addr + "/env?k=GREETING")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if body = string(b); body == "ahoy" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /env?k=GREETING at %s = %q, %v; want ahoy", st.Addr, body, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestCrashExitCode(t *testing.T) {
	t.Parallel()
	d := newDriver(t)
	ctx := t.Context()
	id, _ := instance(t, d, map[string]string{"CRASH_AT_START": "3"}, runtime.Resources{})
	if err := d.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	var st runtime.Status
	deadline := time.Now().Add(20 * time.Second)
	for st.State != runtime.StateExited {
		if time.Now().After(deadline) {
			t.Fatalf("still %s after 20s", st.State)
		}
		time.Sleep(50 * time.Millisecond)
		var err error
		if st, err = d.Inspect(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if st.ExitCode != 3 || st.Addr != "" {
		t.Errorf("status = %+v, want exit code 3 and no Addr", st)
	}
	rc, err := d.Logs(ctx, id, runtime.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	if string(b) != "crashing with 3\n" {
		t.Errorf("logs = %q, want the app's stderr as plain text", b)
	}
}

func TestBuildFails(t *testing.T) {
	t.Parallel()
	d := newDriver(t)
	for _, tc := range []struct {
		name, dockerfile, want string
	}{
		{"UnknownInstruction", "FROM scratch\nFROBNICATE now\n", "unknown instruction"},
		{"MissingFile", "FROM scratch\nCOPY no-such-file /x\n", "no-such-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(tc.dockerfile), 0o644)
			tag := "berth-test/broken:" + randHex(6)
			var progress bytes.Buffer
			_, err := d.Build(t.Context(), runtime.BuildRequest{Context: testimage.Tar(t, dir), Dockerfile: "Dockerfile", Tag: tag}, &progress)
			if !errors.Is(err, runtime.ErrBuildFailed) || !strings.Contains(strings.ToLower(err.Error()), tc.want) {
				t.Fatalf("Build = %v, want ErrBuildFailed mentioning %q (progress %q)", err, tc.want, progress.String())
			}
			t.Logf("error: %v", err)
			if _, err := d.ResolveImage(t.Context(), tag); !errors.Is(err, runtime.ErrNotFound) {
				removeImage(tag)
				t.Errorf("image %s exists after a failed build (%v)", tag, err)
			}
		})
	}
}

func TestRemoveImageUntags(t *testing.T) {
	d := newDriver(t)
	img := testImage(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	extra := "berth-test-remove:" + randHex(6)
	if err := d.cli.ImageTag(ctx, img, extra); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeImage(extra) })
	if err := d.RemoveImage(ctx, extra); err != nil {
		t.Fatalf("RemoveImage: %v", err)
	}
	if _, err := d.ResolveImage(ctx, extra); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("removed tag resolves: %v", err)
	}
	if _, err := d.ResolveImage(ctx, img); err != nil {
		t.Fatalf("the image's other tag went with it: %v", err)
	}
	if err := d.RemoveImage(ctx, extra); err != nil {
		t.Fatalf("removing a missing tag: %v; want nil", err)
	}
}

func TestNewUnreachable(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no.sock"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if d, err := New(ctx, Options{}); err == nil {
		d.Close()
		t.Fatal("New with a dead DOCKER_HOST succeeded")
	}
}

// normCaps sorts capability names without their CAP_ prefix, as the engine
// reports them prefixed.
func normCaps(caps []string) []string {
	out := make([]string, len(caps))
	for i, c := range caps {
		out[i] = strings.TrimPrefix(strings.ToUpper(c), "CAP_")
	}
	slices.Sort(out)
	return out
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
