package docker

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	"github.com/berth-dev/berth/internal/runtime"
)

// Create makes a container for spec on the driver's network, with the
// resources of spec and the hardening described on CapAdd. It does not pull:
// a missing image gives runtime.ErrNotFound.
func (d *Driver) Create(ctx context.Context, spec runtime.InstanceSpec) (string, error) {
	if spec.Image == "" {
		return "", fmt.Errorf("create container %s: %w: empty image", spec.Name, runtime.ErrInvalid)
	}
	if spec.Port < 0 || spec.Port > 65535 {
		return "", fmt.Errorf("create container %s: %w: port %d not in 0..65535", spec.Name, runtime.ErrInvalid, spec.Port)
	}
	labels := make(map[string]string, len(spec.Labels)+1)
	for k, v := range spec.Labels {
		labels[k] = v
	}
	if spec.Port > 0 {
		labels[LabelPort] = strconv.Itoa(spec.Port)
	}
	env := make([]string, 0, len(spec.Env))
	for k, v := range spec.Env {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)

	cfg := &container.Config{Image: spec.Image, Env: env, Labels: labels, Entrypoint: spec.Entrypoint, Cmd: spec.Args}
	var ociRuntime string
	switch spec.Isolation {
	case "", runtime.IsolationRunc:
	case runtime.IsolationGVisor:
		ociRuntime = GVisorRuntime
	default:
		return "", fmt.Errorf("create container %s: %w: isolation %q; allowed: runc, gvisor", spec.Name, runtime.ErrInvalid, spec.Isolation)
	}
	netName, err := d.specNetwork(ctx, spec)
	if err != nil {
		return "", fmt.Errorf("create container %s: %w", spec.Name, err)
	}
	noInit := false // the app is PID 1 and gets the stop signal itself
	pids := d.pidsLimit
	host := &container.HostConfig{
		NetworkMode:   container.NetworkMode(netName),
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled}, // Berth heals, not Docker
		LogConfig: container.LogConfig{
			Type:   "json-file",
			Config: map[string]string{"max-size": "10m", "max-file": "2"},
		},
		CapDrop:     []string{"ALL"},
		CapAdd:      slices.Clone(CapAdd),
		SecurityOpt: []string{"no-new-privileges:true"},
		Init:        &noInit,
		Runtime:     ociRuntime,
		Resources: container.Resources{
			NanoCPUs:  spec.Resources.NanoCPUs,
			Memory:    spec.Resources.MemoryBytes,
			PidsLimit: &pids,
		},
	}
	if spec.Resources.MemoryBytes > 0 {
		host.MemorySwap = spec.Resources.MemoryBytes // no swap
	}
	netCfg := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{netName: {}}}
	var holder string
	// App instances get a network holder, on whichever network they join;
	// one-shot job containers (no instance label) do not need one.
	if d.holder != "" && (netName == d.network || spec.Labels[runtime.LabelInstance] != "") {
		if _, err := d.ResolveImage(ctx, spec.Image); err != nil {
			return "", fmt.Errorf("create container %s: %w", spec.Name, err)
		}
		if holder, err = d.createHolder(ctx, spec, netName); err != nil {
			return "", err
		}
		labels[LabelHolder] = holder
		host.NetworkMode = container.NetworkMode("container:" + holder)
		netCfg = nil
	}

	resp, err := d.cli.ContainerCreate(ctx, cfg, host, netCfg, nil, spec.Name)
	if err != nil && ociRuntime != "" && strings.Contains(strings.ToLower(err.Error()), "unknown runtime") {
		return "", fmt.Errorf("create container %s: isolation %s needs the %q runtime registered with the engine (run scripts/setup.sh): %w",
			spec.Name, spec.Isolation, ociRuntime, engineErr(err))
	}
	if err != nil {
		if holder != "" {
			d.removeQuietly(context.WithoutCancel(ctx), holder)
		}
		return "", fmt.Errorf("create container %s from %s: %w", spec.Name, spec.Image, engineErr(err))
	}
	for _, w := range resp.Warnings {
		d.log.Warn("engine warning on create", "instance", spec.Name, "warning", w)
	}
	d.log.Debug("created container", "instance", spec.Name, "id", resp.ID)
	return resp.ID, nil
}

