package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/internal/manifest"
)

// JobsBackend runs jobs. A Backend that also implements it gets the /v1/jobs
// and /v1/executions endpoints.
type JobsBackend interface {
	Jobs(ctx context.Context, ns string) ([]client.Job, error)
	Job(ctx context.Context, ns, name string) (*client.Job, error)
	// RunJob enqueues an execution; args, when not nil, replace the job's.
	RunJob(ctx context.Context, ns, name string, env map[string]string, args []string) (*client.Execution, error)
	Executions(ctx context.Context, ns, job string, limit int) ([]client.Execution, error)
	Execution(ctx context.Context, ns, id string) (*client.Execution, error)
	ExecutionLogs(ctx context.Context, ns, id string, follow bool) (io.ReadCloser, error)
	CancelExecution(ctx context.Context, ns, id string) (*client.Execution, error)
}

// InvalidRequestError is a request body with invalid fields; the API
// answers 400 with one entry of errors[] per field.
type InvalidRequestError struct {
	Errors []client.FieldError
}

func (e *InvalidRequestError) Error() string {
	msgs := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		msgs[i] = fe.String()
	}
	return "invalid request: " + strings.Join(msgs, "; ")
}

// maxRunBody bounds a POST …/executions body.
const maxRunBody = 1 << 20

// maxExecutionsListed bounds GET /v1/executions?limit=.
const maxExecutionsListed = 10000

func (s *Server) registerJobs() {
	jb, ok := s.backend.(JobsBackend)
	if !ok {
		return
	}
	s.route("GET", "/jobs", read, func(w http.ResponseWriter, r *http.Request) {
		jobs, err := jb.Jobs(r.Context(), nsOf(r))
		if err != nil {
			s.fail(w, err)
			return
		}
		if jobs == nil {
			jobs = []client.Job{}
		}
		writeJSON(w, http.StatusOK, client.JobList{Jobs: jobs})
	})
	s.route("GET", "/jobs/{name}", read, func(w http.ResponseWriter, r *http.Request) {
		j, err := jb.Job(r.Context(), nsOf(r), r.PathValue("name"))
		s.answer(w, http.StatusOK, j, err)
	})
	s.route("POST", "/jobs/{name}/executions", write, func(w http.ResponseWriter, r *http.Request) {
		req, err := decodeRunRequest(r)
		if err != nil {
			s.fail(w, err)
			return
		}
		ex, err := jb.RunJob(r.Context(), nsOf(r), r.PathValue("name"), req.Env, req.Args)
		if err == nil {
			w.Header().Set("Location", executionURL(r, ex.ID))
		}
		s.answer(w, http.StatusCreated, ex, err)
	})
	s.route("GET", "/executions", read, func(w http.ResponseWriter, r *http.Request) {
		limit := 0
		if v := r.URL.Query().Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > maxExecutionsListed {
				s.fail(w, fmt.Errorf("%w: query parameter limit=%q; allowed: a whole number from 0 (all) to %d", ErrBadRequest, v, maxExecutionsListed))
				return
			}
			limit = n
		}
		l, err := jb.Executions(r.Context(), nsOf(r), r.URL.Query().Get("job"), limit)
		if err != nil {
			s.fail(w, err)
			return
		}
		if l == nil {
			l = []client.Execution{}
		}
		writeJSON(w, http.StatusOK, client.ExecutionList{Executions: l})
	})
	s.route("GET", "/executions/{id}", read, func(w http.ResponseWriter, r *http.Request) {
		ex, err := jb.Execution(r.Context(), nsOf(r), r.PathValue("id"))
		s.answer(w, http.StatusOK, ex, err)
	})
	s.route("POST", "/executions/{id}/cancel", write, func(w http.ResponseWriter, r *http.Request) {
		ex, err := jb.CancelExecution(r.Context(), nsOf(r), r.PathValue("id"))
		s.answer(w, http.StatusOK, ex, err)
	})
	s.route("GET", "/executions/{id}/logs", read, func(w http.ResponseWriter, r *http.Request) {
		follow, err := boolParam(r, "follow")
		if err != nil {
			s.fail(w, err)
			return
		}
		rc, err := jb.ExecutionLogs(r.Context(), nsOf(r), r.PathValue("id"), follow)
		if err != nil {
			s.fail(w, err)
			return
		}
		defer rc.Close()
		s.streamText(w, r, rc)
	})
}

// answer writes v with status, or the problem err maps to.
func (s *Server) answer(w http.ResponseWriter, status int, v any, err error) {
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, status, v)
}

