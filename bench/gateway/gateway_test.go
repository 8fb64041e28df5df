// Package gateway measures the cost of Berth's gateway on a request's path,
// against going straight to the container and against nginx as a keep-alive
// reverse proxy to it, in one run on one warm container:
//
//   - wrk -t2 -c32: throughput and latency percentiles;
//   - wrk -t1 -c1: serial latency (what one client waits for each answer);
//   - h2load -c32 -m8 over HTTP/2 without TLS (h2c): straight to the
//     container, through nginx's h2c listener and through the gateway's.
//
// Run it with `make bench-gateway` (bench/gateway.sh installs wrk, nginx and
// h2load from Debian if missing, then runs this benchmark). It alternates
// the three targets in every round so that machine noise hits all of them,
// repeats the rounds and prints the medians and the ratios as a markdown
// table for docs/benchmarks.md.
//
// Environment: BENCH_ROUNDS (default 3), BENCH_DURATION (each run, default
// 10s), BENCH_PROFILE=FILE to save a CPU profile of the gateway taken
// during its last -c32 run, and BENCH_HOLD=DURATION to set the three
// targets up, print them and keep them up that long instead of measuring
// (for wrk, perf stat or strace by hand).
package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	dockerclient "github.com/docker/docker/client"

	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/server"
	"github.com/berth-dev/berth/internal/testimage"
)

// appName is the benchmarked app; its default host is appName.localhost.
const appName = "gwbench"

// manifest keeps exactly one warm instance serving for the whole run: it
// never scales, sleeps or recycles, and never queues at -c32 -m8 (256
// streams). H2C=1 makes the testapp speak h2c too, for the direct h2 run.
//
// The instance gets every CPU of the machine: at the default size (0.125
// vCPU) the kernel's CPU quota stops the container for most of every 100 ms
// period under load, and every path then measures that quota instead of the
// proxy in front of it (docs/benchmarks.md).
func manifest() string {
	return fmt.Sprintf(`name: %s
cpu: "%d"
env: {H2C: "1"}
scale: {min: 1, max: 1, concurrency: 256, target: 100, queue: 10000}
limits: {idle_timeout: 30m, max_duration: 30m, request_timeout: 60s}
`, appName, goruntime.NumCPU())
}

// target is one way to reach the app.
type target struct {
	name string
	// url is what wrk and h2load are pointed at; host, if set, is sent as
	// the Host header (the gateway routes by it).
	url, h2url, host string
	// pids are the processes that do the target's work, whose CPU time is
	// measured per request (none for direct).
	pids func() []int
}

func BenchmarkGateway(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
	// Cancelled after the other cleanups: nginx and the server are stopped
	// gracefully there first, not killed (which orphaned nginx's workers).
	b.Cleanup(cancel)
	for _, tool := range []string{"wrk", "nginx", "h2load"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Fatalf("%s is not installed; run bench/gateway.sh (it installs wrk, nginx and nghttp2-client)", tool)
		}
	}
	rounds := envInt(b, "BENCH_ROUNDS", 3)
	dur := envDuration(b, "BENCH_DURATION", 10*time.Second)

	dir := b.TempDir()
	bin := filepath.Join(dir, "berth")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/berth")
	build.Dir, build.Env = testimage.RepoRoot(b), append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build berth: %v\n%s", err, out)
	}
	info, data := startServer(ctx, b, bin, dir)
	app := testimage.Context(b)
	if err := os.WriteFile(filepath.Join(app, "berth.yaml"), []byte(manifest()), 0o644); err != nil {
		b.Fatal(err)
	}
	berth(ctx, b, bin, data, "deploy", app)
	addr := instanceAddr(ctx, b, bin, data)
	nginx := startNginx(ctx, b, dir, addr)

	targets := []target{
		{name: "direct", url: "http://" + addr + "/", h2url: "http://" + addr + "/"},
		{name: "nginx", url: "http://" + nginx.http + "/", h2url: "http://" + nginx.h2c + "/", pids: nginx.workers},
		{name: "gateway", url: info.Gateway + "/", h2url: info.Gateway + "/", host: appName + ".localhost",
			pids: func() []int { return []int{info.PID} }},
	}
	for _, t := range targets { // warm up every path: connections, caches, the JIT-less Go heap
		mustOK(b, t)
		runWrk(ctx, b, t, 2, 32, 2*time.Second)
	}
	if os.Getenv("BENCH_HOLD") != "" {
		// For measuring by hand: the targets stay up for a while.
		d := envDuration(b, "BENCH_HOLD", time.Minute)
		for _, t := range targets {
			b.Logf("%-8s %s host=%q h2 %s", t.name, t.url, t.host, t.h2url)
		}
		b.Logf("server pid in %s; holding for %s", filepath.Join(data, server.InfoFile), d)
		time.Sleep(d)
		return
	}
	res := map[string]*series{}
	for _, t := range targets {
		res[t.name] = &series{}
	}
	for round := range rounds {
		for i := range targets {
			t := targets[(round+i)%len(targets)] // rotate who goes first
			s := res[t.name]
			var prof chan []byte
			if t.name == "gateway" && round == rounds-1 && info.Pprof != "" && os.Getenv("BENCH_PROFILE") != "" {
				prof = profile(ctx, b, info.Pprof, dur-2*time.Second)
			}
			cpu := startCPU(b, t)
			r := runWrk(ctx, b, t, 2, 32, dur)
			r.cpu = cpu.perRequest(b, r.requests)
			s.c32 = append(s.c32, r)
			if prof != nil {
				if err := os.WriteFile(os.Getenv("BENCH_PROFILE"), <-prof, 0o644); err != nil {
					b.Fatal(err)
				}
			}
			s.c1 = append(s.c1, runWrk(ctx, b, t, 1, 1, dur))
			s.h2 = append(s.h2, runH2load(ctx, b, t, 32, 8, dur))
			b.Logf("round %d %-8s c32 %.0f req/s p50 %s cpu/req %s | c1 p50 %s | h2 %.0f req/s", round+1, t.name,
				s.c32[len(s.c32)-1].rps, s.c32[len(s.c32)-1].p50, s.c32[len(s.c32)-1].cpu, s.c1[len(s.c1)-1].p50, s.h2[len(s.h2)-1].rps)
		}
	}
	fmt.Print(report(rounds, dur, res))
}

