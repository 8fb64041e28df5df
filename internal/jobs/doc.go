// Package jobs runs job executions to completion from the durable queue in
// the store: a Runner claims queued executions in FIFO order within a global
// limit, a per-namespace limit and each job's parallelism; runs every attempt
// in a fresh, labelled container on the jobs network; enforces the timeout;
// copies the output into the store (capped); retries failures with
// exponential backoff; and removes the container when the attempt ends.
//
// Crash safety: every transition is committed before it is acted on. An
// attempt's container name is stored with the "running" status before the
// container is created, so after a crash Run finds it by label: a running
// container is re-attached (waited on again, its log picked up where the
// store left it), an exited one has its result recorded, and a missing one
// counts as a failed attempt (reason "lost") and is retried by the job's
// policy. Delivery is therefore at least once: an attempt may be lost and
// re-run, but the attempts of one execution never overlap. Each attempt sees
// its number in BERTH_ATTEMPT. docs/jobs.md is the user's account of this.
//
// The decisions are pure functions of their inputs and the time passed in:
// Pick (which queued executions may start now), Outcome (what an ended
// attempt makes of its execution) and Backoff.
package jobs
