// Package runtimetest is the conformance suite for runtime drivers: every
// driver in Berth runs Run against itself, so that the control plane can rely
// on the same behaviour from each (states, labels, selectors, not-found
// errors, logs). Each case labels what it makes with a fresh owner and
// removes it when done.
package runtimetest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/runtime"
)

// Options tunes Run for what a driver can do.
type Options struct {
	// Probe, if set, is polled with a running instance's Addr until it
	// returns nil; use HTTPProbe for drivers that run the test app for real.
	Probe func(ctx context.Context, addr string) error
	// Timeout bounds each case (default 60s).
	Timeout time.Duration
}

// Port is the port the suite's instances are created with (the test app's
// default).
const Port = 8080

// HTTPProbe checks that the test app answers GET / at addr with 200 and its
// "hello from" body.
func HTTPProbe(ctx context.Context, addr string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "hello from") {
		return fmt.Errorf("GET %s: %s %q", addr, resp.Status, body)
	}
	return nil
}

// Run runs the conformance cases. newDriver is called once per case; image
// must be a runnable image the driver has locally: the test app
// (test/images/testapp) or, for drivers without processes, any image.
func Run(t *testing.T, newDriver func(t *testing.T) runtime.Driver, image string, opts Options) {
	if opts.Timeout == 0 {
		opts.Timeout = 60 * time.Second
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
			defer cancel()
			h := &harness{t: t, ctx: ctx, d: newDriver(t), image: image, opts: opts, owner: "rt-" + randHex(6)}
			t.Cleanup(h.cleanup)
			c.fn(h)
		})
	}
}

var cases = []struct {
	name string
	fn   func(h *harness)
}{
	{"ResolveImage", testResolveImage},
	{"CreateInspect", testCreateInspect},
	{"CreateMissingImage", testCreateMissingImage},
	{"CreateDuplicateName", testCreateDuplicateName},
	{"StartRunning", testStartRunning},
	{"StopExited", testStopExited},
	{"RestartAfterStop", testRestartAfterStop},
	{"Logs", testLogs},
	{"LogsFollow", testLogsFollow},
	{"ListSelector", testListSelector},
	{"Remove", testRemove},
	{"MissingContainer", testMissingContainer},
	{"ListeningPorts", testListeningPorts},
	{"OtherNetwork", testOtherNetwork},
}

// harness carries one case's driver, context and owner label.
type harness struct {
	t     *testing.T
	ctx   context.Context
	d     runtime.Driver
	image string
	opts  Options
	owner string
	n     int
}

// spec returns a spec for a fresh instance of the harness's owner, with extra
// labels added.
func (h *harness) spec(extra map[string]string) runtime.InstanceSpec {
	h.n++
	labels := map[string]string{
		runtime.LabelOwner:     h.owner,
		runtime.LabelNamespace: "default",
		runtime.LabelApp:       "conformance",
		runtime.LabelRevision:  "1",
		runtime.LabelInstance:  fmt.Sprint(h.n),
	}
	for k, v := range extra {
		labels[k] = v
	}
	return runtime.InstanceSpec{
		Name:      fmt.Sprintf("berth-%s-%d", h.owner, h.n),
		Image:     h.image,
		Env:       map[string]string{"PORT": fmt.Sprint(Port), "BERTH_TEST": h.owner},
		Port:      Port,
		Resources: runtime.Resources{NanoCPUs: 250_000_000, MemoryBytes: 64 << 20},
		Labels:    labels,
	}
}

func (h *harness) create(extra map[string]string) (string, runtime.InstanceSpec) {
	h.t.Helper()
	spec := h.spec(extra)
	id, err := h.d.Create(h.ctx, spec)
	if err != nil {
		h.t.Fatalf("Create(%s): %v", spec.Name, err)
	}
	if id == "" {
		h.t.Fatalf("Create(%s) returned an empty ID", spec.Name)
	}
	return id, spec
}

func (h *harness) start(id string) runtime.Status {
	h.t.Helper()
	if err := h.d.Start(h.ctx, id); err != nil {
		h.t.Fatalf("Start(%s): %v", id, err)
	}
	st := h.waitState(id, runtime.StateRunning)
	if st.Addr == "" {
		h.t.Fatalf("running instance %s has no Addr: %+v", id, st)
	}
	if st.StartedAt.IsZero() {
		h.t.Errorf("running instance %s has no StartedAt", id)
	}
	if h.opts.Probe != nil {
		h.poll(fmt.Sprintf("instance %s answering at %s", id, st.Addr), func() error {
			ctx, cancel := context.WithTimeout(h.ctx, 2*time.Second)
			defer cancel()
			return h.opts.Probe(ctx, st.Addr)
		})
	}
	return st
}

