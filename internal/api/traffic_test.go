package api

import (
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestTrafficBody(t *testing.T) {
	srv := New(&tenantFake{}, "admin-secret", slog.New(slog.DiscardHandler), nil)
	for _, c := range []struct {
		body   string
		status int
		want   string // a substring of the answer
	}{
		{`{"traffic": [{"revision": 3, "percent": 90}, {"revision": 4, "percent": 10}]}`, 200, ""},
		{`{"traffic": "r3=90"}`, 400, `body must be JSON like`},
		{`{"split": []}`, 400, `unknown field`},
		{`{"traffic": []}`, 400, "traffic names 0 revisions; allowed: 1 to 20"},
		{`{"traffic": [{"revision": 0, "percent": 100}]}`, 400, "traffic[0].revision 0"},
		{`{"traffic": [{"revision": 3, "percent": 120}, {"revision": 4, "percent": -20}]}`, 400, "traffic[0].percent 120 (revision 3); allowed: 0 to 100"},
		{`{"traffic": [{"revision": 3, "percent": 50}, {"revision": 3, "percent": 50}]}`, 400, "revision 3 is named twice"},
		{`{"traffic": [{"revision": 3, "percent": 50}, {"revision": 4, "percent": 40}]}`, 400, "add up to 90"},
	} {
		r := httptest.NewRequest("POST", "/v1/apps/web/traffic", strings.NewReader(c.body))
		r.Header.Set("Authorization", "Bearer admin-secret")
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		if w.Code != c.status || !strings.Contains(w.Body.String(), c.want) {
			t.Errorf("%s: %d %s; want %d with %q", c.body, w.Code, w.Body.String(), c.status, c.want)
		}
	}
}
