package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/manifest"
)

func TestValidNamespace(t *testing.T) {
	for name, ok := range map[string]bool{
		"a": true, "team-a": true, "a1": true, "default": true, strings.Repeat("a", 32): true,
		"": false, "A": false, "1a": false, "a-": false, "a.b": false, "a_b": false, strings.Repeat("a", 33): false, "a/b": false,
	} {
		err := ValidNamespace(name)
		if (err == nil) != ok {
			t.Errorf("ValidNamespace(%q) = %v; want ok=%v", name, err, ok)
		}
		if err != nil && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `"`+name+`"`)) {
			t.Errorf("ValidNamespace(%q) = %v; want ErrInvalid naming the value", name, err)
		}
	}
}

func TestNamespacesLifecycle(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	if l, err := s.Namespaces(ctx); err != nil || len(l) != 1 || l[0].Name != DefaultNamespace {
		t.Fatalf("Namespaces of a new store = %+v, %v; want only default", l, err)
	}
	if _, err := s.CreateNamespace(ctx, Namespace{Name: "team-a", Quotas: Quotas{MaxApps: 2}}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateNamespace(ctx, Namespace{Name: "team-a"}, now); !errors.Is(err, ErrConflict) {
		t.Fatalf("second create = %v; want ErrConflict", err)
	}
	if _, err := s.CreateNamespace(ctx, Namespace{Name: "default"}, now); !errors.Is(err, ErrConflict) {
		t.Fatalf("create default = %v; want ErrConflict", err)
	}
	if _, err := s.CreateNamespace(ctx, Namespace{Name: "Bad"}, now); !errors.Is(err, ErrInvalid) {
		t.Fatalf("create Bad = %v; want ErrInvalid", err)
	}
	if _, err := s.CreateNamespace(ctx, Namespace{Name: "neg", Quotas: Quotas{MaxJobs: -1}}, now); err == nil || !strings.Contains(err.Error(), "max_jobs=-1") {
		t.Fatalf("negative quota = %v; want an error naming max_jobs=-1", err)
	}
	ns, err := s.SetQuotas(ctx, "team-a", Quotas{MaxInstances: 3})
	if err != nil || ns.Quotas != (Quotas{MaxInstances: 3}) || !ns.CreatedAt.Equal(now) {
		t.Fatalf("SetQuotas = %+v, %v", ns, err)
	}
	if _, err := s.SetQuotas(ctx, "default", Quotas{MaxApps: 9}); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Namespace(ctx, "default"); d.Quotas.MaxApps != 9 {
		t.Fatalf("default quotas = %+v", d.Quotas)
	}
	if _, err := s.SetQuotas(ctx, "nope", Quotas{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetQuotas of a missing namespace = %v", err)
	}

	// Everything stored in team-a goes with it; the same names in default stay.
	for _, ns := range []string{"team-a", "default"} {
		if _, err := s.CommitRevision(ctx, Revision{Namespace: ns, App: "web", Spec: manifest.Manifest{Name: "web"}}, now); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CommitJob(ctx, JobDef{Namespace: ns, Name: "nightly"}, now); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Enqueue(ctx, Execution{Namespace: ns, Job: "nightly"}, now); err != nil {
			t.Fatal(err)
		}
	}
	tok, secret, err := s.CreateToken(ctx, "team-a", RoleDeploy, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteNamespace(ctx, "default"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("delete default = %v; want ErrInvalid", err)
	}
	if err := s.DeleteNamespace(ctx, "team-a"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteNamespace(ctx, "team-a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete = %v; want ErrNotFound", err)
	}
	if _, err := s.App(ctx, "team-a", "web"); !errors.Is(err, ErrNotFound) {
		t.Errorf("app of the removed namespace: %v", err)
	}
	if _, err := s.Job(ctx, "team-a", "nightly"); !errors.Is(err, ErrNotFound) {
		t.Errorf("job of the removed namespace: %v", err)
	}
	if l, _ := s.Executions(ctx, "team-a", "", 0); len(l) != 0 {
		t.Errorf("executions of the removed namespace: %+v", l)
	}
	if act, _ := s.Active(ctx); len(act) != 1 || act[0].Namespace != "default" {
		t.Errorf("queue after the removal: %+v; want default's execution only", act)
	}
	if _, err := s.TokenBySecret(ctx, secret); !errors.Is(err, ErrNotFound) {
		t.Errorf("token %s of the removed namespace still found: %v", tok.ID, err)
	}
	if _, err := s.App(ctx, "default", "web"); err != nil {
		t.Errorf("default's app went too: %v", err)
	}
}

func TestTokens(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if _, _, err := s.CreateToken(ctx, "nope", RoleRead, now); !errors.Is(err, ErrNotFound) {
		t.Fatalf("token for a missing namespace = %v", err)
	}
	if _, _, err := s.CreateToken(ctx, "default", "admin", now); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `"admin"`) {
		t.Fatalf("admin role = %v; want ErrInvalid naming it", err)
	}
	tok, secret, err := s.CreateToken(ctx, "default", RoleRead, now)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, TokenPrefix) || len(secret) != len(TokenPrefix)+64 {
		t.Fatalf("secret %q", secret)
	}
	if tok.Hash != HashToken(secret) || strings.Contains(tok.Hash, secret) {
		t.Fatalf("stored hash %q", tok.Hash)
	}
	got, err := s.TokenBySecret(ctx, secret)
	if err != nil || got.ID != tok.ID || got.Role != RoleRead || got.Namespace != "default" || got.Revoked() {
		t.Fatalf("TokenBySecret = %+v, %v", got, err)
	}
	if _, err := s.TokenBySecret(ctx, secret+"x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("wrong secret = %v", err)
	}
	later := now.Add(time.Hour)
	if r, err := s.RevokeToken(ctx, tok.ID, later); err != nil || !r.RevokedAt.Equal(later) {
		t.Fatalf("RevokeToken = %+v, %v", r, err)
	}
	if r, _ := s.RevokeToken(ctx, tok.ID, later.Add(time.Hour)); !r.RevokedAt.Equal(later) {
		t.Fatalf("second revoke moved the time to %v", r.RevokedAt)
	}
	if got, _ := s.TokenBySecret(ctx, secret); !got.Revoked() {
		t.Fatal("revoked token is not revoked")
	}
	if _, err := s.RevokeToken(ctx, "tok-nope", now); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke missing = %v", err)
	}
	if l, err := s.Tokens(ctx); err != nil || len(l) != 1 {
		t.Fatalf("Tokens = %+v, %v", l, err)
	}
}
