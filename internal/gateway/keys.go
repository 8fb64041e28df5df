package gateway

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/berth-dev/berth/internal/manifest"
)

// KeySource says where a keyed app's requests carry their key.
type KeySource struct {
	manifest.KeySource
	// StripPrefix removes the path up to and including the key.
	StripPrefix bool
}

// keyError is a request whose key is missing or malformed (a 400).
type keyError struct{ msg string }

func (e *keyError) Error() string { return e.msg }

// extractKey reads the request's key. With StripPrefix it also rewrites the
// request's path so the instance sees it without the prefix and key.
func (k *KeySource) extractKey(r *http.Request) (string, error) {
	var key string
	switch k.Kind {
	case "header":
		key = r.Header.Get(k.Name)
	case "cookie":
		if c, err := r.Cookie(k.Name); err == nil {
			key = c.Value
		}
	case "path":
		rest, ok := strings.CutPrefix(r.URL.Path, k.Name)
		if ok {
			key, rest, _ = strings.Cut(rest, "/")
			if k.StripPrefix {
				r.URL.Path = "/" + rest
				r.URL.RawPath = ""
			}
		}
	}
	if key == "" {
		return "", &keyError{fmt.Sprintf("this app gives every key its own instance and the request has no key: send it as the %s", k.Describe())}
	}
	if !manifest.KeyRE.MatchString(key) {
		return "", &keyError{fmt.Sprintf("key %q in the %s is not allowed: a key is %s", truncate(key, 64), k.Describe(), manifest.KeyRule)}
	}
	return key, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
