package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/internal/activator"
	"github.com/berth-dev/berth/internal/manifest"
	"github.com/berth-dev/berth/internal/problem"
	"github.com/berth-dev/berth/internal/quota"
	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/store"
)

// Errors a Backend wraps so the API can choose a status.
var (
	// ErrConflict: the request clashes with existing state (e.g. a route
	// another app already serves).
	ErrConflict = errors.New("conflict")
	// ErrBadRequest: the request is malformed in a way a manifest cannot say.
	ErrBadRequest = errors.New("bad request")
	// ErrRevisionFailed: a new revision never became ready; the previous
	// one still serves.
	ErrRevisionFailed = errors.New("revision failed")
)

// toProblem maps a backend error to the problem a client sees.
func toProblem(err error) *client.Problem {
	var ve *manifest.ValidationError
	var ire *InvalidRequestError
	var qe *quota.Error
	switch {
	case errors.As(err, &ire):
		p := problem.New(http.StatusBadRequest, "invalid-request", "Invalid request", ire.Error())
		p.Errors = ire.Errors
		return p
	case errors.Is(err, store.ErrConflict):
		return problem.New(http.StatusConflict, "conflict", "Conflict", err.Error())
	case errors.As(err, &ve):
		p := problem.New(http.StatusBadRequest, "invalid-manifest", "Invalid manifest", ve.Error())
		for _, f := range ve.Problems {
			p.Errors = append(p.Errors, client.FieldError{File: ve.File, Field: f.Field, Value: f.Value, Message: f.Message, Line: f.Line})
		}
		return p
	case errors.As(err, &qe):
		p := problem.New(http.StatusTooManyRequests, "quota-exceeded", "Quota exceeded", qe.Error())
		p.Quota, p.Limit = qe.Name, qe.Limit
		return p
	case errors.Is(err, ErrForbidden):
		return problem.New(http.StatusForbidden, "forbidden", "Forbidden", err.Error())
	case errors.Is(err, store.ErrInvalid):
		return problem.New(http.StatusBadRequest, "bad-request", "Bad request", err.Error())
	case isNotFound(err):
		return problem.New(http.StatusNotFound, "not-found", "Not found", err.Error())
	case errors.Is(err, ErrConflict):
		return problem.New(http.StatusConflict, "conflict", "Conflict", err.Error())
	case errors.Is(err, ErrRevisionFailed):
		return problem.New(http.StatusUnprocessableEntity, "revision-failed", "Revision failed", err.Error())
	case errors.Is(err, ErrBadRequest):
		return problem.New(http.StatusBadRequest, "bad-request", "Bad request", err.Error())
	case errors.Is(err, runtime.ErrBuildFailed):
		return problem.New(http.StatusUnprocessableEntity, "build-failed", "Build failed", err.Error())
	case errors.Is(err, runtime.ErrNotFound):
		return problem.New(http.StatusUnprocessableEntity, "image-not-found", "Image not found", err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return problem.New(http.StatusServiceUnavailable, "cancelled", "Cancelled", err.Error())
	default:
		return problem.New(http.StatusInternalServerError, "internal", "Internal error", err.Error())
	}
}

func (s *Server) fail(w http.ResponseWriter, err error) {
	p := toProblem(err)
	if p.Status >= 500 {
		s.log.Error("api error", "err", err)
	}
	problem.Write(w, p, 0)
}

// isNotFound tells whether err says that something does not exist.
func isNotFound(err error) bool {
	return errors.Is(err, store.ErrNotFound) || errors.Is(err, activator.ErrAppNotFound) || errors.Is(err, errNotFound)
}
