package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const testToken = "s3cret-token"

// newTestClient serves h behind a bearer-token check like the real API's.
func newTestClient(t *testing.T, h http.HandlerFunc) *Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+testToken {
			writeProblem(w, Problem{Title: "Unauthorized", Status: 401, Detail: "send the admin token"})
			return
		}
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := New(srv.URL+"/", testToken, WithUserAgent("berth-test"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func writeProblem(w http.ResponseWriter, p Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func TestNewValidatesURL(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:7070", "ftp://host", "http://", "http://h/?q=1", "http://u:p@h", "::"} {
		if _, err := New(u, "t"); err == nil {
			t.Errorf("New(%q) = nil error; want an error", u)
		}
	}
	c, err := New("https://berth.example.com/prefix/", "t")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.BaseURL(); got != "https://berth.example.com/prefix" {
		t.Errorf("BaseURL = %q", got)
	}
}

func TestAuthAndVersion(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/v1/version" {
			t.Errorf("got %s %s; want GET /v1/version", r.Method, r.URL.Path)
		}
		if ua := r.Header.Get("User-Agent"); ua != "berth-test" {
			t.Errorf("User-Agent = %q", ua)
		}
		writeJSON(w, Version{Version: "1.2.3", API: "v1", Driver: "fake"})
	})
	v, err := c.Version(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if *v != (Version{Version: "1.2.3", API: "v1", Driver: "fake"}) {
		t.Errorf("Version = %+v", v)
	}

	// The wrong token is refused with the server's problem.
	bad, _ := New(c.BaseURL(), "wrong")
	_, err = bad.Version(context.Background())
	var p *Problem
	if !errors.As(err, &p) || p.Status != 401 || p.Title != "Unauthorized" {
		t.Fatalf("wrong token: err = %v; want a 401 Problem", err)
	}
}

func TestProblemDecoding(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/apps/missing":
			writeProblem(w, Problem{Type: "https://berth.dev/problems/not-found", Title: "Not found", Status: 404, Detail: "app missing"})
		case "/v1/apps/plain":
			http.Error(w, "  upstream exploded  ", http.StatusBadGateway)
		case "/v1/apps/fields":
			writeProblem(w, Problem{Title: "Invalid manifest", Status: 400, Errors: []FieldError{
				{File: "berth.yaml", Field: "port", Value: "70000", Message: "must be between 1 and 65535"},
			}})
		case "/v1/apps/html":
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("<html>gateway</html>"))
		default:
			t.Errorf("unexpected %s", r.URL.Path)
		}
	})
	ctx := context.Background()

	_, err := c.App(ctx, "missing")
	var p *Problem
	if !errors.As(err, &p) || p.Status != 404 || p.Detail != "app missing" || !IsNotFound(err) {
		t.Errorf("missing app: %#v; want a 404 Problem", err)
	}
	if err.Error() != "Not found: app missing" {
		t.Errorf("Error() = %q", err.Error())
	}

	_, err = c.App(ctx, "plain")
	if !errors.As(err, &p) || p.Status != 502 || p.Title != "Bad Gateway" || p.Detail != "upstream exploded" || IsNotFound(err) {
		t.Errorf("plain-text error: %#v; want a 502 Problem with the body as detail", err)
	}

	_, err = c.App(ctx, "fields")
	if !errors.As(err, &p) || len(p.Errors) != 1 || p.Errors[0].Field != "port" {
		t.Fatalf("field errors: %#v", err)
	}
	if want := "Invalid manifest\n  berth.yaml: port: \"70000\": must be between 1 and 65535"; err.Error() != want {
		t.Errorf("Error() = %q; want %q", err.Error(), want)
	}

	// A 200 that is not JSON means the URL is not the API.
	if _, err = c.App(ctx, "html"); err == nil || !strings.Contains(err.Error(), "text/html") {
		t.Errorf("html answer: err = %v; want a Content-Type complaint", err)
	}
}

func TestAppsAppRemove(t *testing.T) {
	var removed string
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/v1/apps":
			writeJSON(w, AppList{Apps: []App{{Name: "a", Revision: 2}, {Name: "b", Revision: 1}}})
		case r.Method == http.MethodGet && r.URL.Path == "/v1/apps/a":
			writeJSON(w, App{Name: "a", Revision: 2, Instances: []Instance{{ID: "i1", State: "ready"}}})
		case r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/v1/apps/"):
			removed = r.URL.EscapedPath()
			w.WriteHeader(http.StatusNoContent)
		default:
			t.Errorf("unexpected %s %s", r.Method, r.URL)
		}
	})
	ctx := context.Background()
	apps, err := c.Apps(ctx)
	if err != nil || len(apps) != 2 || apps[1].Name != "b" {
		t.Fatalf("Apps = %+v, %v", apps, err)
	}
	a, err := c.App(ctx, "a")
	if err != nil || a.Revision != 2 || len(a.Instances) != 1 || a.Instances[0].State != "ready" {
		t.Fatalf("App = %+v, %v", a, err)
	}
	if err := c.RemoveApp(ctx, "a b/c"); err != nil {
		t.Fatal(err)
	}
	if removed != "/v1/apps/a%20b%2Fc" {
		t.Errorf("DELETE path = %q; want the name escaped as one segment", removed)
	}
	if err := c.RemoveApp(ctx, ""); err == nil {
		t.Error("RemoveApp(\"\") = nil; want an error")
	}
}

