package manifest

import (
	"strings"
	"time"
)

// DefaultFile is the manifest's usual file name.
const DefaultFile = "berth.yaml"

// Defaults, filled in by Parse and Validate for fields that are absent (or zero).
const (
	// DefaultSlot is the instance size when none of slot, cpu and memory is set.
	DefaultSlot = "c.125-m512"
	// DefaultCPU and DefaultMemory are DefaultSlot's halves, used when only one
	// of cpu and memory is set.
	DefaultCPU    = "125m"
	DefaultMemory = "512Mi"

	// DefaultPort is what PORT is set to when port is auto (absent); port
	// discovery prefers it when the app listens there.
	DefaultPort = 8080
	// DefaultConcurrency is scale.concurrency: requests one instance serves at once.
	DefaultConcurrency = 10

	// DefaultIdleTimeout is limits.idle_timeout.
	DefaultIdleTimeout = time.Minute
	// DefaultMaxDuration is limits.max_duration.
	DefaultMaxDuration = 5 * time.Minute
	// DefaultRequestTimeout is limits.request_timeout.
	DefaultRequestTimeout = 60 * time.Second

	// DefaultBuildContext and DefaultDockerfile make up the build used when
	// neither image nor build is set: a Dockerfile beside berth.yaml.
	DefaultBuildContext = "."
	DefaultDockerfile   = "Dockerfile"
)

// Allowed ranges.
const (
	MaxNameLength = 40

	MinPort = 1
	MaxPort = 65535

	MinConcurrency = 1
	MaxConcurrency = 256

	MinIdleTimeout    = time.Second
	MaxIdleTimeout    = 30 * time.Minute
	MinMaxDuration    = 10 * time.Second
	MaxMaxDuration    = 30 * time.Minute
	MinRequestTimeout = time.Second
	MaxRequestTimeout = 30 * time.Minute

	// MaxEnv, MaxLabels and MaxRoutes bound the number of entries.
	MaxEnv    = 1000
	MaxLabels = 100
	MaxRoutes = 100

	// MinNanoCPUs and MaxNanoCPUs bound cpu and the slot's cpu part: 0.01–64 vCPU.
	MinNanoCPUs = 10_000_000
	MaxNanoCPUs = 64_000_000_000
	// MinMemoryBytes and MaxMemoryBytes bound memory and the slot's memory part: 16 MiB–256 GiB.
	MinMemoryBytes = 16 << 20
	MaxMemoryBytes = 256 << 30
)

// Protocols an app may speak (protocol).
const (
	ProtocolHTTP1 = "http1"
	ProtocolH2C   = "h2c"
	ProtocolGRPC  = "grpc"
	// DefaultProtocol is protocol's default.
	DefaultProtocol = ProtocolHTTP1
)

// Isolations an app may run under (isolation).
const (
	IsolationRunc   = "runc"
	IsolationGVisor = "gvisor"
	// DefaultIsolation is isolation's default.
	DefaultIsolation = IsolationRunc
)

// Reserved names.
const (
	// EnvPort is the variable Berth sets to the app's port; env may not set it.
	EnvPort = "PORT"
	// ReservedEnvPrefix starts variables that Berth may set; env may not use it.
	ReservedEnvPrefix = "BERTH_"
	// ReservedLabelPrefix starts the labels Berth puts on its containers
	// (runtime.LabelApp and friends); labels may not use it.
	ReservedLabelPrefix = "dev.berth."
)

// setDefaults fills absent (zero) fields with their defaults. It leaves
// invalid values alone for validate to report.
func (m *Manifest) setDefaults() {
	// Empty and absent are the same; nil keeps a JSON round trip exact.
	if len(m.Env) == 0 {
		m.Env = nil
	}
	if len(m.Labels) == 0 {
		m.Labels = nil
	}
	if len(m.Routes) == 0 {
		m.Routes = nil
	}
	if m.Image == "" && m.Build == nil {
		m.Build = &Build{}
	}
	if m.Build != nil {
		if m.Build.Context == "" {
			m.Build.Context = DefaultBuildContext
		}
		if m.Build.Dockerfile == "" {
			m.Build.Dockerfile = DefaultDockerfile
		}
	}
	if m.Protocol == "" {
		m.Protocol = DefaultProtocol
	}
	if m.Isolation == "" {
		m.Isolation = DefaultIsolation
	}
	switch {
	case m.Slot == "" && m.CPU == "" && m.Memory == "":
		m.Slot = DefaultSlot
	case m.Slot == "" && m.CPU == "":
		m.CPU = DefaultCPU
	case m.Slot == "" && m.Memory == "":
		m.Memory = DefaultMemory
	}
	if m.Scale.Concurrency == 0 {
		m.Scale.Concurrency = DefaultConcurrency
	}
	if m.Limits.IdleTimeout == 0 {
		m.Limits.IdleTimeout = Duration(DefaultIdleTimeout)
	}
	if m.Limits.MaxDuration == 0 {
		m.Limits.MaxDuration = Duration(DefaultMaxDuration)
	}
	if m.Limits.RequestTimeout == 0 {
		m.Limits.RequestTimeout = Duration(DefaultRequestTimeout)
	}
	m.setScalingDefaults()
}

// EnvPortValue is the value of PORT in the app's environment: the port, or
// DefaultPort when the port is discovered.
func (m *Manifest) EnvPortValue() int {
	if m.Port.Auto() {
		return DefaultPort
	}
	return int(m.Port)
}

// UpstreamHTTP2 reports whether the gateway speaks HTTP/2 without TLS (h2c,
// prior knowledge) to the app's instances.
func (m *Manifest) UpstreamHTTP2() bool {
	return m.Protocol == ProtocolH2C || m.Protocol == ProtocolGRPC
}

// DefaultHost is the host every app answers on: its name under the server's
// domain, e.g. "gif-maker.localhost" for domain "localhost".
func (m *Manifest) DefaultHost(domain string) string {
	domain = strings.Trim(domain, ".")
	if domain == "" {
		return m.Name
	}
	return m.Name + "." + domain
}
