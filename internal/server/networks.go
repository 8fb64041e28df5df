package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/runtime/docker"
	"github.com/berth-dev/berth/internal/store"
)

// networker is what nsNetworks needs of a driver that has networks;
// *docker.Driver is one.
type networker interface {
	EnsureNetwork(ctx context.Context, name string) (docker.NetworkInfo, error)
	RemoveNetwork(ctx context.Context, name string) error
}

// nsNetworks gives each namespace its own bridge network: the default
// namespace keeps the server's network (--network, "berth"), namespace NS
// gets BASE-ns-NS, made on its first instance with inter-container
// communication off. The engine keeps separate bridges apart, so a
// container reaches other namespaces' containers by no path but the
// gateway.
type nsNetworks struct {
	drv  networker // nil: the driver has no networks (fake)
	base string
	// gatewayHost and gatewayPort are where the gateway listens; instances
	// get BERTH_GATEWAY only when it listens where they can reach it.
	gatewayHost net.IP
	gatewayPort string
	log         *slog.Logger

	mu   sync.RWMutex
	info map[string]docker.NetworkInfo
}

// name is the network of namespace ns.
func (n *nsNetworks) name(ns string) string {
	if ns == store.DefaultNamespace {
		return n.base
	}
	return n.base + "-ns-" + ns
}

// networkOf is the network name of namespace ns, for `berth ns ls`.
func (p *platform) networkOf(ns string) string {
	if p.nets == nil {
		return ""
	}
	return p.nets.name(ns)
}

// placement is the activator's Tenancy.Placement: the namespace's network
// (made if needed) and BERTH_GATEWAY, the gateway's URL on that network.
func (n *nsNetworks) placement(ctx context.Context, ns string) (string, map[string]string, error) {
	if n.drv == nil {
		return "", nil, nil
	}
	name := n.name(ns)
	info, err := n.drv.EnsureNetwork(ctx, name)
	if err != nil {
		return "", nil, err
	}
	n.mu.Lock()
	if n.info == nil {
		n.info = map[string]docker.NetworkInfo{}
	}
	n.info[ns] = info
	n.mu.Unlock()
	env := map[string]string{}
	if n.gatewayHost.IsUnspecified() || n.gatewayHost.Equal(info.Gateway) {
		env["BERTH_GATEWAY"] = "http://" + net.JoinHostPort(info.Gateway.String(), n.gatewayPort)
	}
	if ns == store.DefaultNamespace {
		return "", env, nil // the driver's own network
	}
	return name, env, nil
}

// inNamespace tells whether ip is an address on namespace ns's network:
// the gateway routes APP.NS.internal only for such callers.
func (n *nsNetworks) inNamespace(ip net.IP, ns string) bool {
	n.mu.RLock()
	info, ok := n.info[ns]
	n.mu.RUnlock()
	return ok && !ip.Equal(info.Gateway) && info.Contains(ip)
}

// remove removes namespace ns's network once its containers are gone
// (removals finish in the background, so it retries for a while).
func (n *nsNetworks) remove(ctx context.Context, ns string) error {
	if n.drv == nil || ns == store.DefaultNamespace {
		return nil
	}
	n.mu.Lock()
	delete(n.info, ns)
	n.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		err := n.drv.RemoveNetwork(ctx, n.name(ns))
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("namespace %s: %w", ns, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// load learns the networks of the namespaces that have apps, so that after
// a restart APP.NS.internal works for adopted instances before any new one
// is placed.
func (n *nsNetworks) load(ctx context.Context, svs []store.Serving) error {
	seen := map[string]bool{}
	for _, sv := range svs {
		if ns := sv.App.Namespace; !seen[ns] {
			seen[ns] = true
			if _, _, err := n.placement(ctx, ns); err != nil {
				return fmt.Errorf("network of namespace %s: %w", ns, err)
			}
		}
	}
	return nil
}
