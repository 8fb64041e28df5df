package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/pkg/jsonmessage"

	"github.com/berth-dev/berth/internal/runtime"
)

// ResolveImage returns the local image named ref (a reference or an ID). It
// never pulls: an image that is not present gives runtime.ErrNotFound.
func (d *Driver) ResolveImage(ctx context.Context, ref string) (runtime.Image, error) {
	if ref == "" {
		return runtime.Image{}, fmt.Errorf("resolve image: %w: empty reference", runtime.ErrInvalid)
	}
	img, err := d.cli.ImageInspect(ctx, ref)
	if err != nil {
		return runtime.Image{}, fmt.Errorf("resolve image %s: %w", ref, engineErr(err))
	}
	return runtime.Image{ID: img.ID, Size: img.Size}, nil
}

// RemoveImage untags ref and deletes the image once no tag names it, with
// its untagged parent layers. It never forces: an image a container uses
// stays, with an error.
func (d *Driver) RemoveImage(ctx context.Context, ref string) error {
	if ref == "" {
		return fmt.Errorf("remove image: %w: empty reference", runtime.ErrInvalid)
	}
	if _, err := d.cli.ImageRemove(ctx, ref, image.RemoveOptions{PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove image %s: %w", ref, engineErr(err))
	}
	return nil
}

// Build sends req.Context to the engine's (classic) builder, copies the build
// output to progress, and resolves the tagged image. An error reported by the
// build itself (a bad Dockerfile, a failing step) gives runtime.ErrBuildFailed
// with the engine's message.
func (d *Driver) Build(ctx context.Context, req runtime.BuildRequest, progress io.Writer) (runtime.Image, error) {
	if req.Context == nil || req.Tag == "" {
		return runtime.Image{}, fmt.Errorf("build image: %w: context and tag are required", runtime.ErrInvalid)
	}
	if progress == nil {
		progress = io.Discard
	}
	resp, err := d.cli.ImageBuild(ctx, req.Context, build.ImageBuildOptions{
		Dockerfile:  req.Dockerfile,
		Tags:        []string{req.Tag},
		Labels:      req.Labels,
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1, // BuildKit needs a client-side session
	})
	if err != nil {
		// The engine rejects an unreadable or missing Dockerfile before
		// streaming: that is the Dockerfile's fault.
		if cerrdefs.IsInvalidArgument(err) || cerrdefs.IsNotFound(err) {
			return runtime.Image{}, fmt.Errorf("build image %s: %w: %w", req.Tag, runtime.ErrBuildFailed, err)
		}
		return runtime.Image{}, fmt.Errorf("build image %s: %w", req.Tag, err)
	}
	defer resp.Body.Close()
	if err := copyBuildOutput(resp.Body, progress); err != nil {
		return runtime.Image{}, fmt.Errorf("build image %s: %w", req.Tag, err)
	}
	img, err := d.ResolveImage(ctx, req.Tag)
	if err != nil {
		return runtime.Image{}, fmt.Errorf("build image %s: %w", req.Tag, err)
	}
	d.log.Debug("built image", "tag", req.Tag, "id", img.ID)
	return img, nil
}

// copyBuildOutput decodes the engine's JSON message stream, writing its text
// to w, and turns an error message in the stream into ErrBuildFailed.
func copyBuildOutput(r io.Reader, w io.Writer) error {
	dec := json.NewDecoder(r)
	for {
		var m jsonmessage.JSONMessage
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read build output: %w", err)
		}
		if m.Error != nil && m.Error.Message != "" {
			return fmt.Errorf("%w: %s", runtime.ErrBuildFailed, m.Error.Message)
		}
		if m.ErrorMessage != "" {
			return fmt.Errorf("%w: %s", runtime.ErrBuildFailed, m.ErrorMessage)
		}
		if m.Stream != "" {
			io.WriteString(w, m.Stream)
		}
		if m.Status != "" {
			line := m.Status
			if m.ID != "" {
				line = m.ID + ": " + line
			}
			io.WriteString(w, line+"\n")
		}
	}
}
