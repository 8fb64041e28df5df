package docker

import (
	"context"
	"fmt"
	"net"
	"sort"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/network"

	"github.com/berth-dev/berth/internal/runtime"
)

// NetworkInfo describes a bridge network: its subnets, and the host's
// address on it (the bridge's gateway), at which containers reach services
// of the host that listen on it, such as Berth's gateway.
type NetworkInfo struct {
	Name    string
	Subnets []*net.IPNet
	Gateway net.IP
}

// Contains tells whether ip lies in one of the network's subnets.
func (n NetworkInfo) Contains(ip net.IP) bool {
	for _, s := range n.Subnets {
		if s.Contains(ip) {
			return true
		}
	}
	return false
}

// EnsureNetwork makes sure the network name exists — the driver's own one,
// or an isolated one (inter-container communication off) made on first use
// as for InstanceSpec.Network — and describes it.
func (d *Driver) EnsureNetwork(ctx context.Context, name string) (NetworkInfo, error) {
	if _, err := d.specNetwork(ctx, runtime.InstanceSpec{Network: name}); err != nil {
		return NetworkInfo{}, err
	}
	nw, err := d.cli.NetworkInspect(ctx, name, network.InspectOptions{})
	if err != nil {
		return NetworkInfo{}, fmt.Errorf("inspect network %s: %w", name, engineErr(err))
	}
	info := NetworkInfo{Name: name}
	for _, c := range nw.IPAM.Config {
		if _, sn, err := net.ParseCIDR(c.Subnet); err == nil {
			info.Subnets = append(info.Subnets, sn)
		}
		if ip := net.ParseIP(c.Gateway); ip != nil && info.Gateway == nil {
			info.Gateway = ip
		}
	}
	if len(info.Subnets) == 0 || info.Gateway == nil {
		return info, fmt.Errorf("network %s has no IPv4 subnet and gateway (IPAM %+v)", name, nw.IPAM.Config)
	}
	return info, nil
}

// RemoveNetwork removes a network the driver made; a missing one is not an
// error. The engine refuses while containers are attached.
func (d *Driver) RemoveNetwork(ctx context.Context, name string) error {
	if name == d.network {
		return fmt.Errorf("remove network %s: it is the driver's own network", name)
	}
	d.ensureMu.Lock()
	delete(d.ensured, name)
	d.ensureMu.Unlock()
	err := d.cli.NetworkRemove(ctx, name)
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove network %s: %w", name, engineErr(err))
	}
	return nil
}

// endpointIP is a container's IP on preferred, else on the one network it
// is attached to (instances and jobs join exactly one).
func endpointIP(eps map[string]*network.EndpointSettings, preferred string) string {
	if ep := eps[preferred]; ep != nil && ep.IPAddress != "" {
		return ep.IPAddress
	}
	names := make([]string, 0, len(eps))
	for n := range eps {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if ep := eps[n]; ep != nil && ep.IPAddress != "" {
			return ep.IPAddress
		}
	}
	return ""
}
