// Package problem writes RFC 9457 problem+json answers. The API and the
// gateway use it so that every error a client sees has the same shape.
package problem

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/berth-dev/berth/client"
)

// ContentType is the media type of a problem body.
const ContentType = "application/problem+json"

// TypeBase prefixes problem type URIs; the suffix names the problem.
const TypeBase = "https://berth.dev/problems/"

// Write sends p with its status. retryAfter, when positive, is sent as
// Retry-After in seconds.
func Write(w http.ResponseWriter, p *client.Problem, retryAfter int) {
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("Cache-Control", "no-store")
	if retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(retryAfter))
	}
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// New builds a problem with a type derived from name ("app-not-found").
func New(status int, name, title, detail string) *client.Problem {
	return &client.Problem{Type: TypeBase + name, Title: title, Status: status, Detail: detail}
}
