// Package wake measures how fast Berth wakes a sleeping instance, against
// the engine doing the same thing by hand, in one run on one machine:
//
//   - stopped → first byte through Berth's gateway, against `docker start` of
//     a plain container on a bridge network → first byte;
//   - paused → first byte through the gateway, against `docker unpause` of a
//     plain container → first byte.
//
// Run it with `make bench-wake` (go test -run '^$' -bench Wake ./bench/wake).
// It alternates baseline and Berth rounds so that machine noise hits both,
// and reports medians, p90s and ratios (see docs/benchmarks.md).
package wake

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	dockerclient "github.com/docker/docker/client"

	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/server"
	"github.com/berth-dev/berth/internal/testimage"
)

// rounds: the first is a cold start, so Berth gets rounds-1 = 20 wakes of each kind.
const rounds = 21

func BenchmarkWake(b *testing.B) {
	ctx := context.Background()
	dc, err := dockerclient.NewClientWithOpts(dockerclient.FromEnv, dockerclient.WithAPIVersionNegotiation())
	if err != nil {
		b.Fatal(err)
	}
	defer dc.Close()
	root := testimage.RepoRoot(b)
	dir := b.TempDir()
	bin := filepath.Join(dir, "berth")
	build := exec.Command("go", "build", "-o", bin, "./cmd/berth")
	build.Dir, build.Env = root, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build berth: %v\n%s", err, out)
	}

	data := filepath.Join(dir, "data")
	srv := exec.Command(bin, "server", "--data", data, "--api", "127.0.0.1:0", "--http", "127.0.0.1:0")
	srv.Stderr = io.Discard
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	var info server.ServerInfo
	defer func() {
		srv.Process.Signal(os.Interrupt)
		srv.Wait()
		cleanup(dc, runtime.LabelOwner+"="+info.Owner)
	}()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if raw, err := os.ReadFile(filepath.Join(data, server.InfoFile)); err == nil && json.Unmarshal(raw, &info) == nil && info.PID == srv.Process.Pid {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("berth server did not start")
		}
	}
	deploy := func(name, sleep string) {
		app := testimage.Context(b)
		manifest := fmt.Sprintf("name: %s\nsleep: %s\nlimits: {idle_timeout: 1s}\n", name, sleep)
		if err := os.WriteFile(filepath.Join(app, "berth.yaml"), []byte(manifest), 0o644); err != nil {
			b.Fatal(err)
		}
		cmd := exec.Command(bin, "deploy", app)
		cmd.Env = append(os.Environ(), "BERTH_DATA="+data)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("deploy %s: %v\n%s", name, err, out)
		}
	}
	deploy("wake-stop", "stop")
	deploy("wake-pause", "pause")

	// The baseline: a plain container of the same image on a bridge network.
	img := imageOf(ctx, b, dc, "berth.local/default/wake-stop:r1")
	const label = "dev.berth.bench=wake"
	defer cleanup(dc, label)
	plain, err := dc.ContainerCreate(ctx, &container.Config{Image: img, Env: []string{"PORT=8080"}, Labels: map[string]string{"dev.berth.bench": "wake"}},
		&container.HostConfig{NetworkMode: "berth"}, &network.NetworkingConfig{}, nil, "")
	if err != nil {
		b.Fatal(err)
	}

	var plainStart, berthStop, plainUnpause, berthPause []time.Duration
	for i := range rounds {
		// Plain docker start on the bridge → first byte.
		t0 := time.Now()
		if err := dc.ContainerStart(ctx, plain.ID, container.StartOptions{}); err != nil {
			b.Fatal(err)
		}
		addr := ipOf(ctx, b, dc, plain.ID) + ":8080"
		firstByte(b, "http://"+addr+"/", "")
		plainStart = append(plainStart, time.Since(t0))

		// Plain docker unpause → first byte.
		if err := dc.ContainerPause(ctx, plain.ID); err != nil {
			b.Fatal(err)
		}
		t0 = time.Now()
		if err := dc.ContainerUnpause(ctx, plain.ID); err != nil {
			b.Fatal(err)
		}
		firstByte(b, "http://"+addr+"/", "")
		plainUnpause = append(plainUnpause, time.Since(t0))
		stop := 0
		if err := dc.ContainerStop(ctx, plain.ID, container.StopOptions{Timeout: &stop}); err != nil {
			b.Fatal(err)
		}

		// Berth: wake a stopped instance, then a paused one.
		for _, m := range []struct {
			app, state string
			into       *[]time.Duration
		}{{"wake-stop", "exited", &berthStop}, {"wake-pause", "paused", &berthPause}} {
			if i > 0 {
				waitState(ctx, b, dc, info.Owner, m.app, m.state)
			}
			t0 = time.Now()
			firstByte(b, info.Gateway+"/", m.app+".localhost")
			if i > 0 { // round 0 is the first start, not a wake
				*m.into = append(*m.into, time.Since(t0))
			}
		}
	}
	report(b, "stopped → first byte", berthStop, "docker start (bridge) → first byte", plainStart)
	report(b, "paused → first byte", berthPause, "docker unpause → first byte", plainUnpause)
}

// firstByte polls url (with Host host) until it answers 200, the way a
// client held by the gateway, or a client polling a fresh container, sees it.
func firstByte(b *testing.B, url, host string) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("GET %s (Host %s): no 200 within 60s: %v", url, host, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func waitState(ctx context.Context, b *testing.B, dc *dockerclient.Client, owner, app, state string) {
	f := filters.NewArgs(filters.Arg("label", runtime.LabelOwner+"="+owner), filters.Arg("label", runtime.LabelApp+"="+app),
		filters.Arg("label", runtime.LabelInstance))
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		cs, err := dc.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
		if err == nil && len(cs) == 1 && cs[0].State == state {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s did not become %s", app, state)
		}
	}
}

func imageOf(ctx context.Context, b *testing.B, dc *dockerclient.Client, ref string) string {
	img, err := dc.ImageInspect(ctx, ref)
	if err != nil {
		b.Fatal(err)
	}
	return img.ID
}

func ipOf(ctx context.Context, b *testing.B, dc *dockerclient.Client, id string) string {
	c, err := dc.ContainerInspect(ctx, id)
	if err != nil {
		b.Fatal(err)
	}
	return c.NetworkSettings.Networks["berth"].IPAddress
}

func cleanup(dc *dockerclient.Client, label string) {
	ctx := context.Background()
	cs, _ := dc.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", label))})
	for _, c := range cs {
		dc.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
	}
}

func report(b *testing.B, name string, berth []time.Duration, baseName string, base []time.Duration) {
	bm, bp := stats(berth)
	xm, xp := stats(base)
	var s strings.Builder
	fmt.Fprintf(&s, "\n| %s | median | p90 | n |\n| --- | --- | --- | --- |\n", "measure")
	fmt.Fprintf(&s, "| Berth: %s | %s | %s | %d |\n", name, ms(bm), ms(bp), len(berth))
	fmt.Fprintf(&s, "| baseline: %s | %s | %s | %d |\n", baseName, ms(xm), ms(xp), len(base))
	fmt.Fprintf(&s, "| ratio (Berth ÷ baseline) | %.2f× | %.2f× | |\n", bm.Seconds()/xm.Seconds(), bp.Seconds()/xp.Seconds())
	b.Log(s.String())
	b.ReportMetric(bm.Seconds()/xm.Seconds(), strings.Fields(name)[0]+"-median-ratio")
}

func stats(d []time.Duration) (median, p90 time.Duration) {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2], s[min(len(s)-1, len(s)*9/10)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
