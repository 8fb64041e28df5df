package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/store"
)

// noExitCode is the exit code recorded when the process never exited by
// itself (its container failed to start, vanished, or was lost).
const noExitCode = -1

// engineTimeout bounds one call to the engine.
const engineTimeout = 2 * time.Minute

// runAttempt creates and starts the container of ex's current attempt (its
// name already committed to the store) and watches it to the end.
func (r *Runner) runAttempt(ctx context.Context, ex store.Execution, h *handle) {
	a := ex.Current()
	cctx, cancel := context.WithTimeout(ctx, engineTimeout)
	id, err := r.opts.Driver.Create(cctx, r.spec(ex))
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			r.finish(ctx, ex, "", Result{Reason: store.ReasonCrash, ExitCode: noExitCode, Error: err.Error()})
		}
		return
	}
	recorded, err := r.opts.Store.UpdateExecution(ctx, ex.ID, func(e *store.Execution) error {
		if cur := e.Current(); e.Status != store.StatusRunning || cur == nil || cur.Number != a.Number {
			return errStale
		}
		e.Current().ContainerID = id
		return nil
	})
	if err == nil {
		ex = recorded
	}
	switch {
	case ctx.Err() != nil:
		return // Recover finds the container by its labels
	case err != nil:
		// The ID is a convenience; the labels identify the container.
		r.log.Warn("job attempt: record container", "execution", ex.ID, "attempt", a.Number, "err", err)
	}
	sctx, cancel := context.WithTimeout(ctx, engineTimeout)
	err = r.opts.Driver.Start(sctx, id)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			r.finish(ctx, ex, id, Result{Reason: store.ReasonCrash, ExitCode: noExitCode, Error: err.Error()})
		}
		return
	}
	r.watch(ctx, ex, id, h, 0, r.opts.Now())
}

// watch waits for the attempt's container to end — by itself, by the
// timeout (counted from startedAt) or by a cancel — while its output is
// copied to the store, skipping the first skip bytes (stored before a
// restart). It then records the result and removes the container. When ctx
// ends first it lets go without recording anything: the container runs on.
func (r *Runner) watch(ctx context.Context, ex store.Execution, id string, h *handle, skip int64, startedAt time.Time) {
	a := ex.Current()
	logCtx, stopLogs := context.WithCancel(ctx)
	defer stopLogs()
	logsDone := make(chan struct{})
	go func() {
		defer close(logsDone)
		if err := r.collect(logCtx, ex.ID, id, skip); err != nil && logCtx.Err() == nil {
			r.log.Warn("job attempt: log stream", "execution", ex.ID, "attempt", a.Number, "err", err)
		}
	}()
	timer := time.NewTimer(max(startedAt.Add(ex.Spec.Timeout.D()).Sub(r.opts.Now()), 0))
	defer timer.Stop()
	poll := time.NewTicker(r.opts.Poll)
	defer poll.Stop()

	reason := ""
	streamEnded := logsDone
	for reason == "" {
		select {
		case <-ctx.Done():
			<-logsDone
			return
		case <-h.cancel:
			reason = store.ReasonCancelled
			continue
		case <-timer.C:
			reason = store.ReasonTimeout
			continue
		case <-streamEnded:
			streamEnded = nil
		case <-poll.C:
			if cur, err := r.opts.Store.Execution(ctx, ex.ID); err == nil && cur.CancelRequested {
				h.signal()
			}
		}
		st, err := r.inspect(ctx, id)
		switch {
		case errors.Is(err, runtime.ErrNotFound):
			reason = store.ReasonCrash
		case err == nil && st.State == runtime.StateExited:
			reason = store.ReasonExit
		}
	}
	if reason == store.ReasonTimeout || reason == store.ReasonCancelled {
		r.log.Info("job attempt: stopping", "execution", ex.ID, "attempt", a.Number, "reason", reason)
		// The next attempt may start once this one is recorded, so it must
		// be stopped for sure first.
		for err := r.stop(ctx, id); err != nil; err = r.stop(ctx, id) {
			r.log.Error("job attempt: stop (retrying)", "execution", ex.ID, "attempt", a.Number, "err", err)
			select {
			case <-ctx.Done():
				<-logsDone
				return
			case <-time.After(5 * time.Second):
			}
		}
	}
	select {
	case <-logsDone:
	case <-time.After(10 * time.Second): // a stream that does not end with its container
		stopLogs()
		<-logsDone
	}
	res := Result{Reason: reason, ExitCode: noExitCode}
	st, err := r.inspect(ctx, id)
	switch {
	case err == nil:
		res.ExitCode, res.StartedAt, res.FinishedAt = st.ExitCode, st.StartedAt, st.FinishedAt
	case errors.Is(err, runtime.ErrNotFound):
		res.Reason, res.Error = store.ReasonCrash, "the container disappeared while it ran"
	case ctx.Err() != nil:
		return
	}
	r.finish(ctx, ex, id, res)
}

