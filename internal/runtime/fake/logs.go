package fake

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/berth-dev/berth/internal/runtime"
)

// Logs returns the recorded lines, one per line. With opts.Follow it goes on
// streaming new lines while the container runs, until it stops or is removed,
// ctx is cancelled or the reader is closed.
func (d *Driver) Logs(ctx context.Context, id string, opts runtime.LogOptions) (io.ReadCloser, error) {
	if err := d.check(ctx, "logs", id); err != nil {
		return nil, fmt.Errorf("logs of container %s: %w", id, err)
	}
	d.mu.Lock()
	c, err := d.lookup("logs of container", id)
	if err != nil {
		d.mu.Unlock()
		return nil, err
	}
	lines := c.logs
	if opts.Tail > 0 && len(lines) > opts.Tail {
		lines = lines[len(lines)-opts.Tail:]
	}
	first := joinLines(lines)
	sent := len(c.logs)
	d.mu.Unlock()

	if !opts.Follow {
		return io.NopCloser(strings.NewReader(first)), nil
	}
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	go func() {
		defer cancel()
		if _, err := io.WriteString(pw, first); err != nil {
			return
		}
		for {
			d.mu.Lock()
			more := joinLines(c.logs[sent:])
			sent = len(c.logs)
			running := c.status.State == runtime.StateRunning
			changed := c.changed
			d.mu.Unlock()
			if _, err := io.WriteString(pw, more); err != nil {
				return
			}
			if !running {
				pw.Close()
				return
			}
			select {
			case <-changed:
			case <-ctx.Done():
				pw.CloseWithError(ctx.Err())
				return
			}
		}
	}()
	return &follower{PipeReader: pr, cancel: cancel}, nil
}

type follower struct {
	*io.PipeReader
	cancel context.CancelFunc
}

func (f *follower) Close() error {
	f.cancel()
	return f.PipeReader.Close()
}

func joinLines(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}