func boolParam(r *http.Request, name string) (bool, error) {
	switch v := r.URL.Query().Get(name); v {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	default:
		return false, fmt.Errorf("%w: query parameter %s=%q; allowed: true or false", ErrBadRequest, name, v)
	}
}

// streamText copies rc to w as plain text, flushing as it arrives.
func (s *Server) streamText(w http.ResponseWriter, r *http.Request, rc io.Reader) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	ctl := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, err := rc.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			_ = ctl.Flush()
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && r.Context().Err() == nil {
				s.log.Warn("log stream", "path", r.URL.Path, "err", err)
			}
			return
		}
	}
}

// runRequest is RunJobRequest with Args able to tell null from [].
type runRequest struct {
	Env  map[string]string `json:"env"`
	Args *[]string         `json:"args"`
}

// decoded is the validated body.
type decoded struct {
	Env  map[string]string
	Args []string
}

// decodeRunRequest reads and validates a POST …/executions body. An empty
// body is an execution with the job's own env and args.
func decodeRunRequest(r *http.Request) (decoded, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, _ := mime.ParseMediaType(ct); mt != "application/json" {
			return decoded{}, fmt.Errorf("%w: Content-Type %q; allowed: application/json", ErrBadRequest, ct)
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRunBody+1))
	if err != nil {
		return decoded{}, fmt.Errorf("%w: read body: %v", ErrBadRequest, err)
	}
	if len(body) > maxRunBody {
		return decoded{}, fmt.Errorf("%w: the body is larger than %d bytes", ErrBadRequest, maxRunBody)
	}
	var req runRequest
	if len(strings.TrimSpace(string(body))) > 0 {
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return decoded{}, jsonProblem(err)
		}
		if dec.More() {
			return decoded{}, fmt.Errorf("%w: the body must hold one JSON object; more follows it", ErrBadRequest)
		}
	}
	var fes []client.FieldError
	if len(req.Env) > manifest.MaxEnv {
		fes = append(fes, client.FieldError{Field: "env", Message: fmt.Sprintf("has %d entries; at most %d are allowed", len(req.Env), manifest.MaxEnv)})
	}
	for k, v := range req.Env {
		if msg := manifest.EnvProblem(k, v); msg != "" {
			fes = append(fes, client.FieldError{Field: "env." + k, Value: k, Message: msg})
		}
	}
	out := decoded{Env: req.Env}
	if req.Args != nil {
		out.Args = *req.Args
		if out.Args == nil {
			out.Args = []string{}
		}
		if len(out.Args) > manifest.MaxArgs {
			fes = append(fes, client.FieldError{Field: "args", Message: fmt.Sprintf("has %d entries; at most %d are allowed", len(out.Args), manifest.MaxArgs)})
		}
		for i, a := range out.Args {
			if strings.ContainsRune(a, 0) {
				fes = append(fes, client.FieldError{Field: fmt.Sprintf("args[%d]", i), Message: "must not contain a NUL character"})
			}
		}
	}
	if len(fes) > 0 {
		return decoded{}, &InvalidRequestError{Errors: fes}
	}
	return out, nil
}

// jsonProblem names the field of a JSON decoding error.
func jsonProblem(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		want := map[string]string{"env": "an object of strings, e.g. {\"STAGE\": \"prod\"}", "args": "a list of strings, e.g. [\"--fast\"]"}
		field := te.Field
		root, _, _ := strings.Cut(field, ".")
		msg := "must be " + want[root]
		if want[root] == "" {
			msg = "must be a string"
		}
		if field == "" {
			field, msg = "(body)", "must be a JSON object with the fields env and args"
		}
		return &InvalidRequestError{Errors: []client.FieldError{{Field: field, Value: te.Value, Message: msg + ", not " + te.Value}}}
	case errors.As(err, &se):
		return fmt.Errorf("%w: the body is not valid JSON: %v (at byte %d)", ErrBadRequest, err, se.Offset)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return &InvalidRequestError{Errors: []client.FieldError{{Field: name, Message: "unknown field; allowed fields are: env, args"}}}
	}
	return fmt.Errorf("%w: the body is not valid JSON: %v", ErrBadRequest, err)
}

// executionURL is the path of an execution, in the form the request used.
func executionURL(r *http.Request, id string) string {
	if ns := r.PathValue("ns"); ns != "" {
		return "/v1/namespaces/" + ns + "/executions/" + id
	}
	return "/v1/executions/" + id
}
