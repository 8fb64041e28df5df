package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/client"
)

func newStatusCmd(e *env) *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "status APP",
		Short: "Show an app and its instances",
		Long: `Show an app: serving revision, status, URLs, image and its size, the last failed start if
any, and its instances (container state, address, port — discovered with port: auto —, requests in
flight, age, last activity).
-o json prints the API's App, including the validated manifest with defaults ("spec").`,
		Example: `  berth status hello
  berth status hello -o json`,
		Args: exactArgs("APP"),
	}
	out := addOutputFlag(cmd, "table", "json")
	e.addClientFlags(cmd, &cf)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return showOne(cmd, e, &cf, out, func(ctx context.Context, c *client.Client) (*client.App, error) {
			return c.App(ctx, args[0])
		}, printStatus)
	}
	return cmd
}

func printStatus(w io.Writer, a *client.App, now time.Time) error {
	tw := newTable(w)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("name", a.Name)
	if a.Namespace != "" {
		row("namespace", a.Namespace)
	}
	row("revision", fmt.Sprint(a.Revision))
	if len(a.Traffic) > 0 {
		shares := make([]string, len(a.Traffic))
		for i, sh := range a.Traffic {
			shares[i] = fmt.Sprintf("r%d %d%%", sh.Revision, sh.Percent)
		}
		row("traffic", strings.Join(shares, ", "))
	}
	row("status", fmt.Sprintf("%s (%d in flight, %d queued)", orDash(a.Status), a.InFlight, a.Queued))
	scale := fmt.Sprintf("%d desired", a.Desired)
	if a.ScaleReason != "" {
		scale += " (" + a.ScaleReason + ")"
	}
	if a.Panic {
		scale += ", panicking"
	}
	row("scale", scale)
	row("url", orDash(a.URL))
	if others := slices.DeleteFunc(slices.Clone(a.URLs), func(u string) bool { return u == a.URL }); len(others) > 0 {
		row("routes", strings.Join(others, " "))
	}
	img := orDash(a.Image)
	if a.ImageID != "" {
		img += " (" + shortID(a.ImageID) + ")"
	}
	row("image", img)
	row("image size", humanSize(a.ImageSize))
	if !a.CreatedAt.IsZero() {
		row("created", fmt.Sprintf("%s (%s ago)", a.CreatedAt.Local().Format(time.DateTime), age(a.CreatedAt, now)))
	}
	if !a.UpdatedAt.IsZero() {
		row("updated", fmt.Sprintf("%s (%s ago)", a.UpdatedAt.Local().Format(time.DateTime), age(a.UpdatedAt, now)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if a.LastError != "" {
		fmt.Fprintln(w, "last error:")
		for _, l := range strings.Split(strings.TrimRight(a.LastError, "\n"), "\n") {
			fmt.Fprintln(w, "  "+l)
		}
	}
	fmt.Fprintln(w)
	if len(a.Instances) == 0 {
		_, err := fmt.Fprintln(w, "no instances; the next request starts one")
		return err
	}
	tw = newTable(w)
	fmt.Fprintln(tw, "ID\tSTATE\tSLEEP\tADDR\tPORT\tIN-FLIGHT\tAGE\tLAST-ACTIVE")
	for _, in := range a.Instances {
		last := "-"
		if !in.LastActive.IsZero() {
			last = age(in.LastActive, now) + " ago"
		}
		port := "-"
		if in.Port > 0 {
			port = strconv.Itoa(in.Port)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", in.ID, orDash(in.State), orDash(in.Sleep), orDash(in.Addr), port, in.InFlight, age(in.CreatedAt, now), last)
	}
	return tw.Flush()
}

// shortID shortens "sha256:0123456789abcdef…" to "sha256:0123456789ab".
func shortID(id string) string {
	algo, hex, ok := strings.Cut(id, ":")
	if !ok {
		algo, hex = "", id
	}
	if len(hex) > 12 {
		hex = hex[:12]
	}
	if algo == "" {
		return hex
	}
	return algo + ":" + hex
}
