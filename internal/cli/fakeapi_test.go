package cli

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/internal/server"
)

const goodToken = "0123456789abcdef0123456789abcdef"

// fakeAPI is an in-process stand-in for the server's API.
type fakeAPI struct {
	t   *testing.T
	srv *httptest.Server

	mu      sync.Mutex
	apps    map[string]client.App
	deploys []deployCall
	calls   int
	// reject, when set, is the problem every deploy is refused with.
	reject *client.Problem
}

// deployCall is what one POST /v1/deploy carried.
type deployCall struct {
	manifestName string
	manifest     string
	parts        []string
	// files maps tar entry names to their headers and content.
	files   map[string]*tar.Header
	content map[string]string
}

func newFakeAPI(t *testing.T) *fakeAPI {
	f := &fakeAPI{t: t, apps: map[string]client.App{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, client.Version{Version: "v9.9.9", API: "v1", Driver: "fake"})
	})
	mux.HandleFunc("GET /v1/apps", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		l := client.AppList{Apps: []client.App{}}
		for _, a := range f.apps {
			l.Apps = append(l.Apps, a)
		}
		writeJSON(w, l)
	})
	mux.HandleFunc("GET /v1/apps/{name}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		a, ok := f.apps[r.PathValue("name")]
		if !ok {
			writeProblem(w, &client.Problem{Title: "Not found", Status: 404, Detail: "app " + r.PathValue("name") + " does not exist"})
			return
		}
		writeJSON(w, a)
	})
	mux.HandleFunc("DELETE /v1/apps/{name}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if _, ok := f.apps[r.PathValue("name")]; !ok {
			writeProblem(w, &client.Problem{Title: "Not found", Status: 404, Detail: "app " + r.PathValue("name") + " does not exist"})
			return
		}
		delete(f.apps, r.PathValue("name"))
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /v1/apps/{name}/logs", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "follow="+r.URL.Query().Get("follow")+" tail="+r.URL.Query().Get("tail")+"\nlistening on :8080\n")
	})
	mux.HandleFunc("POST /v1/deploy", f.deploy)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.calls++
		f.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+goodToken {
			writeProblem(w, &client.Problem{Title: "Unauthorized", Status: 401, Detail: "send the admin token"})
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) deploy(w http.ResponseWriter, r *http.Request) {
	mr, err := r.MultipartReader()
	if err != nil {
		f.t.Errorf("deploy body: %v", err)
		return
	}
	call := deployCall{files: map[string]*tar.Header{}, content: map[string]string{}}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			f.t.Errorf("next part: %v", err)
			return
		}
		call.parts = append(call.parts, part.FormName())
		switch part.FormName() {
		case "manifest":
			b, _ := io.ReadAll(part)
			call.manifestName, call.manifest = part.FileName(), string(b)
			f.mu.Lock()
			reject := f.reject
			f.mu.Unlock()
			if reject != nil {
				writeProblem(w, reject)
				return
			}
			// Like the real API: once the manifest is accepted, stream events
			// while still reading the context.
			http.NewResponseController(w).EnableFullDuplex()
			w.Header().Set("Content-Type", "application/x-ndjson")
			json.NewEncoder(w).Encode(client.DeployEvent{Type: "progress", Message: "building web"})
			w.(http.Flusher).Flush()
		case "context":
			if ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type")); ct != "application/x-tar" || part.FileName() != "context.tar" {
				f.t.Errorf("context part: file %q type %q", part.FileName(), ct)
			}
			tr := tar.NewReader(part)
			for {
				h, err := tr.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					f.t.Errorf("context tar: %v", err)
					return
				}
				b, _ := io.ReadAll(tr)
				call.files[h.Name], call.content[h.Name] = h, string(b)
			}
		}
	}
	// In full-duplex mode the body must be read to its very end before the
	// handler returns (net/http otherwise races its own background read).
	io.Copy(io.Discard, r.Body)
	f.mu.Lock()
	f.deploys = append(f.deploys, call)
	f.apps["web"] = client.App{Name: "web", Revision: 1}
	f.mu.Unlock()
	json.NewEncoder(w).Encode(client.DeployEvent{Type: "progress", Message: "Step 1/2 : FROM scratch"})
	json.NewEncoder(w).Encode(client.DeployEvent{Type: "result", Result: &client.DeployResult{
		App: "web", Namespace: "default", Revision: 1, URL: "http://web.localhost:8080/",
		Image: "berth.local/default/web:r1", ImageID: "sha256:feedface", ImageSize: 1_912_345,
	}})
}

func (f *fakeAPI) lastDeploy(t *testing.T) deployCall {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.deploys) == 0 {
		t.Fatal("no deploy reached the server")
	}
	return f.deploys[len(f.deploys)-1]
}

func (f *fakeAPI) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func writeProblem(w http.ResponseWriter, p *client.Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}

// result is one in-process run of the CLI.
type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs args with the given environment (nothing else of the real one).
func runCLI(t *testing.T, environ map[string]string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	e := &env{
		stdout: &out, stderr: &errOut,
		getenv:  func(k string) string { return environ[k] },
		euid:    1000,
		version: "test",
		runServer: func(context.Context, server.Config) error {
			return errors.New("runServer not expected")
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := run(ctx, e, args)
	return result{code, out.String(), errOut.String()}
}

// dataDir makes a data directory as a running server leaves it.
func dataDir(t *testing.T, api, token string) string {
	t.Helper()
	dir := t.TempDir()
	if api != "" {
		b, _ := json.Marshal(server.ServerInfo{API: api, Gateway: "http://127.0.0.1:8080", PID: 42})
		writeFile(t, filepath.Join(dir, server.InfoFile), string(b))
	}
	if token != "" {
		writeFile(t, filepath.Join(dir, server.TokenFile), token+"\n")
	}
	return dir
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// deadAPI is a URL nothing listens on.
func deadAPI(t *testing.T) string {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	return u
}
