package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/internal/activator"
	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/gateway"
	"github.com/berth-dev/berth/internal/jobs"
	"github.com/berth-dev/berth/internal/manifest"
	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/store"
)

// platform implements api.Backend over the store, the driver, the activator
// and the gateway.
type platform struct {
	store   *store.Store
	jobs    *jobs.Runner
	driver  runtime.Driver
	act     *activator.Activator
	gw      *gateway.Gateway
	owner   string
	domain  string
	version string
	// gatewayPort is appended to app URLs unless it is 80.
	gatewayPort string

	// deployMu serialises deploys and removals, so revision numbers and
	// route checks see a stable store.
	deployMu sync.Mutex

	log *slog.Logger
	// quotas caches every namespace's quotas (tenants.go); nets places
	// instances on their namespace's network (networks.go).
	quotas quotaCache
	nets   *nsNetworks
	// keepRevisions is how many revisions without traffic an app keeps (gc.go).
	keepRevisions int
}

var _ api.Backend = (*platform)(nil)

func (p *platform) Version(context.Context) client.Version {
	return client.Version{Version: p.version, API: "v1", Driver: p.driver.Name()}
}

func (p *platform) Deploy(ctx context.Context, req api.DeployRequest, progress func(string)) (*client.DeployResult, error) {
	p.deployMu.Lock()
	defer p.deployMu.Unlock()
	if req.Job != nil {
		if req.NoTraffic {
			return nil, fmt.Errorf("%w: --no-traffic is for apps; job %s takes no traffic", api.ErrBadRequest, req.Job.Name)
		}
		return p.deployJob(ctx, req, progress) // jobs.go
	}
	m := req.Manifest
	if err := p.checkRoutes(ctx, req.Namespace, m.Name, p.defaultHost(req.Namespace, m), m.Routes); err != nil {
		return nil, err
	}
	if err := p.checkAppQuota(ctx, req.Namespace, m.Name); err != nil {
		return nil, err
	}
	next, err := p.store.NextRevision(ctx, req.Namespace, m.Name)
	if err != nil {
		return nil, err
	}
	ref, img, err := p.image(ctx, req, m.Name, m.Image, m.Build, fmt.Sprintf("berth.local/%s/%s:r%d", req.Namespace, m.Name, next),
		map[string]string{runtime.LabelApp: m.Name}, progress)
	if err != nil {
		return nil, err
	}
	rev := store.Revision{Namespace: req.Namespace, App: m.Name, Spec: *m, Image: ref, ImageID: img.ID, ImageSize: img.Size}
	old, err := p.serving(ctx, req.Namespace, m.Name)
	var n int
	switch {
	case errors.Is(err, store.ErrNotFound) && req.NoTraffic:
		return nil, fmt.Errorf("%w: %s has no serving revision yet, and an app's first revision takes all its traffic: deploy without --no-traffic", api.ErrBadRequest, m.Name)
	case errors.Is(err, store.ErrNotFound):
		// A new app: it serves at once, and its first request starts it.
		if n, err = p.store.CommitRevision(ctx, rev, time.Now()); err != nil {
			return nil, err
		}
		sv, err := p.serving(ctx, req.Namespace, m.Name)
		if err != nil {
			return nil, err
		}
		p.act.SetApp(activatorApp(sv))
		progress(fmt.Sprintf("revision %d of %s is serving; the first request starts it", n, m.Name))
	case err != nil:
		return nil, err
	default:
		rev.Status = store.RevisionDeploying
		if n, err = p.store.AddRevision(ctx, rev, time.Now(), false); err != nil {
			return nil, err
		}
		rev.Number = n
		if req.NoTraffic {
			if err := p.stage(ctx, old, rev, progress); err != nil {
				return nil, err
			}
			break
		}
		if err := p.rollout(ctx, old, rev, progress); err != nil {
			return nil, err
		}
	}
	if err := p.refreshRoutes(ctx); err != nil {
		return nil, err
	}
	p.collectRevisions(ctx, req.Namespace, m.Name)
	url := p.urlFor(p.defaultHost(req.Namespace, m), "")
	if req.NoTraffic {
		url = p.tagURL(req.Namespace, m, n)
	}
	return &client.DeployResult{
		App: m.Name, Namespace: req.Namespace, Revision: n, URL: url,
		Image: ref, ImageID: img.ID, ImageSize: img.Size,
	}, nil
}

