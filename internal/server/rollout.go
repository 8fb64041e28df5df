package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/store"
)

// rolloutTimeout bounds how long a new revision's instances may take to
// become ready before the rollout gives up.
const rolloutTimeout = 2 * time.Minute

// rollout moves an app from the serving revision old to rev without a
// failed request: rev's instances (scale.min, at least one) start beside
// old's and must answer before traffic moves; then rev serves and old's
// instances drain (in-flight requests finish, up to drain_timeout). If rev
// never becomes ready it is marked failed and old keeps serving.
func (p *platform) rollout(ctx context.Context, old store.Serving, rev store.Revision, progress func(string)) error {
	next := store.Serving{App: old.App, Revision: rev}
	next.App.Revision = rev.Number
	cfg := activatorApp(next)
	count := max(cfg.Spec.Scale.Min, 1)
	progress(fmt.Sprintf("starting %d instance(s) of revision %d before moving traffic from revision %d", count, rev.Number, old.App.Revision))
	pctx, cancel := context.WithTimeout(ctx, rolloutTimeout)
	err := p.act.Prewarm(pctx, cfg, count)
	cancel()
	if err != nil {
		return p.failRevision(ctx, old, rev, err)
	}
	if err := p.store.Serve(ctx, rev.Namespace, rev.App, rev.Number, time.Now()); err != nil {
		return err
	}
	p.act.SetApp(cfg)
	progress(fmt.Sprintf("revision %d of %s is serving; revision %d drains", rev.Number, rev.App, old.App.Revision))
	return nil
}

// withRevisions loads an app with its serving revision, and all its
// revisions, oldest first.
func (p *platform) withRevisions(ctx context.Context, ns, name string) (store.Serving, []store.Revision, error) {
	sv, err := p.serving(ctx, ns, name)
	if err != nil {
		return sv, nil, err
	}
	revs, err := p.store.Revisions(ctx, ns, name)
	return sv, revs, err
}

// failRevision marks rev failed because its instances did not become ready
// (err) and returns the deploy's error, naming the revision still serving.
func (p *platform) failRevision(ctx context.Context, old store.Serving, rev store.Revision, err error) error {
	reason := startFailure(err)
	if serr := p.store.SetRevisionStatus(context.WithoutCancel(ctx), rev.Namespace, rev.App, rev.Number, store.RevisionFailed, reason); serr != nil {
		return errors.Join(err, serr)
	}
	return fmt.Errorf("%w: revision %d of %s did not become ready and serves no traffic; revision %d still serves: %s",
		api.ErrRevisionFailed, rev.Number, rev.App, old.App.Revision, reason)
}

// stage readies a revision that takes no traffic (`deploy --no-traffic`):
// one instance starts in its pool and must answer; then the revision is
// ready, reachable at its own URL, and the serving one keeps all requests.
func (p *platform) stage(ctx context.Context, old store.Serving, rev store.Revision, progress func(string)) error {
	progress(fmt.Sprintf("starting revision %d of %s without traffic; revision %d keeps serving", rev.Number, rev.App, old.App.Revision))
	pctx, cancel := context.WithTimeout(ctx, rolloutTimeout)
	err := p.act.PrewarmPool(pctx, revisionApp(old.App, rev), 1)
	cancel()
	if err != nil {
		return p.failRevision(ctx, old, rev, err)
	}
	if err := p.store.SetRevisionStatus(ctx, rev.Namespace, rev.App, rev.Number, store.RevisionReady, ""); err != nil {
		return err
	}
	progress(fmt.Sprintf("revision %d of %s is ready at %s and takes no traffic; move traffic with: berth traffic %s r%d=100",
		rev.Number, rev.App, p.tagURL(rev.Namespace, &rev.Spec, rev.Number), rev.App, rev.Number))
	return nil
}

// Revisions lists an app's revisions, newest first, with their traffic
// share and own URL.
func (p *platform) Revisions(ctx context.Context, ns, name string) ([]client.Revision, error) {
	app, err := p.store.App(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	revs, err := p.store.Revisions(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	out := make([]client.Revision, 0, len(revs))
	for i := len(revs) - 1; i >= 0; i-- {
		r := revs[i]
		cr := client.Revision{Number: r.Number, Image: r.Image, ImageID: r.ImageID, ImageSize: r.ImageSize,
			CreatedAt: r.CreatedAt, Status: r.Status, Error: r.Error}
		if cr.Status == "" {
			cr.Status = store.RevisionReady // stored before revisions had a status
		}
		cr.Traffic = app.Share(r.Number)
		if cr.Status == store.RevisionReady {
			cr.URL = p.tagURL(ns, &r.Spec, r.Number)
		}
		out = append(out, cr)
	}
	return out, nil
}

// Rollback makes an earlier revision serve again, without a build: to, or
// when 0 the newest ready revision older than the serving one. It rolls out
// like a deploy, so traffic moves only once that revision answers.
func (p *platform) Rollback(ctx context.Context, ns, name string, to int) (*client.App, error) {
	p.deployMu.Lock()
	defer p.deployMu.Unlock()
	old, revs, err := p.withRevisions(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	var target *store.Revision
	for i := range revs {
		r := &revs[i]
		switch {
		case to != 0 && r.Number == to:
			target = r
		case to == 0 && r.Number < old.App.Revision && r.Status != store.RevisionFailed && r.Status != store.RevisionDeploying:
			target = r // the newest such, as revs are oldest first
		}
	}
	switch {
	case target == nil && to != 0:
		return nil, fmt.Errorf("revision %d of %s: %w", to, name, store.ErrNotFound)
	case target == nil:
		return nil, fmt.Errorf("%w: %s has no ready revision before revision %d to roll back to", api.ErrConflict, name, old.App.Revision)
	case target.Number == old.App.Revision:
		return nil, fmt.Errorf("%w: revision %d of %s already serves", api.ErrConflict, target.Number, name)
	}
	if err := p.rollout(ctx, old, *target, func(string) {}); err != nil {
		return nil, err
	}
	if err := p.refreshRoutes(ctx); err != nil {
		return nil, err
	}
	p.collectRevisions(ctx, ns, name)
	return p.App(ctx, ns, name)
}
