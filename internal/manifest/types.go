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
	// Port is the TCP port the app listens on, or "auto" (the default) to
	// discover it. PORT is set to it, or to DefaultPort when it is auto.
	Port Port `yaml:"port,omitempty" json:"port"`
	// Protocol is what the app speaks on Port: ProtocolHTTP1 (default),
	// ProtocolH2C or ProtocolGRPC (HTTP/2 without TLS).
	Protocol string `yaml:"protocol,omitempty" json:"protocol"`
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
	// Instances, with a key, gives every key (session, user) its own instance.
	Instances Instances `yaml:"instances,omitempty" json:"instances,omitzero"`
	// Sleep says what an idle instance becomes: "pause", "stop" (default) or
	// "remove", or tiers such as ["pause 1m", "stop 10m", "remove 1h"].
	Sleep Sleep `yaml:"sleep,omitempty" json:"sleep,omitempty"`
	// Routes add hosts and path prefixes to the default APP.localhost route.
	Routes []Route           `yaml:"routes,omitempty" json:"routes,omitempty"`
	Health Health            `yaml:"health,omitempty" json:"health"`
	Labels map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
	// Isolation is the sandbox of the app's containers: IsolationRunc
	// (default) or IsolationGVisor.
	Isolation string `yaml:"isolation,omitempty" json:"isolation"`

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
	// Min is the number of instances kept ready even without traffic (0–1000, default 0).
	Min int `yaml:"min,omitempty" json:"min"`
	// Max caps the app's instances (1–1000, default 10).
	Max int `yaml:"max,omitempty" json:"max"`
	// Concurrency is the most requests one instance serves at once (1–256, default 10).
	Concurrency int `yaml:"concurrency,omitempty" json:"concurrency"`
	// Target is the utilisation of Concurrency the autoscaler aims at, in
	// percent (10–100, default 70).
	Target int `yaml:"target,omitempty" json:"target"`
	// CPUTarget, if set, adds instances when their average CPU use exceeds
	// this percentage of the slot (1–100; absent = CPU is not a signal).
	CPUTarget int `yaml:"cpu_target,omitempty" json:"cpu_target,omitempty"`
	// Warm is the number of ready, idle instances kept beyond demand (0–100).
	Warm int `yaml:"warm,omitempty" json:"warm,omitempty"`
	// Queue is how many requests may wait for capacity (1–10000, default 100).
	Queue int `yaml:"queue,omitempty" json:"queue"`
	// Window is the autoscaler's stable window (6s–1h, default 60s); the
	// panic window is a tenth of it.
	Window Duration `yaml:"window,omitempty" json:"window"`
	// ScaleDownDelay holds a scale-down back for this long (0–1h, default 0).
	ScaleDownDelay Duration `yaml:"scale_down_delay,omitempty" json:"scale_down_delay,omitempty"`
}

// Limits bound an instance's and a request's life.
type Limits struct {
	// IdleTimeout: an instance with no request in flight for this long sleeps (1s–30m, default 1m).
	IdleTimeout Duration `yaml:"idle_timeout,omitempty" json:"idle_timeout"`
	// MaxDuration: an instance older than this is replaced (1m–30m, default 5m).
	MaxDuration Duration `yaml:"max_duration,omitempty" json:"max_duration"`
	// RequestTimeout bounds one request, including a cold start (1s–30m, default 60s).
	RequestTimeout Duration `yaml:"request_timeout,omitempty" json:"request_timeout"`
	// DrainTimeout is how long in-flight requests of an instance that is being
	// retired (recycled, scaled down, replaced) may take (1s–30m, default 30s).
	DrainTimeout Duration `yaml:"drain_timeout,omitempty" json:"drain_timeout"`
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
	// LivenessPath, if set, is polled on ready instances every Interval; an
	// instance that fails it Failures times in a row is replaced.
	LivenessPath string   `yaml:"liveness_path,omitempty" json:"liveness_path,omitempty"`
	Interval     Duration `yaml:"interval,omitempty" json:"interval,omitempty"`
	Failures     int      `yaml:"failures,omitempty" json:"failures,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("90s", "1m").
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
