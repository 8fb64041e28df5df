package cli

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/client"
)

// callTimeout bounds an API call that does not stream.
const callTimeout = 30 * time.Second

func newAppsCmd(e *env) *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:     "apps",
		Aliases: []string{"ls"},
		Short:   "List the deployed apps",
		Long: `List the deployed apps: name, serving revision, status (sleeping, starting, ready or failed),
requests in flight, instances, default URL and age. -o json prints the API's AppList.`,
		Example: `  berth apps
  berth apps -o json`,
		Args: exactArgs(),
	}
	out := addOutputFlag(cmd, "table", "json")
	e.addClientFlags(cmd, &cf)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := out.check(); err != nil {
			return err
		}
		c, err := e.client(&cf)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), callTimeout)
		defer cancel()
		apps, err := c.Apps(ctx)
		if err != nil {
			return err
		}
		slices.SortFunc(apps, func(a, b client.App) int {
			return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
		})
		if out.json() {
			if apps == nil {
				apps = []client.App{}
			}
			return printJSON(e.stdout, client.AppList{Apps: apps})
		}
		if len(apps) == 0 {
			fmt.Fprintln(e.stderr, "no apps yet; deploy one with: berth deploy DIR")
			return nil
		}
		tw := newTable(e.stdout)
		fmt.Fprintln(tw, "NAME\tREVISION\tSTATUS\tIN-FLIGHT\tINSTANCES\tURL\tAGE")
		now := time.Now()
		for _, a := range apps {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%s\t%s\n",
				a.Name, a.Revision, orDash(a.Status), a.InFlight, len(a.Instances), orDash(a.URL), age(a.CreatedAt, now))
		}
		return tw.Flush()
	}
	return cmd
}