func (h *harness) inspect(id string) runtime.Status {
	h.t.Helper()
	st, err := h.d.Inspect(h.ctx, id)
	if err != nil {
		h.t.Fatalf("Inspect(%s): %v", id, err)
	}
	return st
}

func (h *harness) waitState(id string, want runtime.State) runtime.Status {
	h.t.Helper()
	var st runtime.Status
	h.poll(fmt.Sprintf("instance %s %s", id, want), func() error {
		var err error
		st, err = h.d.Inspect(h.ctx, id)
		if err == nil && st.State != want {
			err = fmt.Errorf("state %s", st.State)
		}
		return err
	})
	return st
}

// poll calls f until it returns nil, failing the test when the case's
// context ends first.
func (h *harness) poll(what string, f func() error) {
	h.t.Helper()
	for delay := 10 * time.Millisecond; ; delay = min(2*delay, 250*time.Millisecond) {
		err := f()
		if err == nil {
			return
		}
		select {
		case <-h.ctx.Done():
			h.t.Fatalf("waiting for %s: %v (last: %v)", what, h.ctx.Err(), err)
		case <-time.After(delay):
		}
	}
}

func (h *harness) readLogs(id string, opts runtime.LogOptions) string {
	h.t.Helper()
	rc, err := h.d.Logs(h.ctx, id, opts)
	if err != nil {
		h.t.Fatalf("Logs(%s, %+v): %v", id, opts, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		h.t.Fatalf("reading logs of %s: %v", id, err)
	}
	return string(b)
}

// cleanup removes everything labelled with the case's owner, on a context of
// its own since the case's may be spent.
func (h *harness) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list, err := h.d.List(ctx, map[string]string{runtime.LabelOwner: h.owner})
	if err != nil {
		h.t.Errorf("cleanup: list owner %s: %v", h.owner, err)
		return
	}
	for _, st := range list {
		if err := h.d.Remove(ctx, st.ID); err != nil {
			h.t.Errorf("cleanup: remove %s: %v", st.ID, err)
		}
	}
}

func testResolveImage(h *harness) {
	img, err := h.d.ResolveImage(h.ctx, h.image)
	if err != nil {
		h.t.Fatalf("ResolveImage(%s): %v", h.image, err)
	}
	if img.ID == "" {
		h.t.Errorf("ResolveImage(%s) gave an empty ID", h.image)
	}
	missing := "berth-missing/" + h.owner + ":none"
	if _, err := h.d.ResolveImage(h.ctx, missing); !errors.Is(err, runtime.ErrNotFound) {
		h.t.Errorf("ResolveImage(%s) = %v, want ErrNotFound", missing, err)
	}
}

func testCreateInspect(h *harness) {
	id, spec := h.create(map[string]string{"team": "media"})
	st := h.inspect(id)
	if st.ID != id || st.Name != spec.Name || st.State != runtime.StateCreated || st.Addr != "" {
		h.t.Errorf("Inspect after Create = %+v, want ID %s, name %s, created, no Addr", st, id, spec.Name)
	}
	for k, v := range spec.Labels {
		if st.Labels[k] != v {
			h.t.Errorf("label %s = %q, want %q (labels %v)", k, st.Labels[k], v, st.Labels)
		}
	}
}

func testCreateMissingImage(h *harness) {
	spec := h.spec(nil)
	spec.Image = "berth-missing/" + h.owner + ":none"
	if id, err := h.d.Create(h.ctx, spec); !errors.Is(err, runtime.ErrNotFound) {
		h.t.Errorf("Create with image %s = %q, %v; want ErrNotFound", spec.Image, id, err)
	}
}

func testCreateDuplicateName(h *harness) {
	_, spec := h.create(nil)
	if id, err := h.d.Create(h.ctx, spec); err == nil {
		h.t.Errorf("second Create with name %s = %s, nil; want an error", spec.Name, id)
	}
}