// startServer starts `berth server` on loopback with its own data directory
// and a pprof listener, and removes its containers when the benchmark ends.
func startServer(ctx context.Context, b *testing.B, bin, dir string) (server.ServerInfo, string) {
	data := filepath.Join(dir, "data")
	srv := exec.CommandContext(ctx, bin, "server", "--data", data, "--api", "127.0.0.1:0", "--http", "127.0.0.1:0",
		"--pprof", "127.0.0.1:0", "--log-level", "warn")
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	var info server.ServerInfo
	b.Cleanup(func() {
		srv.Process.Signal(os.Interrupt)
		srv.Wait()
		removeOwned(info.Owner)
	})
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if raw, err := os.ReadFile(filepath.Join(data, server.InfoFile)); err == nil && json.Unmarshal(raw, &info) == nil && info.PID == srv.Process.Pid {
			return info, data
		}
		if time.Now().After(deadline) {
			b.Fatal("berth server did not start")
		}
	}
}

// berth runs the CLI against the benchmark's server.
func berth(ctx context.Context, b *testing.B, bin, data string, args ...string) []byte {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "BERTH_DATA="+data, "BERTH_API=", "BERTH_TOKEN=")
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		b.Fatalf("berth %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return out
}

// instanceAddr waits for the app's one instance to be ready and returns its
// address on the engine's network.
func instanceAddr(ctx context.Context, b *testing.B, bin, data string) string {
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var app client.App
		if err := json.Unmarshal(berth(ctx, b, bin, data, "status", appName, "-o", "json"), &app); err != nil {
			b.Fatal(err)
		}
		for _, in := range app.Instances {
			if in.State == "ready" && in.Addr != "" {
				return in.Addr
			}
		}
	}
	b.Fatal("the app's instance was not ready within 2 minutes")
	return ""
}

// mustOK checks that the target answers the app's 200.
func mustOK(b *testing.B, t target) {
	req, err := http.NewRequest(http.MethodGet, t.url, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Host = t.host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatalf("%s: %v", t.name, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "hello from") {
		b.Fatalf("%s: %s %q", t.name, resp.Status, body)
	}
}

// profile fetches a CPU profile of the server taken over d, in the background.
func profile(ctx context.Context, b *testing.B, base string, d time.Duration) chan []byte {
	ch := make(chan []byte, 1)
	go func() {
		url := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, int(d.Seconds()))
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Errorf("profile: %v", err)
			ch <- nil
			return
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		ch <- raw
	}()
	return ch
}

// removeOwned removes every container labelled with the server's owner.
func removeOwned(owner string) {
	if owner == "" {
		return
	}
	dc, err := dockerclient.NewClientWithOpts(dockerclient.FromEnv, dockerclient.WithAPIVersionNegotiation())
	if err != nil {
		return
	}
	defer dc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cs, _ := dc.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", runtime.LabelOwner+"="+owner))})
	for _, c := range cs {
		dc.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
	}
}

func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

func envDuration(b *testing.B, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 3*time.Second {
		b.Fatalf("%s=%q: want a duration of at least 3s", name, v)
	}
	return d
}
