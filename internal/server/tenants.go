package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/store"
)

var (
	_ api.TenantBackend = (*platform)(nil)
	_ api.TokenResolver = (*platform)(nil)
)

// quotaCache holds every namespace's quotas for the request path (gateway,
// activator, job runner), which must not read the store per request.
type quotaCache struct {
	mu sync.RWMutex
	q  map[string]store.Quotas
}

func (c *quotaCache) get(ns string) store.Quotas {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.q[ns]
}

func (c *quotaCache) set(ns string, q store.Quotas) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.q == nil {
		c.q = map[string]store.Quotas{}
	}
	c.q[ns] = q
}

func (c *quotaCache) remove(ns string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.q, ns)
}

// loadQuotas fills the cache from the store at start-up.
func (p *platform) loadQuotas(ctx context.Context) error {
	l, err := p.store.Namespaces(ctx)
	if err != nil {
		return err
	}
	for _, ns := range l {
		p.quotas.set(ns.Name, ns.Quotas)
	}
	return nil
}

// ResolveToken finds a namespace token by its secret; unknown and revoked
// tokens are api.ErrUnauthorized.
func (p *platform) ResolveToken(ctx context.Context, secret string) (api.Principal, error) {
	t, err := p.store.TokenBySecret(ctx, secret)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return api.Principal{}, api.ErrUnauthorized
	case err != nil:
		return api.Principal{}, err
	case t.Revoked():
		return api.Principal{}, fmt.Errorf("token %s was revoked: %w", t.ID, api.ErrUnauthorized)
	}
	return api.Principal{TokenID: t.ID, Namespace: t.Namespace, Role: t.Role}, nil
}

func (p *platform) Namespaces(ctx context.Context) ([]client.Namespace, error) {
	l, err := p.store.Namespaces(ctx)
	if err != nil {
		return nil, err
	}
	usage, err := p.usage(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]client.Namespace, 0, len(l))
	for _, ns := range l {
		out = append(out, p.describeNamespace(ns, usage[ns.Name]))
	}
	return out, nil
}

func (p *platform) Namespace(ctx context.Context, name string) (*client.Namespace, error) {
	ns, err := p.store.Namespace(ctx, name)
	if err != nil {
		return nil, err
	}
	usage, err := p.usage(ctx)
	if err != nil {
		return nil, err
	}
	c := p.describeNamespace(ns, usage[name])
	return &c, nil
}

// usage counts apps and running jobs per namespace from the store, and
// instances and requests from the activator and the gateway.
func (p *platform) usage(ctx context.Context) (map[string]client.Usage, error) {
	svs, err := p.store.ListServing(ctx)
	if err != nil {
		return nil, err
	}
	active, err := p.store.Active(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]client.Usage{}
	for _, sv := range svs {
		u := out[sv.App.Namespace]
		u.Apps++
		out[sv.App.Namespace] = u
	}
	for _, ex := range active {
		if ex.Status == store.StatusRunning {
			u := out[ex.Namespace]
			u.RunningJobs++
			out[ex.Namespace] = u
		}
	}
	return out, nil
}

func (p *platform) describeNamespace(ns store.Namespace, u client.Usage) client.Namespace {
	u.Instances = p.act.Instances(ns.Name)
	u.Requests = p.gw.InFlight(ns.Name)
	q := ns.Quotas
	return client.Namespace{
		Name: ns.Name, CreatedAt: ns.CreatedAt, Usage: u, Network: p.networkOf(ns.Name),
		Quotas: client.Quotas{MaxInstances: q.MaxInstances, MaxRequests: q.MaxRequests, MaxJobs: q.MaxJobs, MaxApps: q.MaxApps},
	}
}

func (p *platform) CreateNamespace(ctx context.Context, req client.CreateNamespaceRequest) (*client.Namespace, error) {
	q := store.Quotas{MaxInstances: req.Quotas.MaxInstances, MaxRequests: req.Quotas.MaxRequests, MaxJobs: req.Quotas.MaxJobs, MaxApps: req.Quotas.MaxApps}
	ns, err := p.store.CreateNamespace(ctx, store.Namespace{Name: req.Name, Quotas: q}, time.Now())
	if err != nil {
		return nil, err
	}
	p.quotas.set(ns.Name, ns.Quotas)
	p.log.Info("namespace created", "ns", ns.Name)
	c := p.describeNamespace(ns, client.Usage{})
	return &c, nil
}

