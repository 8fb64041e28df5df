// Package controlplane measures Berth's control plane at 10,000 apps on one
// server, without Docker: route lookup in the gateway's table, loading the
// apps from the store at start-up, and the heap an idle app costs (registry
// entry and routes). The autoscaler tick over 10,000 apps and 100,000
// instances is BenchmarkTick10kApps in internal/activator, which needs the
// registry's internals to put instances in place.
//
// Run them all with `make bench-controlplane` (docs/benchmarks.md,
// "Control plane at 10,000 apps").
package controlplane

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/activator"
	"github.com/berth-dev/berth/internal/gateway"
	"github.com/berth-dev/berth/internal/manifest"
	"github.com/berth-dev/berth/internal/runtime/fake"
	"github.com/berth-dev/berth/internal/store"
)

// apps is the number of apps on the server.
const apps = 10_000

func appName(i int) string { return fmt.Sprintf("app-%05d", i) }

// spec is a typical app's validated manifest; every tenth app also has a
// custom host with a path route, as a mix of route kinds.
func spec(b *testing.B, i int) *manifest.Manifest {
	b.Helper()
	extra := ""
	if i%10 == 0 {
		extra = fmt.Sprintf("routes: [{host: shop%d.example.com, path: /api}]\n", i)
	}
	m, err := manifest.Parse("berth.yaml", []byte("name: "+appName(i)+"\nimage: img\n"+extra))
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// routes builds the server's routing table for n apps the way the server
// does (internal/server routesOf): the default host, then the manifest's.
func routes(b *testing.B, n int) []gateway.Route {
	var out []gateway.Route
	for i := range n {
		m := spec(b, i)
		t := &gateway.Target{Namespace: "default", Name: m.Name, RequestTimeout: m.Limits.RequestTimeout.D(), Protocol: gateway.UpstreamHTTP1}
		out = append(out, gateway.Route{Host: m.DefaultHost("localhost"), Target: t})
		for _, r := range m.Routes {
			out = append(out, gateway.Route{Host: r.Host, Path: r.Path, Target: t})
		}
	}
	return out
}

// BenchmarkRouteLookup matches requests against a 10,000-app table, cycling
// through default hosts (with a port, as clients send them) and custom hosts
// with a path. Target: ≤ 1 µs per lookup.
func BenchmarkRouteLookup(b *testing.B) {
	table := gateway.NewTable(routes(b, apps))
	type req struct{ host, path string }
	reqs := make([]req, 0, 1024)
	for i := 0; len(reqs) < cap(reqs); i += 97 {
		j := i % apps
		if j%10 == 0 {
			reqs = append(reqs, req{fmt.Sprintf("shop%d.example.com", j), "/api/orders/42"})
		} else {
			reqs = append(reqs, req{appName(j) + ".localhost:8080", "/static/app.js"})
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		r := reqs[i%len(reqs)]
		if _, ok := table.Match(r.host, r.path); !ok {
			b.Fatalf("no route for %s%s", r.host, r.path)
		}
	}
}

// BenchmarkStoreLoad is the start-up read of every app and its serving
// revision from bbolt (store.ListServing) at 10,000 apps.
func BenchmarkStoreLoad(b *testing.B) {
	ctx := context.Background()
	st, err := store.Open(filepath.Join(b.TempDir(), "berth.db"), time.Second)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	for i := range apps {
		rev := store.Revision{Namespace: "default", App: appName(i), Spec: *spec(b, i), Image: "img", ImageID: "sha256:img", ImageSize: 1}
		if _, err := st.CommitRevision(ctx, rev, now); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		svs, err := st.ListServing(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if len(svs) != apps {
			b.Fatalf("loaded %d apps, want %d", len(svs), apps)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/load")
}

// BenchmarkIdleAppHeap registers 10,000 idle apps (no instances) in the
// activator and the gateway's routing table, runs one tick, and reports the
// live heap they take per app. Target: ≤ 10 KB per idle app.
func BenchmarkIdleAppHeap(b *testing.B) {
	specs := make([]*manifest.Manifest, apps)
	for i := range specs {
		specs[i] = spec(b, i)
	}
	var perApp float64
	for b.Loop() {
		before := liveHeap()
		act := activator.New(activator.Options{Driver: fake.New(), Owner: "bench"})
		for _, m := range specs {
			act.SetApp(activator.App{Namespace: "default", Name: m.Name, Revision: 1, Image: "sha256:img", Spec: *m})
		}
		gw := gateway.New(act, slog.New(slog.DiscardHandler), nil)
		gw.SetRoutes(gateway.NewTable(routes(b, apps)))
		act.Tick(time.Now())
		after := liveHeap()
		perApp = float64(after-before) / apps
		runtime.KeepAlive(act)
		runtime.KeepAlive(gw)
		act.Close()
	}
	b.ReportMetric(perApp, "bytes/app")
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
