package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/client"
)

// versionTimeout bounds the server check of `berth version`.
const versionTimeout = 5 * time.Second

// versionInfo is `berth version -o json`.
type versionInfo struct {
	Client string `json:"client"`
	// API is the API URL that was asked, when one was found.
	API    string          `json:"api,omitempty"`
	Server *client.Version `json:"server,omitempty"`
	// ServerError says why the server's version is unknown.
	ServerError string `json:"server_error,omitempty"`
}

func newVersionCmd(e *env) *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the client's version and, if it is reachable, the server's",
		Long: `Print this binary's version and the server's version, API version and driver. A server that
cannot be reached is not an error: it is reported as "server: unreachable (reason)".`,
		Example: `  berth version
  berth version -o json`,
		Args: exactArgs(),
	}
	out := addOutputFlag(cmd, "text", "json")
	e.addClientFlags(cmd, &cf)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := out.check(); err != nil {
			return err
		}
		info := versionInfo{Client: e.version}
		if ep, err := e.resolve(&cf); err != nil {
			info.ServerError = describe(err)
		} else if c, err := e.clientFor(ep); err != nil {
			info.API, info.ServerError = ep.api, describe(err)
		} else {
			info.API = c.BaseURL()
			ctx, cancel := context.WithTimeout(cmd.Context(), versionTimeout)
			defer cancel()
			if v, err := c.Version(ctx); err != nil {
				info.ServerError = describe(err)
			} else {
				info.Server = v
			}
		}
		if out.json() {
			return printJSON(e.stdout, info)
		}
		fmt.Fprintf(e.stdout, "client: %s\n", info.Client)
		if info.Server == nil {
			_, err := fmt.Fprintf(e.stdout, "server: unreachable (%s)\n", info.ServerError)
			return err
		}
		_, err := fmt.Fprintf(e.stdout, "server: %s (API %s, driver %s) at %s\n", info.Server.Version, info.Server.API, info.Server.Driver, info.API)
		return err
	}
	return cmd
}
