package jobs

import (
	"context"
	"fmt"
	"math"
	"strconv"

	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/store"
)

// Recover picks up what a previous run of the server left: for every
// execution the store says is running it looks for its current attempt's
// container by label. A running (or created) container is re-attached and
// watched to its end; an exited one has its result recorded; a missing one
// is a lost attempt, failed and retried by the job's policy. Job containers
// of this owner that belong to no running attempt are removed.
func (r *Runner) Recover(ctx context.Context) error {
	act, err := r.opts.Store.Active(ctx)
	if err != nil {
		return fmt.Errorf("recover jobs: %w", err)
	}
	lctx, cancel := context.WithTimeout(ctx, engineTimeout)
	sts, err := r.opts.Driver.List(lctx, map[string]string{runtime.LabelOwner: r.opts.Owner})
	cancel()
	if err != nil {
		return fmt.Errorf("recover jobs: list containers: %w", err)
	}
	byAttempt := map[string]runtime.Status{}
	for _, st := range sts {
		if st.Labels[runtime.LabelExecution] != "" {
			byAttempt[st.Labels[runtime.LabelExecution]+"/"+st.Labels[runtime.LabelAttempt]] = st
		}
	}
	keep := map[string]bool{}
	for _, ex := range act {
		if ex.Status != store.StatusRunning || ex.Current() == nil {
			continue
		}
		a := ex.Current()
		st, ok := byAttempt[ex.ID+"/"+strconv.Itoa(a.Number)]
		if !ok {
			r.log.Warn("job attempt lost: its container is gone", "ns", ex.Namespace, "job", ex.Job, "execution", ex.ID, "attempt", a.Number, "container", a.Container)
			r.finish(ctx, ex, "", Result{Reason: store.ReasonLost, ExitCode: noExitCode,
				Error: "the server restarted and the attempt's container " + a.Container + " was not found"})
			continue
		}
		keep[st.ID] = true
		r.log.Info("job attempt re-attached", "ns", ex.Namespace, "job", ex.Job, "execution", ex.ID, "attempt", a.Number, "state", st.State)
		r.spawn(ctx, ex, func(ctx context.Context, h *handle) { r.reattach(ctx, ex, st, h) })
	}
	for _, st := range byAttempt {
		if keep[st.ID] {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, engineTimeout)
		err := r.opts.Driver.Remove(rctx, st.ID)
		cancel()
		if err != nil {
			r.log.Warn("remove dangling job container", "container", st.Name, "err", err)
		} else {
			r.log.Info("removed dangling job container", "container", st.Name, "execution", st.Labels[runtime.LabelExecution])
		}
	}
	r.Wake()
	return nil
}

// reattach watches an attempt that was running when the server stopped.
func (r *Runner) reattach(ctx context.Context, ex store.Execution, st runtime.Status, h *handle) {
	a := ex.Current()
	if a.ContainerID != st.ID {
		recorded, err := r.opts.Store.UpdateExecution(ctx, ex.ID, func(e *store.Execution) error {
			if cur := e.Current(); e.Status != store.StatusRunning || cur == nil || cur.Number != a.Number {
				return errStale
			}
			e.Current().ContainerID = st.ID
			return nil
		})
		if err != nil {
			if ctx.Err() == nil {
				r.log.Error("job attempt: record container", "execution", ex.ID, "err", err)
			}
			return
		}
		ex, a = recorded, recorded.Current()
	}
	startedAt := st.StartedAt
	if st.State == runtime.StateCreated { // created, then the server stopped
		sctx, cancel := context.WithTimeout(ctx, engineTimeout)
		err := r.opts.Driver.Start(sctx, st.ID)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				r.finish(ctx, ex, st.ID, Result{Reason: store.ReasonCrash, ExitCode: noExitCode, Error: err.Error()})
			}
			return
		}
		startedAt = r.opts.Now()
	}
	if startedAt.IsZero() {
		startedAt = a.ClaimedAt
	}
	end, err := r.opts.Store.ReadLog(ctx, ex.ID, math.MaxInt64)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Error("job attempt: read log", "execution", ex.ID, "err", err)
		}
		return
	}
	r.watch(ctx, ex, st.ID, h, max(end.Next-a.LogOffset, 0), startedAt)
}
