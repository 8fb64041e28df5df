package client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// Jobs lists the deployed jobs.
func (c *Client) Jobs(ctx context.Context) ([]Job, error) {
	var l JobList
	if err := c.getJSON(ctx, c.scoped("/jobs"), &l); err != nil {
		return nil, err
	}
	return l.Jobs, nil
}

// Job describes one deployed job.
func (c *Client) Job(ctx context.Context, name string) (*Job, error) {
	if name == "" {
		return nil, errors.New("no job name given")
	}
	var j Job
	if err := c.getJSON(ctx, c.scoped("/jobs/"+url.PathEscape(name)), &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// RunJob enqueues an execution of the job and returns it (queued).
func (c *Client) RunJob(ctx context.Context, name string, req RunJobRequest) (*Execution, error) {
	if name == "" {
		return nil, errors.New("no job name given")
	}
	var ex Execution
	if err := c.doJSON(ctx, http.MethodPost, c.scoped("/jobs/"+url.PathEscape(name))+"/executions", req, &ex); err != nil {
		return nil, err
	}
	return &ex, nil
}

// Executions lists executions newest first, of one job when job is set;
// limit > 0 returns at most that many.
func (c *Client) Executions(ctx context.Context, job string, limit int) ([]Execution, error) {
	q := url.Values{}
	if job != "" {
		q.Set("job", job)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	p := c.scoped("/executions")
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	var l ExecutionList
	if err := c.getJSON(ctx, p, &l); err != nil {
		return nil, err
	}
	return l.Executions, nil
}

// Execution describes one execution.
func (c *Client) Execution(ctx context.Context, id string) (*Execution, error) {
	p, err := c.executionPath(id)
	if err != nil {
		return nil, err
	}
	var ex Execution
	if err := c.getJSON(ctx, p, &ex); err != nil {
		return nil, err
	}
	return &ex, nil
}

// ExecutionLogs streams an execution's output (all attempts). With follow
// the stream ends when the execution does. The caller closes the reader.
func (c *Client) ExecutionLogs(ctx context.Context, id string, follow bool) (io.ReadCloser, error) {
	p, err := c.executionPath(id)
	if err != nil {
		return nil, err
	}
	req, err := c.newRequest(ctx, http.MethodGet, p+"/logs?follow="+strconv.FormatBool(follow), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.send(req)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// CancelExecution cancels an execution and returns it once it has stopped
// (or, if stopping takes long, while it stops: CancelRequested is set).
func (c *Client) CancelExecution(ctx context.Context, id string) (*Execution, error) {
	p, err := c.executionPath(id)
	if err != nil {
		return nil, err
	}
	var ex Execution
	if err := c.doJSON(ctx, http.MethodPost, p+"/cancel", nil, &ex); err != nil {
		return nil, err
	}
	return &ex, nil
}

func (c *Client) executionPath(id string) (string, error) {
	if id == "" {
		return "", errors.New("no execution ID given")
	}
	return c.scoped("/executions/" + url.PathEscape(id)), nil
}
