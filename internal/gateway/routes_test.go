package gateway

import (
	"strconv"
	"testing"
)

func TestTableMatch(t *testing.T) {
	web := &Target{Name: "web"}
	api := &Target{Name: "api"}
	gif := &Target{Name: "gif"}
	any := &Target{Name: "any"}
	tbl := NewTable([]Route{
		{Host: "web.localhost", Target: web},
		{Host: "Shop.Example", Target: web},
		{Host: "shop.example", Path: "/api", Target: api},
		{Path: "/gif", Target: gif},
		{Path: "/", Target: any},
	})
	for _, tc := range []struct {
		host, path string
		want       *Target
	}{
		{"web.localhost", "/", web},
		{"web.localhost:8080", "/x/y", web},
		{"WEB.localhost.", "/", web},
		{"shop.example", "/", web},
		{"shop.example", "/api", api},
		{"shop.example", "/api/v1/users", api},
		{"shop.example", "/apis", web},
		{"other.example", "/gif", gif},
		{"other.example", "/gif/cat.gif", gif},
		{"other.example", "/gifs", any},
		{"other.example", "/", any},
	} {
		got, ok := tbl.Match(tc.host, tc.path)
		if !ok || got != tc.want {
			t.Errorf("Match(%q, %q) = %v, %v; want %s", tc.host, tc.path, got, ok, tc.want.Name)
		}
	}
	if _, ok := NewTable(nil).Match("web.localhost", "/"); ok {
		t.Error("empty table matched")
	}
	if _, ok := NewTable([]Route{{Host: "a.localhost", Target: web}}).Match("b.localhost", "/"); ok {
		t.Error("unknown host matched")
	}
}

func TestTableMatchTags(t *testing.T) {
	web := &Target{Namespace: "default", Name: "web"}
	r2 := &Target{Namespace: "web", Name: "r2"}
	tbl := NewTable([]Route{
		{Host: "web.localhost", Target: web},
		{Host: "r2.web.localhost", Target: r2},
		{Host: "shop.example", Path: "/api", Target: web},
	})
	for _, tc := range []struct {
		host, path string
		name       string
		rev        int
	}{
		{"r4.web.localhost", "/", "web", 4},
		{"R17.Web.localhost:8080", "/x", "web", 17},
		{"r2.web.localhost", "/", "r2", 0}, // an exact host wins over a tag
		{"r3.shop.example", "/api/x", "web", 3},
		{"r123456789.web.localhost", "/", "web", 123456789},
	} {
		got, ok := tbl.Match(tc.host, tc.path)
		if !ok || got.Name != tc.name || got.Revision != tc.rev {
			t.Errorf("Match(%q, %q) = %+v, %v; want %s revision %d", tc.host, tc.path, got, ok, tc.name, tc.rev)
		}
	}
	for _, host := range []string{"r.web.localhost", "r04.web.localhost", "rx.web.localhost", "r1234567890.web.localhost",
		"x4.web.localhost", "r4.other.localhost", "r4.shop.example", "r4"} {
		if got, ok := tbl.Match(host, "/"); ok {
			t.Errorf("Match(%q) = %+v; want no route", host, got)
		}
	}
	if web.Revision != 0 {
		t.Error("a tagged match changed the route's own target")
	}
}

func BenchmarkTableMatch(b *testing.B) {
	routes := make([]Route, 0, 10000)
	for i := range 10000 {
		routes = append(routes, Route{Host: "app" + strconv.Itoa(i) + ".localhost", Target: &Target{}})
	}
	tbl := NewTable(routes)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := tbl.Match("app4242.localhost:8080", "/some/path"); !ok {
			b.Fatal("no match")
		}
	}
}
