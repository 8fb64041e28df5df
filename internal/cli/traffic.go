package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/client"
)

func newTrafficCmd(e *env) *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "traffic APP [rN=PERCENT ...]",
		Short: "Split an app's requests between revisions, or show the split",
		Long: `Split APP's requests between revisions by percentage; the percentages must add up to 100.
Revisions that get a share start first and must answer before any request moves; keyed
requests stay on the revision that first served their key. With no split given, show the
revisions' shares and their own URLs (rN.APP…), which reach a revision whatever its share.
A deploy or a rollback sends all traffic to its revision again.`,
		Example: `  berth traffic hello r3=90 r4=10
  berth traffic hello r4=100
  berth traffic hello`,
		Args: cobra.MinimumNArgs(1),
	}
	out := addOutputFlag(cmd, "table", "json")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		shares, err := parseShares(args[1:])
		if err != nil {
			return err
		}
		if err := out.check(); err != nil {
			return err
		}
		c, err := e.client(&cf)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), rollbackTimeout)
		defer cancel()
		if len(shares) > 0 {
			if _, err := c.SetTraffic(ctx, args[0], shares); err != nil {
				return err
			}
		}
		revs, err := c.Revisions(ctx, args[0])
		if err != nil {
			return err
		}
		if out.json() {
			return printJSON(e.stdout, revs)
		}
		return printTraffic(e.stdout, revs)
	}
	e.addClientFlags(cmd, &cf)
	return cmd
}

// parseShares reads rN=PERCENT (or N=PERCENT) arguments; the server checks
// the numbers.
func parseShares(args []string) ([]client.TrafficShare, error) {
	var out []client.TrafficShare
	for _, a := range args {
		rev, pct, ok := strings.Cut(a, "=")
		n, err1 := strconv.Atoi(strings.TrimPrefix(rev, "r"))
		p, err2 := strconv.Atoi(strings.TrimSuffix(pct, "%"))
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%q: want REVISION=PERCENT, such as r3=90", a)
		}
		out = append(out, client.TrafficShare{Revision: n, Percent: p})
	}
	return out, nil
}

// printTraffic lists the revisions that can take traffic, newest first.
func printTraffic(w io.Writer, revs []client.Revision) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "REVISION\tTRAFFIC\tURL")
	for _, r := range revs {
		if r.Status == "ready" {
			fmt.Fprintf(tw, "r%d\t%d%%\t%s\n", r.Number, r.Traffic, r.URL)
		}
	}
	return tw.Flush()
}