func testStartRunning(h *harness) {
	id, _ := h.create(nil)
	h.start(id)
	if err := h.d.Start(h.ctx, id); err != nil {
		h.t.Errorf("Start of a running instance: %v, want nil", err)
	}
	list, err := h.d.List(h.ctx, map[string]string{runtime.LabelOwner: h.owner})
	if err != nil || len(list) != 1 || list[0].State != runtime.StateRunning || list[0].Addr == "" {
		h.t.Errorf("List of a running instance = %+v, %v; want one running with Addr", list, err)
	}
}

// testListeningPorts: a driver that discovers ports sees the instance's app
// listen on its PORT, and reports its IP while it runs.
func testListeningPorts(h *harness) {
	pd, ok := h.d.(runtime.PortDiscoverer)
	if !ok {
		return
	}
	id, _ := h.create(nil)
	if _, err := pd.ListeningPorts(h.ctx, id); err == nil {
		h.t.Errorf("ListeningPorts of a created, not running, instance succeeded")
	}
	st := h.start(id)
	if st.IP == "" || !strings.HasPrefix(st.Addr, st.IP+":") {
		h.t.Errorf("running instance: IP %q, Addr %q; want Addr at IP", st.IP, st.Addr)
	}
	h.poll(fmt.Sprintf("instance %s listening on %d", id, Port), func() error {
		ports, err := pd.ListeningPorts(h.ctx, id)
		if err != nil {
			return err
		}
		if !slices.Contains(ports, Port) {
			return fmt.Errorf("listening on %v", ports)
		}
		return nil
	})
}

func testStopExited(h *harness) {
	id, _ := h.create(nil)
	h.start(id)
	if err := h.d.Stop(h.ctx, id, 10*time.Second); err != nil {
		h.t.Fatalf("Stop(%s): %v", id, err)
	}
	st := h.inspect(id)
	if st.State != runtime.StateExited || st.ExitCode != 0 || st.Addr != "" || st.FinishedAt.IsZero() {
		h.t.Errorf("Inspect after Stop = %+v, want exited with code 0, FinishedAt, no Addr", st)
	}
	if err := h.d.Stop(h.ctx, id, time.Second); err != nil {
		h.t.Errorf("Stop of a stopped instance: %v, want nil", err)
	}
}

func testRestartAfterStop(h *harness) {
	id, _ := h.create(nil)
	first := h.start(id)
	if err := h.d.Stop(h.ctx, id, 10*time.Second); err != nil {
		h.t.Fatalf("Stop(%s): %v", id, err)
	}
	again := h.start(id)
	if again.ID != id || again.StartedAt.Before(first.StartedAt) {
		h.t.Errorf("restart = %+v, want same ID %s and a later StartedAt than %v", again, id, first.StartedAt)
	}
}

func testLogs(h *harness) {
	id, _ := h.create(nil)
	h.start(id)
	h.poll("logs to contain \"listening on\"", func() error {
		if out := h.readLogs(id, runtime.LogOptions{}); !strings.Contains(out, "listening on") {
			return fmt.Errorf("logs %q", out)
		}
		return nil
	})
	tail := strings.TrimRight(h.readLogs(id, runtime.LogOptions{Tail: 1}), "\n")
	if tail == "" || strings.Contains(tail, "\n") {
		h.t.Errorf("logs with Tail 1 = %q, want one line", tail)
	}
}

func testLogsFollow(h *harness) {
	id, _ := h.create(nil)
	h.start(id)
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	rc, err := h.d.Logs(ctx, id, runtime.LogOptions{Follow: true})
	if err != nil {
		h.t.Fatalf("Logs(%s, follow): %v", id, err)
	}
	defer rc.Close()
	lines := make(chan string)
	done := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(rc)
		for sc.Scan() {
			lines <- sc.Text()
		}
		done <- sc.Err()
	}()
	for found := false; !found; {
		select {
		case l := <-lines:
			found = strings.Contains(l, "listening on")
		case err := <-done:
			h.t.Fatalf("followed logs ended before \"listening on\": %v", err)
		case <-h.ctx.Done():
			h.t.Fatal("no \"listening on\" in followed logs")
		}
	}
	cancel() // ending the context must end the stream
	timeout := time.After(5 * time.Second)
	for {
		select {
		case <-lines:
			continue
		case <-done:
			return
		case <-timeout:
			h.t.Fatal("followed logs still open 5s after their context was cancelled")
		}
	}
}

