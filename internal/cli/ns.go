package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/client"
)

func newNsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "ns",
		Aliases: []string{"namespaces", "namespace"},
		Short:   "Manage namespaces: tenants with their own network, tokens and quotas",
		Long: `A namespace is a tenant: its apps and jobs, its Docker network, its tokens and its quotas.
Every app and job lives in one ("default" unless -n NS says otherwise). Only the admin token
creates, changes and removes namespaces; a namespace token lists its own namespace.`,
		Args: exactArgs(),
	}
	cmd.AddCommand(newNsCreateCmd(e), newNsLsCmd(e), newNsQuotaCmd(e), newNsRmCmd(e))
	return cmd
}

// quotaFlags are --max-instances, --max-requests, --max-jobs, --max-apps.
type quotaFlags struct {
	instances, requests, jobs, apps string
}

func addQuotaFlags(cmd *cobra.Command, q *quotaFlags) {
	fl := cmd.Flags()
	fl.StringVar(&q.instances, "max-instances", "", "most app instances (containers, asleep or not) at once; 0 = unlimited")
	fl.StringVar(&q.requests, "max-requests", "", "most requests in flight at the gateway; 0 = unlimited")
	fl.StringVar(&q.jobs, "max-jobs", "", "most job executions running at once (more wait queued); 0 = unlimited")
	fl.StringVar(&q.apps, "max-apps", "", "most deployed apps; 0 = unlimited")
}

// patch parses the flags that were given.
func (q *quotaFlags) patch() (client.QuotasPatch, error) {
	var p client.QuotasPatch
	for _, f := range []struct {
		name, v string
		dst     **int
	}{{"--max-instances", q.instances, &p.MaxInstances}, {"--max-requests", q.requests, &p.MaxRequests}, {"--max-jobs", q.jobs, &p.MaxJobs}, {"--max-apps", q.apps, &p.MaxApps}} {
		if f.v == "" {
			continue
		}
		n, err := strconv.Atoi(f.v)
		if err != nil || n < 0 || n > 1_000_000 {
			return p, fmt.Errorf("%s %q: must be a whole number from 0 (unlimited) to 1000000", f.name, f.v)
		}
		*f.dst = &n
	}
	return p, nil
}

func val(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

func newNsCreateCmd(e *env) *cobra.Command {
	var cf clientFlags
	var q quotaFlags
	cmd := &cobra.Command{
		Use:     "create NAME",
		Short:   "Create a namespace, optionally with quotas",
		Example: `  berth ns create team-a --max-apps 10 --max-instances 20 --max-requests 200 --max-jobs 2`,
		Args:    exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := q.patch()
			if err != nil {
				return err
			}
			c, err := e.client(&cf)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), callTimeout)
			defer cancel()
			ns, err := c.CreateNamespace(ctx, client.CreateNamespaceRequest{Name: args[0], Quotas: client.Quotas{
				MaxInstances: val(p.MaxInstances), MaxRequests: val(p.MaxRequests), MaxJobs: val(p.MaxJobs), MaxApps: val(p.MaxApps),
			}})
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(e.stdout, "created namespace %s (%s)\n", ns.Name, quotaText(ns.Quotas))
			return err
		},
	}
	addQuotaFlags(cmd, &q)
	e.addClientFlags(cmd, &cf)
	return cmd
}

func newNsQuotaCmd(e *env) *cobra.Command {
	var cf clientFlags
	var q quotaFlags
	cmd := &cobra.Command{
		Use:   "quota NAME",
		Short: "Change a namespace's quotas; quotas not given keep their value",
		Long: `Change a namespace's quotas. Lowering one harms nothing that runs: it only refuses what
would go beyond it from now on.`,
		Example: `  berth ns quota team-a --max-requests 50`,
		Args:    exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := q.patch()
			if err != nil {
				return err
			}
			if p == (client.QuotasPatch{}) {
				return fmt.Errorf("give at least one of --max-instances, --max-requests, --max-jobs and --max-apps")
			}
			c, err := e.client(&cf)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), callTimeout)
			defer cancel()
			ns, err := c.SetQuotas(ctx, args[0], p)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(e.stdout, "namespace %s: %s\n", ns.Name, quotaText(ns.Quotas))
			return err
		},
	}
	addQuotaFlags(cmd, &q)
	e.addClientFlags(cmd, &cf)
	return cmd
}

