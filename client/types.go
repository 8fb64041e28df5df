package client

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// App is an app as the API reports it.
type App struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// Revision is the number of the revision that serves, counted per app from 1.
	Revision int `json:"revision"`
	// Traffic is the split of requests between revisions, when there is
	// one (`berth traffic`); otherwise Revision takes them all.
	Traffic []TrafficShare `json:"traffic,omitempty"`
	// Image is the image reference that was deployed (a built tag or the manifest's image).
	Image     string `json:"image"`
	ImageID   string `json:"image_id"`
	ImageSize int64  `json:"image_size"`
	// URL is the app's default URL at the gateway; URLs lists every route.
	URL  string   `json:"url"`
	URLs []string `json:"urls,omitempty"`
	// Status summarises the instances: "sleeping", "starting", "ready" or "failed".
	Status    string     `json:"status"`
	InFlight  int        `json:"in_flight"`
	Instances []Instance `json:"instances"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	// Spec is the validated manifest of the serving revision, with defaults filled in.
	Spec json.RawMessage `json:"spec,omitempty"`
	// LastError describes the last failed start, if any.
	LastError string `json:"last_error,omitempty"`
	// Queued counts requests waiting for capacity.
	Queued int `json:"queued"`
	// Desired is the autoscaler's latest target (warm pool included), with
	// whether it is panicking and which signal decided.
	Desired     int    `json:"desired"`
	Panic       bool   `json:"panic,omitempty"`
	ScaleReason string `json:"scale_reason,omitempty"`
	// Scale holds the overrides set with `berth scale`, if any.
	Scale *Scale `json:"scale_override,omitempty"`
}

// Scale is the body of PATCH /v1/apps/{name}/scale: overrides of the
// manifest's scale.min, scale.max and scale.warm that outlive deploys. A
// field left out keeps its current value.
type Scale struct {
	Min  *int `json:"min,omitempty"`
	Max  *int `json:"max,omitempty"`
	Warm *int `json:"warm,omitempty"`
}

// Instance is one container of an app.
type Instance struct {
	ID          string `json:"id"`
	ContainerID string `json:"container_id"`
	// Key is the key the instance belongs to (apps with instances.key).
	Key      string `json:"key,omitempty"`
	Revision int    `json:"revision"`
	// State is one of "starting", "ready", "draining", "stopping", "sleeping", "removing", "failed".
	State string `json:"state"`
	// Sleep is the tier of a sleeping instance: "pause" or "stop".
	Sleep string `json:"sleep,omitempty"`
	Addr  string `json:"addr,omitempty"`
	// Port is the port the instance is served on: the manifest's, or the
	// discovered one when the manifest says port: auto (0 until known).
	Port       int       `json:"port,omitempty"`
	InFlight   int       `json:"in_flight"`
	CreatedAt  time.Time `json:"created_at"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	LastActive time.Time `json:"last_active,omitzero"`
}

// AppList is the body of GET /v1/apps.
type AppList struct {
	Apps []App `json:"apps"`
}

// Version is the body of GET /v1/version.
type Version struct {
	Version string `json:"version"`
	API     string `json:"api"`
	Driver  string `json:"driver"`
}

// DeployEvent is one line of the NDJSON stream that POST /v1/deploy answers with.
type DeployEvent struct {
	// Type is "progress", "result" or "error".
	Type string `json:"type"`
	// Message is a progress line (build output, "starting", …) when Type is "progress".
	Message string        `json:"message,omitempty"`
	Result  *DeployResult `json:"result,omitempty"`
	Error   *Problem      `json:"error,omitempty"`
}

// DeployResult ends a successful deploy.
type DeployResult struct {
	// Kind is "job" for a job manifest; empty (an app) otherwise.
	Kind      string `json:"kind,omitempty"`
	App       string `json:"app"`
	Namespace string `json:"namespace"`
	Revision  int    `json:"revision"`
	URL       string `json:"url"`
	Image     string `json:"image"`
	ImageID   string `json:"image_id"`
	ImageSize int64  `json:"image_size"`
}

