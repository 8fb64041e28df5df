package client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
)

// Namespaces lists the namespaces the token may see: all of them for the
// admin token, its own for a namespace token.
func (c *Client) Namespaces(ctx context.Context) ([]Namespace, error) {
	var l NamespaceList
	if err := c.getJSON(ctx, "/v1/namespaces", &l); err != nil {
		return nil, err
	}
	return l.Namespaces, nil
}

// GetNamespace describes one namespace with its quotas and usage.
func (c *Client) GetNamespace(ctx context.Context, name string) (*Namespace, error) {
	if name == "" {
		return nil, errors.New("no namespace name given")
	}
	var ns Namespace
	if err := c.getJSON(ctx, "/v1/namespaces/"+url.PathEscape(name), &ns); err != nil {
		return nil, err
	}
	return &ns, nil
}

// CreateNamespace makes a namespace (admin token only).
func (c *Client) CreateNamespace(ctx context.Context, req CreateNamespaceRequest) (*Namespace, error) {
	var ns Namespace
	if err := c.doJSON(ctx, http.MethodPost, "/v1/namespaces", req, &ns); err != nil {
		return nil, err
	}
	return &ns, nil
}

// SetQuotas changes a namespace's quotas (admin token only); fields left
// nil keep their value.
func (c *Client) SetQuotas(ctx context.Context, name string, patch QuotasPatch) (*Namespace, error) {
	if name == "" {
		return nil, errors.New("no namespace name given")
	}
	var ns Namespace
	if err := c.doJSON(ctx, http.MethodPatch, "/v1/namespaces/"+url.PathEscape(name), patch, &ns); err != nil {
		return nil, err
	}
	return &ns, nil
}

// RemoveNamespace removes a namespace with everything in it (admin token
// only).
func (c *Client) RemoveNamespace(ctx context.Context, name string) error {
	if name == "" {
		return errors.New("no namespace name given")
	}
	return c.delete(ctx, "/v1/namespaces/"+url.PathEscape(name)+"?confirm="+url.QueryEscape(name))
}

// delete sends DELETE path and discards the answer.
func (c *Client) delete(ctx context.Context, path string) error {
	req, err := c.newRequest(ctx, http.MethodDelete, path, nil)
	if err != nil {
		return err
	}
	resp, err := c.send(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	return resp.Body.Close()
}
