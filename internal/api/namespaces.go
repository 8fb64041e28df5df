package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/berth-dev/berth/client"
)

// TenantBackend manages namespaces and tokens. A Backend that also
// implements it gets /v1/namespaces and /v1/tokens.
type TenantBackend interface {
	Namespaces(ctx context.Context) ([]client.Namespace, error)
	// Namespace returns one namespace, or an error wrapping a not-found.
	Namespace(ctx context.Context, name string) (*client.Namespace, error)
	CreateNamespace(ctx context.Context, req client.CreateNamespaceRequest) (*client.Namespace, error)
	SetQuotas(ctx context.Context, name string, patch client.QuotasPatch) (*client.Namespace, error)
	// RemoveNamespace removes the namespace with its apps, jobs, tokens,
	// containers and network.
	RemoveNamespace(ctx context.Context, name string) error
	Tokens(ctx context.Context) ([]client.Token, error)
	CreateToken(ctx context.Context, req client.CreateTokenRequest) (*client.NewToken, error)
	RevokeToken(ctx context.Context, id string) (*client.Token, error)
}

// maxSmallBody bounds the JSON bodies of namespace and token calls.
const maxSmallBody = 64 << 10

func (s *Server) registerTenants() {
	tb, ok := s.backend.(TenantBackend)
	if !ok {
		return
	}
	// A namespace token sees its own namespace only; the list is filtered
	// and any other name is not found.
	s.mux.HandleFunc("GET /v1/namespaces", func(w http.ResponseWriter, r *http.Request) {
		l, err := tb.Namespaces(r.Context())
		if err != nil {
			s.fail(w, err)
			return
		}
		out := []client.Namespace{}
		for _, ns := range l {
			if p := principalOf(r); p.Namespace == "" || p.Namespace == ns.Name {
				out = append(out, ns)
			}
		}
		writeJSON(w, http.StatusOK, client.NamespaceList{Namespaces: out})
	})
	s.mux.HandleFunc("GET /v1/namespaces/{ns}", func(w http.ResponseWriter, r *http.Request) {
		ns := r.PathValue("ns")
		if p := principalOf(r); p.Namespace != "" && p.Namespace != ns {
			s.fail(w, notFoundNamespace(ns))
			return
		}
		n, err := tb.Namespace(r.Context(), ns)
		if isNotFound(err) {
			err = notFoundNamespace(ns)
		}
		s.answer(w, http.StatusOK, n, err)
	})
	s.mux.HandleFunc("POST /v1/namespaces", s.adminOnly(func(w http.ResponseWriter, r *http.Request) {
		var req client.CreateNamespaceRequest
		if err := decodeJSON(r, &req, `{"name": "team-a", "quotas": {"max_apps": 10}}`); err != nil {
			s.fail(w, err)
			return
		}
		n, err := tb.CreateNamespace(r.Context(), req)
		if err == nil {
			w.Header().Set("Location", "/v1/namespaces/"+n.Name)
		}
		s.answer(w, http.StatusCreated, n, err)
	}))
	s.mux.HandleFunc("PATCH /v1/namespaces/{ns}", s.adminOnly(func(w http.ResponseWriter, r *http.Request) {
		var req client.QuotasPatch
		if err := decodeJSON(r, &req, `{"max_instances": 5, "max_requests": 100}`); err != nil {
			s.fail(w, err)
			return
		}
		n, err := tb.SetQuotas(r.Context(), r.PathValue("ns"), req)
		s.answer(w, http.StatusOK, n, err)
	}))
	s.mux.HandleFunc("DELETE /v1/namespaces/{ns}", s.adminOnly(func(w http.ResponseWriter, r *http.Request) {
		ns := r.PathValue("ns")
		if c := r.URL.Query().Get("confirm"); c != ns {
			s.fail(w, fmt.Errorf("%w: removing namespace %s removes all its apps, jobs and tokens; confirm with the query parameter confirm=%s (got confirm=%q)", ErrBadRequest, ns, ns, c))
			return
		}
		if err := tb.RemoveNamespace(r.Context(), ns); err != nil {
			s.fail(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	s.mux.HandleFunc("GET /v1/tokens", s.adminOnly(func(w http.ResponseWriter, r *http.Request) {
		l, err := tb.Tokens(r.Context())
		if l == nil {
			l = []client.Token{}
		}
		s.answer(w, http.StatusOK, client.TokenList{Tokens: l}, err)
	}))
	s.mux.HandleFunc("POST /v1/tokens", s.adminOnly(func(w http.ResponseWriter, r *http.Request) {
		var req client.CreateTokenRequest
		if err := decodeJSON(r, &req, `{"namespace": "team-a", "role": "deploy"}`); err != nil {
			s.fail(w, err)
			return
		}
		t, err := tb.CreateToken(r.Context(), req)
		if err == nil {
			s.log.Info("token created", "token", t.ID, "ns", t.Namespace, "role", t.Role, "by", principalOf(r).TokenID)
		}
		s.answer(w, http.StatusCreated, t, err)
	}))
	s.mux.HandleFunc("DELETE /v1/tokens/{id}", s.adminOnly(func(w http.ResponseWriter, r *http.Request) {
		t, err := tb.RevokeToken(r.Context(), r.PathValue("id"))
		if err == nil {
			s.log.Info("token revoked", "token", t.ID, "ns", t.Namespace, "by", principalOf(r).TokenID)
		}
		s.answer(w, http.StatusOK, t, err)
	}))
}

// decodeJSON reads a small JSON body into v, refusing unknown fields; the
// error shows example, a valid body.
func decodeJSON(r *http.Request, v any, example string) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxSmallBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: body must be JSON like %s: %v", ErrBadRequest, example, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: the body must hold one JSON object; more follows it", ErrBadRequest)
	}
	return nil
}
