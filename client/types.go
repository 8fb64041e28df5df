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
	Revision    int    `json:"revision"`
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
