package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

// removeTimeout bounds `berth rm`, which stops the app's containers.
const removeTimeout = 2 * time.Minute

func newRmCmd(e *env) *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:     "rm APP",
		Aliases: []string{"remove"},
		Short:   "Remove an app, its revisions and its containers",
		Example: `  berth rm hello`,
		Args:    exactArgs("APP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(&cf)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), removeTimeout)
			defer cancel()
			if err := c.RemoveApp(ctx, args[0]); err != nil {
				return err
			}
			_, err = fmt.Fprintf(e.stdout, "removed %s\n", args[0])
			return err
		},
	}
	e.addClientFlags(cmd, &cf)
	return cmd
}
