// Package gateway is Berth's data plane: it routes each request by Host and
// path to an app, asks the activator for a ready instance (which may mean
// holding the request through a cold start), and streams the request to the
// instance and the response back — over HTTP/1.1, or over HTTP/2 without TLS
// for apps that speak it (gRPC). Clients may speak HTTP/1.1, h2c or HTTP/2
// over TLS (see NewServer); WebSocket upgrades and streams pass through.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/berth-dev/berth/internal/activator"
	"github.com/berth-dev/berth/internal/metrics"
	"github.com/berth-dev/berth/internal/problem"
	"github.com/berth-dev/berth/internal/quota"
)

// ColdStartHeader carries, on responses that waited for an instance to
// start, the duration of each phase in Server-Timing syntax.
const ColdStartHeader = "Berth-Cold-Start"

// Acquirer hands out leases on ready instances; *activator.Activator is one.
type Acquirer interface {
	Acquire(ctx context.Context, ns, name string, rev int, key string) (*activator.Lease, error)
}

// TryAcquirer is an Acquirer that can also lease a slot without waiting
// (activator.Activator.TryAcquire); the event loop serves only its apps.
type TryAcquirer interface {
	TryAcquire(ns, name string, rev int) (*activator.Lease, bool)
}

// Gateway is an http.Handler.
type Gateway struct {
	act    Acquirer
	try    TryAcquirer // act, if it is one
	log    *slog.Logger
	routes atomic.Pointer[Table]
	// proxy speaks HTTP/1.1 to instances, h2cProxy HTTP/2 with prior knowledge.
	proxy    *httputil.ReverseProxy
	h2cProxy *httputil.ReverseProxy
	metrics  *metrics.Set
	// tenancy and inflight: namespace hooks and per-namespace counts
	// (tenancy.go).
	tenancy  Tenancy
	inflight nsCounters
}

// New returns a gateway with an empty routing table. m may be nil.
func New(act Acquirer, log *slog.Logger, m *metrics.Set) *Gateway {
	g := &Gateway{act: act, log: log, metrics: m}
	g.try, _ = act.(TryAcquirer)
	g.routes.Store(NewTable(nil))
	g.proxy = g.newProxy(&directTransport{
		next:        newTransport(false),
		dial:        (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		idleTimeout: idleConnTimeout,
		maxIdle:     maxIdlePerInstance,
	})
	g.h2cProxy = g.newProxy(newTransport(true))
	return g
}

func (g *Gateway) newProxy(t http.RoundTripper) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite:   rewrite,
		Transport: t,
		// Answers of unknown length (chunked, gRPC) and SSE streams are
		// flushed on every write whatever this says. An answer of known
		// length is written when it is done or the buffer fills: flushing
		// on every write (-1) cost a timer, a goroutine and a separate
		// write of the header for every request.
		FlushInterval: 0,
		BufferPool:    bufferPool{},
		ErrorHandler:  g.proxyError,
	}
}

// Connections to instances: idle ones are kept up to maxIdlePerInstance
// (scale.concurrency's maximum) for idleConnTimeout.
const (
	dialTimeout        = 5 * time.Second
	maxIdlePerInstance = 256
	idleConnTimeout    = 90 * time.Second
)

// newTransport returns the transport to instances: HTTP/1.1 with keep-alive,
// or, with h2c, HTTP/2 over cleartext with prior knowledge only (an instance
// of an h2c app is not asked to upgrade; it must speak HTTP/2 at once).
func newTransport(h2c bool) *http.Transport {
	t := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          0, // no global cap; per instance below
		MaxIdleConnsPerHost:   maxIdlePerInstance,
		IdleConnTimeout:       idleConnTimeout,
		ExpectContinueTimeout: time.Second,
		// A proxy passes Accept-Encoding through as the client sent it; it
		// must not ask for gzip itself and unpack the answer.
		DisableCompression: true,
	}
	if h2c {
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		t.Protocols = &p
		// Ping idle connections so that a dead instance is noticed.
		t.HTTP2 = &http.HTTP2Config{SendPingTimeout: 15 * time.Second}
	}
	return t
}

// proxyFor picks the proxy that speaks the app's protocol. Upgrades
// (WebSocket) are HTTP/1.1 only, whatever the app speaks.
func (g *Gateway) proxyFor(t *Target, r *http.Request) *httputil.ReverseProxy {
	if t.Protocol == UpstreamH2C && r.Header.Get("Upgrade") == "" {
		return g.h2cProxy
	}
	return g.proxy
}

// SetRoutes swaps in a new routing table.
func (g *Gateway) SetRoutes(t *Table) { g.routes.Store(t) }

