package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"path"
	"strings"
)

// ErrNoResult is returned by Deploy when the server's event stream ends
// without a result or an error event (the server went away mid-deploy).
var ErrNoResult = errors.New("deploy stream ended without a result")

// DeployRequest is what Deploy sends.
type DeployRequest struct {
	// ManifestName is the manifest's file name, such as "berth.yaml"; only
	// its base name is sent, and the server uses it in error messages.
	// Empty means "berth.yaml".
	ManifestName string
	// Manifest is the manifest's YAML, sent as it is; the server validates it.
	Manifest []byte
	// Context is a tar stream of the build context when the manifest builds
	// from a Dockerfile, nil when it names an image. It is read while the
	// request is sent, never held whole.
	Context io.Reader
	// NoTraffic deploys a revision that takes no traffic: it is started and
	// checked, then answers only at its own URL (rN.APP…).
	NoTraffic bool
}

// Deploy sends a manifest (and its build context) and follows the deploy to
// its end. onEvent, if not nil, is called with every event as it arrives —
// progress lines such as build output, then the final result or error event.
// A deploy the server refuses or that fails returns a *Problem.
//
// Deploy returns only after it has stopped reading req.Context.
func (c *Client) Deploy(ctx context.Context, req DeployRequest, onEvent func(DeployEvent)) (*DeployResult, error) {
	if len(req.Manifest) == 0 {
		return nil, errors.New("deploy: the manifest is empty")
	}
	name := path.Base(strings.ReplaceAll(req.ManifestName, `\`, "/"))
	if name == "" || name == "." || name == "/" {
		name = "berth.yaml"
	}

	// The body is written by a goroutine into a pipe that the transport
	// reads from, so a large context streams through in small pieces.
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	var readErr error // the build context's own read error, if any
	done := make(chan struct{})
	go func() {
		defer close(done)
		pw.CloseWithError(writeDeployBody(mw, name, req, &readErr))
	}()

	target := c.scoped("/deploy")
	if req.NoTraffic {
		target += "?no_traffic=true"
	}
	hreq, err := c.newRequest(ctx, http.MethodPost, target, pr)
	var res *DeployResult
	if err == nil {
		hreq.Header.Set("Content-Type", mw.FormDataContentType())
		hreq.Header.Set("Accept", "application/x-ndjson")
		res, err = c.followDeploy(ctx, hreq, onEvent)
	}
	// The server has answered (or the request failed): stop the writer.
	pr.CloseWithError(errors.New("deploy request ended"))
	<-done
	if err != nil && readErr != nil {
		return nil, readErr
	}
	return res, err
}

// writeDeployBody writes the multipart body: the "manifest" part, then the
// "context" part when there is a context. A failure to read the context is
// also stored in *readErr, so that Deploy can report it rather than the
// broken request it causes.
func writeDeployBody(mw *multipart.Writer, name string, req DeployRequest, readErr *error) error {
	w, err := mw.CreatePart(partHeader("manifest", name, "application/yaml"))
	if err != nil {
		return err
	}
	if _, err := w.Write(req.Manifest); err != nil {
		return err
	}
	if req.Context != nil {
		w, err := mw.CreatePart(partHeader("context", "context.tar", "application/x-tar"))
		if err != nil {
			return err
		}
		buf := make([]byte, 32<<10)
		for {
			n, rerr := req.Context.Read(buf)
			if n > 0 {
				if _, err := w.Write(buf[:n]); err != nil {
					return err
				}
			}
			if errors.Is(rerr, io.EOF) {
				break
			}
			if rerr != nil {
				*readErr = fmt.Errorf("read build context: %w", rerr)
				return *readErr
			}
		}
	}
	return mw.Close()
}

func partHeader(field, filename, contentType string) textproto.MIMEHeader {
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", mime.FormatMediaType("form-data", map[string]string{"name": field, "filename": filename}))
	h.Set("Content-Type", contentType)
	return h
}

// followDeploy sends the deploy request and reads its NDJSON event stream up
// to the result or error event.
func (c *Client) followDeploy(ctx context.Context, req *http.Request, onEvent func(DeployEvent)) (*DeployResult, error) {
	resp, err := c.send(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if err := expectType(resp, "application/x-ndjson"); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(resp.Body)
	for {
		var ev DeployEvent
		if err := dec.Decode(&ev); err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("deploy: %w", context.Cause(ctx))
			}
			if errors.Is(err, io.EOF) {
				return nil, ErrNoResult
			}
			return nil, fmt.Errorf("read deploy events: %w", err)
		}
		if onEvent != nil {
			onEvent(ev)
		}
		switch ev.Type {
		case "result":
			if ev.Result == nil {
				return nil, errors.New("deploy stream: a result event without a result")
			}
			return ev.Result, nil
		case "error":
			if ev.Error == nil {
				return nil, &Problem{Title: "Deploy failed", Status: http.StatusInternalServerError}
			}
			return nil, ev.Error
		}
	}
}
