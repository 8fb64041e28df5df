package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"time"

	"github.com/berth-dev/berth/internal/activator"
	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/gateway"
	"github.com/berth-dev/berth/internal/jobs"
	"github.com/berth-dev/berth/internal/metrics"
	"github.com/berth-dev/berth/internal/runtime/docker"
	"github.com/berth-dev/berth/internal/store"
)

// InfoFile is server.json's name inside the data directory.
const InfoFile = "server.json"

// Run starts the daemon and blocks until ctx is cancelled (SIGTERM), then
// shuts down gracefully: listeners stop accepting, in-flight requests get
// cfg.ShutdownTimeout to finish, and containers keep running for the next
// start to adopt.
func Run(ctx context.Context, cfg Config) error {
	cfg.defaults()
	log := cfg.Logger
	cert, useTLS, err := cfg.tlsCertificate()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	st, err := store.Open(filepath.Join(cfg.DataDir, "berth.db"), 2*time.Second)
	if err != nil {
		return err
	}
	defer st.Close()
	owner, err := st.OwnerID(ctx)
	if err != nil {
		return err
	}
	token, err := ensureToken(cfg.DataDir)
	if err != nil {
		return err
	}

	dctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	// The berth binary itself, when static, is the network holders' image.
	exe, _ := os.Executable()
	drv, err := docker.New(dctx, docker.Options{Network: cfg.Network, Logger: log, HolderBinary: exe})
	cancel()
	if err != nil {
		return fmt.Errorf("connect to docker (run scripts/setup.sh to install and start it): %w", err)
	}
	defer drv.Close()

	var act *activator.Activator
	m := metrics.New(func() []metrics.AppState { return act.States() })
	p := &platform{store: st, driver: drv, owner: owner, domain: cfg.Domain, version: cfg.Version, log: log, keepRevisions: cfg.KeepRevisions}
	act = activator.New(activator.Options{Driver: drv, Owner: owner, Logger: log, Metrics: m, Tenancy: activator.Tenancy{
		Placement: func(ctx context.Context, ns string) (string, map[string]string, error) {
			return p.nets.placement(ctx, ns)
		},
		InstanceQuota: func(ns string) int { return p.quotas.get(ns).MaxInstances },
	}, Revision: p.taggedRevision})
	defer act.Close()
	gw := gateway.New(act, log, m)
	gw.SetTenancy(gateway.Tenancy{
		InNamespace:  func(ip net.IP, ns string) bool { return p.nets.inNamespace(ip, ns) },
		RequestQuota: func(ns string) int { return p.quotas.get(ns).MaxRequests },
	})

	apiLn, err := net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		return fmt.Errorf("listen --api %s: %w", cfg.APIAddr, err)
	}
	gwLn, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		apiLn.Close()
		return fmt.Errorf("listen --http %s: %w", cfg.HTTPAddr, err)
	}
	var tlsLn net.Listener
	if useTLS {
		if tlsLn, err = net.Listen("tcp", cfg.HTTPSAddr); err != nil {
			apiLn.Close()
			gwLn.Close()
			return fmt.Errorf("listen --https %s: %w", cfg.HTTPSAddr, err)
		}
	}
	var pprofLn net.Listener
	if cfg.PprofAddr != "" {
		if pprofLn, err = net.Listen("tcp", cfg.PprofAddr); err != nil {
			apiLn.Close()
			gwLn.Close()
			if tlsLn != nil {
				tlsLn.Close()
			}
			return fmt.Errorf("listen --pprof %s: %w", cfg.PprofAddr, err)
		}
	}
	gwHost, gwPort, _ := net.SplitHostPort(gwLn.Addr().String())
	jr := jobs.New(jobs.Options{
		Store: st, Driver: drv, Owner: owner, Network: cfg.Jobs.Network, Workers: cfg.Jobs.Workers,
		PerNamespace: cfg.Jobs.PerNamespace, RetryBackoff: cfg.Jobs.RetryBackoff, Logger: log,
		NamespaceQuota: func(ns string) int { return p.quotas.get(ns).MaxJobs },
	})
	p.jobs, p.act, p.gw, p.gatewayPort = jr, act, gw, gwPort
	p.nets = &nsNetworks{drv: drv, base: cfg.Network, gatewayHost: net.ParseIP(gwHost), gatewayPort: gwPort, log: log}
	if err := p.loadQuotas(ctx); err != nil {
		return err
	}

	// Load apps and adopt what runs before serving, so that no request
	// starts a duplicate of a container that is already there.
	svs, err := st.ListServing(ctx)
	if err != nil {
		return err
	}
	for _, sv := range svs {
		act.SetApp(activatorApp(sv))
		if err := p.applySplit(ctx, sv.App); err != nil {
			return err
		}
	}
	if err := p.nets.load(ctx, svs); err != nil {
		return err
	}
	if err := p.refreshRoutes(ctx); err != nil {
		return err
	}
	if err := act.ReconcileOnce(ctx); err != nil {
		return fmt.Errorf("adopt containers: %w", err)
	}

	apiSrv := &http.Server{Handler: api.New(p, token, log, m.Handler()), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	gwSrv := gateway.NewServer(gw, log)
	tlsSrv := gateway.NewTLSServer(gw, cert, log)
	errc := make(chan error, 3)
	go func() { errc <- apiSrv.Serve(apiLn) }()
	go func() { errc <- gwSrv.Serve(gwLn) }()
	info := ServerInfo{API: "http://" + dialable(apiLn.Addr()), Gateway: "http://" + dialable(gwLn.Addr()), PID: os.Getpid(), Owner: owner}
	if tlsLn != nil {
		go func() { errc <- tlsSrv.ServeTLS(tlsLn, "", "") }()
		info.GatewayTLS = "https://" + dialable(tlsLn.Addr())
	}
	pprofSrv := &http.Server{Handler: pprofHandler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	if pprofLn != nil {
		go func() { errc <- pprofSrv.Serve(pprofLn) }()
		info.Pprof = "http://" + dialable(pprofLn.Addr())
	}

	if err := writeInfo(cfg.DataDir, info); err != nil {
		return err
	}
	log.Info("berth server ready", "api", info.API, "gateway", info.Gateway, "gateway_tls", info.GatewayTLS, "data", cfg.DataDir, "owner", owner, "apps", len(svs))

	loopCtx, stopLoop := context.WithCancel(ctx)
	defer stopLoop()
	go act.Run(loopCtx, 250*time.Millisecond, 2*time.Second)
	// Jobs start after adoption; on shutdown the runner lets go of running
	// job containers, which the next start re-attaches.
	jobsDone := make(chan error, 1)
	go func() { jobsDone <- jr.Run(loopCtx) }()

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	stopLoop()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	var jobsErr error
	select {
	case jobsErr = <-jobsDone:
	case <-sctx.Done():
		jobsErr = errors.New("the job runner did not stop within the shutdown timeout")
	}
	err = errors.Join(serveErr, jobsErr, gwSrv.Shutdown(sctx), tlsSrv.Shutdown(sctx), apiSrv.Shutdown(sctx), pprofSrv.Shutdown(sctx))
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	os.Remove(filepath.Join(cfg.DataDir, InfoFile))
	return err
}

func (c *Config) defaults() {
	if c.APIAddr == "" {
		c.APIAddr = "127.0.0.1:7070"
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = ":8080"
	}
	if c.Network == "" {
		c.Network = "berth"
	}
	if c.Jobs.Network == "" {
		c.Jobs.Network = c.Network + "-jobs"
	}
	if c.Domain == "" {
		c.Domain = "localhost"
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// dialable turns a listener address into one a local client can dial:
// an unspecified IP (":8080") becomes 127.0.0.1.
func dialable(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// writeInfo writes server.json atomically.
func writeInfo(dir string, info ServerInfo) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, InfoFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", InfoFile, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, InfoFile)); err != nil {
		return fmt.Errorf("write %s: %w", InfoFile, err)
	}
	return nil
}

// pprofHandler serves net/http/pprof's profiles under /debug/pprof/, on a mux
// of its own (not http.DefaultServeMux).
func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
