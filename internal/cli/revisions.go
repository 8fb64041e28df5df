package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/client"
)

// rollbackTimeout bounds `berth rollback`, which waits for the revision's
// instances to answer before traffic moves.
const rollbackTimeout = 3 * time.Minute

func newRevisionsCmd(e *env) *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:     "revisions APP",
		Short:   "List an app's revisions with their age, image, status and traffic share",
		Example: `  berth revisions hello`,
		Args:    exactArgs("APP"),
	}
	out := addOutputFlag(cmd, "table", "json")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return showOne(cmd, e, &cf, out, func(ctx context.Context, c *client.Client) ([]client.Revision, error) {
			return c.Revisions(ctx, args[0])
		}, printRevisions)
	}
	e.addClientFlags(cmd, &cf)
	return cmd
}

func printRevisions(w io.Writer, revs []client.Revision, now time.Time) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "REVISION\tTRAFFIC\tSTATUS\tAGE\tIMAGE\tSIZE")
	for _, r := range revs {
		fmt.Fprintf(tw, "r%d\t%d%%\t%s\t%s\t%s\t%s\n", r.Number, r.Traffic, r.Status, age(r.CreatedAt, now), r.Image, humanSize(r.ImageSize))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range revs {
		if r.Error != "" {
			fmt.Fprintf(w, "\nr%d failed: %s\n", r.Number, r.Error)
			break
		}
	}
	return nil
}

func newRollbackCmd(e *env) *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "rollback APP [REVISION]",
		Short: "Move an app's traffic back to an earlier revision, without a build",
		Long: `Move an app's traffic back to REVISION (a number, or r3), or by default to the newest ready
revision before the serving one. The revision's instances start and must answer before traffic
moves; the serving revision's instances then drain.`,
		Example: `  berth rollback hello
  berth rollback hello r3`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			rev := 0
			if len(args) == 2 {
				n, err := strconv.Atoi(strings.TrimPrefix(args[1], "r"))
				if err != nil || n < 1 {
					return fmt.Errorf("REVISION %q: want a revision number such as 3 or r3", args[1])
				}
				rev = n
			}
			c, err := e.client(&cf)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), rollbackTimeout)
			defer cancel()
			a, err := c.Rollback(ctx, args[0], rev)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(e.stdout, "rolled back %s: revision %d serves\n", a.Name, a.Revision)
			return err
		},
	}
	e.addClientFlags(cmd, &cf)
	return cmd
}
