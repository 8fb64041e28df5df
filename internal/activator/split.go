package activator

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/berth-dev/berth/internal/autoscaler"
)

// An app's serving revision lives in its registry entry; every other revision
// that takes requests — a part of a traffic split, or a tagged route's
// (rN.APP.DOMAIN) — lives in a pool of its own beside it. A pool is a full
// entry with its own instances, autoscaler and sleep, so each revision scales
// on its own traffic. Instances never move between entries: an instance of
// revision N stays in N's entry until it is removed.

// ErrRevisionNotFound: the revision a tagged request names does not exist or
// cannot serve.
var ErrRevisionNotFound = errors.New("revision not found")

// Share is a revision's part of an app's traffic, in per cent.
type Share struct {
	App     App
	Percent int
}

// split spreads an app's requests over entries by their shares. The wheel
// holds 100 slots in a smooth weighted round-robin order, so every 100
// consecutive requests follow the shares exactly and no entry gets a burst.
type split struct {
	entries []*app
	wheel   [100]uint8
	next    atomic.Uint32
}

func newSplit(entries []*app, percents []int) *split {
	s := &split{entries: entries}
	current := make([]int, len(entries))
	for slot := range s.wheel {
		best := 0
		for i, p := range percents {
			current[i] += p
			if current[i] > current[best] {
				best = i
			}
		}
		current[best] -= 100
		s.wheel[slot] = uint8(best)
	}
	return s
}

func (s *split) pick() *app {
	return s.entries[s.wheel[(s.next.Add(1)-1)%100]]
}

// errGone: the pool a request was routed to was retired meanwhile; route it
// again.
var errGone = errors.New("pool retired")

// SetSplit spreads an app's traffic over revisions: shares name the serving
// revision (as registered with SetApp) and others, with percentages adding
// up to 100. Other revisions get pools, created if need be; pools left out
// keep serving their tagged route only, scaling to zero when idle. Without
// shares (or with the serving revision alone) all traffic goes to the
// serving revision. Start a revision's instances with PrewarmPool before it
// takes a share, so that traffic moves only to instances that answer.
func (a *Activator) SetSplit(ns, name string, shares []Share) error {
	primary, ok := a.lookup(ns, name)
	if !ok {
		return fmt.Errorf("%s/%s: %w", ns, name, ErrAppNotFound)
	}
	primary.mu.Lock()
	serving := primary.cfg.Revision
	primary.mu.Unlock()
	in := map[int]bool{}
	for _, s := range shares {
		if s.Percent > 0 {
			in[s.App.Revision] = true
		}
	}
	var entries []*app
	var percents []int
	for _, s := range shares {
		if s.Percent <= 0 {
			continue
		}
		e := primary
		if s.App.Revision != serving {
			e = a.pool(primary, s.App, true)
		}
		entries, percents = append(entries, e), append(percents, s.Percent)
	}
	a.demotePools(primary, in)
	var sp *split
	if len(entries) > 1 {
		sp = newSplit(entries, percents)
	}
	primary.mu.Lock()
	primary.split = sp
	primary.broadcast()
	primary.mu.Unlock()
	return nil
}

// pool returns the pool of cfg's revision beside primary. With inSplit it
// runs cfg's spec, created if need be; otherwise an existing pool is left as
// it is and a new one keeps no instance up without requests (scale.min and
// scale.warm 0).
func (a *Activator) pool(primary *app, cfg App, inSplit bool) *app {
	a.mu.Lock()
	p := primary.pools[cfg.Revision]
	if p != nil && !inSplit {
		a.mu.Unlock()
		return p
	}
	if p == nil {
		p = &app{notify: make(chan struct{}), live: &a.live, lastActive: a.now(), owner: primary}
		if a.apps[cfg.Key()] != primary {
			// The app was removed meanwhile: a request finds it gone, and
			// no instance starts where the control loop would not see it.
			p.removed = true
			a.mu.Unlock()
			return p
		}
		if primary.pools == nil {
			primary.pools = map[int]*app{}
		}
		primary.pools[cfg.Revision] = p
	}
	a.mu.Unlock()
	p.mu.Lock()
	a.configure(p, cfg, inSplit)
	p.mu.Unlock()
	return p
}

