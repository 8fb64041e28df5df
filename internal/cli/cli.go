// Package cli is the berth command line: `berth server` runs the daemon
// (internal/server), every other command talks to its API through the client
// package. Main is the whole program; cmd/berth only wires signals to it.
//
// Exit codes: 0 success, 1 failure (one line "berth: reason" on stderr, plus
// indented field errors when the server lists them), 2 usage error.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/internal/server"
)

// Version is the binary's version; cmd/berth sets it from -ldflags.
var Version = "dev"

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// env is what the commands see of their process. Tests fill it in.
type env struct {
	stdout, stderr io.Writer
	// stdin answers confirmations; stdinTTY says whether a person types
	// there (nil or not a terminal: confirmations need --yes).
	stdin    io.Reader
	stdinTTY bool
	getenv   func(string) string
	euid     int
	version  string
	// runServer is server.Run outside tests.
	runServer func(context.Context, server.Config) error
	// httpClient, when set, is used for API calls.
	httpClient *http.Client
}

// Main runs the berth command line with args (without the program name) and
// returns the process's exit code. Cancelling ctx (SIGINT, SIGTERM) stops the
// command: `berth server` shuts down gracefully, `berth logs -f` ends.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return run(ctx, &env{
		stdout:    stdout,
		stderr:    stderr,
		stdin:     os.Stdin,
		stdinTTY:  isTerminal(os.Stdin),
		getenv:    os.Getenv,
		euid:      os.Geteuid(),
		version:   Version,
		runServer: server.Run,
	}, args)
}

// run executes one command line. Errors from a command's own work exit 1;
// everything cobra refuses before a command runs (unknown command or flag,
// wrong number of arguments) exits 2.
func run(ctx context.Context, e *env, args []string) int {
	root := newRoot(e)
	root.SetArgs(args)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	started := false
	root.PersistentPreRun = func(*cobra.Command, []string) { started = true }
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	if !started {
		fmt.Fprintf(e.stderr, "berth: %s (see '%s --help')\n", usageMessage(err), cmd.CommandPath())
		return exitUsage
	}
	var xe *exitCodeError
	if errors.As(err, &xe) {
		if xe.msg != "" {
			fmt.Fprintln(e.stderr, "berth: "+xe.msg)
		}
		return xe.code
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		fmt.Fprintln(e.stderr, "berth: interrupted")
		return exitFailure
	}
	fmt.Fprintln(e.stderr, "berth: "+describe(err))
	return exitFailure
}

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "berth",
		Short: "Berth runs containers on demand on your own machines",
		Long: `Berth runs containers on demand on your own machines. Describe an app in berth.yaml
(an image or a Dockerfile, plus a few knobs), run "berth deploy" and Berth gives it a URL;
the first request starts a container, idle ones go to sleep and wake on the next request.

Start the daemon with "berth server"; the other commands talk to its API and find it
through the data directory (server.json, admin.token) unless --api and --token say otherwise.`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		Version:           e.version,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.SetVersionTemplate("berth {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return err })
	root.AddCommand(
		newServerCmd(e),
		newDeployCmd(e),
		newAppsCmd(e),
		newStatusCmd(e),
		newLogsCmd(e),
		newRmCmd(e),
		newScaleCmd(e),
		newInstancesCmd(e),
		newRevisionsCmd(e),
		newRollbackCmd(e),
		newTrafficCmd(e),
		newHolderCmd(),
		newVersionCmd(e),
		newJobsCmd(e),   // jobs.go
		newNsCmd(e),     // ns.go
		newTokensCmd(e), // tokens.go
	)
	return root
}

// describe renders a command's error for stderr: one line, or for a problem
// with field errors the title line and one indented line per field.
func describe(err error) string {
	var p *client.Problem
	if errors.As(err, &p) && len(p.Errors) > 0 {
		// The detail repeats the field errors; they say it better one per line.
		var b strings.Builder
		b.WriteString(p.Title)
		for _, fe := range p.Errors {
			b.WriteString("\n  " + fe.String())
		}
		return b.String()
	}
	var ue *url.Error
	if errors.Is(err, syscall.ECONNREFUSED) && errors.As(err, &ue) {
		u := ue.URL
		if i := strings.Index(u, "/v1/"); i >= 0 {
			u = u[:i]
		}
		return "cannot reach the API at " + u + " (connection refused); is `berth server` running? Start it, or point --api at it"
	}
	return oneLine(err.Error())
}

// usageMessage is cobra's complaint on one line, with its "Did you mean
// this?" suggestions folded in.
func usageMessage(err error) string {
	msg, sugg, ok := strings.Cut(err.Error(), "Did you mean this?")
	if !ok {
		return oneLine(msg)
	}
	return oneLine(msg) + "; did you mean " + strings.Join(strings.Fields(sugg), " or ") + "?"
}

// oneLine folds a multi-line message (such as cobra's "Did you mean this?"
// suggestions) into one line.
func oneLine(s string) string {
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	for i := range fields {
		fields[i] = strings.TrimSpace(fields[i])
	}
	out := fields[:0]
	for _, f := range fields {
		if f != "" {
			out = append(out, f)
		}
	}
	return strings.Join(out, " ")
}

// exactArgs is cobra.ExactArgs with a message that names the arguments.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != len(names) {
			got := "none"
			if len(args) > 0 {
				got = strings.Join(args, " ")
			}
			return fmt.Errorf("%s takes %s; got %s", cmd.Name(), argList(names), got)
		}
		return nil
	}
}

// maxArgs is cobra.MaximumNArgs with a message that names the arguments.
func maxArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > len(names) {
			return fmt.Errorf("%s takes at most %s; got %s", cmd.Name(), argList(names), strings.Join(args, " "))
		}
		return nil
	}
}

func argList(names []string) string {
	switch len(names) {
	case 0:
		return "no arguments"
	case 1:
		return "one argument, " + names[0]
	default:
		return fmt.Sprintf("%d arguments, %s", len(names), strings.Join(names, " "))
	}
}