// attempt is the per-request state the proxy's hooks need: the lease whose
// instance the request goes to, and whether it was already retried.
type attempt struct {
	lease   *activator.Lease
	target  *Target
	key     string
	retried bool
}

type attemptKey struct{}

// attemptCtx carries an attempt to the proxy's hooks: context.WithValue
// with the attempt in one allocation instead of two.
type attemptCtx struct {
	context.Context
	at attempt
}

func (c *attemptCtx) Value(key any) any {
	if key == (attemptKey{}) {
		return &c.at
	}
	return c.Context.Value(key)
}

// exchange is what the gateway allocates per request, in one piece.
type exchange struct {
	rec statusRecorder
	ctx attemptCtx
}

// rewrite points the outgoing request at the leased instance, keeping the
// client's Host header and adding X-Forwarded-*.
func rewrite(pr *httputil.ProxyRequest) {
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = pr.In.Context().Value(attemptKey{}).(*attempt).lease.Addr
	pr.Out.Host = pr.In.Host
	pr.SetXForwarded()
}

func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target, ok := g.routes.Load().Match(r.Host, r.URL.Path)
	if ok && !g.visible(r, target) {
		ok = false
	}
	if !ok {
		g.noRoute(w, r.Host, r.URL.Path)
		return
	}
	ex := &exchange{}
	if g.metrics != nil {
		ex.rec = statusRecorder{ResponseWriter: w, code: http.StatusOK}
		w = &ex.rec
		defer g.observe(target, &ex.rec, time.Now())
	}
	var key string
	if target.Key != nil {
		var err error
		if key, err = target.Key.extractKey(r); err != nil {
			problem.Write(w, problem.New(http.StatusBadRequest, "missing-key", "Missing or invalid instance key", err.Error()), 0)
			return
		}
	}
	release, admitted := g.admit(w, target)
	if !admitted {
		return
	}
	defer release()
	ctx, cancel := context.WithTimeout(r.Context(), target.RequestTimeout)
	defer cancel()
	lease, err := g.act.Acquire(ctx, target.Namespace, target.Name, target.Revision, key)
	if err != nil {
		g.acquireError(w, r, target, err)
		return
	}
	defer lease.Release()
	if lease.ColdStart != nil {
		w.Header().Set(ColdStartHeader, activator.FormatPhases(lease.ColdStart))
	}
	ex.ctx = attemptCtx{Context: ctx, at: attempt{lease: lease, target: target, key: key}}
	g.proxyFor(target, r).ServeHTTP(w, r.WithContext(&ex.ctx))
}

// noRoute answers a request that no route matches.
func (g *Gateway) noRoute(w http.ResponseWriter, host, path string) {
	problem.Write(w, problem.New(http.StatusNotFound, "no-route", "No app serves this address",
		fmt.Sprintf("no app is routed for host %q and path %q", host, path)), 0)
}

func (g *Gateway) acquireError(w http.ResponseWriter, r *http.Request, t *Target, err error) {
	var se *activator.StartError
	var qf *activator.QueueFullError
	var cl *activator.CrashLoopError
	var kl *activator.KeyLimitError
	var qe *quota.Error
	switch {
	case errors.As(err, &qe):
		writeQuota(w, qe)
	case errors.As(err, &qf):
		problem.Write(w, problem.New(http.StatusServiceUnavailable, "queue-full", "App at capacity",
			fmt.Sprintf("app %s has every instance busy (scale.max) and %d requests already waiting (scale.queue); retry shortly", t.Name, qf.Limit)), 1)
	case errors.As(err, &kl):
		problem.Write(w, problem.New(http.StatusTooManyRequests, "key-limit", "Too many keys awake",
			fmt.Sprintf("app %s already runs instances for %d keys, its scale.max; a new key can start once one of them sleeps", t.Name, kl.Max)), 5)
	case errors.As(err, &cl):
		problem.Write(w, problem.New(http.StatusServiceUnavailable, "crash-looping", "App is crash-looping",
			fmt.Sprintf("app %s keeps failing to start; the next attempt is in %s; see `berth status %s`", t.Name, cl.RetryAfter.Round(time.Second), t.Name)),
			int(math.Ceil(cl.RetryAfter.Seconds())))
	case errors.Is(err, activator.ErrRevisionNotFound):
		problem.Write(w, problem.New(http.StatusNotFound, "revision-not-found", "Revision not found",
			fmt.Sprintf("app %s has no revision %d that can serve (see berth revisions %s)", t.Name, t.Revision, t.Name)), 0)
	case errors.Is(err, activator.ErrAppNotFound):
		problem.Write(w, problem.New(http.StatusNotFound, "app-not-found", "App not found",
			fmt.Sprintf("app %s was removed", t.Name)), 0)
	case errors.As(err, &se):
		g.log.Warn("cold start failed", "app", t.Name, "ns", t.Namespace, "err", err)
		detail := fmt.Sprintf("app %s could not be started: %s; see `berth status %s` and `berth logs %s`", t.Name, se.Error(), t.Name, t.Name)
		problem.Write(w, problem.New(http.StatusServiceUnavailable, "start-failed", "App failed to start", detail), 1)
	case errors.Is(err, context.DeadlineExceeded):
		problem.Write(w, problem.New(http.StatusGatewayTimeout, "start-timeout", "App not ready in time",
			fmt.Sprintf("app %s had no ready instance within its request_timeout of %s", t.Name, t.RequestTimeout)), 1)
	case r.Context().Err() != nil:
		// The client went away while waiting; nobody reads an answer.
	default:
		g.log.Error("acquire instance", "app", t.Name, "ns", t.Namespace, "err", err)
		problem.Write(w, problem.New(http.StatusBadGateway, "acquire-failed", "No instance", err.Error()), 1)
	}
}

