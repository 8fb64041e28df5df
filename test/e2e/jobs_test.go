package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/server"
)

// TestJobsParallelism: 20 executions of a job with parallelism 4 complete
// with the right exit codes and logs, and never more than 4 run at once.
func TestJobsParallelism(t *testing.T) {
	s, dc := newPlatform(t)
	c := s.api(t)
	s.deployJob(t, "batch", "parallelism: 4\nretries: 0\nargs: [job]\n")

	var ids []string
	want := map[string]int{}
	for i := range 20 {
		code := []int{0, 0, 3, 0, 5}[i%5]
		id := s.runJob(t, "batch", "--", "job", fmt.Sprintf("print=exec-%d", i), "sleep=1s", fmt.Sprintf("exit=%d", code))
		ids = append(ids, id)
		want[id] = code
	}
	mostRunning := 0
	var exs map[string]*client.Execution
	eventually(t, 3*time.Minute, "20 executions to finish", func() bool {
		mostRunning = max(mostRunning, len(jobContainers(t, dc, s.info.Owner, true)))
		l, err := c.Executions(context.Background(), "batch", 0)
		if err != nil {
			t.Fatal(err)
		}
		exs = map[string]*client.Execution{}
		for i := range l {
			if l[i].Terminal() {
				exs[l[i].ID] = &l[i]
			}
		}
		return len(exs) == len(ids)
	})
	if mostRunning > 4 {
		t.Errorf("%d job containers ran at once; parallelism is 4", mostRunning)
	}
	var slots, runs [][2]time.Time
	for i, id := range ids {
		ex := exs[id]
		wantStatus := "succeeded"
		if want[id] != 0 {
			wantStatus = "failed"
		}
		if ex.Status != wantStatus || ex.ExitCode != want[id] || ex.Reason != "exit" || len(ex.Attempts) != 1 {
			t.Errorf("execution %d (%s): status %s, exit %d, reason %s, %d attempts; want %s with exit %d after 1 attempt",
				i, id, ex.Status, ex.ExitCode, ex.Reason, len(ex.Attempts), wantStatus, want[id])
			continue
		}
		a := ex.Attempts[0]
		slots = append(slots, [2]time.Time{a.ClaimedAt, a.EndedAt})
		runs = append(runs, [2]time.Time{a.StartedAt, a.FinishedAt})
		logs := execLogs(t, c, id)
		for _, line := range []string{"attempt=1 execution=" + id, fmt.Sprintf("exec-%d", i), fmt.Sprintf("exiting with %d", want[id])} {
			if !strings.Contains(logs, line+"\n") {
				t.Errorf("log of execution %d lacks %q:\n%s", i, line, logs)
			}
		}
	}
	if n := maxOverlap(runs); n > 4 {
		t.Errorf("%d job containers overlapped in time; parallelism is 4", n)
	}
	if n := maxOverlap(slots); n != 4 {
		t.Errorf("at most %d executions held a slot at once; want exactly 4 (parallelism 4, 20 queued)", n)
	}
	eventually(t, 30*time.Second, "job containers to be removed", func() bool {
		return len(jobContainers(t, dc, s.info.Owner, false)) == 0
	})
}

