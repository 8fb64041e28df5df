package gateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/manifest"
)

func TestExtractKey(t *testing.T) {
	header := &KeySource{KeySource: manifest.KeySource{Kind: "header", Name: "X-Session-Id"}}
	cookie := &KeySource{KeySource: manifest.KeySource{Kind: "cookie", Name: "sid"}}
	path := &KeySource{KeySource: manifest.KeySource{Kind: "path", Name: "/s/"}, StripPrefix: true}
	keep := &KeySource{KeySource: manifest.KeySource{Kind: "path", Name: "/s/"}}
	for _, tc := range []struct {
		src            *KeySource
		target         string
		header, cookie string
		key, path, err string
	}{
		{src: header, target: "/x", header: "abc-1", key: "abc-1", path: "/x"},
		{src: header, target: "/x", err: `send it as the header "X-Session-Id"`},
		{src: header, target: "/x", header: "a b", err: "not allowed"},
		{src: header, target: "/x", header: strings.Repeat("k", 129), err: "not allowed"},
		{src: cookie, target: "/", cookie: "u42", key: "u42", path: "/"},
		{src: cookie, target: "/", err: `cookie "sid"`},
		{src: path, target: "/s/room7/chat/1", key: "room7", path: "/chat/1"},
		{src: path, target: "/s/room7", key: "room7", path: "/"},
		{src: keep, target: "/s/room7/chat", key: "room7", path: "/s/room7/chat"},
		{src: path, target: "/other", err: `path segment after "/s/"`},
		{src: path, target: "/s//x", err: "no key"},
	} {
		r := httptest.NewRequest(http.MethodGet, tc.target, nil)
		if tc.header != "" {
			r.Header.Set("X-Session-Id", tc.header)
		}
		if tc.cookie != "" {
			r.AddCookie(&http.Cookie{Name: "sid", Value: tc.cookie})
		}
		key, err := tc.src.extractKey(r)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s %s: key %q, err %v; want an error containing %q", tc.src.Kind, tc.target, key, err, tc.err)
			}
		case err != nil || key != tc.key || r.URL.Path != tc.path:
			t.Errorf("%s %s: key %q path %q err %v; want key %q path %q", tc.src.Kind, tc.target, key, r.URL.Path, err, tc.key, tc.path)
		}
	}
}
