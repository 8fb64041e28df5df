package docker

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/berth-dev/berth/internal/runtime"
)

// Logs streams the container's stdout and stderr, demultiplexed into plain
// text. With opts.Follow the stream goes on until the container stops, ctx is
// cancelled or the reader is closed.
func (d *Driver) Logs(ctx context.Context, id string, opts runtime.LogOptions) (io.ReadCloser, error) {
	tail := "all"
	if opts.Tail > 0 {
		tail = strconv.Itoa(opts.Tail)
	}
	rc, err := d.cli.ContainerLogs(ctx, id, container.LogsOptions{
		ShowStdout: true,
		ShowStderr: true,
		Follow:     opts.Follow,
		Tail:       tail,
	})
	if err != nil {
		return nil, fmt.Errorf("logs of container %s: %w", id, engineErr(err))
	}
	// Containers are created without a TTY, so the stream is multiplexed.
	pr, pw := io.Pipe()
	go func() {
		_, err := stdcopy.StdCopy(pw, pw, rc)
		rc.Close()
		pw.CloseWithError(err) // nil err: readers see io.EOF
	}()
	return &logReader{PipeReader: pr, body: rc}, nil
}

// logReader closes the engine's response as well as the pipe, so that Close
// ends a followed stream at once.
type logReader struct {
	*io.PipeReader
	body io.Closer
}

func (r *logReader) Close() error {
	r.body.Close()
	return r.PipeReader.Close()
}
