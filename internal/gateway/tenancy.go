package gateway

import (
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/berth-dev/berth/internal/problem"
	"github.com/berth-dev/berth/internal/quota"
)

// Tenancy connects the gateway to namespaces. Both hooks are optional.
type Tenancy struct {
	// InNamespace tells whether a caller at ip is inside namespace ns (on
	// its network). Internal targets (APP.NS.internal) are routed only for
	// such callers; for anyone else they do not exist.
	InNamespace func(ip net.IP, ns string) bool
	// RequestQuota returns namespace ns's max_requests (≤ 0: unlimited):
	// the requests of ns in flight at once, cold starts and streams
	// included. One more is answered 429 at once.
	RequestQuota func(ns string) int
}

// SetTenancy installs the namespace hooks; call it before serving.
func (g *Gateway) SetTenancy(t Tenancy) { g.tenancy = t }

// nsCounters counts requests in flight per namespace.
type nsCounters struct {
	m sync.Map // namespace → *atomic.Int64
}

func (c *nsCounters) of(ns string) *atomic.Int64 {
	if v, ok := c.m.Load(ns); ok {
		return v.(*atomic.Int64)
	}
	v, _ := c.m.LoadOrStore(ns, new(atomic.Int64))
	return v.(*atomic.Int64)
}

// InFlight returns the requests of namespace ns in flight.
func (g *Gateway) InFlight(ns string) int { return int(g.inflight.of(ns).Load()) }

// visible tells whether t may be routed for r: internal targets only for
// callers inside their namespace.
func (g *Gateway) visible(r *http.Request, t *Target) bool {
	if !t.Internal {
		return true
	}
	if g.tenancy.InNamespace == nil {
		return false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && g.tenancy.InNamespace(ip, t.Namespace)
}

// admit counts a request of t's namespace in flight, or answers 429 when
// the namespace is at its max_requests. The caller calls release once the
// request is done.
func (g *Gateway) admit(w http.ResponseWriter, t *Target) (release func(), ok bool) {
	c := g.inflight.of(t.Namespace)
	n := c.Add(1)
	if g.tenancy.RequestQuota != nil {
		if limit := g.tenancy.RequestQuota(t.Namespace); limit > 0 && n > int64(limit) {
			c.Add(-1)
			writeQuota(w, &quota.Error{Namespace: t.Namespace, Name: quota.MaxRequests, Limit: limit})
			return nil, false
		}
	}
	return func() { c.Add(-1) }, true
}

// writeQuota answers 429 for a namespace quota, naming it and its value.
func writeQuota(w http.ResponseWriter, qe *quota.Error) {
	p := problem.New(http.StatusTooManyRequests, "quota-exceeded", "Quota exceeded",
		fmt.Sprintf("%s; retry later, or ask the operator to raise it (berth ns quota)", qe.Error()))
	p.Quota, p.Limit = qe.Name, qe.Limit
	problem.Write(w, p, 1)
}
