package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/internal/quota"
	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/store"
)

// tenantFake is a Backend with namespaces "default" and "a" and "b", each
// with app "web", and the tokens "tok-a-deploy", "tok-a-read".
type tenantFake struct{ removed []string }

func (f *tenantFake) Deploy(context.Context, DeployRequest, func(string)) (*client.DeployResult, error) {
	return nil, &quota.Error{Namespace: "a", Name: quota.MaxApps, Limit: 2}
}
func (f *tenantFake) Apps(_ context.Context, ns string) ([]client.App, error) {
	return []client.App{{Name: "web", Namespace: ns}}, nil
}
func (f *tenantFake) App(_ context.Context, ns, name string) (*client.App, error) {
	if name != "web" {
		return nil, fmt.Errorf("app %s/%s: %w", ns, name, store.ErrNotFound)
	}
	return &client.App{Name: name, Namespace: ns}, nil
}
func (f *tenantFake) RemoveApp(_ context.Context, ns, name string) error {
	f.removed = append(f.removed, ns+"/"+name)
	return nil
}
func (f *tenantFake) SetScale(context.Context, string, string, client.Scale) (*client.App, error) {
	return &client.App{}, nil
}
func (f *tenantFake) Revisions(context.Context, string, string) ([]client.Revision, error) {
	return nil, nil
}
func (f *tenantFake) Rollback(context.Context, string, string, int) (*client.App, error) {
	return &client.App{}, nil
}
func (f *tenantFake) SetTraffic(context.Context, string, string, []client.TrafficShare) (*client.App, error) {
	return &client.App{}, nil
}
func (f *tenantFake) Logs(context.Context, string, string, runtime.LogOptions) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader("")), nil
}
func (f *tenantFake) Version(context.Context) client.Version { return client.Version{} }
func (f *tenantFake) ResolveToken(_ context.Context, secret string) (Principal, error) {
	switch secret {
	case "berth_a_deploy":
		return Principal{TokenID: "tok-a-deploy", Namespace: "a", Role: RoleDeploy}, nil
	case "berth_a_read":
		return Principal{TokenID: "tok-a-read", Namespace: "a", Role: RoleRead}, nil
	}
	return Principal{}, ErrUnauthorized
}
func (f *tenantFake) Namespaces(context.Context) ([]client.Namespace, error) {
	return []client.Namespace{{Name: "a"}, {Name: "b"}, {Name: "default"}}, nil
}
func (f *tenantFake) Namespace(_ context.Context, name string) (*client.Namespace, error) {
	if name != "a" && name != "b" && name != "default" {
		return nil, fmt.Errorf("namespace %s: %w", name, store.ErrNotFound)
	}
	return &client.Namespace{Name: name}, nil
}
func (f *tenantFake) CreateNamespace(_ context.Context, req client.CreateNamespaceRequest) (*client.Namespace, error) {
	return &client.Namespace{Name: req.Name}, nil
}
func (f *tenantFake) SetQuotas(_ context.Context, name string, _ client.QuotasPatch) (*client.Namespace, error) {
	return &client.Namespace{Name: name}, nil
}
func (f *tenantFake) RemoveNamespace(context.Context, string) error  { return nil }
func (f *tenantFake) Tokens(context.Context) ([]client.Token, error) { return nil, nil }
func (f *tenantFake) CreateToken(_ context.Context, req client.CreateTokenRequest) (*client.NewToken, error) {
	return &client.NewToken{Token: client.Token{ID: "tok-new", Namespace: req.Namespace, Role: req.Role}, Secret: "berth_x"}, nil
}
func (f *tenantFake) RevokeToken(_ context.Context, id string) (*client.Token, error) {
	return &client.Token{ID: id}, nil
}

