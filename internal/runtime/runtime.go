// Package runtime defines the contract between Berth's control plane and the
// container engine underneath it (a "driver"): create, start, stop and remove
// labelled containers, inspect and list them, read their logs, and build or
// resolve images. Drivers live in sub-packages (docker, fake); runtimetest is
// the conformance suite every driver must pass.
//
// The interface is kept small on purpose: optional abilities (building images,
// pausing, …) are separate interfaces that a driver may also implement, in the
// manner of containerd and Nomad, so that a driver that cannot honour one of
// them (Kubernetes cannot build from a local context) still fits.
package runtime

import (
	"context"
	"errors"
	"io"
	"time"
)

// Sentinel errors. Drivers wrap them with %w so callers test with errors.Is.
var (
	// ErrNotFound: the container or image does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInvalid: the request to the driver is malformed.
	ErrInvalid = errors.New("invalid argument")
	// ErrBuildFailed: an image build ran and failed (the Dockerfile's fault,
	// not the engine's).
	ErrBuildFailed = errors.New("build failed")
)

// Labels Berth puts on everything it creates. Owner scopes a Berth server (one
// data directory) so that several servers can share one engine without adopting
// or removing each other's containers.
const (
	LabelOwner     = "dev.berth.owner"
	LabelNamespace = "dev.berth.namespace"
	LabelApp       = "dev.berth.app"
	LabelRevision  = "dev.berth.revision"
	LabelInstance  = "dev.berth.instance"
	// LabelKey is the key an instance was started for (instances.key apps).
	LabelKey = "dev.berth.key"
)

// Labels of job containers (internal/jobs). A job container carries owner,
// namespace and these, and no LabelInstance, so the app reconciler leaves it
// alone; the job runner finds an execution's attempt by them after a restart.
const (
	LabelJob       = "dev.berth.job"
	LabelExecution = "dev.berth.execution"
	LabelAttempt   = "dev.berth.attempt"
)

// Resources is an instance's slot: the CPU and memory it may use.
type Resources struct {
	// NanoCPUs is the CPU limit in billionths of a vCPU (0.125 vCPU = 125_000_000).
	NanoCPUs int64
	// MemoryBytes is the hard memory limit.
	MemoryBytes int64
}

// InstanceSpec is everything a driver needs to create one instance.
type InstanceSpec struct {
	// Name is a human-readable, engine-unique name (e.g. "berth-demo-3f9a1c").
	Name string
	// Image is an image reference or ID that the driver can run without pulling.
	Image string
	// Env is the environment, already including PORT.
	Env map[string]string
	// Port is the TCP port the app listens on inside the container; 0 means
	// unknown (to be discovered with PortDiscoverer).
	Port int
	// Resources limits the instance.
	Resources Resources
	// Labels are set on the container; they must include the Label* keys.
	Labels map[string]string
	// Entrypoint and Args, when set, replace the image's ENTRYPOINT and CMD.
	Entrypoint []string
	Args       []string
	// Isolation selects the sandbox: IsolationRunc (or "") or IsolationGVisor.
	Isolation string
	// Network, when set, is the network the container joins instead of the
	// driver's default one; a driver creates it if it is missing.
	Network string
}

// Isolation values of InstanceSpec.
const (
	IsolationRunc   = "runc"
	IsolationGVisor = "gvisor"
)

// State is a container's lifecycle state as the engine reports it.
type State string

const (
	StateCreated State = "created"
	StateRunning State = "running"
	StatePaused  State = "paused"
	StateExited  State = "exited"
	// StateUnknown covers engine states Berth does not act on (restarting, dead, …).
	StateUnknown State = "unknown"
)

// Status is what a driver reports about one container.
type Status struct {
	// ID is the driver's handle for the container.
	ID     string
	Name   string
	Labels map[string]string
	State  State
	// ExitCode is meaningful when State is StateExited.
	ExitCode int
	// Addr is the host:port at which the gateway reaches the instance's port,
	// set only while the container is running and its port is known.
	Addr string
	// IP is the address at which the gateway reaches the instance, set only
	// while the container is running (with or without a known port).
	IP         string
	StartedAt  time.Time
	FinishedAt time.Time
}

// LogOptions selects which log lines to stream.
type LogOptions struct {
	Follow bool
	// Tail is the number of last lines to return; 0 means all.
	Tail int
}

// Image is a resolved, runnable image.
type Image struct {
	// ID is the content-addressed image ID (e.g. "sha256:…").
	ID string
	// Size in bytes.
	Size int64
}

// Driver is the core contract every runtime implements. Every call takes a
// context; implementations must honour its deadline.
type Driver interface {
	// Name identifies the driver ("docker", "fake").
	Name() string
	// ResolveImage returns the local image for ref, or ErrNotFound.
	ResolveImage(ctx context.Context, ref string) (Image, error)
	// Create makes a container for spec without starting it and returns its ID.
	Create(ctx context.Context, spec InstanceSpec) (string, error)
	// Start starts a created or stopped container.
	Start(ctx context.Context, id string) error
	// Stop stops a running container, killing it after grace.
	Stop(ctx context.Context, id string, grace time.Duration) error
	// Remove deletes a container, stopping it first if needed. Removing a
	// container that does not exist is not an error.
	Remove(ctx context.Context, id string) error
	// Inspect reports the container's current status, or ErrNotFound.
	Inspect(ctx context.Context, id string) (Status, error)
	// List returns every container whose labels include all of selector.
	List(ctx context.Context, selector map[string]string) ([]Status, error)
	// Logs streams the container's combined stdout and stderr as plain text.
	Logs(ctx context.Context, id string, opts LogOptions) (io.ReadCloser, error)
}

// BuildRequest describes one image build from a context archive.
type BuildRequest struct {
	// Context is a tar stream of the build context.
	Context io.Reader
	// Dockerfile is the path of the Dockerfile inside the context.
	Dockerfile string
	// Tag names the built image.
	Tag string
	// Labels are set on the image.
	Labels map[string]string
}

// Builder is implemented by drivers that can build images from a context.
type Builder interface {
	// Build builds req, writing human-readable progress lines to progress,
	// and returns the built image. A failing Dockerfile gives ErrBuildFailed.
	Build(ctx context.Context, req BuildRequest, progress io.Writer) (Image, error)
	// RemoveImage removes the tag ref of a built image; the image itself
	// goes once no other tag names it. A missing ref is not an error; an
	// image a container still uses gives an error and stays.
	RemoveImage(ctx context.Context, ref string) error
}

// Pauser is implemented by drivers that can freeze an instance in place:
// its memory is kept and it thaws in milliseconds. A paused instance must be
// unpaused before it is stopped or removed.
type Pauser interface {
	Pause(ctx context.Context, id string) error
	Unpause(ctx context.Context, id string) error
}

// CPUReader is implemented by drivers that can report an instance's CPU use.
type CPUReader interface {
	// CPUTime returns the total CPU time the instance has used so far.
	CPUTime(ctx context.Context, id string) (time.Duration, error)
}

// PortDiscoverer is implemented by drivers that can tell which TCP ports a
// running container's processes listen on (for `port: auto`).
type PortDiscoverer interface {
	// ListeningPorts returns the TCP ports on which sockets of the
	// container's network namespace listen, ascending and without
	// duplicates; none yet is an empty list, not an error. A container that
	// is not running gives an error.
	ListeningPorts(ctx context.Context, id string) ([]int, error)
}