// TestJobRetriedThenFailed: a failing job is retried its retries times,
// with backoff, then marked failed; --wait exits with its exit code.
func TestJobRetriedThenFailed(t *testing.T) {
	dc := dockerClient(t)
	s := startOwned(t, dc, t.TempDir(), "--job-retry-backoff", "200ms")
	s.deployJob(t, "flaky", "retries: 2\nargs: [job, env=STAGE, exit=7]\nenv: {STAGE: test}\n")

	out, errOut, code := s.berth("jobs", "run", "flaky", "--wait", "--env", "STAGE=e2e")
	if code != 7 {
		t.Fatalf("jobs run --wait exited %d; want the job's exit code 7\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if !regexp.MustCompile(`berth: execution flaky-[a-z0-9]{5} failed with exit code 7 after 3 attempts\n$`).MatchString(errOut) {
		t.Errorf("stderr = %q", errOut)
	}
	for _, line := range []string{"attempt=1 ", "attempt=2 ", "attempt=3 ", "--- berth: attempt 3 of 3 ---", "STAGE=e2e"} {
		if !strings.Contains(out, line) {
			t.Errorf("streamed log lacks %q:\n%s", line, out)
		}
	}
	id := regexp.MustCompile(`flaky-[a-z0-9]{5}`).FindString(errOut)
	var ex client.Execution
	if err := json.Unmarshal([]byte(s.mustBerth("jobs", "status", id, "-o", "json")), &ex); err != nil {
		t.Fatal(err)
	}
	if ex.Status != "failed" || len(ex.Attempts) != 3 || ex.MaxAttempts != 3 {
		t.Fatalf("status %s with %d of %d attempts; want failed after 3", ex.Status, len(ex.Attempts), ex.MaxAttempts)
	}
	for i, a := range ex.Attempts {
		if a.Reason != "exit" || a.ExitCode != 7 {
			t.Errorf("attempt %d: reason %s, exit %d", i+1, a.Reason, a.ExitCode)
		}
		if i > 0 {
			// Exponential backoff: 200ms before the first retry, 400ms before the second.
			if wait := a.ClaimedAt.Sub(ex.Attempts[i-1].EndedAt); wait < 200*time.Millisecond<<(i-1) {
				t.Errorf("attempt %d started %s after attempt %d ended; the backoff is %s", i+1, wait, i, 200*time.Millisecond<<(i-1))
			}
		}
	}
	if ls := s.mustBerth("jobs", "ls"); !regexp.MustCompile(id + `\s+flaky\s+failed\s+3/3\s+7\s+exit`).MatchString(ls) {
		t.Errorf("jobs ls:\n%s", ls)
	}
}

// TestJobTimeoutAndCancel: a timeout kills the attempt and is reported as
// such; cancel dequeues a queued execution and stops a running one.
func TestJobTimeoutAndCancel(t *testing.T) {
	s, dc := newPlatform(t)
	c := s.api(t)
	s.deployJob(t, "slow", "timeout: 1s\nretries: 0\nargs: [job, sleep=60s]\n")
	out, errOut, code := s.berth("jobs", "run", "slow", "--wait")
	if code != 1 || !strings.Contains(errOut, "failed: timed out after 1 attempt") {
		t.Fatalf("jobs run --wait of a job past its timeout: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	id := regexp.MustCompile(`slow-[a-z0-9]{5}`).FindString(errOut)
	ex, err := c.Execution(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if a := ex.Attempts[0]; ex.Status != "failed" || ex.Reason != "timeout" || a.FinishedAt.Sub(a.StartedAt) > 30*time.Second {
		t.Fatalf("timed-out execution: status %s, reason %s, ran %s", ex.Status, ex.Reason, a.FinishedAt.Sub(a.StartedAt))
	}

	s.deployJob(t, "long", "args: [job, sleep=60s]\n")
	first := s.runJob(t, "long")
	second := s.runJob(t, "long") // parallelism 1: stays queued
	eventually(t, 60*time.Second, "the first execution's container to run", func() bool {
		return len(jobContainers(t, dc, s.info.Owner, true)) == 1
	})
	if out := s.mustBerth("jobs", "cancel", second); out != "cancelled "+second+"\n" {
		t.Errorf("cancel queued: %q", out)
	}
	if out := s.mustBerth("jobs", "cancel", first); out != "cancelled "+first+"\n" {
		t.Errorf("cancel running: %q", out)
	}
	for id, attempts := range map[string]int{first: 1, second: 0} {
		ex, err := c.Execution(context.Background(), id)
		if err != nil || ex.Status != "cancelled" || ex.Reason != "cancelled" || len(ex.Attempts) != attempts {
			t.Errorf("cancelled execution %s: %+v, %v", id, ex, err)
		}
	}
	eventually(t, 30*time.Second, "the cancelled container to be removed", func() bool {
		return len(jobContainers(t, dc, s.info.Owner, false)) == 0
	})
	if _, errOut, code := s.berth("jobs", "cancel", first); code != 1 || !strings.Contains(errOut, "has already ended (cancelled)") {
		t.Errorf("cancelling again: exit %d, %q", code, errOut)
	}
}

// TestJobsSurviveKill9: kill -9 of the server while jobs run loses
// nothing and runs nothing twice: running attempts are re-attached and
// finish, queued executions run.
func TestJobsSurviveKill9(t *testing.T) {
	dc := dockerClient(t)
	dir := t.TempDir()
	s := startOwned(t, dc, dir)
	owner := s.info.Owner
	s.deployJob(t, "work", "parallelism: 4\nargs: [job]\n")
	c := s.api(t)
	var ids []string
	for i := range 8 {
		ex, err := c.RunJob(context.Background(), "work", client.RunJobRequest{Args: []string{"job", fmt.Sprintf("print=run-%d", i), "sleep=4s"}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ex.ID)
	}
	var running []container.Summary
	eventually(t, 60*time.Second, "4 job containers to run", func() bool {
		running = jobContainers(t, dc, owner, true)
		return len(running) == 4
	})
	s.stop(syscall.SIGKILL)
	if n := len(jobContainers(t, dc, owner, true)); n == 0 {
		t.Fatal("no job container runs after kill -9; the test must kill the server mid-run")
	}

	s2 := startServer(t, dir)
	c2 := s2.api(t)
	exs := finals(t, c2, ids, 2*time.Minute)
	for i, id := range ids {
		ex := exs[id]
		if ex.Status != "succeeded" {
			t.Errorf("execution %d (%s) %s (%s): %+v", i, id, ex.Status, ex.Reason, ex.Attempts)
			continue
		}
		// At least once: a lost attempt may be run again, never alongside another.
		for j, a := range ex.Attempts {
			if j < len(ex.Attempts)-1 && a.Reason != "lost" {
				t.Errorf("execution %s attempt %d: reason %s; only lost attempts may precede the one that succeeded", id, a.Number, a.Reason)
			}
			if j > 0 && a.ClaimedAt.Before(ex.Attempts[j-1].EndedAt) {
				t.Errorf("execution %s: attempt %d started before attempt %d ended", id, a.Number, j)
			}
		}
		if n := strings.Count(execLogs(t, c2, id), fmt.Sprintf("run-%d\n", i)); n != 1 {
			t.Errorf("execution %d printed its line %d times; want once", i, n)
		}
	}
	for _, rc := range running {
		ex := exs[rc.Labels[runtime.LabelExecution]]
		if ex == nil || len(ex.Attempts) != 1 || ex.Attempts[0].ContainerID != rc.ID {
			t.Errorf("the execution running in %s at the kill was not re-attached: %+v", rc.Names, ex)
		}
	}
	eventually(t, 30*time.Second, "job containers to be removed", func() bool {
		return len(jobContainers(t, dc, owner, false)) == 0
	})
}

// TestJobIsolationAndWebhook: a job container reaches neither an app
// instance nor the API; an execution can be enqueued with a JSON body, and
// a bad one is refused naming the field.
func TestJobIsolationAndWebhook(t *testing.T) {
	s, _ := newPlatform(t)
	c := s.api(t)
	s.mustBerth("deploy", appDir(t, "name: web\n"))
	if resp, body, err := s.get("web.localhost", "/"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET web: %v %q", err, body)
	}
	app, err := c.App(context.Background(), "web")
	if err != nil || len(app.Instances) != 1 || app.Instances[0].Addr == "" {
		t.Fatalf("app web: %+v, %v", app, err)
	}
	appAddr := app.Instances[0].Addr
	conn, err := net.DialTimeout("tcp", appAddr, 5*time.Second)
	if err != nil {
		t.Fatalf("the app instance at %s is not reachable from the host either: %v", appAddr, err)
	}
	conn.Close()
	apiAddr := strings.TrimPrefix(s.info.API, "http://")

	s.deployJob(t, "probe", "retries: 0\nargs: [job]\n")
	body := fmt.Sprintf(`{"env": {"STAGE": "hook"}, "args": ["job", "dial=%s", "dial=%s", "env=STAGE", "env=BERTH_JOB"]}`, appAddr, apiAddr)
	tok, _ := os.ReadFile(filepath.Join(s.dir, server.TokenFile))
	post := func(body string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodPost, s.info.API+"/v1/jobs/probe/executions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
		req.Header.Set("Content-Type", "application/json")
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, answer := post(body)
	var ex client.Execution
	if resp.StatusCode != http.StatusCreated || json.Unmarshal([]byte(answer), &ex) != nil || ex.Status != "queued" || resp.Header.Get("Location") != "/v1/executions/"+ex.ID {
		t.Fatalf("POST executions: %s %q", resp.Status, answer)
	}
	done := finals(t, c, []string{ex.ID}, 2*time.Minute)[ex.ID]
	logs := execLogs(t, c, ex.ID)
	if done.Status != "succeeded" {
		t.Fatalf("probe %s:\n%s", done.Status, logs)
	}
	for _, want := range []string{"dial " + appAddr + ": failed", "dial " + apiAddr + ": failed", "STAGE=hook", "BERTH_JOB=probe"} {
		if !strings.Contains(logs, want) {
			t.Errorf("probe log lacks %q:\n%s", want, logs)
		}
	}

	resp, answer = post(`{"env": {"1X": "a"}, "argz": []}`)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(answer, `"field":"argz"`) || !strings.Contains(answer, "allowed fields are: env, args") {
		t.Errorf("unknown field: %s %s", resp.Status, answer)
	}
	resp, answer = post(`{"env": {"BERTH_X": "a"}}`)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(answer, `"field":"env.BERTH_X"`) || !strings.Contains(answer, "reserved") {
		t.Errorf("reserved env: %s %s", resp.Status, answer)
	}
	if _, errOut, code := s.berth("jobs", "run", "nope"); code != 1 || !strings.Contains(errOut, "Not found") {
		t.Errorf("run of a missing job: exit %d, %q", code, errOut)
	}
	if _, errOut, code := s.berth("jobs", "run", "probe", "--env", "novalue"); code != 1 || !strings.Contains(errOut, `--env "novalue": must be NAME=VALUE`) {
		t.Errorf("bad --env: exit %d, %q", code, errOut)
	}
}
