package fake

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"path"

	"github.com/berth-dev/berth/internal/runtime"
)

// RemoveImage forgets the image ref; removing a missing one is not an error.
func (d *Driver) RemoveImage(ctx context.Context, ref string) error {
	if err := d.check(ctx, "remove image", ref); err != nil {
		return fmt.Errorf("remove image %s: %w", ref, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.images, ref)
	return nil
}

// Build reads the context tar and registers an image under req.Tag whose size
// is the context's and whose ID is the context's digest. A context without the
// Dockerfile, or one that is not a tar stream, gives runtime.ErrBuildFailed.
func (d *Driver) Build(ctx context.Context, req runtime.BuildRequest, progress io.Writer) (runtime.Image, error) {
	if err := d.check(ctx, "build", req.Tag); err != nil {
		return runtime.Image{}, fmt.Errorf("build image %s: %w", req.Tag, err)
	}
	if req.Context == nil || req.Tag == "" {
		return runtime.Image{}, fmt.Errorf("build image: %w: context and tag are required", runtime.ErrInvalid)
	}
	if progress == nil {
		progress = io.Discard
	}
	dockerfile := req.Dockerfile
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	h := sha256.New()
	counter := &countingReader{r: io.TeeReader(req.Context, h)}
	tr := tar.NewReader(counter)
	found := false
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return runtime.Image{}, fmt.Errorf("build image %s: %w: read context: %v", req.Tag, runtime.ErrBuildFailed, err)
		}
		if path.Clean(hdr.Name) == path.Clean(dockerfile) {
			found = true
		}
	}
	io.Copy(io.Discard, counter) // tar padding counts too
	if !found {
		return runtime.Image{}, fmt.Errorf("build image %s: %w: %s not found in context", req.Tag, runtime.ErrBuildFailed, dockerfile)
	}
	img := runtime.Image{ID: fmt.Sprintf("sha256:%x", h.Sum(nil)), Size: counter.n}
	fmt.Fprintf(progress, "fake build of %s: %d bytes of context\n", req.Tag, counter.n)
	d.AddImage(req.Tag, img)
	return img, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