// Problem is an RFC 9457 problem+json body; every API error is one.
type Problem struct {
	Type   string `json:"type,omitempty"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Errors lists field-level problems, e.g. every invalid manifest field.
	Errors []FieldError `json:"errors,omitempty"`
	// Quota and Limit name the namespace quota a 429 quota-exceeded
	// problem is about, and its value.
	Quota string `json:"quota,omitempty"`
	Limit int    `json:"limit,omitempty"`
}

// FieldError names one invalid input: where, what was given, what is allowed.
type FieldError struct {
	// File is the manifest file name, when the error is in a manifest.
	File    string `json:"file,omitempty"`
	Field   string `json:"field"`
	Value   string `json:"value,omitempty"`
	Message string `json:"message"`
	// Line is the manifest line the problem is on, when known.
	Line int `json:"line,omitempty"`
}

func (e FieldError) String() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	b.WriteString(e.Field)
	if e.Value != "" {
		fmt.Fprintf(&b, ": %q", e.Value)
	}
	b.WriteString(": ")
	b.WriteString(e.Message)
	if e.Line > 0 {
		fmt.Fprintf(&b, " (line %d)", e.Line)
	}
	return b.String()
}

// Error makes a Problem usable as an error; it prints the detail and every field error.
func (p *Problem) Error() string {
	var b strings.Builder
	b.WriteString(p.Title)
	if p.Detail != "" {
		b.WriteString(": ")
		b.WriteString(p.Detail)
	}
	for _, e := range p.Errors {
		b.WriteString("\n  ")
		b.WriteString(e.String())
	}
	return b.String()
}

// Job is a deployed job (a `kind: job` manifest) as the API reports it.
type Job struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// Revision counts the job's deploys from 1.
	Revision  int    `json:"revision"`
	Image     string `json:"image"`
	ImageID   string `json:"image_id"`
	ImageSize int64  `json:"image_size"`
	// Spec is the validated job manifest, with defaults filled in.
	Spec      json.RawMessage `json:"spec,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// JobList is the body of GET /v1/jobs.
type JobList struct {
	Jobs []Job `json:"jobs"`
}

// RunJobRequest is the body of POST /v1/jobs/{name}/executions. Both fields
// are optional: Env is added to the job's env, Args (when not null)
// replaces the job's args.
type RunJobRequest struct {
	Env  map[string]string `json:"env,omitempty"`
	Args []string          `json:"args"`
}

// Execution is one run of a job to completion, over one or more attempts.
type Execution struct {
	ID          string `json:"id"`
	Job         string `json:"job"`
	Namespace   string `json:"namespace"`
	JobRevision int    `json:"job_revision"`
	// Status is "queued", "running", "succeeded", "failed" or "cancelled".
	Status string `json:"status"`
	// Reason and ExitCode are the last attempt's: Reason is "exit" (ExitCode
	// says how), "timeout", "cancelled", "crash" or "lost"; ExitCode is -1
	// when the process did not exit by itself.
	Reason   string `json:"reason,omitempty"`
	ExitCode int    `json:"exit_code"`
	// Attempts made so far, the last one current; MaxAttempts is 1 + the job's retries.
	Attempts    []Attempt         `json:"attempts"`
	MaxAttempts int               `json:"max_attempts"`
	Env         map[string]string `json:"env,omitempty"`
	Args        []string          `json:"args,omitempty"`
	// CancelRequested is set while a cancelled execution's container stops.
	CancelRequested bool `json:"cancel_requested,omitempty"`
	// RetryAt is when a queued retry may start.
	RetryAt    time.Time `json:"retry_at,omitzero"`
	CreatedAt  time.Time `json:"created_at"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// Attempt is one container run of an execution.
type Attempt struct {
	Number      int    `json:"number"`
	Container   string `json:"container"`
	ContainerID string `json:"container_id,omitempty"`
	// ClaimedAt is when Berth took a worker slot for it and EndedAt when it
	// recorded the result and gave the slot back; StartedAt and FinishedAt
	// are the container's.
	ClaimedAt  time.Time `json:"claimed_at"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	EndedAt    time.Time `json:"ended_at,omitzero"`
	ExitCode   int       `json:"exit_code"`
	Reason     string    `json:"reason,omitempty"`
	Error      string    `json:"error,omitempty"`
}

// ExecutionList is the body of GET /v1/executions.
type ExecutionList struct {
	Executions []Execution `json:"executions"`
}

// Terminal reports whether the execution has reached its final status.
func (e *Execution) Terminal() bool {
	return e.Status == "succeeded" || e.Status == "failed" || e.Status == "cancelled"
}

// Revision is one revision of an app, as GET /v1/apps/{name}/revisions lists it.
type Revision struct {
	Number    int       `json:"number"`
	Image     string    `json:"image"`
	ImageID   string    `json:"image_id"`
	ImageSize int64     `json:"image_size"`
	CreatedAt time.Time `json:"created_at"`
	// Status is "deploying", "ready" or "failed" (with Error saying why).
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
	// Traffic is the percentage of the app's requests it serves.
	Traffic int `json:"traffic"`
	// URL is the revision's own (tagged) URL, rN.APP…, which reaches it
	// whatever its share of traffic.
	URL string `json:"url,omitempty"`
}

// RevisionList is the body of GET /v1/apps/{name}/revisions, newest first.
type RevisionList struct {
	Revisions []Revision `json:"revisions"`
}

// TrafficShare is a revision's percentage of an app's requests.
type TrafficShare struct {
	Revision int `json:"revision"`
	Percent  int `json:"percent"`
}

// Traffic is the body of POST /v1/apps/{name}/traffic: how to split the
// app's requests between revisions. The percentages add up to 100.
type Traffic struct {
	Traffic []TrafficShare `json:"traffic"`
}

// Rollback is the body of POST /v1/apps/{name}/rollback; Revision 0 means
// the newest ready revision before the serving one.
type Rollback struct {
	Revision int `json:"revision,omitempty"`
}

// Quotas bound what a namespace may use; 0 means unlimited.
type Quotas struct {
	// MaxInstances bounds the app instances (containers, asleep or not).
	MaxInstances int `json:"max_instances"`
	// MaxRequests bounds the requests in flight at the gateway.
	MaxRequests int `json:"max_requests"`
	// MaxJobs bounds the job executions running at once; more wait queued.
	MaxJobs int `json:"max_jobs"`
	// MaxApps bounds the deployed apps.
	MaxApps int `json:"max_apps"`
}

// Usage is what a namespace uses of its quotas right now.
type Usage struct {
	Instances   int `json:"instances"`
	Requests    int `json:"requests"`
	RunningJobs int `json:"running_jobs"`
	Apps        int `json:"apps"`
}

// Namespace is a tenant as the API reports it.
type Namespace struct {
	Name      string    `json:"name"`
	Quotas    Quotas    `json:"quotas"`
	Usage     Usage     `json:"usage"`
	Network   string    `json:"network,omitempty"`
	CreatedAt time.Time `json:"created_at,omitzero"`
}

// NamespaceList is the answer of GET /v1/namespaces.
type NamespaceList struct {
	Namespaces []Namespace `json:"namespaces"`
}

// CreateNamespaceRequest is the body of POST /v1/namespaces.
type CreateNamespaceRequest struct {
	Name   string `json:"name"`
	Quotas Quotas `json:"quotas"`
}

// QuotasPatch is the body of PATCH /v1/namespaces/{ns}: the quotas to
// change; a field left out keeps its value.
type QuotasPatch struct {
	MaxInstances *int `json:"max_instances,omitempty"`
	MaxRequests  *int `json:"max_requests,omitempty"`
	MaxJobs      *int `json:"max_jobs,omitempty"`
	MaxApps      *int `json:"max_apps,omitempty"`
}

// Token is an API token as listed: never its secret.
type Token struct {
	ID        string    `json:"id"`
	Namespace string    `json:"namespace"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// NewToken is the answer of POST /v1/tokens: the token and, this once, its
// secret.
type NewToken struct {
	Token
	Secret string `json:"secret"`
}

// TokenList is the answer of GET /v1/tokens.
type TokenList struct {
	Tokens []Token `json:"tokens"`
}

// CreateTokenRequest is the body of POST /v1/tokens.
type CreateTokenRequest struct {
	Namespace string `json:"namespace"`
	Role      string `json:"role"`
}