// image builds the image of a deploy from its context, tagged tag and
// labelled with the owner, the namespace and labels, when build is set;
// otherwise it resolves the local image ref. It returns the reference
// deployed and the image.
func (p *platform) image(ctx context.Context, req api.DeployRequest, name, ref string, build *manifest.Build, tag string, labels map[string]string, progress func(string)) (string, runtime.Image, error) {
	if build == nil {
		img, err := p.driver.ResolveImage(ctx, ref)
		if err != nil {
			return "", img, fmt.Errorf("image %q of %s (Berth runs local images; build or load it first): %w", ref, name, err)
		}
		return ref, img, nil
	}
	b, ok := p.driver.(runtime.Builder)
	if !ok {
		return "", runtime.Image{}, fmt.Errorf("%w: the %s driver cannot build images; set image: instead of build:", api.ErrBadRequest, p.driver.Name())
	}
	progress(fmt.Sprintf("building %s from %s", tag, build.Dockerfile))
	all := map[string]string{runtime.LabelOwner: p.owner, runtime.LabelNamespace: req.Namespace}
	for k, v := range labels {
		all[k] = v
	}
	lw := &lineWriter{emit: progress}
	img, err := b.Build(ctx, runtime.BuildRequest{Context: req.Context, Dockerfile: build.Dockerfile, Tag: tag, Labels: all}, lw)
	lw.Flush()
	if err != nil {
		return "", img, fmt.Errorf("build %s: %w", name, err)
	}
	return tag, img, nil
}

// checkRoutes refuses a host or host+path another app already serves, and
// a route the namespace may not claim (see checkRouteScope).
func (p *platform) checkRoutes(ctx context.Context, ns, name, defaultHost string, routes []manifest.Route) error {
	if err := p.checkRouteScope(ns, routes); err != nil {
		return err
	}
	apps, err := p.store.ListServing(ctx)
	if err != nil {
		return err
	}
	taken := map[string]string{}
	for _, sv := range apps {
		if sv.App.Namespace == ns && sv.App.Name == name {
			continue
		}
		other := "app " + sv.App.Name
		if sv.App.Namespace != ns {
			other = "an app of another namespace" // names do not leak across namespaces
		}
		for _, r := range p.routesOf(sv) {
			taken[strings.ToLower(r.Host)+"|"+r.Path] = other
		}
	}
	mine := append([]manifest.Route{{Host: defaultHost}}, routes...)
	for _, r := range mine {
		if other, ok := taken[strings.ToLower(r.Host)+"|"+r.Path]; ok {
			return fmt.Errorf("%w: route host=%q path=%q is already served by %s", api.ErrConflict, r.Host, r.Path, other)
		}
	}
	return nil
}

// activatorApp is what the activator runs for a serving revision: its spec
// with the app's scale overrides applied.
func activatorApp(sv store.Serving) activator.App { return revisionApp(sv.App, sv.Revision) }

// serving loads an app and its serving revision.
func (p *platform) serving(ctx context.Context, ns, name string) (store.Serving, error) {
	app, err := p.store.App(ctx, ns, name)
	if err != nil {
		return store.Serving{}, err
	}
	rev, err := p.store.Revision(ctx, ns, name, app.Revision)
	if err != nil {
		return store.Serving{}, err
	}
	return store.Serving{App: app, Revision: rev}, nil
}

// SetScale stores scale overrides, validated against the serving revision's
// manifest, and applies them at once.
func (p *platform) SetScale(ctx context.Context, ns, name string, req client.Scale) (*client.App, error) {
	p.deployMu.Lock()
	defer p.deployMu.Unlock()
	sv, err := p.serving(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	o := sv.App.Scale
	if req.Min != nil {
		o.Min = req.Min
	}
	if req.Max != nil {
		o.Max = req.Max
	}
	if req.Warm != nil {
		o.Warm = req.Warm
	}
	spec := o.Apply(sv.Revision.Spec)
	if err := spec.Validate("berth scale"); err != nil {
		return nil, err
	}
	if err := p.store.SetScale(ctx, ns, name, o); err != nil {
		return nil, err
	}
	sv.App.Scale = o
	p.act.SetApp(activatorApp(sv))
	if err := p.applySplit(ctx, sv.App); err != nil {
		return nil, err
	}
	a := p.describe(sv)
	return &a, nil
}

func (p *platform) Apps(ctx context.Context, ns string) ([]client.App, error) {
	svs, err := p.store.ListServing(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]client.App, 0, len(svs))
	for _, sv := range svs {
		if sv.App.Namespace != ns {
			continue
		}
		out = append(out, p.describe(sv))
	}
	return out, nil
}

