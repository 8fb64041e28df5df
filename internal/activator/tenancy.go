package activator

import (
	"context"
	"fmt"
	"maps"
	"sync"

	"github.com/berth-dev/berth/internal/quota"
	"github.com/berth-dev/berth/internal/runtime"
)

// Tenancy connects the activator to namespaces: where their instances run
// and how many they may have. Both hooks are optional.
type Tenancy struct {
	// Placement is asked, before each instance of namespace ns is created,
	// for the network it joins ("" = the driver's own) and environment to
	// add (such as BERTH_GATEWAY). An error fails the start.
	Placement func(ctx context.Context, ns string) (network string, env map[string]string, err error)
	// InstanceQuota returns namespace ns's max_instances (≤ 0: unlimited):
	// the activator creates no instance beyond it, and a request that would
	// need one gets a *quota.Error. Instances that exist are not touched.
	InstanceQuota func(ns string) int
}

// nsCounter counts the registered instances of each namespace, whatever
// their state: every instance added to an app is counted (tryAdd in
// bringUp, add on adoption) and every one dropped is uncounted.
type nsCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *nsCounter) add(ns string, d int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[ns] += d
	if c.n[ns] <= 0 {
		delete(c.n, ns)
	}
}

// tryAdd counts one more instance of ns unless that would pass limit (≤ 0:
// no limit).
func (c *nsCounter) tryAdd(ns string, limit int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if limit > 0 && c.n[ns] >= limit {
		return false
	}
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[ns]++
	return true
}

func (c *nsCounter) get(ns string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[ns]
}

// Instances returns how many instances namespace ns has (any state).
func (a *Activator) Instances(ns string) int { return a.live.get(ns) }

func (a *Activator) instanceQuota(ns string) int {
	if a.opts.Tenancy.InstanceQuota == nil {
		return 0
	}
	return a.opts.Tenancy.InstanceQuota(ns)
}

// admitNew counts a new instance of ap's namespace if its quota allows.
// Callers hold ap.mu.
func (a *Activator) admitNew(ap *app) bool {
	return a.live.tryAdd(ap.cfg.Namespace, a.instanceQuota(ap.cfg.Namespace))
}

// quotaRefusal is the error for a request that found no capacity coming
// because the namespace is at max_instances while the app itself could
// still grow; nil otherwise. Callers hold ap.mu.
func (a *Activator) quotaRefusal(ap *app) error {
	limit := a.instanceQuota(ap.cfg.Namespace)
	if limit <= 0 || ap.pending() > 0 || a.live.get(ap.cfg.Namespace) < limit {
		return nil
	}
	count := 0
	for _, in := range ap.instances {
		if ap.serving(in) && !in.retiring {
			count++
		}
	}
	if count >= ap.cfg.Spec.Scale.Max {
		return nil // scale.max binds first: the request queues as before
	}
	return &quota.Error{Namespace: ap.cfg.Namespace, Name: quota.MaxInstances, Limit: limit}
}

// place applies Tenancy.Placement to an instance's spec.
func (a *Activator) place(ctx context.Context, ns string, spec runtime.InstanceSpec) (runtime.InstanceSpec, error) {
	if a.opts.Tenancy.Placement == nil {
		return spec, nil
	}
	network, env, err := a.opts.Tenancy.Placement(ctx, ns)
	if err != nil {
		return spec, fmt.Errorf("place instance in namespace %s: %w", ns, err)
	}
	spec.Network = network
	if len(env) > 0 {
		spec.Env = maps.Clone(spec.Env)
		if spec.Env == nil {
			spec.Env = map[string]string{}
		}
		maps.Copy(spec.Env, env)
	}
	return spec, nil
}
