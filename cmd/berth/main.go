// Command berth is Berth's single binary: `berth server` runs the daemon and
// the other commands talk to its API. See docs/cli.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/berth-dev/berth/internal/cli"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	keepSysmonAwake(os.Args)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	// After the first signal, a second one kills at once.
	go func() {
		<-ctx.Done()
		stop()
	}()
	cli.Version = version
	os.Exit(cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr))
}
