package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/internal/gateway"
	"github.com/berth-dev/berth/internal/runtime"
)

// TestDeployAndColdStartHerd deploys from a Dockerfile directory and sends 20
// concurrent first requests: all must succeed, all wait for the same start,
// and exactly one container must exist. (Concurrency 20 at a 100% target lets
// one instance take them all; below that Berth would rightly start more.)
func TestDeployAndColdStartHerd(t *testing.T) {
	s, dc := newPlatform(t)
	dir := appDir(t, "name: herd\nscale: {concurrency: 20, target: 100}\nenv:\n  START_DELAY: 500ms\n")

	out := s.mustBerth("deploy", dir)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	if !regexp.MustCompile(`^deployed herd revision 1: http://herd\.localhost:\d+/ \(image .+, [0-9.]+ [kMG]?B\)$`).MatchString(last) {
		t.Fatalf("last line of deploy = %q; want the URL, the image size and the revision", last)
	}
	if n := len(s.containers(t, dc, "herd")); n != 0 {
		t.Fatalf("deploy started %d containers; the first request should", n)
	}

	const n = 20
	var wg sync.WaitGroup
	type result struct {
		status int
		body   string
		cold   string
		err    error
	}
	results := make([]result, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, body, err := s.get("herd.localhost", "/")
			if err != nil {
				results[i].err = err
				return
			}
			results[i] = result{status: resp.StatusCode, body: body, cold: resp.Header.Get(gateway.ColdStartHeader)}
		}()
	}
	wg.Wait()
	bodies := map[string]bool{}
	for i, r := range results {
		if r.err != nil || r.status != http.StatusOK {
			t.Fatalf("request %d: status %d, err %v, body %q", i, r.status, r.err, r.body)
		}
		if !strings.HasPrefix(r.body, "hello from ") {
			t.Fatalf("request %d: body %q", i, r.body)
		}
		if !regexp.MustCompile(`^create;dur=[0-9.]+, start;dur=[0-9.]+, ready;dur=[0-9.]+$`).MatchString(r.cold) {
			t.Fatalf("request %d: %s = %q; want create, start and ready phases", i, gateway.ColdStartHeader, r.cold)
		}
		bodies[r.body] = true
	}
	if len(bodies) != 1 {
		t.Fatalf("20 first requests were answered by %d instances: %v", len(bodies), bodies)
	}
	if cs := s.containers(t, dc, "herd"); len(cs) != 1 {
		t.Fatalf("%d containers after 20 concurrent first requests; want exactly 1", len(cs))
	}

	// Warm: no cold-start header, same instance.
	resp, body, err := s.get("herd.localhost", "/")
	if err != nil || resp.StatusCode != 200 || !bodies[body] || resp.Header.Get(gateway.ColdStartHeader) != "" {
		t.Fatalf("warm request: %v %v %q cold=%q", resp, err, body, resp.Header.Get(gateway.ColdStartHeader))
	}

	// Status and logs through the CLI.
	var app client.App
	if err := json.Unmarshal([]byte(s.mustBerth("status", "herd", "-o", "json")), &app); err != nil {
		t.Fatal(err)
	}
	if app.Status != "ready" || len(app.Instances) != 1 || app.Revision != 1 || app.ImageSize <= 0 {
		t.Fatalf("status = %+v", app)
	}
	if logs := s.mustBerth("logs", "herd"); !strings.Contains(logs, "listening on") {
		t.Fatalf("berth logs herd = %q; want the app's output", logs)
	}

	// Remove: the container goes and the route answers 404.
	s.mustBerth("rm", "herd")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	left, err := dc.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", runtime.LabelOwner+"="+s.info.Owner), filters.Arg("label", runtime.LabelApp+"=herd"))})
	if err != nil || len(left) != 0 {
		t.Fatalf("%d containers (instances or network holders) left after berth rm: %v", len(left), err)
	}
	resp, _, err = s.get("herd.localhost", "/")
	if err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("after rm: %v %v; want 404", resp, err)
	}
}

