package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/internal/activator"
)

// refuser is an Acquirer that must not be reached.
type refuser struct{ calls int }

func (r *refuser) Acquire(context.Context, string, string, int, string) (*activator.Lease, error) {
	r.calls++
	return nil, errors.New("no instance in this test")
}

func TestTenancy(t *testing.T) {
	act := &refuser{}
	g := New(act, slog.New(slog.DiscardHandler), nil)
	a := &Target{Namespace: "a", Name: "web", RequestTimeout: time.Second}
	internal := a.Internalize()
	g.SetRoutes(NewTable([]Route{{Host: "web.a.localhost", Target: a}, {Host: "web.a.internal", Target: internal}}))
	_, inA, _ := net.ParseCIDR("172.30.0.0/16")
	g.SetTenancy(Tenancy{
		InNamespace:  func(ip net.IP, ns string) bool { return ns == "a" && inA.Contains(ip) },
		RequestQuota: func(ns string) int { return map[string]int{"a": 2}[ns] },
	})
	serve := func(host, remote string) (*httptest.ResponseRecorder, client.Problem) {
		r := httptest.NewRequest(http.MethodGet, "http://"+host+"/", nil)
		r.RemoteAddr = remote
		w := httptest.NewRecorder()
		g.ServeHTTP(w, r)
		var p client.Problem
		_ = json.Unmarshal(w.Body.Bytes(), &p)
		return w, p
	}

	// Outside the namespace the internal name does not exist.
	if w, p := serve("web.a.internal", "127.0.0.1:4000"); w.Code != http.StatusNotFound || p.Type != "https://berth.dev/problems/no-route" {
		t.Fatalf("internal name from loopback: %d %+v; want 404 no-route", w.Code, p)
	}
	if w, _ := serve("web.a.internal", "172.31.0.5:4000"); w.Code != http.StatusNotFound {
		t.Fatalf("internal name from another network: %d; want 404", w.Code)
	}
	if act.calls != 0 {
		t.Fatalf("refused requests reached the activator %d times", act.calls)
	}
	// Inside it, the request is routed (and fails only for want of an instance).
	if w, _ := serve("web.a.internal", "172.30.0.5:4000"); w.Code == http.StatusNotFound || act.calls != 1 {
		t.Fatalf("internal name from namespace a: %d, %d acquires; want routed", w.Code, act.calls)
	}

	// At max_requests the next request is refused at once, naming the quota.
	g.inflight.of("a").Add(2)
	w, p := serve("web.a.localhost", "127.0.0.1:4000")
	if w.Code != http.StatusTooManyRequests || p.Quota != "max_requests" || p.Limit != 2 || w.Header().Get("Retry-After") == "" {
		t.Fatalf("over max_requests: %d %+v; want 429 naming max_requests=2 with Retry-After", w.Code, p)
	}
	if n := g.InFlight("a"); n != 2 {
		t.Fatalf("InFlight(a) = %d after a refusal; want 2", n)
	}
	g.inflight.of("a").Add(-2)
	serve("web.a.localhost", "127.0.0.1:4000")
	if n := g.InFlight("a"); n != 0 || act.calls != 2 {
		t.Fatalf("after an admitted request InFlight(a) = %d, acquires %d; want 0, 2", n, act.calls)
	}
}
