// Package api is Berth's control API: REST over HTTP, bearer-token auth,
// problem+json errors, and an NDJSON progress stream for deploys. It maps
// errors to HTTP statuses; everything behind it (the Backend) speaks Go
// errors only.
package api

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/internal/manifest"
	"github.com/berth-dev/berth/internal/problem"
	"github.com/berth-dev/berth/internal/runtime"
)

// DefaultNamespace is where apps live until namespaces are given.
const DefaultNamespace = "default"

// DeployRequest is a validated deploy.
type DeployRequest struct {
	Namespace    string
	ManifestName string
	Manifest     *manifest.Manifest
	// Context is the tar stream of the build context; nil when the manifest
	// names an image.
	Context io.Reader
	// Job, instead of Manifest, is set for a `kind: job` manifest.
	Job *manifest.Job
	// NoTraffic deploys an app's revision without moving traffic to it.
	NoTraffic bool
}

// Backend does the work behind the API. Every call is for one namespace;
// the API has already checked that the caller may see it.
type Backend interface {
	Deploy(ctx context.Context, req DeployRequest, progress func(string)) (*client.DeployResult, error)
	Apps(ctx context.Context, ns string) ([]client.App, error)
	App(ctx context.Context, ns, name string) (*client.App, error)
	RemoveApp(ctx context.Context, ns, name string) error
	SetScale(ctx context.Context, ns, name string, req client.Scale) (*client.App, error)
	Revisions(ctx context.Context, ns, name string) ([]client.Revision, error)
	Rollback(ctx context.Context, ns, name string, revision int) (*client.App, error)
	SetTraffic(ctx context.Context, ns, name string, shares []client.TrafficShare) (*client.App, error)
	Logs(ctx context.Context, ns, name string, opts runtime.LogOptions) (io.ReadCloser, error)
	Version(ctx context.Context) client.Version
}

// Server is the API's http.Handler.
type Server struct {
	backend   Backend
	tokenHash [32]byte
	log       *slog.Logger
	mux       *http.ServeMux
	metrics   http.Handler
}

// New returns the API handler. Every /v1 call must carry token (the admin
// token) or, when backend is a TokenResolver, a namespace token, as a bearer
// token. metrics, if not nil, is served without a token at /metrics, like
// /healthz (the API listens on loopback by default).
//
// Namespaced endpoints answer under /v1/namespaces/{ns}/… and, for the
// default namespace, under /v1/… as well.
func New(backend Backend, token string, log *slog.Logger, metrics http.Handler) *Server {
	s := &Server{backend: backend, tokenHash: sha256.Sum256([]byte(token)), log: log, mux: http.NewServeMux(), metrics: metrics}
	s.mux.HandleFunc("GET /v1/version", s.version)
	s.route("GET", "/apps", read, s.listApps)
	s.route("GET", "/apps/{name}", read, s.getApp)
	s.route("DELETE", "/apps/{name}", write, s.removeApp)
	s.route("GET", "/apps/{name}/logs", read, s.logs)
	s.route("PATCH", "/apps/{name}/scale", write, s.setScale)
	s.route("GET", "/apps/{name}/revisions", read, s.revisions)
	s.route("POST", "/apps/{name}/rollback", write, s.rollback)
	s.route("POST", "/apps/{name}/traffic", write, s.setTraffic)
	s.route("POST", "/deploy", write, s.deploy)
	s.registerJobs()    // jobs.go
	s.registerTenants() // namespaces.go
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		problem.Write(w, problem.New(http.StatusNotFound, "not-found", "Not found",
			"no API endpoint "+r.Method+" "+r.URL.Path+"; see docs/api.md"), 0)
	})
	return s
}

// ServeHTTP authenticates the call and logs it with the token's ID (never
// its secret).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	switch {
	case r.URL.Path == "/healthz":
		w.Write([]byte("ok\n"))
		return
	case r.URL.Path == "/metrics" && s.metrics != nil:
		s.metrics.ServeHTTP(w, r)
		return
	}
	p, ok := s.authenticate(r)
	tokenID := "-"
	if !ok {
		unauthorized(sw)
	} else {
		tokenID = p.TokenID
		s.mux.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	}
	s.log.Info("api", "method", r.Method, "path", r.URL.Path, "status", sw.status, "token", tokenID, "ns", pathNamespace(r.URL.Path), "dur", time.Since(start).Round(time.Microsecond))
}

func (s *Server) version(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.backend.Version(r.Context()))
}

func (s *Server) listApps(w http.ResponseWriter, r *http.Request) {
	apps, err := s.backend.Apps(r.Context(), nsOf(r))
	if err != nil {
		s.fail(w, err)
		return
	}
	if apps == nil {
		apps = []client.App{}
	}
	writeJSON(w, http.StatusOK, client.AppList{Apps: apps})
}

func (s *Server) getApp(w http.ResponseWriter, r *http.Request) {
	app, err := s.backend.App(r.Context(), nsOf(r), r.PathValue("name"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, app)
}

func (s *Server) removeApp(w http.ResponseWriter, r *http.Request) {
	if err := s.backend.RemoveApp(r.Context(), nsOf(r), r.PathValue("name")); err != nil {
		s.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// statusWriter records the status for the access log. It forwards Flush and
// Unwrap so streaming answers keep working through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// setScale applies `berth scale` overrides; unknown fields are refused.
func (s *Server) setScale(w http.ResponseWriter, r *http.Request) {
	var req client.Scale
	if err := decodeJSON(r, &req, `{"min": 1, "max": 10, "warm": 2}`); err != nil {
		s.fail(w, err)
		return
	}
	if req.Min == nil && req.Max == nil && req.Warm == nil {
		s.fail(w, fmt.Errorf("%w: give at least one of min, max and warm", ErrBadRequest))
		return
	}
	app, err := s.backend.SetScale(r.Context(), nsOf(r), r.PathValue("name"), req)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, app)
}

func (s *Server) revisions(w http.ResponseWriter, r *http.Request) {
	revs, err := s.backend.Revisions(r.Context(), nsOf(r), r.PathValue("name"))
	s.answer(w, http.StatusOK, client.RevisionList{Revisions: revs}, err)
}

// rollback takes an optional JSON body {"revision": N}.
func (s *Server) rollback(w http.ResponseWriter, r *http.Request) {
	var req client.Rollback
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil && !errors.Is(err, io.EOF) {
		s.fail(w, fmt.Errorf("%w: body must be empty or JSON like {\"revision\": 3}: %v", ErrBadRequest, err))
		return
	}
	if req.Revision < 0 {
		s.fail(w, fmt.Errorf("%w: revision %d; allowed: a revision number ≥ 1, or none for the previous ready one", ErrBadRequest, req.Revision))
		return
	}
	app, err := s.backend.Rollback(r.Context(), nsOf(r), r.PathValue("name"), req.Revision)
	s.answer(w, http.StatusOK, app, err)
}

// pathNamespace is the namespace a /v1/namespaces/{ns}… path names, for the
// access log; "" for other paths.
func pathNamespace(path string) string {
	rest, ok := strings.CutPrefix(path, "/v1/namespaces/")
	if !ok {
		return ""
	}
	ns, _, _ := strings.Cut(rest, "/")
	return ns
}
