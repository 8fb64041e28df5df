package server

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/gateway"
	"github.com/berth-dev/berth/internal/manifest"
	"github.com/berth-dev/berth/internal/quota"
	"github.com/berth-dev/berth/internal/store"
)

// InternalDomain is the suffix of the names apps call each other by:
// APP.NS.internal, routed by the gateway only for callers on NS's network.
const InternalDomain = "internal"

// defaultHost is an app's own host: APP.DOMAIN in the default namespace,
// APP.NS.DOMAIN in any other.
func (p *platform) defaultHost(ns string, m *manifest.Manifest) string {
	if ns == store.DefaultNamespace {
		return m.DefaultHost(p.domain)
	}
	if d := strings.Trim(p.domain, "."); d != "" {
		return m.DefaultHost(ns + "." + d)
	}
	return m.DefaultHost(ns)
}

// internalRoute is the route of APP.NS.internal, which only callers inside
// the namespace's network may use.
func (p *platform) internalRoute(sv store.Serving) gateway.Route {
	t := p.routesOf(sv)[0].Target.Internalize()
	return gateway.Route{Host: sv.App.Name + "." + sv.App.Namespace + "." + InternalDomain, Target: t}
}

// checkRouteScope refuses routes a namespace may not claim: hosts under
// .internal (reserved for APP.NS.internal), hosts under the gateway's
// domain that belong to another namespace (APP.NS.DOMAIN is NS's; the
// default namespace has the one-label APP.DOMAIN), and, outside the default
// namespace, path-only routes, which would catch requests for every host.
func (p *platform) checkRouteScope(ns string, routes []manifest.Route) error {
	domain := strings.ToLower(strings.Trim(p.domain, "."))
	for i, r := range routes {
		host := strings.ToLower(r.Host)
		field := fmt.Sprintf("routes[%d].host", i)
		switch {
		case host == InternalDomain || strings.HasSuffix(host, "."+InternalDomain):
			return fmt.Errorf("%w: %s %q: names under .%s are reserved for calls between apps (APP.NS.%s)", api.ErrBadRequest, field, r.Host, InternalDomain, InternalDomain)
		case host == "" && ns != store.DefaultNamespace:
			return fmt.Errorf("%w: %s is empty (a path-only route %q): in namespace %s every route needs a host, since a path-only route would catch requests for every host", api.ErrBadRequest, field, r.Path, ns)
		case domain == "" || host == "" || !strings.HasSuffix(host, "."+domain):
			continue
		}
		labels := strings.Count(strings.TrimSuffix(host, "."+domain), ".") + 1
		switch {
		case ns == store.DefaultNamespace && labels != 1:
			return fmt.Errorf("%w: %s %q: in the default namespace hosts under %s have one label (NAME.%s); NAME.NS.%s belongs to namespace NS", api.ErrBadRequest, field, r.Host, domain, domain, domain)
		case ns != store.DefaultNamespace && (labels != 2 || !strings.HasSuffix(host, "."+ns+"."+domain)):
			return fmt.Errorf("%w: %s %q: namespace %s may use NAME.%s.%s under %s", api.ErrBadRequest, field, r.Host, ns, ns, domain, domain)
		}
	}
	return nil
}

// checkAppQuota refuses a new app in a namespace at its max_apps; a
// redeploy of an existing app is always allowed. p.deployMu is held.
func (p *platform) checkAppQuota(ctx context.Context, ns, name string) error {
	limit := p.quotas.get(ns).MaxApps
	if limit <= 0 {
		return nil
	}
	if _, err := p.store.App(ctx, ns, name); err == nil {
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	svs, err := p.store.ListServing(ctx)
	if err != nil {
		return err
	}
	n := 0
	for _, sv := range svs {
		if sv.App.Namespace == ns {
			n++
		}
	}
	if n >= limit {
		return &quota.Error{Namespace: ns, Name: quota.MaxApps, Limit: limit}
	}
	return nil
}
