package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/internal/manifest"
)

// exitCodeError ends a command with a chosen exit code and a one-line
// reason (none when msg is empty).
type exitCodeError struct {
	code int
	msg  string
}

func (e *exitCodeError) Error() string { return e.msg }

func newJobsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "jobs",
		Short: "Run jobs to completion and inspect their executions",
		Long: `Jobs are containers that run to completion. Deploy a job with "berth deploy" of a
manifest with "kind: job"; each "berth jobs run" enqueues an execution of it, which runs in a
fresh container (retried on failure, killed at its timeout) and keeps its exit code and log.
See docs/jobs.md.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newJobsRunCmd(e), newJobsLsCmd(e), newJobsStatusCmd(e), newJobsLogsCmd(e), newJobsCancelCmd(e))
	return cmd
}

func newJobsRunCmd(e *env) *cobra.Command {
	var cf clientFlags
	var envFlags []string
	var wait bool
	cmd := &cobra.Command{
		Use:   "run NAME [--env K=V]... [--wait] [-- ARGS...]",
		Short: "Enqueue an execution of a job and print its ID",
		Long: `Enqueue an execution of the job NAME and print its ID. --env adds to (or overrides) the
job's environment; arguments after "--" replace the job's args.

With --wait the execution's log is streamed as it runs, and berth exits with the job's exit
code: 0 when it succeeded, its last exit code when it failed, 1 (with a reason on stderr)
when it timed out, was cancelled or could not run.`,
		Example: `  berth jobs run nightly
  berth jobs run nightly --env STAGE=prod -- --since 2024-01-01
  berth jobs run nightly --wait`,
		Args: func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			switch {
			case len(args) == 0 || dash == 0:
				return errors.New("run takes the job's NAME; got none")
			case dash < 0 && len(args) > 1, dash > 1:
				return fmt.Errorf("run takes one NAME before \"--\"; got %s (put the job's arguments after \"--\")", strings.Join(args[:max(dash, len(args))], " "))
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&envFlags, "env", nil, "environment variable NAME=VALUE for this execution (repeatable)")
	cmd.Flags().BoolVar(&wait, "wait", false, "stream the log and exit with the job's exit code")
	e.addClientFlags(cmd, &cf)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		req := client.RunJobRequest{}
		for _, kv := range envFlags {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return fmt.Errorf("--env %q: must be NAME=VALUE, e.g. --env STAGE=prod", kv)
			}
			if msg := manifest.EnvProblem(k, v); msg != "" {
				return fmt.Errorf("--env %q: %s", kv, msg)
			}
			if req.Env == nil {
				req.Env = map[string]string{}
			}
			req.Env[k] = v
		}
		if cmd.ArgsLenAtDash() == 1 {
			req.Args = append([]string{}, args[1:]...)
		}
		c, err := e.client(&cf)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), callTimeout)
		ex, err := c.RunJob(ctx, args[0], req)
		cancel()
		if err != nil {
			return err
		}
		if !wait {
			_, err := fmt.Fprintln(e.stdout, ex.ID)
			return err
		}
		fmt.Fprintf(e.stderr, "execution %s queued\n", ex.ID)
		return e.waitExecution(cmd.Context(), c, ex.ID)
	}
	return cmd
}

// waitExecution streams an execution's log until it ends and turns its
// result into the exit code.
func (e *env) waitExecution(ctx context.Context, c *client.Client, id string) error {
	rc, err := c.ExecutionLogs(ctx, id, true)
	if err != nil {
		return err
	}
	_, err = io.Copy(e.stdout, rc)
	rc.Close()
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	// The stream ends with the execution; poll in case it was cut short.
	for {
		ex, err := c.Execution(ctx, id)
		if err != nil {
			return err
		}
		if ex.Terminal() {
			return executionResult(ex)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// executionResult is nil for a success, else the exit code and reason.
func executionResult(ex *client.Execution) error {
	n := len(ex.Attempts)
	tries := fmt.Sprintf("after %d attempt", n)
	if n != 1 {
		tries += "s"
	}
	switch {
	case ex.Status == "succeeded":
		return nil
	case ex.Status == "cancelled":
		return &exitCodeError{code: exitFailure, msg: fmt.Sprintf("execution %s was cancelled", ex.ID)}
	case ex.Reason == "exit" && ex.ExitCode > 0 && ex.ExitCode < 256:
		return &exitCodeError{code: ex.ExitCode, msg: fmt.Sprintf("execution %s failed with exit code %d %s", ex.ID, ex.ExitCode, tries)}
	case ex.Reason == "timeout":
		return &exitCodeError{code: exitFailure, msg: fmt.Sprintf("execution %s failed: timed out %s", ex.ID, tries)}
	}
	msg := fmt.Sprintf("execution %s failed (%s) %s", ex.ID, orDash(ex.Reason), tries)
	if n > 0 && ex.Attempts[n-1].Error != "" {
		msg += ": " + ex.Attempts[n-1].Error
	}
	return &exitCodeError{code: exitFailure, msg: oneLine(msg)}
}

func newJobsLsCmd(e *env) *cobra.Command {
	var cf clientFlags
	var job string
	var limit int
	cmd := &cobra.Command{
		Use:     "ls",
		Short:   "List executions, newest first",
		Example: "  berth jobs ls\n  berth jobs ls --job nightly --limit 5 -o json",
		Args:    exactArgs(),
	}
	cmd.Flags().StringVar(&job, "job", "", "only the executions of this job")
	cmd.Flags().IntVar(&limit, "limit", 50, "show at most this many (0: all)")
	out := addOutputFlag(cmd, "table", "json")
	e.addClientFlags(cmd, &cf)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := out.check(); err != nil {
			return err
		}
		if limit < 0 {
			return fmt.Errorf("--limit %d: allowed: 0 (all) or a positive number", limit)
		}
		c, err := e.client(&cf)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), callTimeout)
		defer cancel()
		exs, err := c.Executions(ctx, job, limit)
		if err != nil {
			return err
		}
		if out.json() {
			return printJSON(e.stdout, client.ExecutionList{Executions: exs})
		}
		if len(exs) == 0 {
			_, err := fmt.Fprintln(e.stdout, "no executions; start one with: berth jobs run JOB")
			return err
		}
		now := time.Now()
		tw := newTable(e.stdout)
		fmt.Fprintln(tw, "ID\tJOB\tSTATUS\tATTEMPTS\tEXIT\tREASON\tCREATED\tDURATION")
		for _, ex := range exs {
			exit := "-"
			if ex.Reason == "exit" {
				exit = fmt.Sprint(ex.ExitCode)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\t%s\n", ex.ID, ex.Job, ex.Status, len(ex.Attempts), ex.MaxAttempts,
				exit, orDash(ex.Reason), age(ex.CreatedAt, now), duration(ex.StartedAt, ex.FinishedAt, now))
		}
		return tw.Flush()
	}
	return cmd
}

func newJobsStatusCmd(e *env) *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:     "status ID",
		Short:   "Show an execution and its attempts",
		Example: "  berth jobs status nightly-x7k2q\n  berth jobs status nightly-x7k2q -o json",
		Args:    exactArgs("ID"),
	}
	out := addOutputFlag(cmd, "table", "json")
	e.addClientFlags(cmd, &cf)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return showOne(cmd, e, &cf, out, func(ctx context.Context, c *client.Client) (*client.Execution, error) {
			return c.Execution(ctx, args[0])
		}, printExecution)
	}
	return cmd
}

func printExecution(w io.Writer, ex *client.Execution, now time.Time) error {
	tw := newTable(w)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("id", ex.ID)
	row("job", fmt.Sprintf("%s (revision %d)", ex.Job, ex.JobRevision))
	status := ex.Status
	if ex.CancelRequested && !ex.Terminal() {
		status += " (cancelling)"
	}
	if !ex.RetryAt.IsZero() {
		status += fmt.Sprintf(" (retry in %s)", max(ex.RetryAt.Sub(now), 0).Round(time.Millisecond))
	}
	row("status", status)
	if ex.Reason != "" {
		row("reason", ex.Reason)
	}
	if ex.Reason == "exit" {
		row("exit code", fmt.Sprint(ex.ExitCode))
	}
	row("attempts", fmt.Sprintf("%d of at most %d", len(ex.Attempts), ex.MaxAttempts))
	row("created", fmt.Sprintf("%s (%s ago)", ex.CreatedAt.Local().Format(time.DateTime), age(ex.CreatedAt, now)))
	if !ex.StartedAt.IsZero() {
		row("duration", duration(ex.StartedAt, ex.FinishedAt, now))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(ex.Attempts) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw = newTable(w)
	fmt.Fprintln(tw, "ATTEMPT\tREASON\tEXIT\tSTARTED\tDURATION\tERROR")
	for _, a := range ex.Attempts {
		exit, start := "-", a.StartedAt
		if a.Reason != "" && a.ExitCode >= 0 {
			exit = fmt.Sprint(a.ExitCode)
		}
		if start.IsZero() {
			start = a.ClaimedAt
		}
		end := a.FinishedAt
		if end.IsZero() {
			end = a.EndedAt
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s ago\t%s\t%s\n", a.Number, orDash(a.Reason), exit, age(start, now), duration(start, end, now), orDash(oneLine(a.Error)))
	}
	return tw.Flush()
}

// duration is how long from start to end (or now, while running).
func duration(start, end, now time.Time) string {
	if start.IsZero() {
		return "-"
	}
	if end.IsZero() {
		end = now
	}
	d := end.Sub(start)
	if d < time.Minute {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func newJobsLogsCmd(e *env) *cobra.Command {
	var cf clientFlags
	var follow bool
	cmd := &cobra.Command{
		Use:   "logs ID",
		Short: "Print an execution's log (all attempts)",
		Long: `Print the output of an execution, all attempts in order, as kept by the server (the last
1 MiB). With -f new output is printed as it comes until the execution ends.`,
		Example: "  berth jobs logs nightly-x7k2q -f",
		Args:    exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(&cf)
			if err != nil {
				return err
			}
			rc, err := c.ExecutionLogs(cmd.Context(), args[0], follow)
			if err != nil {
				return err
			}
			defer rc.Close()
			if _, err := io.Copy(e.stdout, rc); err != nil && cmd.Context().Err() == nil {
				return fmt.Errorf("log stream of %s: %w", args[0], err)
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new output until the execution ends")
	e.addClientFlags(cmd, &cf)
	return cmd
}

func newJobsCancelCmd(e *env) *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel an execution: dequeue it, or stop its container",
		Args:  exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(&cf)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			ex, err := c.CancelExecution(ctx, args[0])
			if err != nil {
				return err
			}
			if !ex.Terminal() {
				_, err = fmt.Fprintf(e.stdout, "cancelling %s: its container is stopping\n", ex.ID)
				return err
			}
			_, err = fmt.Fprintf(e.stdout, "cancelled %s\n", ex.ID)
			return err
		},
	}
	e.addClientFlags(cmd, &cf)
	return cmd
}
