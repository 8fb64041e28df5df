// Package server wires Berth's parts into one process: the store, the driver,
// the reconciler, the gateway and the control API. Run is the whole daemon.
package server

import (
	"log/slog"
	"time"
)

// Config is what `berth server` is started with.
type Config struct {
	// DataDir holds the store (berth.db), admin.token and server.json.
	DataDir string
	// APIAddr is the control API's listen address (default 127.0.0.1:7070).
	APIAddr string
	// HTTPAddr is the gateway's listen address (default :8080).
	HTTPAddr string
	// Network is the Docker network instances join (default "berth").
	Network string
	// Domain is the suffix of default app hosts: APP.<Domain> (default "localhost").
	Domain string
	// Jobs configures the job runner (internal/jobs).
	Jobs JobsConfig
	// ShutdownTimeout bounds graceful shutdown on SIGTERM.
	ShutdownTimeout time.Duration
	// Version is the binary's version, reported by the API.
	Version string
	Logger  *slog.Logger
}

// ServerInfo is written to DataDir/server.json once the listeners are bound,
// so that the CLI (and tests) can find a local server and its actual ports.
type ServerInfo struct {
	API     string `json:"api"`
	Gateway string `json:"gateway"`
	PID     int    `json:"pid"`
	// Owner is the label value (dev.berth.owner) on every container this server made.
	Owner string `json:"owner"`
}

// JobsConfig is the job runner's part of Config.
type JobsConfig struct {
	// Workers caps the executions running at once (default 4);
	// PerNamespace caps those of one namespace (default Workers).
	Workers      int
	PerNamespace int
	// Network is the isolated Docker network job containers join
	// (default "berth-jobs").
	Network string
	// RetryBackoff is the wait before a first retry, doubled for each next
	// one (default 1s).
	RetryBackoff time.Duration
}
