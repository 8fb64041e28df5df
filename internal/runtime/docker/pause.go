package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/berth-dev/berth/internal/runtime"
)

var (
	_ runtime.Pauser    = (*Driver)(nil)
	_ runtime.CPUReader = (*Driver)(nil)
)

// Pause freezes the container's processes (cgroup freezer).
func (d *Driver) Pause(ctx context.Context, id string) error {
	if err := d.cli.ContainerPause(ctx, id); err != nil {
		return fmt.Errorf("pause container %s: %w", id, engineErr(err))
	}
	return nil
}

// Unpause thaws a paused container.
func (d *Driver) Unpause(ctx context.Context, id string) error {
	if err := d.cli.ContainerUnpause(ctx, id); err != nil {
		return fmt.Errorf("unpause container %s: %w", id, engineErr(err))
	}
	return nil
}

// CPUTime reads the container's cumulative CPU use from a one-shot stats call.
func (d *Driver) CPUTime(ctx context.Context, id string) (time.Duration, error) {
	resp, err := d.cli.ContainerStatsOneShot(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("stats of container %s: %w", id, engineErr(err))
	}
	defer resp.Body.Close()
	var st container.StatsResponse
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return 0, fmt.Errorf("stats of container %s: %w", id, err)
	}
	return time.Duration(st.CPUStats.CPUUsage.TotalUsage), nil
}