// Start starts a created or stopped container; starting a running one is a
// no-op.
func (d *Driver) Start(ctx context.Context, id string) error {
	err := d.cli.ContainerStart(ctx, id, container.StartOptions{})
	if isHolderDown(err) {
		// The engine was restarted and stopped the holder: start it, then retry.
		var started bool
		if started, err = d.startHolderIfDown(ctx, id); started {
			err = d.cli.ContainerStart(ctx, id, container.StartOptions{})
		}
	}
	if err != nil {
		return fmt.Errorf("start container %s: %w", id, engineErr(err))
	}
	return nil
}

// Stop sends the container's stop signal and kills it after grace (rounded up
// to whole seconds, as the engine counts). Stopping a stopped container is a
// no-op. ctx must allow for grace.
func (d *Driver) Stop(ctx context.Context, id string, grace time.Duration) error {
	secs := int(math.Ceil(max(grace, 0).Seconds()))
	if err := d.cli.ContainerStop(ctx, id, container.StopOptions{Timeout: &secs}); err != nil {
		return fmt.Errorf("stop container %s: %w", id, engineErr(err))
	}
	return nil
}

// Remove force-removes the container and its anonymous volumes. A container
// that does not exist, or is already being removed, is not an error.
func (d *Driver) Remove(ctx context.Context, id string) error {
	var holder string
	if c, err := d.cli.ContainerInspect(ctx, id); err == nil && c.Config != nil {
		holder = c.Config.Labels[LabelHolder]
	}
	err := d.cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if holder != "" && (err == nil || cerrdefs.IsNotFound(err)) {
		d.holderIPs.Delete(holder)
		d.removeQuietly(ctx, holder)
	}
	switch {
	case err == nil, cerrdefs.IsNotFound(err):
		return nil
	case cerrdefs.IsConflict(err) && strings.Contains(err.Error(), "already in progress"):
		return nil
	}
	return fmt.Errorf("remove container %s: %w", id, engineErr(err))
}

// Inspect reports the container's status; Addr is its IP on the driver's
// network and the port recorded at Create, set only while it runs.
func (d *Driver) Inspect(ctx context.Context, id string) (runtime.Status, error) {
	c, err := d.cli.ContainerInspect(ctx, id)
	if err != nil {
		return runtime.Status{}, fmt.Errorf("inspect container %s: %w", id, engineErr(err))
	}
	return d.status(ctx, c), nil
}

// List returns the status of every container, in any state, whose labels
// include all of selector, sorted by name.
func (d *Driver) List(ctx context.Context, selector map[string]string) ([]runtime.Status, error) {
	f := filters.NewArgs()
	for k, v := range selector {
		f.Add("label", k+"="+v)
	}
	summaries, err := d.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers %v: %w", selector, engineErr(err))
	}
	out := make([]runtime.Status, 0, len(summaries))
	for _, s := range summaries {
		// The summary lacks exit code and times; inspect each for a full Status.
		c, err := d.cli.ContainerInspect(ctx, s.ID)
		if cerrdefs.IsNotFound(err) {
			continue // removed since the list
		}
		if err != nil {
			return nil, fmt.Errorf("list containers %v: inspect %s: %w", selector, s.ID, engineErr(err))
		}
		out = append(out, d.status(ctx, c))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (d *Driver) status(ctx context.Context, c container.InspectResponse) runtime.Status {
	st := runtime.Status{ID: c.ID, Name: strings.TrimPrefix(c.Name, "/"), State: runtime.StateUnknown}
	if c.Config != nil {
		st.Labels = c.Config.Labels
	}
	if c.State == nil {
		return st
	}
	switch c.State.Status {
	case container.StateCreated:
		st.State = runtime.StateCreated
	case container.StateRunning:
		st.State = runtime.StateRunning
	case container.StatePaused:
		st.State = runtime.StatePaused
	case container.StateExited:
		st.State = runtime.StateExited
	}
	st.ExitCode = c.State.ExitCode
	st.StartedAt = parseTime(c.State.StartedAt)
	st.FinishedAt = parseTime(c.State.FinishedAt)
	if st.State == runtime.StateRunning && c.NetworkSettings != nil {
		ip := endpointIP(c.NetworkSettings.Networks, d.network)
		if hid := st.Labels[LabelHolder]; hid != "" {
			ip = d.holderIP(ctx, hid)
		}
		if ip != "" {
			st.IP = ip
			if port, _ := strconv.Atoi(st.Labels[LabelPort]); port > 0 {
				st.Addr = ip + ":" + strconv.Itoa(port)
			}
		}
	}
	return st
}

// parseTime reads the engine's RFC 3339 times; the engine's "never"
// (0001-01-01…) and anything unreadable give the zero time.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}
