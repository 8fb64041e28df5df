package cli

import (
	"bufio"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// ignorer decides which paths of a build context stay out of it, following
// .dockerignore's rules: one pattern per line, '#' starts a comment, patterns
// are relative to the context root ("/" at the start is dropped), '*' '?' and
// '[…]' match within one path segment, "**" matches any number of segments,
// a pattern that matches a directory excludes everything under it, and a
// pattern starting with '!' re-includes what an earlier one excluded. The
// last matching pattern wins.
type ignorer struct {
	patterns []ignorePattern
	// negations is true when some pattern re-includes paths; excluded
	// directories must then still be walked.
	negations bool
}

type ignorePattern struct {
	segments []string
	negate   bool
}

// readIgnoreFile reads dir/.dockerignore; no file means nothing is ignored.
func readIgnoreFile(dir string) (*ignorer, error) {
	f, err := os.Open(filepath.Join(dir, ".dockerignore"))
	if errors.Is(err, fs.ErrNotExist) {
		return &ignorer{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseIgnore(f)
}

func parseIgnore(r io.Reader) (*ignorer, error) {
	ig := &ignorer{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var p ignorePattern
		if rest, ok := strings.CutPrefix(line, "!"); ok {
			p.negate = true
			line = strings.TrimSpace(rest)
		}
		line = path.Clean(strings.TrimPrefix(filepath.ToSlash(line), "/"))
		line = strings.TrimPrefix(line, "/")
		if line == "." || line == "" {
			continue
		}
		if _, err := path.Match(strings.ReplaceAll(line, "**", "*"), ""); err != nil {
			return nil, errors.New(".dockerignore: bad pattern " + line + ": " + err.Error())
		}
		p.segments = strings.Split(line, "/")
		ig.negations = ig.negations || p.negate
		ig.patterns = append(ig.patterns, p)
	}
	return ig, sc.Err()
}

// excluded reports whether rel (slash-separated, relative to the context
// root) is left out of the context.
func (ig *ignorer) excluded(rel string) bool {
	segs := strings.Split(rel, "/")
	out := false
	for _, p := range ig.patterns {
		if p.negate != out {
			continue // cannot change the outcome
		}
		// A pattern matches the path itself or any of its parent directories.
		for n := len(segs); n >= 1; n-- {
			if matchSegments(p.segments, segs[:n]) {
				out = !p.negate
				break
			}
		}
	}
	return out
}

// matchSegments matches a pattern's segments against a path's, "**" taking
// any number (including none) of whole segments.
func matchSegments(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(name); i++ {
				if matchSegments(pat[1:], name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], name[0]); !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}
