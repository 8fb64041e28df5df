package client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// Version asks the server for its version, API version and driver.
func (c *Client) Version(ctx context.Context) (*Version, error) {
	var v Version
	if err := c.getJSON(ctx, "/v1/version", &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Apps lists the deployed apps.
func (c *Client) Apps(ctx context.Context) ([]App, error) {
	var l AppList
	if err := c.getJSON(ctx, c.scoped("/apps"), &l); err != nil {
		return nil, err
	}
	return l.Apps, nil
}

// App describes one app; a missing app is a Problem for which IsNotFound is true.
func (c *Client) App(ctx context.Context, name string) (*App, error) {
	p, err := c.appPath(name)
	if err != nil {
		return nil, err
	}
	var a App
	if err := c.getJSON(ctx, p, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// RemoveApp removes an app and its containers.
func (c *Client) RemoveApp(ctx context.Context, name string) error {
	p, err := c.appPath(name)
	if err != nil {
		return err
	}
	req, err := c.newRequest(ctx, http.MethodDelete, p, nil)
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

// Logs streams the log of the app's newest instance. With follow the stream
// stays open until ctx is cancelled or the reader is closed; tail > 0 starts
// with the last tail lines, 0 with the whole log. The caller closes the reader.
func (c *Client) Logs(ctx context.Context, name string, follow bool, tail int) (io.ReadCloser, error) {
	p, err := c.appPath(name)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Set("follow", strconv.FormatBool(follow))
	if tail > 0 {
		q.Set("tail", strconv.Itoa(tail))
	}
	req, err := c.newRequest(ctx, http.MethodGet, p+"/logs?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.send(req)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

func (c *Client) appPath(name string) (string, error) {
	if name == "" {
		return "", errors.New("no app name given")
	}
	return c.scoped("/apps/" + url.PathEscape(name)), nil
}

// SetScale overrides an app's scale.min, scale.max or scale.warm without a
// deploy, and returns the app as it now is.
func (c *Client) SetScale(ctx context.Context, name string, s Scale) (*App, error) {
	return c.changeApp(ctx, http.MethodPatch, name, "/scale", s)
}

// changeApp sends body to one of an app's endpoints (suffix, such as
// "/scale") and returns the app as it then is.
func (c *Client) changeApp(ctx context.Context, method, name, suffix string, body any) (*App, error) {
	p, err := c.appPath(name)
	if err != nil {
		return nil, err
	}
	var a App
	if err := c.doJSON(ctx, method, p+suffix, body, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// Revisions lists an app's revisions, newest first, with their traffic share.
func (c *Client) Revisions(ctx context.Context, name string) ([]Revision, error) {
	p, err := c.appPath(name)
	if err != nil {
		return nil, err
	}
	var l RevisionList
	if err := c.getJSON(ctx, p+"/revisions", &l); err != nil {
		return nil, err
	}
	return l.Revisions, nil
}

// SetTraffic splits an app's requests between revisions and returns the
// app as it now is. The call returns once every revision given a share has
// instances that answer.
func (c *Client) SetTraffic(ctx context.Context, name string, shares []TrafficShare) (*App, error) {
	return c.changeApp(ctx, http.MethodPost, name, "/traffic", Traffic{Traffic: shares})
}

// Rollback makes an earlier revision serve again (0: the newest ready one
// before the serving one) and returns the app as it now is.
func (c *Client) Rollback(ctx context.Context, name string, revision int) (*App, error) {
	return c.changeApp(ctx, http.MethodPost, name, "/rollback", Rollback{Revision: revision})
}
