package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	dockerclient "github.com/docker/docker/client"

	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/server"
)

// api returns a Go client of the server's API.
func (s *berthServer) api(t *testing.T) *client.Client {
	t.Helper()
	tok, err := os.ReadFile(filepath.Join(s.dir, server.TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(s.info.API, strings.TrimSpace(string(tok)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// deployJob deploys a job manifest built from the test app and checks the
// deploy's last line.
func (s *berthServer) deployJob(t *testing.T, name, manifest string) {
	t.Helper()
	out := s.mustBerth("deploy", appDir(t, "kind: job\nname: "+name+"\n"+manifest))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	re := regexp.MustCompile(`^deployed job ` + name + ` revision \d+ \(image berth\.local/default/jobs/` + name + `:r\d+, [0-9.]+ [kMG]?B\)$`)
	if last := lines[len(lines)-1]; !re.MatchString(last) {
		t.Fatalf("deploy of job %s printed %q; want %s", name, last, re)
	}
}

// runJob enqueues an execution with the CLI and returns its ID.
func (s *berthServer) runJob(t *testing.T, args ...string) string {
	t.Helper()
	id := strings.TrimSpace(s.mustBerth(append([]string{"jobs", "run"}, args...)...))
	if !regexp.MustCompile(`^[a-z][a-z0-9-]*-[a-z0-9]{5}$`).MatchString(id) {
		t.Fatalf("jobs run printed %q; want an execution ID", id)
	}
	return id
}

// finals waits for every execution to reach a final status.
func finals(t *testing.T, c *client.Client, ids []string, timeout time.Duration) map[string]*client.Execution {
	t.Helper()
	out := map[string]*client.Execution{}
	eventually(t, timeout, fmt.Sprintf("%d executions to finish", len(ids)), func() bool {
		for _, id := range ids {
			if out[id] != nil {
				continue
			}
			ex, err := c.Execution(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if ex.Terminal() {
				out[id] = ex
			}
		}
		return len(out) == len(ids)
	})
	return out
}

func execLogs(t *testing.T, c *client.Client, id string) string {
	t.Helper()
	rc, err := c.ExecutionLogs(context.Background(), id, false)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// jobContainers lists this server's job containers, running ones only if running.
func jobContainers(t *testing.T, dc *dockerclient.Client, owner string, running bool) []container.Summary {
	t.Helper()
	f := filters.NewArgs(filters.Arg("label", runtime.LabelOwner+"="+owner), filters.Arg("label", runtime.LabelExecution))
	if running {
		f.Add("status", "running")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs, err := dc.ContainerList(ctx, container.ListOptions{All: !running, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// maxOverlap is the most intervals [from, to) that overlap at one instant.
func maxOverlap(iv [][2]time.Time) int {
	type ev struct {
		at time.Time
		d  int
	}
	var evs []ev
	for _, i := range iv {
		evs = append(evs, ev{i[0], +1}, ev{i[1], -1})
	}
	sort.Slice(evs, func(a, b int) bool {
		if evs[a].at.Equal(evs[b].at) {
			return evs[a].d < evs[b].d // an end before a start at the same instant
		}
		return evs[a].at.Before(evs[b].at)
	})
	n, most := 0, 0
	for _, e := range evs {
		n += e.d
		most = max(most, n)
	}
	return most
}