func (g *Gateway) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	at, _ := r.Context().Value(attemptKey{}).(*attempt)
	var op *net.OpError
	dialFailed := errors.As(err, &op) && op.Op == "dial"
	if dialFailed && at != nil {
		at.lease.Unreachable(err)
		// A request that never reached the app and has no body to replay is
		// safe to send once more, to another instance.
		if !at.retried && (r.Method == http.MethodGet || r.Method == http.MethodHead) && (r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0) {
			g.retry(w, r, at)
			return
		}
	}
	g.proxyFailed(w, r.Context().Err(), r.Host, err)
}

// proxyFailed answers a request whose instance did not answer: err is the
// proxy's error and ctxErr the request context's (the client went away or
// the request_timeout passed).
func (g *Gateway) proxyFailed(w http.ResponseWriter, ctxErr error, host string, err error) {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		problem.Write(w, problem.New(http.StatusGatewayTimeout, "request-timeout", "Request timed out",
			"the app did not answer within its request_timeout"), 0)
	case ctxErr != nil:
		// Client gone.
	default:
		g.log.Warn("proxy to instance", "host", host, "err", err)
		problem.Write(w, problem.New(http.StatusBadGateway, "bad-gateway", "Instance unreachable",
			"the app's instance could not be reached or closed the connection"), 1)
	}
}

// bufferPool shares 32 KiB copy buffers between requests.
type bufferPool struct{}

var buffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *(buffers.Get().(*[]byte)) }
func (bufferPool) Put(b []byte) { buffers.Put(&b) }

// retry sends a request whose instance was unreachable to another instance.
func (g *Gateway) retry(w http.ResponseWriter, r *http.Request, at *attempt) {
	lease, err := g.act.Acquire(r.Context(), at.target.Namespace, at.target.Name, at.target.Revision, at.key)
	if err != nil {
		g.acquireError(w, r, at.target, err)
		return
	}
	defer lease.Release()
	if lease.ColdStart != nil {
		w.Header().Set(ColdStartHeader, activator.FormatPhases(lease.ColdStart))
	}
	next := &attemptCtx{Context: r.Context(), at: attempt{lease: lease, target: at.target, key: at.key, retried: true}}
	g.proxyFor(at.target, r).ServeHTTP(w, r.WithContext(next))
}

// statusRecorder remembers the status code for metrics. Unwrap lets the
// proxy reach the real writer to flush and to hijack for upgrades.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (g *Gateway) observe(t *Target, rec *statusRecorder, start time.Time) {
	st := t.stats.Load()
	if st == nil || st.set != g.metrics {
		st = &targetStats{set: g.metrics,
			ok:       g.metrics.Requests.WithLabelValues(t.Namespace, t.Name, "200"),
			duration: g.metrics.RequestDuration.WithLabelValues(t.Namespace, t.Name)}
		t.stats.Store(st)
	}
	if rec.code == http.StatusOK {
		st.ok.Inc()
	} else {
		g.metrics.Requests.WithLabelValues(t.Namespace, t.Name, strconv.Itoa(rec.code)).Inc()
	}
	st.duration.Observe(time.Since(start).Seconds())
}

// targetStats holds a target's metric children, looked up once rather
// than by label values on every request (a hash and a locked map lookup).
type targetStats struct {
	set      *metrics.Set
	ok       prometheus.Counter // code 200
	duration prometheus.Observer
}