// TestIdleSleepAndWake: after a 2s idle_timeout the container is stopped;
// the next request starts the same container again.
func TestIdleSleepAndWake(t *testing.T) {
	s, dc := newPlatform(t)
	s.mustBerth("deploy", appDir(t, "name: sleepy\nlimits:\n  idle_timeout: 2s\nhealth:\n  path: /healthz\n"))

	resp, first, err := s.get("sleepy.localhost", "/")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("first request: %v %v", resp, err)
	}
	cs := s.containers(t, dc, "sleepy")
	if len(cs) != 1 || cs[0].State != "running" {
		t.Fatalf("containers after first request: %+v", cs)
	}
	id := cs[0].ID

	eventually(t, 20*time.Second, "the idle instance to be stopped", func() bool {
		cs := s.containers(t, dc, "sleepy")
		return len(cs) == 1 && cs[0].State == "exited"
	})
	// The instance's network namespace outlives its stop: its holder runs on.
	info, err := dc.ContainerInspect(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	holder, ok := strings.CutPrefix(string(info.HostConfig.NetworkMode), "container:")
	if !ok {
		t.Fatalf("instance network mode %q; want a holder's namespace", info.HostConfig.NetworkMode)
	}
	if h, err := dc.ContainerInspect(context.Background(), holder); err != nil || !h.State.Running {
		t.Fatalf("network holder %s of the sleeping instance: %v; want running", holder, err)
	}
	var app client.App
	json.Unmarshal([]byte(s.mustBerth("status", "sleepy", "-o", "json")), &app)
	if app.Status != "sleeping" {
		t.Fatalf("status while asleep = %q; want sleeping", app.Status)
	}

	resp, body, err := s.get("sleepy.localhost", "/")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("wake request: %v %v", resp, err)
	}
	if cold := resp.Header.Get(gateway.ColdStartHeader); !strings.HasPrefix(cold, "start;") {
		t.Fatalf("wake %s = %q; want a start without a create", gateway.ColdStartHeader, cold)
	}
	cs = s.containers(t, dc, "sleepy")
	if len(cs) != 1 || cs[0].ID != id || cs[0].State != "running" {
		t.Fatalf("after wake: %+v; want the same container %s running", cs, id)
	}
	if body != first {
		t.Fatalf("woken instance answered %q; before sleeping it answered %q", body, first)
	}
}

