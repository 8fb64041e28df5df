package api

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path/filepath"
	"strconv"

	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/internal/manifest"
	"github.com/berth-dev/berth/internal/runtime"
)

// maxManifestBytes bounds the manifest part; a berth.yaml is a few hundred bytes.
const maxManifestBytes = 1 << 20

// deploy reads a multipart body — "manifest" first, then an optional
// "context" tar that is streamed into the build, never held whole — and
// answers with an NDJSON stream of progress lines ending in a result or an
// error.
func (s *Server) deploy(w http.ResponseWriter, r *http.Request) {
	noTraffic := false
	if v := r.URL.Query().Get("no_traffic"); v != "" {
		var err error
		if noTraffic, err = strconv.ParseBool(v); err != nil {
			s.fail(w, fmt.Errorf("%w: no_traffic %q; allowed: true or false", ErrBadRequest, v))
			return
		}
	}
	mr, err := r.MultipartReader()
	if err != nil {
		s.fail(w, fmt.Errorf("%w: body must be multipart/form-data with a \"manifest\" part: %v", ErrBadRequest, err))
		return
	}
	part, err := mr.NextPart()
	if err != nil || part.FormName() != "manifest" {
		s.fail(w, fmt.Errorf("%w: the first multipart part must be \"manifest\"", ErrBadRequest))
		return
	}
	name := filepath.Base(part.FileName())
	if name == "." || name == "/" || name == "" {
		name = "berth.yaml"
	}
	data, err := io.ReadAll(io.LimitReader(part, maxManifestBytes+1))
	if err != nil {
		s.fail(w, fmt.Errorf("%w: read manifest: %v", ErrBadRequest, err))
		return
	}
	if len(data) > maxManifestBytes {
		s.fail(w, fmt.Errorf("%w: manifest %s is larger than %d bytes", ErrBadRequest, name, maxManifestBytes))
		return
	}
	req := DeployRequest{Namespace: nsOf(r), ManifestName: name, NoTraffic: noTraffic}
	what, build := "", (*manifest.Build)(nil)
	if manifest.KindOf(data) == manifest.KindJob {
		req.Job, err = manifest.ParseJob(name, data)
		if req.Job != nil {
			what, build = req.Job.Name, req.Job.Build
		}
	} else {
		req.Manifest, err = manifest.Parse(name, data)
		if req.Manifest != nil {
			what, build = req.Manifest.Name, req.Manifest.Build
		}
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	if build != nil {
		part, err := mr.NextPart()
		if err != nil || part.FormName() != "context" {
			s.fail(w, fmt.Errorf("%w: %s builds from a Dockerfile (build:), so the request needs a \"context\" part with a tar of the build context", ErrBadRequest, name))
			return
		}
		if ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type")); ct != "" && ct != "application/x-tar" && ct != "application/octet-stream" {
			s.fail(w, fmt.Errorf("%w: the context part has Content-Type %q; allowed: application/x-tar", ErrBadRequest, ct))
			return
		}
		req.Context = part
	}

	// Progress is written while the context is still being read: without
	// full duplex, net/http would cut the request body off at the first write.
	rc := http.NewResponseController(w)
	if err := rc.EnableFullDuplex(); err != nil {
		s.log.Warn("deploy: full duplex unavailable", "err", err)
	}
	defer drainBody(r)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	send := func(ev client.DeployEvent) {
		_ = enc.Encode(ev)
		_ = rc.Flush()
	}
	res, err := s.backend.Deploy(r.Context(), req, func(line string) {
		send(client.DeployEvent{Type: "progress", Message: line})
	})
	if err != nil {
		p := toProblem(err)
		if p.Status >= 500 {
			s.log.Error("deploy", "app", what, "err", err)
		}
		send(client.DeployEvent{Type: "error", Error: p})
		return
	}
	send(client.DeployEvent{Type: "result", Result: res})
}

// drainBody reads what is left of a full-duplex request body (at least the
// multipart closing boundary) so that net/http does not read it concurrently
// after the handler returns. The client closes its side once it has its answer.
func drainBody(r *http.Request) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
}

// logs streams an app's log, flushing as lines arrive.
func (s *Server) logs(w http.ResponseWriter, r *http.Request) {
	var opts runtime.LogOptions
	var err error
	if opts.Follow, err = boolParam(r, "follow"); err != nil {
		s.fail(w, err)
		return
	}
	if v := r.URL.Query().Get("tail"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			s.fail(w, fmt.Errorf("%w: query parameter tail=%q; allowed: a whole number ≥ 0 (0 = all)", ErrBadRequest, v))
			return
		}
		opts.Tail = n
	}
	rc, err := s.backend.Logs(r.Context(), nsOf(r), r.PathValue("name"), opts)
	if err != nil {
		s.fail(w, err)
		return
	}
	defer rc.Close()
	s.streamText(w, r, rc)
}
