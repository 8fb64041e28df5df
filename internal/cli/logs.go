package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

func newLogsCmd(e *env) *cobra.Command {
	var cf clientFlags
	var follow bool
	var tail int
	cmd := &cobra.Command{
		Use:   "logs APP",
		Short: "Print the log of an app's newest instance",
		Long: `Print the log (stdout and stderr) of the app's newest instance. With -f the log is
followed until Ctrl-C. An app that never ran has an empty log.`,
		Example: `  berth logs hello
  berth logs hello -f --tail 20`,
		Args: exactArgs("APP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if tail < 0 {
				return fmt.Errorf("--tail %d: allowed: 0 (the whole log) or a positive number of lines", tail)
			}
			c, err := e.client(&cf)
			if err != nil {
				return err
			}
			rc, err := c.Logs(cmd.Context(), args[0], follow, tail)
			if err != nil {
				return err
			}
			defer rc.Close()
			if _, err := io.Copy(e.stdout, rc); err != nil && cmd.Context().Err() == nil {
				return fmt.Errorf("log stream of %s: %w", args[0], err)
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new lines until Ctrl-C")
	cmd.Flags().IntVar(&tail, "tail", 0, "start with the last N lines (0: the whole log)")
	e.addClientFlags(cmd, &cf)
	return cmd
}