// TestSlotLimitsAndHardening: the slot becomes CPU and memory limits, and the
// container runs with the hardened defaults, with no published ports.
func TestSlotLimitsAndHardening(t *testing.T) {
	s, dc := newPlatform(t)
	s.mustBerth("deploy", appDir(t, "name: slotted\nslot: c.25-m256\n"))
	if resp, _, err := s.get("slotted.localhost", "/"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("request: %v %v", resp, err)
	}
	cs := s.containers(t, dc, "slotted")
	if len(cs) != 1 {
		t.Fatalf("%d containers", len(cs))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := dc.ContainerInspect(ctx, cs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	hc := info.HostConfig
	if hc.NanoCPUs != 250_000_000 {
		t.Errorf("NanoCpus = %d; want 250000000 (0.25 vCPU)", hc.NanoCPUs)
	}
	if hc.Memory != 256<<20 {
		t.Errorf("Memory = %d; want %d (256 MiB)", hc.Memory, 256<<20)
	}
	if hc.PidsLimit == nil || *hc.PidsLimit <= 0 {
		t.Errorf("PidsLimit = %v; want a limit", hc.PidsLimit)
	}
	if len(hc.CapDrop) != 1 || !strings.EqualFold(hc.CapDrop[0], "ALL") {
		t.Errorf("CapDrop = %v; want [ALL]", hc.CapDrop)
	}
	if !contains(hc.SecurityOpt, "no-new-privileges:true") && !contains(hc.SecurityOpt, "no-new-privileges") {
		t.Errorf("SecurityOpt = %v; want no-new-privileges", hc.SecurityOpt)
	}
	if len(hc.PortBindings) != 0 {
		t.Errorf("port bindings %v; want none", hc.PortBindings)
	}
	for port, bindings := range info.NetworkSettings.Ports {
		if len(bindings) > 0 {
			t.Errorf("port %s is published on the host as %v; want no published ports", port, bindings)
		}
	}
	if !contains(info.Config.Env, "PORT=8080") {
		t.Errorf("Env = %v; want PORT=8080", info.Config.Env)
	}
	for _, l := range []string{runtime.LabelNamespace, runtime.LabelApp, runtime.LabelRevision, runtime.LabelInstance, runtime.LabelOwner} {
		if info.Config.Labels[l] == "" {
			t.Errorf("label %s missing: %v", l, info.Config.Labels)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestReadoptionAfterKill9: a server killed with SIGKILL and started again
// keeps its apps, re-adopts the running container (no duplicate) and
// removes a dangling container that carries its labels but belongs to no app.
func TestReadoptionAfterKill9(t *testing.T) {
	s, dc := newPlatform(t)
	s.mustBerth("deploy", appDir(t, "name: durable\n"))
	resp, before, err := s.get("durable.localhost", "/")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("request: %v %v", resp, err)
	}
	cs := s.containers(t, dc, "durable")
	if len(cs) != 1 {
		t.Fatalf("%d containers", len(cs))
	}
	id, image := cs[0].ID, cs[0].ImageID

	// A container with Berth's labels for an app that does not exist.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ghost, err := dc.ContainerCreate(ctx, &container.Config{Image: image, Labels: map[string]string{
		runtime.LabelOwner: s.info.Owner, runtime.LabelNamespace: "default", runtime.LabelApp: "ghost",
		runtime.LabelRevision: "1", runtime.LabelInstance: "feedface00",
	}}, nil, nil, nil, "berth-e2e-ghost-"+s.info.Owner)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dc.ContainerRemove(context.Background(), ghost.ID, container.RemoveOptions{Force: true}) })

	s.stop(syscall.SIGKILL)
	s2 := startServer(t, s.dir)
	if s2.info.Owner != s.info.Owner {
		t.Fatalf("owner changed across restart: %s → %s", s.info.Owner, s2.info.Owner)
	}
	if out := s2.mustBerth("apps"); !strings.Contains(out, "durable") {
		t.Fatalf("berth apps after restart = %q; want durable", out)
	}
	resp, after, err := s2.get("durable.localhost", "/")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("request after restart: %v %v", resp, err)
	}
	if after != before {
		t.Fatalf("after restart answered %q; before %q: the container was not re-adopted", after, before)
	}
	cs = s2.containers(t, dc, "durable")
	if len(cs) != 1 || cs[0].ID != id {
		t.Fatalf("containers after restart: %+v; want only the adopted %s", cs, id)
	}
	eventually(t, 20*time.Second, "the dangling container to be removed", func() bool {
		return len(s2.containers(t, dc, "ghost")) == 0
	})
}

// TestFailedStartIsReported: an app that exits at start answers 503
// problem+json, and status shows the failure with the exit code.
func TestFailedStartIsReported(t *testing.T) {
	s, _ := newPlatform(t)
	s.mustBerth("deploy", appDir(t, "name: crashy\nenv:\n  CRASH_AT_START: \"3\"\n"))
	resp, body, err := s.get("crashy.localhost", "/")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("crashing app: %d %s %q; want 503 problem+json", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if !strings.Contains(body, "exited with code 3") {
		t.Fatalf("problem = %q; want the exit code", body)
	}
	// The first failure is retried at once (a tick may be starting that
	// retry when status is asked: "starting"); after the second the app
	// backs off ("crash-looping"). Poll until it is not starting.
	var app client.App
	deadline := time.Now().Add(60 * time.Second)
	for {
		app = client.App{}
		json.Unmarshal([]byte(s.mustBerth("status", "crashy", "-o", "json")), &app)
		if app.Status == "failed" || app.Status == "crash-looping" || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if (app.Status != "failed" && app.Status != "crash-looping") || !strings.Contains(app.LastError, "code 3") || !strings.Contains(app.LastError, "crashing with 3") {
		t.Fatalf("status = %q, last error %q; want failed (or crash-looping) with the exit code and the log tail", app.Status, app.LastError)
	}
}
