// Package docker is Berth's runtime driver for a local Docker engine. It
// creates every instance as a locked-down container (all capabilities dropped
// but a few, no new privileges, a pids limit, no swap, no published ports)
// attached to one bridge network, and reaches it at its IP on that network.
// It also builds images from a context (runtime.Builder).
package docker

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/berth-dev/berth/internal/runtime"
)

// LabelPort is the container label in which Create records the instance's
// port (InstanceSpec.Port), so that Inspect and List can report Status.Addr.
const LabelPort = "dev.berth.port"

// LabelManaged marks the network (and anything else that is not an instance)
// that the driver made.
const LabelManaged = "dev.berth.managed"

// GVisorRuntime is the name under which gVisor's runsc is registered with
// the engine (/etc/docker/daemon.json "runtimes"); scripts/setup.sh does it.
const GVisorRuntime = "runsc"

// Defaults for Options.
const (
	DefaultNetwork   = "berth"
	DefaultPidsLimit = 512
)

// CapAdd is the set of Linux capabilities given back to every container after
// dropping ALL. It is what an ordinary unprivileged web app may need: changing
// file ownership and permissions of its own files (CHOWN, DAC_OVERRIDE,
// FOWNER), dropping to another user in an entrypoint (SETGID, SETUID), binding
// ports below 1024 such as 80 (NET_BIND_SERVICE) and signalling its own
// children (KILL). Docker's default set also grants MKNOD, NET_RAW, SYS_CHROOT,
// AUDIT_WRITE, SETFCAP, SETPCAP and FSETID, which a web app has no use for and
// which widen the attack surface (NET_RAW allows spoofing on the bridge).
var CapAdd = []string{"CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID", "NET_BIND_SERVICE", "KILL"}

// Options configures New.
type Options struct {
	// Network is the bridge network every instance joins (default "berth").
	// New creates it when it is missing.
	Network string
	// Logger receives the driver's logs (default: discarded).
	Logger *slog.Logger
	// PidsLimit caps the processes in each container (default 512; a
	// negative value means no limit).
	PidsLimit int64
	// HolderBinary, if set, is a statically linked berth binary: each
	// instance then gets a network holder container (see holder.go) built
	// from it, so that a stopped instance restarts into its kept network
	// namespace. Without it instances join the bridge directly.
	HolderBinary string
}

// Driver is a runtime.Driver and runtime.Builder over the Docker engine API.
type Driver struct {
	cli       *client.Client
	network   string
	pidsLimit int64
	log       *slog.Logger
	// holder is the network holder image ("" = no holders); holderIPs caches
	// holder ID → IP.
	holder    string
	holderIPs sync.Map

	// ensureMu serialises the creation of InstanceSpec.Network networks:
	// the engine does not stop concurrent creates of one name (it would
	// make several networks of that name). ensured records those that exist.
	ensureMu sync.Mutex
	ensured  map[string]bool
}

var (
	_ runtime.Driver  = (*Driver)(nil)
	_ runtime.Builder = (*Driver)(nil)
)

// New connects to the engine named by the environment (DOCKER_HOST, …),
// negotiating the API version, checks that it answers and makes sure the
// network exists.
func New(ctx context.Context, opts Options) (*Driver, error) {
	if opts.Network == "" {
		opts.Network = DefaultNetwork
	}
	if opts.PidsLimit == 0 {
		opts.PidsLimit = DefaultPidsLimit
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	d := &Driver{cli: cli, network: opts.Network, pidsLimit: opts.PidsLimit, log: opts.Logger}

	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(pingCtx); err != nil {
		cli.Close()
		return nil, fmt.Errorf("docker engine at %s: %w", cli.DaemonHost(), err)
	}
	if err := d.ensureNetwork(ctx, d.network, false); err != nil {
		cli.Close()
		return nil, err
	}
	if opts.HolderBinary != "" {
		img, err := d.holderImage(ctx, opts.HolderBinary)
		if err != nil {
			// Instances still work on the plain bridge, only wakes are slower.
			d.log.Warn("network holders disabled", "err", err)
		}
		d.holder = img
	}
	return d, nil
}

// Name returns "docker".
func (d *Driver) Name() string { return "docker" }

// Network returns the name of the network instances join.
func (d *Driver) Network() string { return d.network }

// Close releases the connection to the engine.
func (d *Driver) Close() error { return d.cli.Close() }

// ensureNetwork creates the bridge network name unless it exists. An
// isolated network has inter-container communication disabled: its
// containers reach neither each other nor (the engine's default isolation
// between bridges) the containers of other networks.
func (d *Driver) ensureNetwork(ctx context.Context, name string, isolated bool) error {
	_, err := d.cli.NetworkInspect(ctx, name, network.InspectOptions{})
	if err == nil {
		return nil
	}
	if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("inspect network %s: %w", name, err)
	}
	opts := network.CreateOptions{Driver: "bridge", Labels: map[string]string{LabelManaged: "true"}}
	if isolated {
		opts.Options = map[string]string{"com.docker.network.bridge.enable_icc": "false"}
	}
	_, err = d.cli.NetworkCreate(ctx, name, opts)
	switch {
	case err == nil:
		d.log.Info("created network", "network", name, "isolated", isolated)
		return nil
	case cerrdefs.IsConflict(err) || strings.Contains(err.Error(), "already exists"):
		return nil // another process made it first
	default:
		return fmt.Errorf("create network %s: %w", name, err)
	}
}

// specNetwork is the network a container of spec joins, creating an
// InstanceSpec.Network (isolated) the first time it is asked for.
func (d *Driver) specNetwork(ctx context.Context, spec runtime.InstanceSpec) (string, error) {
	if spec.Network == "" || spec.Network == d.network {
		return d.network, nil
	}
	d.ensureMu.Lock()
	defer d.ensureMu.Unlock()
	if d.ensured[spec.Network] {
		return spec.Network, nil
	}
	if err := d.ensureNetwork(ctx, spec.Network, true); err != nil {
		return "", err
	}
	if d.ensured == nil {
		d.ensured = map[string]bool{}
	}
	d.ensured[spec.Network] = true
	return spec.Network, nil
}

// engineErr adds the runtime sentinel that matches an engine error class,
// keeping the engine's error (and its message) in the chain.
func engineErr(err error) error {
	switch {
	case cerrdefs.IsNotFound(err):
		return fmt.Errorf("%w: %w", runtime.ErrNotFound, err)
	case cerrdefs.IsInvalidArgument(err):
		return fmt.Errorf("%w: %w", runtime.ErrInvalid, err)
	}
	return err
}
