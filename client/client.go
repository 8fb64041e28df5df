// Package client is the Go client of Berth's control API (the /v1 endpoints
// that `berth server` serves on its API address). The wire types are in
// types.go; every error the API answers with arrives here as a *Problem.
//
//	c, err := client.New("http://127.0.0.1:7070", token)
//	apps, err := c.Apps(ctx)
//
// Every method takes a context: cancel it to abort the call, including a
// streaming one (Logs, Deploy).
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// Client talks to one Berth API with one token. It is safe for concurrent use.
type Client struct {
	base      string // scheme://host[/prefix], without a trailing slash
	token     string
	hc        *http.Client
	userAgent string
	// ns is the namespace of app and job calls; "" is the server's default
	// namespace, addressed by the unscoped /v1/… paths.
	ns string
}

// Option changes a Client made by New.
type Option func(*Client)

// WithHTTPClient makes the Client send its requests with hc instead of a
// plain http.Client. hc should have no Timeout if Logs or Deploy are used:
// they stream for as long as their context allows.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.hc = hc
		}
	}
}

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) Option {
	return func(c *Client) { c.userAgent = ua }
}

// WithNamespace makes app, deploy, job and execution calls address
// namespace ns (under /v1/namespaces/NS/…); without it they address the
// default namespace.
func WithNamespace(ns string) Option {
	return func(c *Client) { c.ns = ns }
}

// InNamespace returns a copy of c whose calls address namespace ns.
func (c *Client) InNamespace(ns string) *Client {
	cp := *c
	cp.ns = ns
	return &cp
}

// Namespace is the namespace the client addresses ("" = default).
func (c *Client) Namespace() string { return c.ns }

// scoped is the API path of a namespaced endpoint: path (such as "/apps")
// under /v1/namespaces/NS, or under /v1 for the default namespace.
func (c *Client) scoped(path string) string {
	if c.ns == "" {
		return "/v1" + path
	}
	return "/v1/namespaces/" + url.PathEscape(c.ns) + path
}

// New returns a client of the API at baseURL (such as
// "http://127.0.0.1:7070") that authenticates with token.
func New(baseURL, token string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("API URL %q: %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("API URL %q: scheme must be http or https", baseURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("API URL %q: no host", baseURL)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("API URL %q: must not have user info, a query or a fragment", baseURL)
	}
	c := &Client{
		base:      strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"),
		token:     token,
		hc:        &http.Client{},
		userAgent: "berth-client",
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// BaseURL is the API URL the client talks to, without a trailing slash.
func (c *Client) BaseURL() string { return c.base }

// IsNotFound reports whether err is (or wraps) a Problem with status 404.
func IsNotFound(err error) bool {
	var p *Problem
	return errors.As(err, &p) && p.Status == http.StatusNotFound
}

// newRequest builds an authenticated request for path (which starts with "/v1/").
func (c *Client) newRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	return req, nil
}

// send performs req. A non-2xx answer is returned as a *Problem with the
// body already closed; a 2xx answer's body is the caller's to close.
func (c *Client) send(req *http.Request) (*http.Response, error) {
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		return nil, readProblem(resp)
	}
	return resp, nil
}

// getJSON sends GET path and decodes the JSON answer into out.
func (c *Client) getJSON(ctx context.Context, path string, out any) error {
	req, err := c.newRequest(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.send(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := expectType(resp, "application/json"); err != nil {
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode answer of GET %s: %w", req.URL, err)
	}
	return nil
}

// doJSON sends method path with body as JSON (none when nil) and decodes
// the JSON answer into out.
func (c *Client) doJSON(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := c.newRequest(ctx, method, path, r)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.send(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := expectType(resp, "application/json"); err != nil {
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode answer of %s %s: %w", method, req.URL, err)
	}
	return nil
}

// expectType fails when resp's media type is not want: the URL is then most
// likely not a Berth API (for example the gateway's address).
func expectType(resp *http.Response, want string) error {
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if ct == want {
		return nil
	}
	return fmt.Errorf("%s %s answered with Content-Type %q, not %s; is this Berth's API address?",
		resp.Request.Method, resp.Request.URL, resp.Header.Get("Content-Type"), want)
}

// readProblem turns an error answer into a *Problem: the problem+json body
// when there is one, else the status and the body's text.
func readProblem(resp *http.Response) *Problem {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if ct == "application/problem+json" || ct == "application/json" {
		var p Problem
		if err := json.Unmarshal(body, &p); err == nil && (p.Title != "" || p.Detail != "" || p.Status != 0) {
			if p.Status == 0 {
				p.Status = resp.StatusCode
			}
			if p.Title == "" {
				p.Title = statusTitle(resp.StatusCode)
			}
			return &p
		}
	}
	return &Problem{Title: statusTitle(resp.StatusCode), Status: resp.StatusCode, Detail: strings.TrimSpace(string(body))}
}

func statusTitle(code int) string {
	if t := http.StatusText(code); t != "" {
		return t
	}
	return fmt.Sprintf("HTTP status %d", code)
}