// TestDeployStreams checks the multipart parts and that the body is streamed:
// the context reader only yields its data after the server's first progress
// event reached the client, which is impossible if the body were buffered
// before sending.
func TestDeployStreams(t *testing.T) {
	manifest := []byte("name: web\nbuild: {}\n")
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/deploy" {
			t.Errorf("got %s %s; want POST /v1/deploy", r.Method, r.URL.Path)
		}
		if r.ContentLength != -1 {
			t.Errorf("ContentLength = %d; want -1 (streamed)", r.ContentLength)
		}
		http.NewResponseController(w).EnableFullDuplex()
		mr, err := r.MultipartReader()
		if err != nil {
			t.Fatal(err)
		}
		part, err := mr.NextPart()
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(part)
		if part.FormName() != "manifest" || part.FileName() != "berth.yaml" || string(data) != string(manifest) {
			t.Errorf("first part %q file %q = %q", part.FormName(), part.FileName(), data)
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		enc := json.NewEncoder(w)
		enc.Encode(DeployEvent{Type: "progress", Message: "receiving context"})
		w.(http.Flusher).Flush()

		part, err = mr.NextPart()
		if err != nil {
			t.Fatal(err)
		}
		if part.FormName() != "context" || part.FileName() != "context.tar" || part.Header.Get("Content-Type") != "application/x-tar" {
			t.Errorf("second part %q file %q type %q", part.FormName(), part.FileName(), part.Header.Get("Content-Type"))
		}
		sc := bufio.NewScanner(part)
		for sc.Scan() {
			enc.Encode(DeployEvent{Type: "progress", Message: "got " + sc.Text()})
			w.(http.Flusher).Flush()
		}
		if _, err := mr.NextPart(); err != io.EOF {
			t.Errorf("after context: %v; want the end of the body", err)
		}
		enc.Encode(DeployEvent{Type: "result", Result: &DeployResult{App: "web", Revision: 3, URL: "http://web.localhost:8080/", ImageSize: 1900000}})
	})

	ctxR, ctxW := io.Pipe()
	var events []string
	res, err := c.Deploy(context.Background(), DeployRequest{ManifestName: "/some/dir/berth.yaml", Manifest: manifest, Context: ctxR},
		func(ev DeployEvent) {
			events = append(events, ev.Type+":"+ev.Message)
			if ev.Message == "receiving context" {
				go func() {
					ctxW.Write([]byte("line1\nline2\n"))
					ctxW.Close()
				}()
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	if res.App != "web" || res.Revision != 3 {
		t.Errorf("result = %+v", res)
	}
	want := []string{"progress:receiving context", "progress:got line1", "progress:got line2", "result:"}
	if strings.Join(events, "|") != strings.Join(want, "|") {
		t.Errorf("events = %q; want %q", events, want)
	}
}

func TestDeployErrors(t *testing.T) {
	ndjson := func(lines ...string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/x-ndjson")
			for _, l := range lines {
				w.Write([]byte(l + "\n"))
			}
		}
	}
	for _, tc := range []struct {
		name    string
		h       http.HandlerFunc
		check   func(error) bool
		wantMsg string
	}{
		{"error event", ndjson(`{"type":"progress","message":"building"}`,
			`{"type":"error","error":{"title":"Build failed","status":422,"detail":"step 2 failed"}}`),
			func(err error) bool { var p *Problem; return errors.As(err, &p) && p.Status == 422 }, "Build failed: step 2 failed"},
		{"no result", ndjson(`{"type":"progress","message":"building"}`),
			func(err error) bool { return errors.Is(err, ErrNoResult) }, "deploy stream ended without a result"},
		{"rejected up front", func(w http.ResponseWriter, r *http.Request) {
			writeProblem(w, Problem{Title: "Invalid manifest", Status: 400, Errors: []FieldError{{Field: "name", Message: "required"}}})
		}, func(err error) bool {
			var p *Problem
			return errors.As(err, &p) && p.Status == 400 && len(p.Errors) == 1
		}, "Invalid manifest\n  name: required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestClient(t, tc.h)
			var n int
			_, err := c.Deploy(context.Background(), DeployRequest{Manifest: []byte("name: x\nimage: x\n")}, func(DeployEvent) { n++ })
			if err == nil || !tc.check(err) || err.Error() != tc.wantMsg {
				t.Fatalf("err = %#v (%v); want %q", err, err, tc.wantMsg)
			}
		})
	}
}

// A context that fails to read is reported as such, not as a broken request.
func TestDeployContextReadError(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-ndjson")
	})
	_, err := c.Deploy(context.Background(), DeployRequest{Manifest: []byte("x"), Context: io.MultiReader(strings.NewReader("abc"), errReader{})}, nil)
	if err == nil || !strings.Contains(err.Error(), "read build context: disk on fire") {
		t.Fatalf("err = %v; want the context's read error", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestLogsStreams(t *testing.T) {
	release := make(chan struct{})
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/apps/web/logs" || r.URL.Query().Get("follow") != "true" || r.URL.Query().Get("tail") != "5" {
			t.Errorf("got %s; want /v1/apps/web/logs?follow=true&tail=5", r.URL)
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("first line\n"))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rc, err := c.Logs(ctx, "web", true, 5)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	line, err := bufio.NewReader(rc).ReadString('\n')
	if err != nil || line != "first line\n" {
		t.Fatalf("first line = %q, %v; want it before the stream ends", line, err)
	}
	cancel()
	if _, err := io.ReadAll(rc); err == nil {
		t.Error("reading after cancel: nil error; want the stream to break off")
	}
}

func TestLogsNotFound(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("follow") != "false" || r.URL.Query().Has("tail") {
			t.Errorf("query = %q; want follow=false and no tail", r.URL.RawQuery)
		}
		writeProblem(w, Problem{Title: "Not found", Status: 404})
	})
	if _, err := c.Logs(context.Background(), "ghost", false, 0); !IsNotFound(err) {
		t.Fatalf("err = %v; want not found", err)
	}
}
