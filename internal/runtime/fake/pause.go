package fake

import (
	"context"
	"fmt"
	"time"

	"github.com/berth-dev/berth/internal/runtime"
)

var (
	_ runtime.Pauser    = (*Driver)(nil)
	_ runtime.CPUReader = (*Driver)(nil)
)

// Pause freezes a running container.
func (d *Driver) Pause(ctx context.Context, id string) error {
	return d.setPaused(ctx, "pause", id, runtime.StateRunning, runtime.StatePaused)
}

// Unpause thaws a paused container.
func (d *Driver) Unpause(ctx context.Context, id string) error {
	return d.setPaused(ctx, "unpause", id, runtime.StatePaused, runtime.StateRunning)
}

func (d *Driver) setPaused(ctx context.Context, op, id string, from, to runtime.State) error {
	if err := d.check(ctx, op, id); err != nil {
		return fmt.Errorf("%s container %s: %w", op, id, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	c, err := d.lookup(op+" container", id)
	if err != nil {
		return err
	}
	if c.status.State != from {
		return fmt.Errorf("%s container %s: %w: container is %s", op, id, runtime.ErrInvalid, c.status.State)
	}
	c.status.State = to
	c.notify()
	return nil
}

// CPUTime reports the CPU time set with SetCPUTime (zero by default).
func (d *Driver) CPUTime(ctx context.Context, id string) (time.Duration, error) {
	if err := d.check(ctx, "cputime", id); err != nil {
		return 0, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	c, err := d.lookup("cpu time of container", id)
	if err != nil {
		return 0, err
	}
	return c.cpu, nil
}

// SetCPUTime sets the CPU time CPUTime reports for a container.
func (d *Driver) SetCPUTime(id string, t time.Duration) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, err := d.lookup("set cpu time of", id)
	if err != nil {
		return err
	}
	c.cpu = t
	return nil
}
