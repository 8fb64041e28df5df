package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/client"
)

func newScaleCmd(e *env) *cobra.Command {
	var cf clientFlags
	var min, max, warm int
	cmd := &cobra.Command{
		Use:   "scale APP [--min N] [--max N] [--warm N]",
		Short: "Override an app's minimum, maximum and warm-pool instance counts",
		Long: `Override scale.min, scale.max and scale.warm of an app without a deploy. The overrides
outlive later deploys; the server validates them against the app's manifest.`,
		Example: `  berth scale hello --min 1 --max 20
  berth scale hello --warm 2`,
		Args: exactArgs("APP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var req client.Scale
			for _, f := range []struct {
				name string
				v    *int
				dst  **int
			}{{"min", &min, &req.Min}, {"max", &max, &req.Max}, {"warm", &warm, &req.Warm}} {
				if cmd.Flags().Changed(f.name) {
					if *f.v < 0 {
						return fmt.Errorf("--%s %d: must be a whole number ≥ 0", f.name, *f.v)
					}
					*f.dst = f.v
				}
			}
			if req.Min == nil && req.Max == nil && req.Warm == nil {
				return fmt.Errorf("nothing to change: give at least one of --min, --max and --warm")
			}
			c, err := e.client(&cf)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			a, err := c.SetScale(ctx, args[0], req)
			if err != nil {
				return err
			}
			var spec struct {
				Scale struct{ Min, Max, Warm int } `json:"scale"`
			}
			_ = json.Unmarshal(a.Spec, &spec)
			_, err = fmt.Fprintf(e.stdout, "scaled %s: min %d, max %d, warm %d\n", a.Name, spec.Scale.Min, spec.Scale.Max, spec.Scale.Warm)
			return err
		},
	}
	cmd.Flags().IntVar(&min, "min", 0, "instances kept ready without traffic")
	cmd.Flags().IntVar(&max, "max", 0, "most instances the app may have")
	cmd.Flags().IntVar(&warm, "warm", 0, "ready, idle instances kept beyond demand")
	e.addClientFlags(cmd, &cf)
	return cmd
}