func (p *platform) SetQuotas(ctx context.Context, name string, patch client.QuotasPatch) (*client.Namespace, error) {
	ns, err := p.store.Namespace(ctx, name)
	if err != nil {
		return nil, err
	}
	q := ns.Quotas
	for _, f := range []struct {
		v   *int
		dst *int
	}{{patch.MaxInstances, &q.MaxInstances}, {patch.MaxRequests, &q.MaxRequests}, {patch.MaxJobs, &q.MaxJobs}, {patch.MaxApps, &q.MaxApps}} {
		if f.v != nil {
			*f.dst = *f.v
		}
	}
	if ns, err = p.store.SetQuotas(ctx, name, q); err != nil {
		return nil, err
	}
	p.quotas.set(name, ns.Quotas)
	p.jobs.Wake() // a higher max_jobs may let queued executions start
	return p.Namespace(ctx, name)
}

// RemoveNamespace removes a namespace's apps (and their containers), stops
// its executions, deletes everything the store holds of it and removes its
// network.
func (p *platform) RemoveNamespace(ctx context.Context, name string) error {
	if err := store.ValidNamespace(name); err != nil {
		return err
	}
	if name == store.DefaultNamespace {
		return fmt.Errorf("%w: the default namespace cannot be removed", store.ErrInvalid)
	}
	if _, err := p.store.Namespace(ctx, name); err != nil {
		return err
	}
	p.deployMu.Lock()
	defer p.deployMu.Unlock()
	svs, err := p.store.ListServing(ctx)
	if err != nil {
		return err
	}
	var errs []error
	active, err := p.store.Active(ctx)
	if err != nil {
		return err
	}
	for _, ex := range active {
		if ex.Namespace == name {
			if _, err := p.jobs.Cancel(ctx, ex.ID); err != nil && !errors.Is(err, store.ErrConflict) {
				errs = append(errs, fmt.Errorf("cancel execution %s: %w", ex.ID, err))
			}
		}
	}
	var images []store.Revision // removed with the containers that use them
	for _, sv := range svs {
		if sv.App.Namespace == name {
			revs, err := p.store.Revisions(ctx, name, sv.App.Name)
			if err != nil {
				return err
			}
			images = append(images, revs...)
		}
	}
	if err := p.store.DeleteNamespace(ctx, name); err != nil {
		return err
	}
	p.quotas.remove(name)
	if err := p.refreshRoutes(ctx); err != nil {
		errs = append(errs, err)
	}
	for _, sv := range svs {
		if sv.App.Namespace != name {
			continue
		}
		if err := p.act.RemoveApp(ctx, name, sv.App.Name); err != nil {
			errs = append(errs, fmt.Errorf("remove containers of %s: %w", sv.App.Name, err))
		}
	}
	if err := p.nets.remove(ctx, name); err != nil {
		errs = append(errs, err)
	}
	p.removeImages(context.WithoutCancel(ctx), images)
	p.log.Info("namespace removed", "ns", name, "apps", len(svs))
	return errors.Join(errs...)
}

func (p *platform) Tokens(ctx context.Context) ([]client.Token, error) {
	l, err := p.store.Tokens(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]client.Token, 0, len(l))
	for _, t := range l {
		out = append(out, describeToken(t))
	}
	return out, nil
}

func (p *platform) CreateToken(ctx context.Context, req client.CreateTokenRequest) (*client.NewToken, error) {
	if req.Namespace == "" {
		return nil, fmt.Errorf("%w: namespace: give the namespace the token is for", store.ErrInvalid)
	}
	if err := store.ValidNamespace(req.Namespace); err != nil {
		return nil, err
	}
	if req.Role == "" {
		req.Role = store.RoleDeploy
	}
	t, secret, err := p.store.CreateToken(ctx, req.Namespace, req.Role, time.Now())
	if err != nil {
		return nil, err
	}
	return &client.NewToken{Token: describeToken(t), Secret: secret}, nil
}

func (p *platform) RevokeToken(ctx context.Context, id string) (*client.Token, error) {
	t, err := p.store.RevokeToken(ctx, id, time.Now())
	if err != nil {
		return nil, err
	}
	c := describeToken(t)
	return &c, nil
}

func describeToken(t store.Token) client.Token {
	return client.Token{ID: t.ID, Namespace: t.Namespace, Role: t.Role, CreatedAt: t.CreatedAt, RevokedAt: t.RevokedAt}
}
