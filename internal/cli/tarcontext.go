package cli

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// writeContext writes the build context dir to w as a tar stream: regular
// files, directories and symlinks (not followed) with their modes, minus what
// dir/.dockerignore excludes. Sockets, devices and pipes are skipped. The
// Dockerfile (dockerfile, slash-separated and relative to dir) and
// .dockerignore are always sent, as Docker does, because the build needs them.
func writeContext(w io.Writer, dir, dockerfile string) error {
	ig, err := readIgnoreFile(dir)
	if err != nil {
		return fmt.Errorf("read .dockerignore: %w", err)
	}
	keep := map[string]bool{dockerfile: true, ".dockerignore": true}
	tw := tar.NewWriter(w)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, walkErr error) error {
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return walkErr
		}
		rel = filepath.ToSlash(rel)
		if ig.excluded(rel) && !keep[rel] {
			if d != nil && d.IsDir() && !ig.negations && !strings.HasPrefix(dockerfile, rel+"/") {
				return filepath.SkipDir
			}
			return nil
		}
		if walkErr != nil {
			return walkErr
		}
		return addToTar(tw, p, rel, d)
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// addToTar writes one entry; kinds a build cannot use are skipped.
func addToTar(tw *tar.Writer, p, rel string, d fs.DirEntry) error {
	info, err := d.Info()
	if err != nil {
		return err
	}
	mode := info.Mode()
	var link string
	switch {
	case mode.IsRegular(), mode.IsDir():
	case mode&fs.ModeSymlink != 0:
		if link, err = os.Readlink(p); err != nil {
			return err
		}
	default:
		return nil // socket, device, named pipe
	}
	hdr, err := tar.FileInfoHeader(info, link)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	hdr.Name = rel
	if mode.IsDir() {
		hdr.Name += "/"
	}
	// Ownership and access times are the sender's business, not the image's.
	hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
	hdr.ModTime = hdr.ModTime.Truncate(time.Second)
	hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	if !mode.IsRegular() {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.CopyN(tw, f, hdr.Size); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	return nil
}
