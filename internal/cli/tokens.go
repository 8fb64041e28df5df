package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/client"
)

func newTokensCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "tokens",
		Aliases: []string{"token"},
		Short:   "Manage namespace tokens (admin token only)",
		Long: `A namespace token sees and changes only its namespace: anything else is "not found".
Role deploy may deploy, remove, scale and run jobs; role read may only read. The server keeps
only a hash of each token; the secret is printed once, by "tokens create".`,
		Args: exactArgs(),
	}
	cmd.AddCommand(newTokensCreateCmd(e), newTokensLsCmd(e), newTokensRevokeCmd(e))
	return cmd
}

func newTokensCreateCmd(e *env) *cobra.Command {
	var cf clientFlags
	var ns, role string
	cmd := &cobra.Command{
		Use:   "create --ns NS [--role deploy|read]",
		Short: "Create a token of a namespace and print its secret (shown only this once)",
		Long: `Create a token of a namespace. The secret goes to stdout alone, so it can be captured:
  TOKEN=$(berth tokens create --ns team-a --role read)
its ID (for ls and revoke) goes to stderr.`,
		Example: `  berth tokens create --ns team-a
  berth tokens create --ns team-a --role read`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ns == "" {
				return fmt.Errorf("--ns is required: the namespace the token is for")
			}
			if role != "deploy" && role != "read" {
				return fmt.Errorf("--role %q: allowed: deploy or read", role)
			}
			c, err := e.client(&cf)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), callTimeout)
			defer cancel()
			t, err := c.CreateToken(ctx, client.CreateTokenRequest{Namespace: ns, Role: role})
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "created token %s (%s role in namespace %s); its secret is shown only now:\n", t.ID, t.Role, t.Namespace)
			_, err = fmt.Fprintln(e.stdout, t.Secret)
			return err
		},
	}
	cmd.Flags().StringVar(&ns, "ns", "", "the namespace the token is for (required)")
	cmd.Flags().StringVar(&role, "role", "deploy", "deploy (read, deploy, rm, scale, run jobs) or read (read only)")
	e.addClientFlags(cmd, &cf)
	return cmd
}

func newTokensLsCmd(e *env) *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List namespace tokens (never their secrets), revoked ones included",
		Args:    exactArgs(),
	}
	out := addOutputFlag(cmd, "table", "json")
	e.addClientFlags(cmd, &cf)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return showOne(cmd, e, &cf, out, func(ctx context.Context, c *client.Client) (client.TokenList, error) {
			l, err := c.Tokens(ctx)
			return client.TokenList{Tokens: l}, err
		}, printTokens)
	}
	return cmd
}

func printTokens(w io.Writer, l client.TokenList, now time.Time) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "ID\tNAMESPACE\tROLE\tAGE\tREVOKED")
	for _, t := range l.Tokens {
		revoked := "-"
		if !t.RevokedAt.IsZero() {
			revoked = age(t.RevokedAt, now) + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Namespace, t.Role, age(t.CreatedAt, now), revoked)
	}
	return tw.Flush()
}

func newTokensRevokeCmd(e *env) *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:     "revoke ID",
		Short:   "Revoke a token at once: its next call gets 401",
		Example: `  berth tokens revoke tok-3f9a1c2b7d`,
		Args:    exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client(&cf)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), callTimeout)
			defer cancel()
			t, err := c.RevokeToken(ctx, args[0])
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(e.stdout, "revoked token %s of namespace %s\n", t.ID, t.Namespace)
			return err
		},
	}
	e.addClientFlags(cmd, &cf)
	return cmd
}
