package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/berth-dev/berth/internal/problem"
)

// Roles of a Principal.
const (
	RoleAdmin  = "admin"
	RoleDeploy = "deploy"
	RoleRead   = "read"
)

// AdminTokenID is the token ID logged for the server's admin token
// (DATA/admin.token).
const AdminTokenID = "admin"

// Principal is who makes a call: the token's ID (never its secret), its
// namespace ("" for every namespace) and its role.
type Principal struct {
	TokenID   string
	Namespace string
	Role      string
}

// ErrUnauthorized: the bearer token is unknown or revoked.
var ErrUnauthorized = errors.New("unauthorized")

// ErrForbidden: the token may see the namespace but not do this in it.
var ErrForbidden = errors.New("forbidden")

// TokenResolver turns a namespace token's secret into its Principal, or
// ErrUnauthorized. A Backend that implements it accepts namespace tokens.
type TokenResolver interface {
	ResolveToken(ctx context.Context, secret string) (Principal, error)
}

type principalKey struct{}

func principalOf(r *http.Request) Principal {
	p, _ := r.Context().Value(principalKey{}).(Principal)
	return p
}

// authenticate resolves the request's bearer token.
func (s *Server) authenticate(r *http.Request) (Principal, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	tok = strings.TrimSpace(tok)
	if !ok || tok == "" {
		return Principal{}, false
	}
	h := sha256.Sum256([]byte(tok))
	if subtle.ConstantTimeCompare(h[:], s.tokenHash[:]) == 1 {
		return Principal{TokenID: AdminTokenID, Role: RoleAdmin}, true
	}
	tr, ok := s.backend.(TokenResolver)
	if !ok {
		return Principal{}, false
	}
	p, err := tr.ResolveToken(r.Context(), tok)
	if err != nil {
		if !errors.Is(err, ErrUnauthorized) {
			s.log.Error("resolve token", "err", err)
		}
		return Principal{}, false
	}
	return p, true
}

// access is what a route needs of the caller.
type access int

const (
	// read: any token of the namespace.
	read access = iota
	// write: a deploy or admin token of the namespace.
	write
)

// nsOf is the namespace a request addresses: {ns} of a
// /v1/namespaces/{ns}/… path, else the default namespace.
func nsOf(r *http.Request) string {
	if ns := r.PathValue("ns"); ns != "" {
		return ns
	}
	return DefaultNamespace
}

// notFoundNamespace is the one answer for a namespace that does not exist
// and for one the token may not see, so that names do not leak.
func notFoundNamespace(ns string) error {
	return fmt.Errorf("namespace %s: %w", ns, errNotFound)
}

// errNotFound is mapped to 404 like the store's ErrNotFound.
var errNotFound = errors.New("not found")

// route registers h for method and path (which follows "/v1") twice: under
// /v1/namespaces/{ns} and, for the default namespace, under /v1 itself. The
// caller must be allowed need in the namespace, or gets 404 (a namespace
// it may not see) or 403 (a read token asking to change).
func (s *Server) route(method, path string, need access, h http.HandlerFunc) {
	guarded := func(w http.ResponseWriter, r *http.Request) {
		p, ns := principalOf(r), nsOf(r)
		if p.Namespace != "" && p.Namespace != ns {
			s.fail(w, notFoundNamespace(ns))
			return
		}
		if need == write && p.Role == RoleRead {
			s.fail(w, fmt.Errorf("%w: token %s has the read role; %s %s needs a deploy token", ErrForbidden, p.TokenID, r.Method, r.URL.Path))
			return
		}
		if ns != DefaultNamespace {
			if err := s.namespaceExists(r.Context(), ns); err != nil {
				s.fail(w, err)
				return
			}
		}
		h(w, r)
	}
	s.mux.HandleFunc(method+" /v1/namespaces/{ns}"+path, guarded)
	s.mux.HandleFunc(method+" /v1"+path, guarded)
}

// adminOnly wraps a handler that only the admin token may call.
func (s *Server) adminOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if p := principalOf(r); p.Role != RoleAdmin {
			s.fail(w, fmt.Errorf("%w: %s %s needs the admin token; token %s is a %s token of namespace %s", ErrForbidden, r.Method, r.URL.Path, p.TokenID, p.Role, p.Namespace))
			return
		}
		h(w, r)
	}
}

func (s *Server) namespaceExists(ctx context.Context, ns string) error {
	tb, ok := s.backend.(TenantBackend)
	if !ok {
		return notFoundNamespace(ns)
	}
	if _, err := tb.Namespace(ctx, ns); err != nil {
		if isNotFound(err) {
			return notFoundNamespace(ns)
		}
		return err
	}
	return nil
}

// unauthorized answers 401.
func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="berth"`)
	problem.Write(w, problem.New(http.StatusUnauthorized, "unauthorized", "Unauthorized",
		"send the admin token (DATA/admin.token) or a namespace token (berth tokens create) as `Authorization: Bearer TOKEN`; revoked tokens are refused"), 0)
}
