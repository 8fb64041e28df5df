package manifest

import "time"

// Manifest is a parsed, defaulted and validated berth.yaml.
type Manifest struct {
	// Name is the app's name: a DNS label (lowercase letters, digits, '-'; 1–40 characters).
	Name string `yaml:"name" json:"name"`
	// Image names a local image to run. Exactly one of Image and Build is set.
	Image string `yaml:"image,omitempty" json:"image,omitempty"`
	// Build builds the image from a Dockerfile.
	Build *Build `yaml:"build,omitempty" json:"build,omitempty"`
	// Port is the TCP port the app listens on; PORT is set to it. Default 8080.
	Port int `yaml:"port,omitempty" json:"port,omitempty"`
	// Env is extra environment for the app.
	Env map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
	// Slot is an instance size such as "c.125-m512". Mutually exclusive with CPU/Memory.
	Slot string `yaml:"slot,omitempty" json:"slot,omitempty"`
	// CPU as a Kubernetes quantity ("250m", "0.5", "1").
	CPU string `yaml:"cpu,omitempty" json:"cpu,omitempty"`
	// Memory as a Kubernetes quantity ("512Mi", "1Gi").
	Memory string `yaml:"memory,omitempty" json:"memory,omitempty"`
	Scale  Scale  `yaml:"scale,omitempty" json:"scale"`
	Limits Limits `yaml:"limits,omitempty" json:"limits"`
	// Routes add hosts and path prefixes to the default APP.localhost route.
	Routes []Route           `yaml:"routes,omitempty" json:"routes,omitempty"`
	Health Health            `yaml:"health,omitempty" json:"health"`
	Labels map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`

	// Kind is "app" or empty; a "job" manifest is a Job (job.go).
	Kind string `yaml:"kind,omitempty" json:"kind,omitempty"`
}

// Build says how to build the app's image.
type Build struct {
	// Context is the build context directory, relative to the manifest. Default ".".
	Context string `yaml:"context,omitempty" json:"context,omitempty"`
	// Dockerfile is relative to Context. Default "Dockerfile".
	Dockerfile string `yaml:"dockerfile,omitempty" json:"dockerfile,omitempty"`
}

// Scale holds the scaling knobs.
type Scale struct {
	// Concurrency is the most requests one instance serves at once (1–256, default 10).
	Concurrency int `yaml:"concurrency,omitempty" json:"concurrency"`
}

// Limits bound an instance's and a request's life.
type Limits struct {
	// IdleTimeout: an instance with no request in flight for this long sleeps (1s–30m, default 1m).
	IdleTimeout Duration `yaml:"idle_timeout,omitempty" json:"idle_timeout"`
	// MaxDuration: an instance older than this is replaced (1m–30m, default 5m).
	MaxDuration Duration `yaml:"max_duration,omitempty" json:"max_duration"`
	// RequestTimeout bounds one request, including a cold start (1s–30m, default 60s).
	RequestTimeout Duration `yaml:"request_timeout,omitempty" json:"request_timeout"`
}

// Route matches requests by Host, by path prefix, or by both.
type Route struct {
	Host string `yaml:"host,omitempty" json:"host,omitempty"`
	Path string `yaml:"path,omitempty" json:"path,omitempty"`
}

// Health says how to tell that an instance is ready.
type Health struct {
	// Path, if set, is polled with GET until it answers 2xx/3xx; otherwise a
	// TCP connect to Port is enough.
	Path string `yaml:"path,omitempty" json:"path,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("90s", "1m").
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