// stop stops the container, killing it after the grace period, and makes
// sure it no longer runs (removing it by force if the stop failed).
func (r *Runner) stop(ctx context.Context, id string) error {
	sctx, cancel := context.WithTimeout(ctx, r.opts.StopGrace+engineTimeout)
	defer cancel()
	err := r.opts.Driver.Stop(sctx, id, r.opts.StopGrace)
	if err == nil || errors.Is(err, runtime.ErrNotFound) {
		return nil
	}
	if rerr := r.opts.Driver.Remove(sctx, id); rerr != nil {
		return fmt.Errorf("stop container %s: %w (and remove: %w)", id, err, rerr)
	}
	return nil
}

func (r *Runner) inspect(ctx context.Context, id string) (runtime.Status, error) {
	ictx, cancel := context.WithTimeout(ctx, engineTimeout)
	defer cancel()
	return r.opts.Driver.Inspect(ictx, id)
}

// finish records res as the end of ex's current attempt, then removes the
// container. If the record fails the container is kept for Recover.
func (r *Runner) finish(ctx context.Context, ex store.Execution, containerID string, res Result) {
	a := ex.Current()
	if res.Reason == store.ReasonExit && !res.StartedAt.IsZero() && res.FinishedAt.Sub(res.StartedAt) >= ex.Spec.Timeout.D() {
		res.Reason = store.ReasonTimeout // killed by a timeout before a restart
	}
	now := r.opts.Now()
	done, err := r.opts.Store.UpdateExecution(ctx, ex.ID, func(e *store.Execution) error {
		if cur := e.Current(); e.Status != store.StatusRunning || cur == nil || cur.Number != a.Number {
			return errStale
		}
		Outcome(e, res, now, r.opts.RetryBackoff, r.opts.MaxBackoff)
		return nil
	})
	if err != nil {
		if ctx.Err() == nil {
			r.log.Error("job attempt: record result", "execution", ex.ID, "attempt", a.Number, "err", err)
		}
		return
	}
	level := r.log.Info
	if done.Status != store.StatusSucceeded {
		level = r.log.Warn
	}
	level("job attempt ended", "ns", ex.Namespace, "job", ex.Job, "execution", ex.ID, "attempt", a.Number,
		"reason", res.Reason, "exit_code", res.ExitCode, "status", done.Status, "err", res.Error)
	r.notify()
	r.Wake()
	if containerID != "" {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), engineTimeout)
		defer cancel()
		if err := r.opts.Driver.Remove(rctx, containerID); err != nil {
			r.log.Warn("job attempt: remove container (the next start removes it)", "execution", ex.ID, "attempt", a.Number, "err", err)
		}
	}
}

// logFlushBytes makes the collector flush early when this much is buffered.
const logFlushBytes = 64 << 10

// collect follows the container's output into the store until the stream
// ends, flushing every LogFlush (or 64 KiB); the first skip bytes are
// dropped. What was read is flushed even when ctx ends, so that the stored
// log stays a prefix of the container's and a re-attach can skip it.
func (r *Runner) collect(ctx context.Context, execID, containerID string, skip int64) error {
	rc, err := r.opts.Driver.Logs(ctx, containerID, runtime.LogOptions{Follow: true})
	if err != nil {
		return err
	}
	defer rc.Close()
	var (
		mu      sync.Mutex // guards buf
		flushMu sync.Mutex // keeps flushes in order
		buf     []byte
	)
	flush := func() {
		flushMu.Lock()
		defer flushMu.Unlock()
		mu.Lock()
		data := buf
		buf = nil
		mu.Unlock()
		if len(data) == 0 {
			return
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := r.opts.Store.AppendLog(fctx, execID, data); err != nil {
			r.log.Error("job attempt: store log", "execution", execID, "err", err)
		}
		r.notify()
	}
	readErr := make(chan error, 1)
	go func() {
		b := make([]byte, 32<<10)
		for {
			n, err := rc.Read(b)
			data := b[:n]
			if skip > 0 {
				k := min(int64(len(data)), skip)
				data, skip = data[k:], skip-k
			}
			if len(data) > 0 {
				mu.Lock()
				buf = append(buf, data...)
				full := len(buf) >= logFlushBytes
				mu.Unlock()
				if full {
					flush()
				}
			}
			if err != nil {
				readErr <- err
				return
			}
		}
	}()
	t := time.NewTicker(r.opts.LogFlush)
	defer t.Stop()
	for {
		select {
		case err := <-readErr:
			flush()
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		case <-t.C:
			flush()
		case <-ctx.Done():
			rc.Close()
			<-readErr
			flush()
			return ctx.Err()
		}
	}
}
