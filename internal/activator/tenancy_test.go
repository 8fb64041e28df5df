package activator

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/quota"
	"github.com/berth-dev/berth/internal/runtime"
)

// TestInstanceQuota: a namespace at max_instances gets no new instance (a
// request that needs one gets *quota.Error), its running instances keep
// serving, another namespace is unaffected, and removing an app frees its
// share.
func TestInstanceQuota(t *testing.T) {
	act, drv := setupWith(t, "scale: {concurrency: 1, max: 5}\nlimits: {idle_timeout: 1m}\n")
	act.opts.Tenancy.InstanceQuota = func(ns string) int { return map[string]int{"default": 1}[ns] }
	var placed []string
	act.opts.Tenancy.Placement = func(_ context.Context, ns string) (string, map[string]string, error) {
		placed = append(placed, ns)
		return "net-" + ns, map[string]string{"BERTH_GATEWAY": "http://gw-" + ns}, nil
	}
	l1 := acquire(t, act) // the one instance the quota allows
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := act.Acquire(ctx, "default", "web", 0, "")
	var qe *quota.Error
	if !errors.As(err, &qe) || qe.Name != quota.MaxInstances || qe.Limit != 1 || qe.Namespace != "default" || !errors.Is(err, quota.ErrExceeded) {
		t.Fatalf("second Acquire at concurrency 1 = %v; want a max_instances=1 quota error", err)
	}
	if n := act.Instances("default"); n != 1 {
		t.Fatalf("Instances(default) = %d; want 1", n)
	}
	l1.Release()
	l2 := acquire(t, act) // the existing instance still serves
	l2.Release()

	other := testApp(t, 1, "scale: {concurrency: 1, max: 5}\n")
	other.Namespace = "team-b"
	act.SetApp(other)
	lb, err := act.Acquire(ctx, "team-b", "web", 0, "")
	if err != nil {
		t.Fatalf("another namespace: %v", err)
	}
	lb.Release()
	if len(placed) != 2 || placed[0] != "default" || placed[1] != "team-b" {
		t.Fatalf("placement asked for %v", placed)
	}
	sts, _ := drv.List(context.Background(), map[string]string{runtime.LabelOwner: owner, runtime.LabelNamespace: "team-b"})
	if len(sts) != 1 {
		t.Fatalf("team-b containers = %+v", sts)
	}

	if err := act.RemoveApp(context.Background(), "default", "web"); err != nil {
		t.Fatal(err)
	}
	if n := act.Instances("default"); n != 0 {
		t.Fatalf("Instances(default) after removal = %d; want 0", n)
	}
}

// TestPlacementErrorFailsTheStart: a namespace whose network cannot be
// made gets a StartError, not a hang.
func TestPlacementErrorFailsTheStart(t *testing.T) {
	act, _ := setup(t)
	act.opts.Tenancy.Placement = func(context.Context, string) (string, map[string]string, error) {
		return "", nil, errors.New("no network")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := act.Acquire(ctx, "default", "web", 0, "")
	var se *StartError
	if !errors.As(err, &se) {
		t.Fatalf("Acquire = %v; want a StartError", err)
	}
}