func TestScopedTokens(t *testing.T) {
	var logs strings.Builder
	srv := New(&tenantFake{}, "admin-secret", slog.New(slog.NewTextHandler(&logs, nil)), nil)
	do := func(token, method, path string) (int, string) {
		r := httptest.NewRequest(method, path, strings.NewReader("{}"))
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	_, missingNS := do("admin-secret", "GET", "/v1/namespaces/nope/apps")
	for _, c := range []struct {
		token, method, path string
		status              int
		body                string // a substring of the answer
	}{
		{"", "GET", "/v1/apps", 401, "unauthorized"},
		{"berth_revoked", "GET", "/v1/apps", 401, "unauthorized"},
		{"admin-secret", "GET", "/v1/namespaces/b/apps", 200, `"namespace":"b"`},
		{"admin-secret", "GET", "/v1/namespaces/nope/apps", 404, "namespace nope: not found"},
		{"berth_a_deploy", "GET", "/v1/namespaces/a/apps", 200, `"namespace":"a"`},
		{"berth_a_deploy", "GET", "/v1/namespaces/a/apps/web", 200, `"name":"web"`},
		// Another namespace, or the default one through the aliases, is not found.
		{"berth_a_deploy", "GET", "/v1/namespaces/b/apps", 404, "namespace b: not found"},
		{"berth_a_deploy", "GET", "/v1/namespaces/b/apps/web", 404, "namespace b: not found"},
		{"berth_a_deploy", "DELETE", "/v1/namespaces/b/apps/web", 404, "namespace b: not found"},
		{"berth_a_deploy", "POST", "/v1/namespaces/b/deploy", 404, "namespace b: not found"},
		{"berth_a_deploy", "GET", "/v1/apps", 404, "namespace default: not found"},
		{"berth_a_deploy", "GET", "/v1/namespaces/b", 404, "namespace b: not found"},
		{"berth_a_deploy", "GET", "/v1/namespaces", 200, `{"namespaces":[{"name":"a"`},
		{"berth_a_deploy", "DELETE", "/v1/namespaces/a/apps/web", 204, ""},
		{"berth_a_read", "DELETE", "/v1/namespaces/a/apps/web", 403, "read role"},
		{"berth_a_read", "GET", "/v1/namespaces/a/apps/web", 200, `"name":"web"`},
		{"berth_a_deploy", "GET", "/v1/tokens", 403, "needs the admin token"},
		{"berth_a_deploy", "POST", "/v1/namespaces", 403, "needs the admin token"},
		{"admin-secret", "DELETE", "/v1/namespaces/a", 400, "confirm=a"},
		{"admin-secret", "DELETE", "/v1/namespaces/a?confirm=a", 204, ""},
		{"admin-secret", "POST", "/v1/tokens", 201, `"secret":"berth_x"`},
		{"berth_a_deploy", "POST", "/v1/namespaces/a/deploy", 400, "multipart"},
	} {
		status, body := do(c.token, c.method, c.path)
		if status != c.status || !strings.Contains(body, c.body) {
			t.Errorf("%s %s with %q: %d %s; want %d containing %q", c.method, c.path, c.token, status, body, c.status, c.body)
		}
		if status == 404 && strings.HasPrefix(c.path, "/v1/namespaces/b/apps") && strings.Replace(body, "namespace b", "namespace nope", 1) != missingNS {
			t.Errorf("%s %s: a foreign namespace answers %s, a missing one %s; they must not differ", c.method, c.path, body, missingNS)
		}
	}
	if !strings.Contains(logs.String(), "token=tok-a-read") || !strings.Contains(logs.String(), "token=admin") || strings.Contains(logs.String(), "berth_a_") {
		t.Errorf("the access log must name token IDs, never secrets:\n%s", logs.String())
	}
}

func TestQuotaProblem(t *testing.T) {
	p := toProblem(fmt.Errorf("deploy: %w", &quota.Error{Namespace: "a", Name: quota.MaxApps, Limit: 2}))
	if p.Status != http.StatusTooManyRequests || p.Quota != "max_apps" || p.Limit != 2 || !strings.Contains(p.Detail, "max_apps=2") {
		t.Fatalf("problem %+v", p)
	}
}
