// Package api is Berth's control API: REST over HTTP, bearer-token auth,
// problem+json errors, and an NDJSON progress stream for deploys. It maps
// errors to HTTP statuses; everything behind it (the Backend) speaks Go
// errors only.
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
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
}

// Backend does the work behind the API.
type Backend interface {
	Deploy(ctx context.Context, req DeployRequest, progress func(string)) (*client.DeployResult, error)
	Apps(ctx context.Context) ([]client.App, error)
	App(ctx context.Context, ns, name string) (*client.App, error)
	RemoveApp(ctx context.Context, ns, name string) error
	SetScale(ctx context.Context, ns, name string, req client.Scale) (*client.App, error)
	Revisions(ctx context.Context, ns, name string) ([]client.Revision, error)
	Rollback(ctx context.Context, ns, name string, revision int) (*client.App, error)
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

// New returns the API handler; every /v1 call must carry token as a bearer
// token. metrics, if not nil, is served without a token at /metrics, like
// /healthz (the API listens on loopback by default).
func New(backend Backend, token string, log *slog.Logger, metrics http.Handler) *Server {
	s := &Server{backend: backend, tokenHash: sha256.Sum256([]byte(token)), log: log, mux: http.NewServeMux(), metrics: metrics}
	s.mux.HandleFunc("GET /v1/version", s.version)
	s.mux.HandleFunc("GET /v1/apps", s.listApps)
	s.mux.HandleFunc("GET /v1/apps/{name}", s.getApp)
	s.mux.HandleFunc("DELETE /v1/apps/{name}", s.removeApp)
	s.mux.HandleFunc("GET /v1/apps/{name}/logs", s.logs)
	s.mux.HandleFunc("PATCH /v1/apps/{name}/scale", s.setScale)
	s.mux.HandleFunc("GET /v1/apps/{name}/revisions", s.revisions)
	s.mux.HandleFunc("POST /v1/apps/{name}/rollback", s.rollback)
	s.mux.HandleFunc("POST /v1/deploy", s.deploy)
	s.registerJobs() // jobs.go
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		problem.Write(w, problem.New(http.StatusNotFound, "not-found", "Not found",
			"no API endpoint "+r.Method+" "+r.URL.Path+"; see docs/api.md"), 0)
	})
	return s
}

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
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="berth"`)
		problem.Write(sw, problem.New(http.StatusUnauthorized, "unauthorized", "Unauthorized",
			"send the admin token (DATA/admin.token) as `Authorization: Bearer TOKEN`"), 0)
	} else {
		s.mux.ServeHTTP(sw, r)
	}
	s.log.Info("api", "method", r.Method, "path", r.URL.Path, "status", sw.status, "dur", time.Since(start).Round(time.Microsecond))
}

func (s *Server) authorized(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return false
	}
	h := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(h[:], s.tokenHash[:]) == 1
}

func (s *Server) version(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.backend.Version(r.Context()))
}

func (s *Server) listApps(w http.ResponseWriter, r *http.Request) {
	apps, err := s.backend.Apps(r.Context())
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
	app, err := s.backend.App(r.Context(), DefaultNamespace, r.PathValue("name"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, app)
}

func (s *Server) removeApp(w http.ResponseWriter, r *http.Request) {
	if err := s.backend.RemoveApp(r.Context(), DefaultNamespace, r.PathValue("name")); err != nil {
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
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		s.fail(w, fmt.Errorf("%w: body must be JSON like {\"min\": 1, \"max\": 10, \"warm\": 2}: %v", ErrBadRequest, err))
		return
	}
	if req.Min == nil && req.Max == nil && req.Warm == nil {
		s.fail(w, fmt.Errorf("%w: give at least one of min, max and warm", ErrBadRequest))
		return
	}
	app, err := s.backend.SetScale(r.Context(), DefaultNamespace, r.PathValue("name"), req)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, app)
}

func (s *Server) revisions(w http.ResponseWriter, r *http.Request) {
	revs, err := s.backend.Revisions(r.Context(), DefaultNamespace, r.PathValue("name"))
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
	app, err := s.backend.Rollback(r.Context(), DefaultNamespace, r.PathValue("name"), req.Revision)
	s.answer(w, http.StatusOK, app, err)
}