// demotePools makes the pools of revisions not in keep serve their tagged
// route only.
func (a *Activator) demotePools(primary *app, keep map[int]bool) {
	a.mu.RLock()
	others := make([]*app, 0, len(primary.pools))
	for rev, p := range primary.pools {
		if !keep[rev] {
			others = append(others, p)
		}
	}
	a.mu.RUnlock()
	for _, p := range others {
		p.mu.Lock()
		a.configure(p, p.cfg, false)
		p.mu.Unlock()
	}
}

// configure sets a pool's revision and spec. Callers hold p.mu.
func (a *Activator) configure(p *app, cfg App, inSplit bool) {
	if !inSplit {
		cfg.Spec.Scale.Min, cfg.Spec.Scale.Warm = 0, 0
	}
	p.cfg = cfg
	p.scale = autoscaler.SpecOf(&p.cfg.Spec)
	p.broadcast()
}

// retirePool takes the pool of revision rev out of service, when that
// revision becomes the serving one: its instances drain and are removed, and
// the control loop forgets the pool once it is empty. Callers hold no lock.
func (a *Activator) retirePool(primary *app, rev int) {
	a.mu.Lock()
	p := primary.pools[rev]
	if p != nil {
		delete(primary.pools, rev)
		a.retired = append(a.retired, p)
	}
	a.mu.Unlock()
	if p == nil {
		return
	}
	now := a.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gone = true
	p.keys = nil
	for _, in := range p.instances {
		in.key = ""
		if !in.draining {
			in.draining, in.drainingSince = true, now
		}
	}
	p.broadcast()
}

// ForgetRevision drains the pool of a revision that is being deleted, if it
// has one. Instances of it in the app's own entry are old and drain anyway.
func (a *Activator) ForgetRevision(ns, name string, rev int) {
	if primary, ok := a.lookup(ns, name); ok {
		a.retirePool(primary, rev)
	}
}

// route picks the entry a request goes to: a tagged request (rev > 0) to its
// revision's entry, a key that already has an instance to the entry holding
// it (a key stays on the revision that first served it), any other request
// by the app's traffic split.
func (a *Activator) route(ctx context.Context, primary *app, rev int, key string) (*app, error) {
	primary.mu.Lock()
	serving, sp, cfg := primary.cfg.Revision, primary.split, primary.cfg
	primary.mu.Unlock()
	if rev > 0 && rev != serving {
		return a.tagged(ctx, primary, cfg, rev)
	}
	if rev > 0 || sp == nil {
		return primary, nil
	}
	if key != "" {
		for _, e := range sp.entries {
			e.mu.Lock()
			_, ok := e.keys[key]
			e.mu.Unlock()
			if ok {
				return e, nil
			}
		}
	}
	return sp.pick(), nil
}

// tagged returns the pool of revision rev, asking Options.Revision for its
// spec the first time.
func (a *Activator) tagged(ctx context.Context, primary *app, cfg App, rev int) (*app, error) {
	a.mu.RLock()
	p := primary.pools[rev]
	a.mu.RUnlock()
	if p != nil {
		return p, nil
	}
	// Not under a.mu: the lookup may read the store. Should another caller
	// create the pool meanwhile, pool returns theirs.
	if a.opts.Revision == nil {
		return nil, fmt.Errorf("revision %d of %s: %w", rev, cfg.Key(), ErrRevisionNotFound)
	}
	rc, err := a.opts.Revision(ctx, cfg.Namespace, cfg.Name, rev)
	if err != nil {
		return nil, fmt.Errorf("revision %d of %s: %w", rev, cfg.Key(), err)
	}
	return a.pool(primary, rc, false), nil
}

// entriesOf returns an app's entry and its pools, retired ones included.
// Callers hold a.mu (read).
func (a *Activator) entriesOf(primary *app) []*app {
	out := []*app{primary}
	for _, p := range primary.pools {
		out = append(out, p)
	}
	for _, p := range a.retired {
		if p.owner == primary {
			out = append(out, p)
		}
	}
	return out
}
