package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"
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
		if err := out.check(); err != nil {
			return err
		}
		c, err := e.client(&cf)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
		defer cancel()
		a, err := c.App(ctx, args[0])
		if err != nil {
			return err
		}
		if out.json() {
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(a.Instances)
		}
		now := time.Now()
		tw := newTable(e.stdout)
		fmt.Fprintln(tw, "KEY\tINSTANCE\tSTATE\tSLEEP\tREVISION\tIN-FLIGHT\tLAST-ACTIVE")
		for _, in := range a.Instances {
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
	e.addClientFlags(cmd, &cf)
	return cmd
}
