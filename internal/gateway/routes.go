package gateway

import (
	"net"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// Target is the app a request is routed to.
type Target struct {
	Namespace string
	Name      string
	// RequestTimeout bounds the whole request, cold start included.
	RequestTimeout time.Duration
	// Protocol is what the gateway speaks to the app's instances:
	// UpstreamHTTP1 (also "") or UpstreamH2C.
	Protocol Upstream
	// Key, if set, routes each request to its key's own instance.
	Key *KeySource
	// Internal targets (APP.NS.internal) are routed only for callers inside
	// their namespace (Tenancy.InNamespace).
	Internal bool
	// Revision, if set, pins requests to one revision of the app: the
	// tagged route rN.HOST of a target's host (see Table.Match).
	Revision int

	// stats caches the target's metric children (see Gateway.observe).
	stats atomic.Pointer[targetStats]
}

// Internalize returns a copy of t for the APP.NS.internal route: the same
// app and settings, routed only for callers inside its namespace, with its
// own metric cache.
func (t *Target) Internalize() *Target {
	return &Target{Namespace: t.Namespace, Name: t.Name, RequestTimeout: t.RequestTimeout,
		Protocol: t.Protocol, Key: t.Key, Internal: true}
}

// tagged returns a copy of t pinned to revision rev, for the tagged route
// rREV.HOST. It is made per request (tags are for trying a revision out, not
// the hot path), so it caches no metric children.
func (t *Target) tagged(rev int) *Target {
	return &Target{Namespace: t.Namespace, Name: t.Name, RequestTimeout: t.RequestTimeout,
		Protocol: t.Protocol, Key: t.Key, Internal: t.Internal, Revision: rev}
}

// Upstream is a protocol the gateway speaks to instances.
type Upstream string

const (
	// UpstreamHTTP1 is HTTP/1.1 (the default).
	UpstreamHTTP1 Upstream = "http1"
	// UpstreamH2C is HTTP/2 over cleartext with prior knowledge (h2c, gRPC).
	UpstreamH2C Upstream = "h2c"
)

// Route maps a host, a path prefix, or both, to a target. An empty Host
// matches any host; an empty Path matches every path.
type Route struct {
	Host   string
	Path   string
	Target *Target
}

// Table is an immutable routing snapshot; build a new one on every change
// and swap it in with Gateway.SetRoutes. Lookups take no locks.
type Table struct {
	// hosts holds, per host, its routes by descending path length.
	hosts map[string][]Route
	// anyHost holds path-only routes by descending path length.
	anyHost []Route
}

// NewTable builds a table. When two routes are the same, the first wins; the
// API refuses such deploys, so that is only a safety net.
func NewTable(routes []Route) *Table {
	t := &Table{hosts: map[string][]Route{}}
	for _, r := range routes {
		r.Host = strings.ToLower(r.Host)
		if r.Path == "/" {
			r.Path = ""
		}
		if r.Host == "" {
			t.anyHost = append(t.anyHost, r)
		} else {
			t.hosts[r.Host] = append(t.hosts[r.Host], r)
		}
	}
	byPathLen := func(rs []Route) {
		sort.SliceStable(rs, func(i, j int) bool { return len(rs[i].Path) > len(rs[j].Path) })
	}
	for _, rs := range t.hosts {
		byPathLen(rs)
	}
	byPathLen(t.anyHost)
	return t
}

// Match finds the target for a request's Host header and path: routes of the
// exact host first (longest path prefix wins), then a tagged host rN.HOST,
// which is HOST's target pinned to revision N, then path-only routes. An
// exact host wins over a tag: app r2 of namespace web (r2.web.DOMAIN) over
// revision 2 of app web.
func (t *Table) Match(host, path string) (*Target, bool) {
	host = normalizeHost(host)
	if tg, ok := t.matchHost(host, path); ok {
		return tg, true
	}
	if rev, rest, ok := cutTag(host); ok {
		if tg, ok := t.matchHost(rest, path); ok {
			return tg.tagged(rev), true
		}
	}
	for _, r := range t.anyHost {
		if hasPathPrefix(path, r.Path) {
			return r.Target, true
		}
	}
	return nil, false
}

func (t *Table) matchHost(host, path string) (*Target, bool) {
	for _, r := range t.hosts[host] {
		if hasPathPrefix(path, r.Path) {
			return r.Target, true
		}
	}
	return nil, false
}

// cutTag splits a tagged host "r12.rest" into 12 and "rest". Revision
// numbers have no leading zero and at most 9 digits.
func cutTag(host string) (rev int, rest string, ok bool) {
	label, rest, found := strings.Cut(host, ".")
	if !found || len(label) < 2 || len(label) > 10 || label[0] != 'r' || label[1] == '0' {
		return 0, "", false
	}
	for _, c := range label[1:] {
		if c < '0' || c > '9' {
			return 0, "", false
		}
		rev = rev*10 + int(c-'0')
	}
	return rev, rest, true
}

// normalizeHost drops the port and a trailing dot and lowercases.
func normalizeHost(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(host, ".")
	for i := 0; i < len(host); i++ {
		if c := host[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(host)
		}
	}
	return host
}

// hasPathPrefix reports whether path is prefix or lies below it, on a
// segment boundary: "/gif" matches "/gif" and "/gif/a" but not "/gifs".
func hasPathPrefix(path, prefix string) bool {
	if prefix == "" {
		return true
	}
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	return len(path) == len(prefix) || path[len(prefix)] == '/' || strings.HasSuffix(prefix, "/")
}