func newNsLsCmd(e *env) *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List namespaces with their usage and quotas",
		Long: `List namespaces: apps, instances, requests in flight and running jobs, each against its
quota ("-" = unlimited), the network and the age. -o json prints the API's NamespaceList.`,
		Args: exactArgs(),
	}
	out := addOutputFlag(cmd, "table", "json")
	e.addClientFlags(cmd, &cf)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return showOne(cmd, e, &cf, out, func(ctx context.Context, c *client.Client) (client.NamespaceList, error) {
			l, err := c.Namespaces(ctx)
			return client.NamespaceList{Namespaces: l}, err
		}, printNamespaces)
	}
	return cmd
}

func printNamespaces(w io.Writer, l client.NamespaceList, now time.Time) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "NAME\tAPPS\tINSTANCES\tREQUESTS\tJOBS\tNETWORK\tAGE")
	for _, ns := range l.Namespaces {
		u, q := ns.Usage, ns.Quotas
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ns.Name, of(u.Apps, q.MaxApps), of(u.Instances, q.MaxInstances),
			of(u.Requests, q.MaxRequests), of(u.RunningJobs, q.MaxJobs), orDash(ns.Network), nsAge(ns.CreatedAt, now))
	}
	return tw.Flush()
}

// of renders usage against a quota: "3/10", or "3/-" when unlimited.
func of(n, limit int) string {
	if limit <= 0 {
		return strconv.Itoa(n) + "/-"
	}
	return fmt.Sprintf("%d/%d", n, limit)
}

func quotaText(q client.Quotas) string {
	lim := func(n int) string {
		if n <= 0 {
			return "unlimited"
		}
		return strconv.Itoa(n)
	}
	return fmt.Sprintf("max_instances %s, max_requests %s, max_jobs %s, max_apps %s",
		lim(q.MaxInstances), lim(q.MaxRequests), lim(q.MaxJobs), lim(q.MaxApps))
}

func newNsRmCmd(e *env) *cobra.Command {
	var cf clientFlags
	var yes bool
	cmd := &cobra.Command{
		Use:   "rm NAME",
		Short: "Remove a namespace and everything in it, after confirmation",
		Long: `Remove a namespace: its apps and their containers, its jobs and executions, its tokens
and its network. Asks to type the namespace's name to confirm, unless --yes is given; without
a terminal on stdin --yes is required.`,
		Example: `  berth ns rm team-a
  berth ns rm team-a --yes`,
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if !yes {
				if e.stdin == nil || !e.stdinTTY {
					return fmt.Errorf("removing namespace %s removes all its apps, jobs and tokens; stdin is not a terminal to confirm on, so pass --yes", name)
				}
				fmt.Fprintf(e.stderr, "This removes namespace %s with all its apps, jobs and tokens.\nType the namespace name to confirm: ", name)
				line, _ := bufio.NewReader(e.stdin).ReadString('\n')
				if got := strings.TrimSpace(line); got != name {
					return fmt.Errorf("not removed: typed %q, not %q", got, name)
				}
			}
			c, err := e.client(&cf)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), removeTimeout)
			defer cancel()
			if err := c.RemoveNamespace(ctx, name); err != nil {
				return err
			}
			_, err = fmt.Fprintf(e.stdout, "removed namespace %s\n", name)
			return err
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "remove without asking")
	e.addClientFlags(cmd, &cf)
	return cmd
}

// nsAge is the namespace's age; "-" for the implicit default namespace.
func nsAge(created, now time.Time) string {
	if created.IsZero() {
		return "-"
	}
	return age(created, now)
}