func testListSelector(h *harness) {
	a1, _ := h.create(map[string]string{"dev.berth.test/group": "a"})
	a2, _ := h.create(map[string]string{"dev.berth.test/group": "a"})
	b, _ := h.create(map[string]string{"dev.berth.test/group": "b"})
	h.start(a2) // List covers every state
	ids := func(selector map[string]string) []string {
		list, err := h.d.List(h.ctx, selector)
		if err != nil {
			h.t.Fatalf("List(%v): %v", selector, err)
		}
		var out []string
		for _, st := range list {
			out = append(out, st.ID)
		}
		slices.Sort(out)
		return out
	}
	sorted := func(s ...string) []string { slices.Sort(s); return s }
	for _, tc := range []struct {
		selector map[string]string
		want     []string
	}{
		{map[string]string{runtime.LabelOwner: h.owner}, sorted(a1, a2, b)},
		{map[string]string{runtime.LabelOwner: h.owner, "dev.berth.test/group": "a"}, sorted(a1, a2)},
		{map[string]string{runtime.LabelOwner: h.owner, "dev.berth.test/group": "b"}, []string{b}},
		{map[string]string{runtime.LabelOwner: h.owner, "dev.berth.test/group": "c"}, nil},
		{map[string]string{runtime.LabelOwner: h.owner + "-other"}, nil},
	} {
		if got := ids(tc.selector); !slices.Equal(got, tc.want) {
			h.t.Errorf("List(%v) = %v, want %v", tc.selector, got, tc.want)
		}
	}
}

func testRemove(h *harness) {
	created, _ := h.create(nil)
	running, _ := h.create(nil)
	h.start(running)
	for _, id := range []string{created, running} {
		if err := h.d.Remove(h.ctx, id); err != nil {
			h.t.Fatalf("Remove(%s): %v", id, err)
		}
		if _, err := h.d.Inspect(h.ctx, id); !errors.Is(err, runtime.ErrNotFound) {
			h.t.Errorf("Inspect after Remove = %v, want ErrNotFound", err)
		}
		if err := h.d.Remove(h.ctx, id); err != nil {
			h.t.Errorf("second Remove(%s) = %v, want nil", id, err)
		}
	}
	if list, err := h.d.List(h.ctx, map[string]string{runtime.LabelOwner: h.owner}); err != nil || len(list) != 0 {
		h.t.Errorf("List after Remove = %v, %v; want none", list, err)
	}
}

func testMissingContainer(h *harness) {
	id := "berth-missing-" + h.owner
	if err := h.d.Remove(h.ctx, id); err != nil {
		h.t.Errorf("Remove(%s) = %v, want nil", id, err)
	}
	if _, err := h.d.Inspect(h.ctx, id); !errors.Is(err, runtime.ErrNotFound) {
		h.t.Errorf("Inspect(%s) = %v, want ErrNotFound", id, err)
	}
	if err := h.d.Start(h.ctx, id); !errors.Is(err, runtime.ErrNotFound) {
		h.t.Errorf("Start(%s) = %v, want ErrNotFound", id, err)
	}
	if err := h.d.Stop(h.ctx, id, time.Second); !errors.Is(err, runtime.ErrNotFound) {
		h.t.Errorf("Stop(%s) = %v, want ErrNotFound", id, err)
	}
	if _, err := h.d.Logs(h.ctx, id, runtime.LogOptions{}); !errors.Is(err, runtime.ErrNotFound) {
		h.t.Errorf("Logs(%s) = %v, want ErrNotFound", id, err)
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// OtherNetwork: a spec's Network puts the container on that network (made on
// demand) instead of the default one; it runs and stops like any other.
func testOtherNetwork(h *harness) {
	spec := h.spec(nil)
	spec.Network = "berth-conformance-isolated"
	id, err := h.d.Create(h.ctx, spec)
	if err != nil {
		h.t.Fatalf("Create(%s) on network %s: %v", spec.Name, spec.Network, err)
	}
	if err := h.d.Start(h.ctx, id); err != nil {
		h.t.Fatalf("Start(%s): %v", id, err)
	}
	h.waitState(id, runtime.StateRunning)
	if err := h.d.Stop(h.ctx, id, 5*time.Second); err != nil {
		h.t.Fatalf("Stop(%s): %v", id, err)
	}
	h.waitState(id, runtime.StateExited)
}
