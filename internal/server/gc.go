package server

import (
	"context"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/store"
)

// DefaultKeepRevisions is how many revisions that take no traffic each app
// keeps for rollbacks and tagged URLs unless --keep-revisions says otherwise.
const DefaultKeepRevisions = 10

// builtImagePrefix starts the tags of images Berth built (berth.local/NS/APP:rN):
// those are Berth's to remove. An image a manifest names is the user's.
const builtImagePrefix = "berth.local/"

// collectRevisions deletes an app's revisions beyond the newest
// p.keepRevisions of those that take no traffic: their records, any pool
// serving their tagged URL (it drains), and their built images. A revision
// that serves or is in the traffic split is never collected, nor one still
// deploying, nor the newest (it may have been deployed without traffic). Failures are logged, not returned: the change that led here has
// already succeeded. p.deployMu is held.
func (p *platform) collectRevisions(ctx context.Context, ns, name string) {
	ctx = context.WithoutCancel(ctx)
	app, err := p.store.App(ctx, ns, name)
	if err != nil {
		p.log.Warn("revision clean-up: load app", "app", name, "ns", ns, "err", err)
		return
	}
	revs, err := p.store.Revisions(ctx, ns, name)
	if err != nil {
		p.log.Warn("revision clean-up: list revisions", "app", name, "ns", ns, "err", err)
		return
	}
	kept := 0
	var drop []store.Revision
	for i := len(revs) - 1; i >= 0; i-- { // newest first
		r := revs[i]
		switch {
		case app.Serves(r.Number) || r.Status == store.RevisionDeploying || r.Number == app.Latest:
		case kept < p.keepRevisions:
			kept++
		default:
			drop = append(drop, r)
		}
	}
	if len(drop) == 0 {
		return
	}
	numbers := make([]int, len(drop))
	for i, r := range drop {
		numbers[i] = r.Number
	}
	if err := p.store.DeleteRevisions(ctx, ns, name, numbers); err != nil {
		p.log.Warn("revision clean-up: delete revisions", "app", name, "ns", ns, "revisions", numbers, "err", err)
		return
	}
	for _, n := range numbers {
		p.act.ForgetRevision(ns, name, n)
	}
	p.log.Info("removed old revisions", "app", name, "ns", ns, "revisions", numbers, "keep", p.keepRevisions)
	p.removeImages(ctx, drop)
}

// removeImages removes the images Berth built for revs, in the background.
// An image a container still uses (a draining instance, or one whose
// removal is under way) is tried again with a growing pause, for about half
// a minute, then left with a log line.
func (p *platform) removeImages(ctx context.Context, revs []store.Revision) {
	b, ok := p.driver.(runtime.Builder)
	if !ok {
		return
	}
	var refs []string
	for _, r := range revs {
		if strings.HasPrefix(r.Image, builtImagePrefix) {
			refs = append(refs, r.Image)
		}
	}
	if len(refs) == 0 {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), imageRemovalTimeout)
		defer cancel()
		for _, ref := range refs {
			err := b.RemoveImage(ctx, ref)
			for pause := time.Second; err != nil && pause <= imageRemovalTimeout/4; pause *= 2 {
				select {
				case <-ctx.Done():
				case <-time.After(pause):
				}
				err = b.RemoveImage(ctx, ref)
			}
			if err != nil {
				p.log.Warn("could not remove an old revision's image", "image", ref, "err", err)
			}
		}
	}()
}

// imageRemovalTimeout bounds the retries of removeImages.
const imageRemovalTimeout = 2 * time.Minute
