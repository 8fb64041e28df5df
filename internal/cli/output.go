package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/client"
)

// outputFlag is -o/--output with the formats a command allows; the first is
// the default.
type outputFlag struct {
	value   string
	allowed []string
}

func addOutputFlag(cmd *cobra.Command, allowed ...string) *outputFlag {
	o := &outputFlag{allowed: allowed}
	cmd.Flags().StringVarP(&o.value, "output", "o", allowed[0], "output format: "+strings.Join(allowed, " or "))
	return o
}

// check validates the value; commands call it before doing any work.
func (o *outputFlag) check() error {
	if slices.Contains(o.allowed, o.value) {
		return nil
	}
	return fmt.Errorf("--output (-o) %q is not a format; allowed: %s", o.value, strings.Join(o.allowed, ", "))
}

func (o *outputFlag) json() bool { return o.value == "json" }

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
}

// humanSize formats a byte count in SI units: "512 B", "1.9 MB", "23 MB".
func humanSize(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v := float64(n)
	prefixes := []string{"kB", "MB", "GB", "TB", "PB", "EB"}
	i := -1
	for v >= unit-0.5 && i < len(prefixes)-1 {
		v /= unit
		i++
	}
	if v < 9.95 {
		return fmt.Sprintf("%.1f %s", v, prefixes[i])
	}
	return fmt.Sprintf("%.0f %s", v, prefixes[i])
}

// age formats how long ago t was, kubectl style: "45s", "12m", "3h", "5d".
// A zero time is "-".
func age(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "0s"
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < 2*time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}

// orDash is s, or "-" when s is empty (a table cell must not be empty).
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// showOne is the shape of every "show one thing" command: check -o, fetch
// the thing through the API, then print it as JSON or with table.
func showOne[T any](cmd *cobra.Command, e *env, cf *clientFlags, out *outputFlag,
	fetch func(context.Context, *client.Client) (T, error), table func(io.Writer, T, time.Time) error) error {
	if err := out.check(); err != nil {
		return err
	}
	c, err := e.client(cf)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), callTimeout)
	defer cancel()
	v, err := fetch(ctx, c)
	if err != nil {
		return err
	}
	if out.json() {
		return printJSON(e.stdout, v)
	}
	return table(e.stdout, v, time.Now())
}
