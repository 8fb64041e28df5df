package cli

import (
	"fmt"
	"log/slog"
	"os"
	goruntime "runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/jobs"
	"github.com/berth-dev/berth/internal/server"
)

// maxJobWorkers bounds --job-workers, maxProcs --procs, maxKeepRevisions
// --keep-revisions.
const (
	maxJobWorkers    = 1000
	maxProcs         = 4096
	maxKeepRevisions = 1000
)

// setProcs sets how many CPUs the server's goroutines run on at once. By
// default it takes half of them (at least one): the app containers on the
// same machine need the rest, and on a busy machine a gateway with fewer
// scheduler threads hands requests between them less (fewer futex wake-ups
// and spinning threads; see docs/benchmarks.md). $GOMAXPROCS, if set, wins
// over the default, --procs over both.
func setProcs(n int) {
	if n == 0 {
		if os.Getenv("GOMAXPROCS") != "" {
			return
		}
		n = max(1, goruntime.GOMAXPROCS(0)/2)
	}
	goruntime.GOMAXPROCS(n)
}

var logLevels = map[string]slog.Level{
	"debug": slog.LevelDebug,
	"info":  slog.LevelInfo,
	"warn":  slog.LevelWarn,
	"error": slog.LevelError,
}

func newServerCmd(e *env) *cobra.Command {
	cfg := server.Config{Version: e.version}
	var level string
	var procs int
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the Berth daemon: control API, gateway and reconciler",
		Long: `Run the Berth daemon in the foreground until SIGINT or SIGTERM, then shut down gracefully.
Containers keep running across a restart and are adopted by the next start.

On first start the data directory gets admin.token (the API's bearer token, mode 0600);
while running, server.json there tells the other commands where the API listens.`,
		Example: `  berth server
  berth server --data /srv/berth --http :80 --domain apps.example.com
  berth server --api 127.0.0.1:0 --http 127.0.0.1:0   # random ports, see DATA/server.json
  berth server --tls-cert cert.pem --tls-key key.pem   # also HTTP/2 and HTTP/1.1 over TLS on :8443`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			lvl, ok := logLevels[level]
			if !ok {
				return fmt.Errorf("--log-level %q is not a level; allowed: debug, info, warn, error", level)
			}
			if cfg.Jobs.Workers < 1 || cfg.Jobs.Workers > maxJobWorkers {
				return fmt.Errorf("--job-workers %d: allowed: 1 to %d", cfg.Jobs.Workers, maxJobWorkers)
			}
			if cfg.Jobs.PerNamespace < 0 || cfg.Jobs.PerNamespace > cfg.Jobs.Workers {
				return fmt.Errorf("--job-namespace-workers %d: allowed: 0 (same as --job-workers) to --job-workers (%d)", cfg.Jobs.PerNamespace, cfg.Jobs.Workers)
			}
			if cfg.Jobs.RetryBackoff < time.Millisecond || cfg.Jobs.RetryBackoff > time.Hour {
				return fmt.Errorf("--job-retry-backoff %s: allowed: 1ms to 1h", cfg.Jobs.RetryBackoff)
			}
			if cfg.ShutdownTimeout <= 0 {
				return fmt.Errorf("--shutdown-timeout %s must be positive", cfg.ShutdownTimeout)
			}
			if cfg.KeepRevisions < 0 || cfg.KeepRevisions > maxKeepRevisions {
				return fmt.Errorf("--keep-revisions %d: allowed: 0 to %d", cfg.KeepRevisions, maxKeepRevisions)
			}
			if procs < 0 || procs > maxProcs {
				return fmt.Errorf("--procs %d: allowed: 0 (half the CPUs, or $GOMAXPROCS) to %d", procs, maxProcs)
			}
			setProcs(procs)
			cfg.Logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: lvl}))
			return e.runServer(cmd.Context(), cfg)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&cfg.DataDir, "data", e.defaultDataDir(), "data directory: the store, admin.token and server.json (env "+envData+")")
	fl.StringVar(&cfg.APIAddr, "api", "127.0.0.1:7070", "control API listen address")
	fl.StringVar(&cfg.HTTPAddr, "http", ":8080", "gateway listen address, where apps are served (HTTP/1.1 and h2c)")
	fl.StringVar(&cfg.HTTPSAddr, "https", "", "gateway TLS listen address (HTTP/2 and HTTP/1.1 by ALPN); default "+server.DefaultHTTPSAddr+" when --tls-cert and --tls-key are set, else none")
	fl.StringVar(&cfg.TLSCert, "tls-cert", "", "PEM file of the TLS listener's certificate (chain); needs --tls-key")
	fl.StringVar(&cfg.TLSKey, "tls-key", "", "PEM file of the TLS listener's private key; needs --tls-cert")
	fl.StringVar(&cfg.Network, "network", "berth", "Docker network the app containers join")
	fl.StringVar(&cfg.Domain, "domain", "localhost", "domain of default app hosts: APP.DOMAIN")
	fl.StringVar(&level, "log-level", "info", "log level: debug, info, warn or error")
	fl.IntVar(&cfg.KeepRevisions, "keep-revisions", server.DefaultKeepRevisions, "revisions without traffic each app keeps for rollbacks; older ones and their built images are removed")
	fl.IntVar(&cfg.Jobs.Workers, "job-workers", jobs.DefaultWorkers, "most job executions running at once")
	fl.IntVar(&cfg.Jobs.PerNamespace, "job-namespace-workers", 0, "most job executions of one namespace running at once (0: --job-workers)")
	fl.StringVar(&cfg.Jobs.Network, "job-network", "", "isolated Docker network job containers join (default: NETWORK-jobs)")
	fl.DurationVar(&cfg.Jobs.RetryBackoff, "job-retry-backoff", jobs.DefaultRetryBackoff, "wait before a job's first retry, doubled for each next one")
	_ = fl.MarkHidden("job-retry-backoff") // for tests
	fl.StringVar(&cfg.PprofAddr, "pprof", "", "serve Go profiles (net/http/pprof) on this address, e.g. 127.0.0.1:6060; off by default")
	fl.IntVar(&procs, "procs", 0, "CPUs the server's own goroutines run on at once (GOMAXPROCS); 0: $GOMAXPROCS if set, else half the CPUs, at least 1")
	fl.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "how long in-flight requests may take to finish on shutdown")
	return cmd
}