func (p *platform) App(ctx context.Context, ns, name string) (*client.App, error) {
	sv, err := p.serving(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	a := p.describe(sv)
	return &a, nil
}

func (p *platform) RemoveApp(ctx context.Context, ns, name string) error {
	p.deployMu.Lock()
	defer p.deployMu.Unlock()
	revs, err := p.store.Revisions(ctx, ns, name)
	if err != nil {
		return err
	}
	if err := p.store.DeleteApp(ctx, ns, name); err != nil {
		return err
	}
	defer p.removeImages(context.WithoutCancel(ctx), revs)
	if err := p.refreshRoutes(ctx); err != nil {
		return err
	}
	if err := p.act.RemoveApp(ctx, ns, name); err != nil && !errors.Is(err, activator.ErrAppNotFound) {
		return fmt.Errorf("remove containers of %s: %w", name, err)
	}
	return nil
}

// Logs streams the log of the app's newest instance; an app that never ran
// has an empty log.
func (p *platform) Logs(ctx context.Context, ns, name string, opts runtime.LogOptions) (io.ReadCloser, error) {
	v, err := p.act.View(ns, name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	for i := len(v.Instances) - 1; i >= 0; i-- {
		if id := v.Instances[i].ContainerID; id != "" {
			return p.driver.Logs(ctx, id, opts)
		}
	}
	return io.NopCloser(strings.NewReader("")), nil
}

func (p *platform) describe(sv store.Serving) client.App {
	rev := sv.Revision
	a := client.App{
		Name: sv.App.Name, Namespace: sv.App.Namespace, Revision: sv.App.Revision,
		Traffic: trafficOf(sv.App), Image: rev.Image, ImageID: rev.ImageID, ImageSize: rev.ImageSize,
		URL: p.urlFor(p.defaultHost(sv.App.Namespace, &rev.Spec), ""), CreatedAt: sv.App.CreatedAt, UpdatedAt: sv.App.UpdatedAt,
		Instances: []client.Instance{},
	}
	for _, r := range p.routesOf(sv) {
		a.URLs = append(a.URLs, p.urlFor(r.Host, r.Path))
	}
	if spec, err := json.Marshal(sv.App.Scale.Apply(rev.Spec)); err == nil {
		a.Spec = spec
	}
	if o := sv.App.Scale; o.Min != nil || o.Max != nil || o.Warm != nil {
		a.Scale = &client.Scale{Min: o.Min, Max: o.Max, Warm: o.Warm}
	}
	v, err := p.act.View(sv.App.Namespace, sv.App.Name)
	if err != nil {
		a.Status = "unknown"
		return a
	}
	a.Status, a.InFlight, a.LastError = v.Status, v.InFlight, v.LastError
	a.Queued, a.Desired, a.Panic, a.ScaleReason = v.Queued, v.Desired, v.Panic, v.ScaleReason
	for _, in := range v.Instances {
		a.Instances = append(a.Instances, client.Instance{
			ID: in.ID, ContainerID: in.ContainerID, Key: in.Key, Revision: in.Revision, State: in.State, Sleep: in.Sleep, Addr: in.Addr, Port: in.Port,
			InFlight: in.InFlight, CreatedAt: in.CreatedAt, StartedAt: in.StartedAt, LastActive: in.LastActive,
		})
	}
	return a
}

// routesOf lists an app's routes: its default host, then its manifest's.
func (p *platform) routesOf(sv store.Serving) []gateway.Route {
	spec := sv.Revision.Spec
	t := &gateway.Target{Namespace: sv.App.Namespace, Name: sv.App.Name, RequestTimeout: spec.Limits.RequestTimeout.D(), Protocol: gateway.UpstreamHTTP1}
	if spec.Keyed() {
		t.Key = &gateway.KeySource{KeySource: spec.KeySource(), StripPrefix: spec.Instances.StripPrefix}
	}
	if spec.UpstreamHTTP2() {
		t.Protocol = gateway.UpstreamH2C
	}
	out := []gateway.Route{{Host: p.defaultHost(sv.App.Namespace, &spec), Target: t}}
	for _, r := range spec.Routes {
		out = append(out, gateway.Route{Host: r.Host, Path: r.Path, Target: t})
	}
	return out
}

// refreshRoutes rebuilds the gateway's table from the store.
func (p *platform) refreshRoutes(ctx context.Context) error {
	svs, err := p.store.ListServing(ctx)
	if err != nil {
		return err
	}
	var routes []gateway.Route
	for _, sv := range svs {
		routes = append(routes, p.routesOf(sv)...)
		routes = append(routes, p.internalRoute(sv))
	}
	p.gw.SetRoutes(gateway.NewTable(routes))
	return nil
}

// urlFor is the URL at which host (and path) reach the gateway. A path-only
// route is shown on localhost.
func (p *platform) urlFor(host, path string) string {
	if host == "" {
		host = "localhost"
	}
	if p.gatewayPort != "80" {
		host = net.JoinHostPort(host, p.gatewayPort)
	}
	if path == "" {
		path = "/"
	}
	return "http://" + host + path
}

// lineWriter turns a byte stream into lines for progress events.
type lineWriter struct {
	emit func(string)
	buf  []byte
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.buf = append(w.buf, b...)
	for {
		i := strings.IndexAny(string(w.buf), "\n\r")
		if i < 0 {
			return len(b), nil
		}
		if line := strings.TrimSpace(string(w.buf[:i])); line != "" {
			w.emit(line)
		}
		w.buf = w.buf[i+1:]
	}
}

// Flush emits a last unterminated line.
func (w *lineWriter) Flush() {
	if line := strings.TrimSpace(string(w.buf)); line != "" {
		w.emit(line)
	}
	w.buf = nil
}
