package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/berth-dev/berth/internal/store"
)

// Logs returns an execution's output as the store keeps it (the last
// store.LogCap bytes, all attempts). With follow the stream goes on as
// output arrives until the execution reaches a final state, ctx ends, the
// reader is closed or Run returns.
func (r *Runner) Logs(ctx context.Context, id string, follow bool) (io.ReadCloser, error) {
	if _, err := r.opts.Store.Execution(ctx, id); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	go func() {
		defer cancel()
		var off int64
		for {
			changed := r.changed()
			// Status first: the output of an execution read as final is all
			// in the store already.
			ex, err := r.opts.Store.Execution(ctx, id)
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			c, err := r.opts.Store.ReadLog(ctx, id, off)
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			if c.Skipped > 0 {
				if _, err := fmt.Fprintf(pw, "--- berth: %d bytes of earlier output were dropped; an execution keeps its last %d ---\n", c.Skipped, store.LogCap); err != nil {
					return
				}
			}
			if len(c.Data) > 0 {
				if _, err := pw.Write(c.Data); err != nil {
					return
				}
			}
			off = c.Next
			if !follow || store.Terminal(ex.Status) {
				pw.Close()
				return
			}
			select {
			case <-changed:
			case <-time.After(time.Second):
			case <-r.stopped:
				pw.CloseWithError(errors.New("the server is shutting down"))
				return
			case <-ctx.Done():
				pw.CloseWithError(ctx.Err())
				return
			}
		}
	}()
	return &logStream{PipeReader: pr, cancel: cancel}, nil
}

type logStream struct {
	*io.PipeReader
	cancel context.CancelFunc
}

func (s *logStream) Close() error {
	s.cancel()
	return s.PipeReader.Close()
}
