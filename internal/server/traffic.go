package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/internal/activator"
	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/manifest"
	"github.com/berth-dev/berth/internal/store"
)

// SetTraffic splits an app's requests between revisions. Every revision
// given a share must be ready (not failed, not deploying) and speak the
// serving revision's protocol, with the same instance key. The serving
// revision stays the one it was if it keeps a share, otherwise the one with
// the largest share (the newest of equals) takes its place. Traffic moves
// only once every revision with a share has instances that answer (scale.min
// of them, at least one); if one does not, nothing changes.
func (p *platform) SetTraffic(ctx context.Context, ns, name string, shares []client.TrafficShare) (*client.App, error) {
	p.deployMu.Lock()
	defer p.deployMu.Unlock()
	old, revs, err := p.withRevisions(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	byNumber := map[int]store.Revision{}
	for _, r := range revs {
		byNumber[r.Number] = r
	}
	var active []store.Share
	for _, sh := range shares {
		r, ok := byNumber[sh.Revision]
		switch {
		case !ok:
			return nil, fmt.Errorf("revision %d of %s: %w", sh.Revision, name, store.ErrNotFound)
		case r.Status == store.RevisionFailed:
			return nil, fmt.Errorf("%w: revision %d of %s failed and cannot take traffic: %s", api.ErrConflict, r.Number, name, r.Error)
		case r.Status == store.RevisionDeploying:
			return nil, fmt.Errorf("%w: revision %d of %s is still deploying", api.ErrConflict, r.Number, name)
		}
		if sh.Percent > 0 {
			active = append(active, store.Share{Revision: sh.Revision, Percent: sh.Percent})
		}
	}
	serving := old.App.Revision
	if !slices.ContainsFunc(active, func(s store.Share) bool { return s.Revision == serving }) {
		serving = slices.MaxFunc(active, func(a, b store.Share) int {
			if a.Percent != b.Percent {
				return a.Percent - b.Percent
			}
			return a.Revision - b.Revision
		}).Revision
	}
	for _, sh := range active {
		if err := compatible(byNumber[serving], byNumber[sh.Revision]); err != nil {
			return nil, err
		}
	}

	// Start what is missing before any request moves.
	pctx, cancel := context.WithTimeout(ctx, rolloutTimeout)
	defer cancel()
	for _, sh := range active {
		cfg := revisionApp(old.App, byNumber[sh.Revision])
		n := max(cfg.Spec.Scale.Min, 1)
		switch {
		case sh.Revision == old.App.Revision:
			continue
		case sh.Revision == serving:
			err = p.act.Prewarm(pctx, cfg, n)
		default:
			err = p.act.PrewarmPool(pctx, cfg, n)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: revision %d of %s did not become ready, so traffic did not move: %s",
				api.ErrRevisionFailed, sh.Revision, name, startFailure(err))
		}
	}
	if len(active) == 1 {
		active = nil
	}
	if err := p.store.SetTraffic(ctx, ns, name, serving, active, time.Now()); err != nil {
		return nil, err
	}
	next := old.App
	next.Revision, next.Traffic = serving, active
	if serving != old.App.Revision {
		p.act.SetApp(revisionApp(next, byNumber[serving]))
	}
	if err := p.applySplit(ctx, next); err != nil {
		return nil, err
	}
	if serving != old.App.Revision {
		if err := p.refreshRoutes(ctx); err != nil {
			return nil, err
		}
	}
	p.collectRevisions(ctx, ns, name)
	return p.App(ctx, ns, name)
}

// compatible refuses to split traffic between revisions the gateway must
// speak to differently: the route's protocol and instance key are the
// serving revision's.
func compatible(serving, other store.Revision) error {
	a, b := &serving.Spec, &other.Spec
	switch {
	case a.UpstreamHTTP2() != b.UpstreamHTTP2():
		return fmt.Errorf("%w: revision %d speaks %s and revision %d %s; revisions sharing traffic must speak the same protocol",
			api.ErrConflict, serving.Number, protocolName(a), other.Number, protocolName(b))
	case a.Keyed() != b.Keyed() || a.Keyed() && a.KeySource() != b.KeySource():
		return fmt.Errorf("%w: revisions %d and %d have different instances.key settings; revisions sharing traffic must pick instances by the same key",
			api.ErrConflict, serving.Number, other.Number)
	}
	return nil
}

func protocolName(m *manifest.Manifest) string {
	if m.UpstreamHTTP2() {
		return "HTTP/2 (h2c)"
	}
	return "HTTP/1.1"
}

// applySplit hands an app's traffic split, as stored, to the activator.
func (p *platform) applySplit(ctx context.Context, app store.App) error {
	var shares []activator.Share
	for _, sh := range app.Traffic {
		r, err := p.store.Revision(ctx, app.Namespace, app.Name, sh.Revision)
		if err != nil {
			return err
		}
		shares = append(shares, activator.Share{App: revisionApp(app, r), Percent: sh.Percent})
	}
	return p.act.SetSplit(app.Namespace, app.Name, shares)
}

// taggedRevision is what the activator runs for a request to a revision's
// own URL (rN.APP…): any revision that rolled out, whatever its share.
func (p *platform) taggedRevision(ctx context.Context, ns, name string, n int) (activator.App, error) {
	app, err := p.store.App(ctx, ns, name)
	if err != nil {
		return activator.App{}, err
	}
	r, err := p.store.Revision(ctx, ns, name, n)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return activator.App{}, activator.ErrRevisionNotFound
	case err != nil:
		return activator.App{}, err
	case r.Status == store.RevisionFailed:
		return activator.App{}, fmt.Errorf("it failed to start: %w", activator.ErrRevisionNotFound)
	case r.Status == store.RevisionDeploying:
		return activator.App{}, fmt.Errorf("it is still deploying: %w", activator.ErrRevisionNotFound)
	}
	return revisionApp(app, r), nil
}

// revisionApp is what the activator runs for revision r of app: its spec
// with the app's scale overrides applied.
func revisionApp(app store.App, r store.Revision) activator.App {
	return activator.App{Namespace: app.Namespace, Name: app.Name, Revision: r.Number,
		Image: r.ImageID, Spec: app.Scale.Apply(r.Spec)}
}

// tagURL is revision n's own URL: rN. before the app's default host.
func (p *platform) tagURL(ns string, m *manifest.Manifest, n int) string {
	return p.urlFor("r"+strconv.Itoa(n)+"."+p.defaultHost(ns, m), "")
}

// startFailure says why instances did not become ready, with the failing
// instance's last log lines when there are any.
func startFailure(err error) string {
	reason := err.Error()
	var se *activator.StartError
	if errors.As(err, &se) && se.LogTail != "" {
		reason += "; last log lines:\n" + se.LogTail
	}
	return reason
}

// trafficOf is an app's split as the API shows it; nil when the serving
// revision takes all requests.
func trafficOf(app store.App) []client.TrafficShare {
	var out []client.TrafficShare
	for _, sh := range app.Traffic {
		out = append(out, client.TrafficShare{Revision: sh.Revision, Percent: sh.Percent})
	}
	return out
}
