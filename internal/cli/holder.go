package cli

import (
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/runtime/docker"
)

// newHolderCmd is the process of a network holder container (see
// internal/runtime/docker/holder.go): it owns an instance's network
// namespace and does nothing else until it is signalled.
func newHolderCmd() *cobra.Command {
	return &cobra.Command{
		Use:    docker.HolderCommand,
		Short:  "Hold a network namespace open (runs inside Berth's holder containers)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			<-cmd.Context().Done()
			return nil
		},
	}
}
