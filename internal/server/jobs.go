package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/quota"
	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/store"
)

var _ api.JobsBackend = (*platform)(nil)

// deployJob registers (or updates) a job definition, building or resolving
// its image as an app's deploy does. p.deployMu is held.
func (p *platform) deployJob(ctx context.Context, req api.DeployRequest, progress func(string)) (*client.DeployResult, error) {
	j := req.Job
	next, err := p.store.NextJobRevision(ctx, req.Namespace, j.Name)
	if err != nil {
		return nil, err
	}
	ref, img, err := p.image(ctx, req, j.Name, j.Image, j.Build, fmt.Sprintf("berth.local/%s/jobs/%s:r%d", req.Namespace, j.Name, next),
		map[string]string{runtime.LabelJob: j.Name}, progress)
	if err != nil {
		return nil, err
	}
	n, err := p.store.CommitJob(ctx, store.JobDef{
		Namespace: req.Namespace, Name: j.Name, Spec: *j, Image: ref, ImageID: img.ID, ImageSize: img.Size,
	}, time.Now())
	if err != nil {
		return nil, err
	}
	p.jobs.Wake() // a new parallelism may let queued executions start
	progress(fmt.Sprintf("revision %d of job %s is ready; run it with: berth jobs run %s", n, j.Name, j.Name))
	return &client.DeployResult{
		Kind: "job", App: j.Name, Namespace: req.Namespace, Revision: n, Image: ref, ImageID: img.ID, ImageSize: img.Size,
	}, nil
}

func (p *platform) Jobs(ctx context.Context, ns string) ([]client.Job, error) {
	defs, err := p.store.Jobs(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]client.Job, 0, len(defs))
	for _, d := range defs {
		if d.Namespace != ns {
			continue
		}
		out = append(out, describeJob(d))
	}
	return out, nil
}

func (p *platform) Job(ctx context.Context, ns, name string) (*client.Job, error) {
	d, err := p.store.Job(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	j := describeJob(d)
	return &j, nil
}

func (p *platform) RunJob(ctx context.Context, ns, name string, env map[string]string, args []string) (*client.Execution, error) {
	if err := p.checkJobQuota(ctx, ns); err != nil {
		return nil, err
	}
	ex, err := p.jobs.Enqueue(ctx, ns, name, env, args)
	if err != nil {
		return nil, err
	}
	return describeExecution(ex), nil
}

func (p *platform) Executions(ctx context.Context, ns, job string, limit int) ([]client.Execution, error) {
	exs, err := p.store.Executions(ctx, ns, job, limit)
	if err != nil {
		return nil, err
	}
	out := make([]client.Execution, 0, len(exs))
	for _, ex := range exs {
		out = append(out, *describeExecution(ex))
	}
	return out, nil
}

func (p *platform) Execution(ctx context.Context, ns, id string) (*client.Execution, error) {
	ex, err := p.execution(ctx, ns, id)
	if err != nil {
		return nil, err
	}
	return describeExecution(ex), nil
}

func (p *platform) ExecutionLogs(ctx context.Context, ns, id string, follow bool) (io.ReadCloser, error) {
	if _, err := p.execution(ctx, ns, id); err != nil {
		return nil, err
	}
	return p.jobs.Logs(ctx, id, follow)
}

func (p *platform) CancelExecution(ctx context.Context, ns, id string) (*client.Execution, error) {
	if _, err := p.execution(ctx, ns, id); err != nil {
		return nil, err
	}
	ex, err := p.jobs.Cancel(ctx, id)
	if err != nil {
		return nil, err
	}
	return describeExecution(ex), nil
}

// execution returns an execution of namespace ns; one of another namespace
// is not found.
func (p *platform) execution(ctx context.Context, ns, id string) (store.Execution, error) {
	ex, err := p.store.Execution(ctx, id)
	if err == nil && ex.Namespace != ns {
		err = fmt.Errorf("execution %s: %w", id, store.ErrNotFound)
	}
	return ex, err
}

func describeJob(d store.JobDef) client.Job {
	j := client.Job{
		Name: d.Name, Namespace: d.Namespace, Revision: d.Revision, Image: d.Image, ImageID: d.ImageID, ImageSize: d.ImageSize,
		CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
	}
	if spec, err := json.Marshal(d.Spec); err == nil {
		j.Spec = spec
	}
	return j
}

func describeExecution(ex store.Execution) *client.Execution {
	c := &client.Execution{
		ID: ex.ID, Job: ex.Job, Namespace: ex.Namespace, JobRevision: ex.JobRevision, Status: ex.Status, Reason: ex.Reason,
		ExitCode: ex.ExitCode, MaxAttempts: ex.Spec.RetryLimit() + 1, Env: ex.Env, Args: ex.Args,
		CancelRequested: ex.CancelRequested, RetryAt: ex.NotBefore, CreatedAt: ex.CreatedAt, FinishedAt: ex.FinishedAt,
		Attempts: make([]client.Attempt, 0, len(ex.Attempts)),
	}
	if ex.Status != store.StatusQueued {
		c.RetryAt = time.Time{}
	}
	for _, a := range ex.Attempts {
		c.Attempts = append(c.Attempts, client.Attempt{
			Number: a.Number, Container: a.Container, ContainerID: a.ContainerID, ClaimedAt: a.ClaimedAt, StartedAt: a.StartedAt, FinishedAt: a.FinishedAt,
			EndedAt: a.EndedAt, ExitCode: a.ExitCode, Reason: a.Reason, Error: a.Error,
		})
	}
	if len(ex.Attempts) > 0 {
		c.StartedAt = ex.Attempts[0].StartedAt
		if c.StartedAt.IsZero() {
			c.StartedAt = ex.Attempts[0].ClaimedAt
		}
	}
	return c
}

// checkJobQuota refuses a new execution when the namespace already has
// max_jobs executions running or waiting: a hard limit, answered with 429,
// rather than a queue that grows without bound. (The scheduler also never
// runs more than max_jobs of a namespace at once.)
func (p *platform) checkJobQuota(ctx context.Context, ns string) error {
	limit := p.quotas.get(ns).MaxJobs
	if limit <= 0 {
		return nil
	}
	active, err := p.store.Active(ctx)
	if err != nil {
		return err
	}
	n := 0
	for _, ex := range active {
		if ex.Namespace == ns {
			n++
		}
	}
	if n >= limit {
		return &quota.Error{Namespace: ns, Name: quota.MaxJobs, Limit: limit}
	}
	return nil
}
