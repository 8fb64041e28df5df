package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/berth-dev/berth/client"
)

func newDeployCmd(e *env) *cobra.Command {
	var cf clientFlags
	var file string
	var noTraffic bool
	cmd := &cobra.Command{
		Use:   "deploy [DIR]",
		Short: "Deploy the app described by DIR/berth.yaml (build its Dockerfile if it has no image)",
		Long: `Deploy the app that DIR/berth.yaml describes (DIR defaults to the current directory;
if DIR is a file, it is the manifest).

If the manifest names no image, the build context (build.context, relative to the manifest's
directory; default ".") is sent as a tar stream, minus what its .dockerignore excludes, and the
server builds build.dockerfile (default "Dockerfile") from it. Build output and progress appear
on stderr as they happen; the result is printed to stdout:

  deployed APP revision N: URL (image IMAGE, SIZE)

The server validates the manifest and reports every problem at once.

Over a serving app the new revision takes all traffic once its instances answer. With
--no-traffic it only starts and is checked, then answers at its own URL (rN.APP…) while the
serving revision keeps every request; move traffic later with berth traffic.`,
		Example: `  berth deploy
  berth deploy ./hello
  berth deploy -f deploy/staging.yaml
  berth deploy ./hello -o json
  berth deploy --no-traffic   # then: berth traffic hello r4=10 r3=90`,
		Args: maxArgs("DIR"),
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", `manifest file (default DIR/berth.yaml); a relative path is relative to the current directory`)
	cmd.Flags().BoolVar(&noTraffic, "no-traffic", false, "start and check the new revision but move no traffic to it; it answers at its own URL (rN.APP…)")
	out := addOutputFlag(cmd, "text", "json")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := out.check(); err != nil {
			return err
		}
		res, err := e.deploy(cmd, args, &cf, file, noTraffic)
		if err != nil {
			return err
		}
		if out.json() {
			return printJSON(e.stdout, res)
		}
		if res.Kind == "job" {
			_, err = fmt.Fprintf(e.stdout, "deployed job %s revision %d (image %s, %s)\n", res.App, res.Revision, res.Image, humanSize(res.ImageSize))
			return err
		}
		_, err = fmt.Fprintf(e.stdout, "deployed %s revision %d: %s (image %s, %s)\n", res.App, res.Revision, res.URL, res.Image, humanSize(res.ImageSize))
		return err
	}
	e.addClientFlags(cmd, &cf)
	return cmd
}

func (e *env) deploy(cmd *cobra.Command, args []string, cf *clientFlags, file string, noTraffic bool) (*client.DeployResult, error) {
	dir := "."
	if len(args) == 1 {
		dir = args[0]
	}
	if file == "" {
		file = filepath.Join(dir, "berth.yaml")
		if fi, err := os.Stat(dir); err == nil && fi.Mode().IsRegular() {
			file = dir // `berth deploy app.yaml` means -f app.yaml
		}
	}
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no manifest %s: write one there, or name another with -f", file)
	}
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	plan, err := planBuild(file, data)
	if err != nil {
		return nil, err
	}
	c, err := e.client(cf)
	if err != nil {
		return nil, err
	}

	req := client.DeployRequest{ManifestName: filepath.Base(file), Manifest: data, NoTraffic: noTraffic}
	var tarDone chan struct{}
	var ctxReader *io.PipeReader
	if plan != nil {
		pr, pw := io.Pipe()
		ctxReader, tarDone = pr, make(chan struct{})
		go func() {
			defer close(tarDone)
			pw.CloseWithError(writeContext(pw, plan.dir, plan.dockerfile))
		}()
		req.Context = pr
	}
	res, err := c.Deploy(cmd.Context(), req, func(ev client.DeployEvent) {
		if ev.Type == "progress" {
			fmt.Fprintln(e.stderr, ev.Message)
		}
	})
	if ctxReader != nil {
		ctxReader.CloseWithError(errors.New("deploy ended"))
		<-tarDone
	}
	return res, err
}

// buildPlan is what a deploy must send besides the manifest.
type buildPlan struct {
	dir        string // the build context directory
	dockerfile string // relative to dir, slash-separated
}

// planBuild reads just enough of the manifest to know whether the server
// will build an image: when it names no image. The server validates the
// whole manifest, so anything this cannot make sense of is sent as it is
// (without a context) for the server to report. It fails early when the
// Dockerfile is missing.
func planBuild(file string, data []byte) (*buildPlan, error) {
	var m struct {
		Image string `yaml:"image"`
		Build *struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
	}
	if err := yaml.Unmarshal(data, &m); err != nil || m.Image != "" {
		return nil, nil
	}
	ctxRel, dfRel := ".", "Dockerfile"
	if m.Build != nil {
		if m.Build.Context != "" {
			ctxRel = m.Build.Context
		}
		if m.Build.Dockerfile != "" {
			dfRel = m.Build.Dockerfile
		}
	}
	if !insideRel(ctxRel) || !insideRel(dfRel) {
		return nil, nil // the server says what is wrong with the path
	}
	name := filepath.Base(file)
	dir := filepath.Join(filepath.Dir(file), filepath.FromSlash(ctxRel))
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: build.context %q: %w", name, ctxRel, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s: build.context %q: %s is not a directory", name, ctxRel, dir)
	}
	df := filepath.Join(dir, filepath.FromSlash(dfRel))
	fi, err = os.Stat(df)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s: build.dockerfile %q: %s does not exist; %s names no image, so it is built from a Dockerfile in the build context (add one, or set image:)", name, dfRel, df, name)
	case err != nil:
		return nil, fmt.Errorf("%s: build.dockerfile %q: %w", name, dfRel, err)
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("%s: build.dockerfile %q: %s is not a regular file", name, dfRel, df)
	}
	return &buildPlan{dir: dir, dockerfile: path.Clean(dfRel)}, nil
}

// insideRel reports whether p is a relative slash path that stays inside its base.
func insideRel(p string) bool {
	if strings.HasPrefix(p, "/") || strings.Contains(p, `\`) || filepath.IsAbs(p) {
		return false
	}
	c := path.Clean(p)
	return c != ".." && !strings.HasPrefix(c, "../")
}
