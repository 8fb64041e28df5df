package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/client"
)

func newInstancesCmd(e *env) *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "instances APP",
		Short: "List an app's instances with their keys, state and last activity",
		Example: `  berth instances sandbox
  berth instances sandbox -o json`,
		Args: exactArgs("APP"),
	}
	out := addOutputFlag(cmd, "table", "json")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return showOne(cmd, e, &cf, out, func(ctx context.Context, c *client.Client) ([]client.Instance, error) {
			a, err := c.App(ctx, args[0])
			if err != nil {
				return nil, err
			}
			return a.Instances, nil
		}, printInstances)
	}
	e.addClientFlags(cmd, &cf)
	return cmd
}

func printInstances(w io.Writer, ins []client.Instance, now time.Time) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "KEY\tINSTANCE\tSTATE\tSLEEP\tREVISION\tIN-FLIGHT\tLAST-ACTIVE")
	for _, in := range ins {
		last := "-"
		if !in.LastActive.IsZero() {
			last = age(in.LastActive, now) + " ago"
		}
		key := in.Key
		if key == "" {
			key = "(warm)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", key, in.ID, orDash(in.State), orDash(in.Sleep), in.Revision, in.InFlight, last)
	}
	return tw.Flush()
}
