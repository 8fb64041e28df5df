package store

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/manifest"
)

func TestJobDefinitions(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if n, err := s.NextJobRevision(ctx, "default", "ci"); err != nil || n != 1 {
		t.Fatalf("NextJobRevision of a new job = %d, %v", n, err)
	}
	for want := 1; want <= 2; want++ {
		n, err := s.CommitJob(ctx, JobDef{Namespace: "default", Name: "ci", Spec: manifest.Job{Name: "ci", Parallelism: want}}, now.Add(time.Duration(want)*time.Minute))
		if err != nil || n != want {
			t.Fatalf("CommitJob #%d = %d, %v", want, n, err)
		}
	}
	def, err := s.Job(ctx, "default", "ci")
	if err != nil || def.Revision != 2 || def.Spec.Parallelism != 2 || !def.CreatedAt.Equal(now.Add(time.Minute)) || !def.UpdatedAt.Equal(now.Add(2*time.Minute)) {
		t.Fatalf("Job = %+v, %v", def, err)
	}
	if _, err := s.Job(ctx, "default", "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Job(nope) err = %v; want ErrNotFound", err)
	}
	jobs, err := s.Jobs(ctx)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("Jobs = %v, %v", jobs, err)
	}
}

func TestQueueIsFIFOAndSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	s, path := open(t)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var ids []string
	for i := range 5 {
		ex, err := s.Enqueue(ctx, Execution{Namespace: "default", Job: "ci", Args: []string{string(rune('a' + i))}}, now)
		if err != nil {
			t.Fatal(err)
		}
		if ex.Status != StatusQueued || !strings.HasPrefix(ex.ID, "ci-") {
			t.Fatalf("enqueued %+v", ex)
		}
		ids = append(ids, ex.ID)
	}
	// Claim the second and fourth: they run, the others stay queued in order.
	claimed, err := s.Claim(ctx, func(act []Execution) []string {
		return []string{act[1].ID, act[3].ID}
	}, func(ex *Execution, logEnd int64) []byte {
		ex.Status = StatusRunning
		ex.Attempts = append(ex.Attempts, Attempt{Number: 1, Container: "c-" + ex.ID, LogOffset: logEnd})
		return nil
	})
	if err != nil || len(claimed) != 2 || claimed[0].ID != ids[1] || claimed[1].ID != ids[3] {
		t.Fatalf("Claim = %v, %v", claimed, err)
	}
	// A finished execution leaves the queue.
	if _, err := s.UpdateExecution(ctx, ids[1], func(ex *Execution) error {
		ex.Status = StatusSucceeded
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// An error from fn changes nothing.
	boom := errors.New("boom")
	if _, err := s.UpdateExecution(ctx, ids[0], func(ex *Execution) error {
		ex.Status = StatusFailed
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("UpdateExecution err = %v", err)
	}
	s.Close()

	s, err = Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	act, err := s.Active(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ex := range act {
		got = append(got, ex.ID+"="+ex.Status)
	}
	want := []string{ids[0] + "=queued", ids[2] + "=queued", ids[3] + "=running", ids[4] + "=queued"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("Active after reopen = %v; want %v", got, want)
	}
	if ex, _ := s.Execution(ctx, ids[3]); ex.Current() == nil || ex.Current().Container != "c-"+ids[3] {
		t.Fatalf("the attempt's container name was not kept: %+v", ex)
	}
	all, err := s.Executions(ctx, "default", "ci", 0)
	if err != nil || len(all) != 5 || all[0].ID != ids[4] || all[4].ID != ids[0] {
		t.Fatalf("Executions = %d, %v; want 5, newest first", len(all), err)
	}
	if l, _ := s.Executions(ctx, "default", "", 2); len(l) != 2 || l[0].ID != ids[4] {
		t.Fatalf("Executions(all, limit 2) = %v", l)
	}
	if l, _ := s.Executions(ctx, "default", "other", 0); len(l) != 0 {
		t.Fatalf("Executions(other job) = %v", l)
	}
}

func TestLogIsCappedAndReadByOffset(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t)
	ex, err := s.Enqueue(ctx, Execution{Namespace: "default", Job: "ci"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AppendLog(ctx, "nope", []byte("x")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("AppendLog(nope) = %v", err)
	}
	if err := s.AppendLog(ctx, ex.ID, []byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	c, err := s.ReadLog(ctx, ex.ID, 0)
	if err != nil || string(c.Data) != "hello\n" || c.Next != 6 || c.Skipped != 0 {
		t.Fatalf("ReadLog = %+v, %v", c, err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), LogCap/16) // exactly LogCap
	if err := s.AppendLog(ctx, ex.ID, big); err != nil {
		t.Fatal(err)
	}
	c, err = s.ReadLog(ctx, ex.ID, 0)
	if err != nil || len(c.Data) != LogCap || c.Skipped != 6 || c.Next != int64(LogCap)+6 || !bytes.Equal(c.Data, big) {
		t.Fatalf("after the cap: len %d, skipped %d, next %d, %v", len(c.Data), c.Skipped, c.Next, err)
	}
	if err := s.AppendLog(ctx, ex.ID, []byte("tail")); err != nil {
		t.Fatal(err)
	}
	c, err = s.ReadLog(ctx, ex.ID, int64(LogCap)+6)
	if err != nil || string(c.Data) != "tail" || c.Skipped != 0 {
		t.Fatalf("ReadLog from the old end = %q, skipped %d, %v", c.Data, c.Skipped, err)
	}
}

func TestPruneKeepsActiveExecutions(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t)
	first, err := s.Enqueue(ctx, Execution{Namespace: "default", Job: "ci"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	second, _ := s.Enqueue(ctx, Execution{Namespace: "default", Job: "ci"}, time.Now())
	s.UpdateExecution(ctx, second.ID, func(ex *Execution) error { ex.Status = StatusSucceeded; return nil })
	for range MaxExecutionsPerJob {
		ex, err := s.Enqueue(ctx, Execution{Namespace: "default", Job: "ci"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		s.UpdateExecution(ctx, ex.ID, func(ex *Execution) error { ex.Status = StatusFailed; return nil })
	}
	all, _ := s.Executions(ctx, "default", "ci", 0)
	if len(all) != MaxExecutionsPerJob {
		t.Fatalf("%d executions kept; want %d", len(all), MaxExecutionsPerJob)
	}
	if _, err := s.Execution(ctx, first.ID); err != nil {
		t.Fatalf("the queued first execution was pruned: %v", err)
	}
	if _, err := s.Execution(ctx, second.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the oldest finished execution was kept: %v", err)
	}
}
