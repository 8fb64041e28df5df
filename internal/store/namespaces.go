package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DefaultNamespace exists without being created and cannot be removed.
const DefaultNamespace = "default"

// ErrInvalid is returned for a value the store refuses (a bad namespace
// name); the error names the value and the rule.
var ErrInvalid = errors.New("invalid")

var bucketNamespaces = []byte("namespaces")

// Quotas bound what one namespace may use; 0 means unlimited.
type Quotas struct {
	// MaxInstances bounds the app instances (containers, asleep or not).
	MaxInstances int `json:"max_instances"`
	// MaxRequests bounds the requests in flight at the gateway.
	MaxRequests int `json:"max_requests"`
	// MaxJobs bounds the executions running at once; more wait queued.
	MaxJobs int `json:"max_jobs"`
	// MaxApps bounds the deployed apps.
	MaxApps int `json:"max_apps"`
}

// Namespace is a tenant: its apps, jobs, tokens, network and quotas.
type Namespace struct {
	Name      string    `json:"name"`
	Quotas    Quotas    `json:"quotas"`
	CreatedAt time.Time `json:"created_at"`
}

var namespaceRE = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$`)

// ValidNamespace checks a namespace name: a DNS label of 1 to 32 characters
// (lower-case letters, digits and '-', starting with a letter and not
// ending with '-'), so that it fits in host names and network names.
func ValidNamespace(name string) error {
	if !namespaceRE.MatchString(name) {
		return fmt.Errorf("%w: namespace name %q: must be 1 to 32 lower-case letters, digits or '-', start with a letter and not end with '-'", ErrInvalid, name)
	}
	return nil
}

// CheckQuotas refuses negative quotas, naming the field.
func CheckQuotas(q Quotas) error {
	for _, f := range []struct {
		name string
		v    int
	}{{"max_instances", q.MaxInstances}, {"max_requests", q.MaxRequests}, {"max_jobs", q.MaxJobs}, {"max_apps", q.MaxApps}} {
		if f.v < 0 || f.v > 1_000_000 {
			return fmt.Errorf("%w: quota %s=%d: must be between 0 (unlimited) and 1000000", ErrInvalid, f.name, f.v)
		}
	}
	return nil
}

// CreateNamespace stores a new namespace; ErrConflict if it exists.
func (s *Store) CreateNamespace(ctx context.Context, ns Namespace, now time.Time) (Namespace, error) {
	if err := ctx.Err(); err != nil {
		return Namespace{}, err
	}
	if err := errors.Join(ValidNamespace(ns.Name), CheckQuotas(ns.Quotas)); err != nil {
		return Namespace{}, err
	}
	ns.CreatedAt = now
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketNamespaces)
		if ns.Name == DefaultNamespace || b.Get([]byte(ns.Name)) != nil {
			return fmt.Errorf("namespace %s already exists: %w", ns.Name, ErrConflict)
		}
		return putJSON(b, []byte(ns.Name), ns)
	})
	if err != nil {
		return Namespace{}, fmt.Errorf("create namespace: %w", err)
	}
	return ns, nil
}

// Namespace returns one namespace, or ErrNotFound. The default namespace
// is always found.
func (s *Store) Namespace(ctx context.Context, name string) (Namespace, error) {
	if err := ctx.Err(); err != nil {
		return Namespace{}, err
	}
	var ns Namespace
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		ns, err = getNamespace(tx, name)
		return err
	})
	return ns, err
}

func getNamespace(tx *bolt.Tx, name string) (Namespace, error) {
	v := tx.Bucket(bucketNamespaces).Get([]byte(name))
	if v == nil {
		if name == DefaultNamespace {
			return Namespace{Name: DefaultNamespace}, nil
		}
		return Namespace{}, fmt.Errorf("namespace %s: %w", name, ErrNotFound)
	}
	var ns Namespace
	if err := json.Unmarshal(v, &ns); err != nil {
		return ns, fmt.Errorf("decode namespace %s: %w", name, err)
	}
	return ns, nil
}

// Namespaces lists every namespace, the default one included, by name.
func (s *Store) Namespaces(ctx context.Context) ([]Namespace, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := []Namespace{}
	err := s.db.View(func(tx *bolt.Tx) error {
		seenDefault := false
		err := tx.Bucket(bucketNamespaces).ForEach(func(k, v []byte) error {
			var ns Namespace
			if err := json.Unmarshal(v, &ns); err != nil {
				return fmt.Errorf("decode namespace %s: %w", k, err)
			}
			seenDefault = seenDefault || ns.Name == DefaultNamespace
			out = append(out, ns)
			return nil
		})
		if !seenDefault {
			out = append(out, Namespace{Name: DefaultNamespace})
		}
		return err
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// SetQuotas replaces a namespace's quotas; ErrNotFound if it is absent.
func (s *Store) SetQuotas(ctx context.Context, name string, q Quotas) (Namespace, error) {
	if err := ctx.Err(); err != nil {
		return Namespace{}, err
	}
	if err := CheckQuotas(q); err != nil {
		return Namespace{}, err
	}
	var ns Namespace
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if ns, err = getNamespace(tx, name); err != nil {
			return err
		}
		ns.Quotas = q
		return putJSON(tx.Bucket(bucketNamespaces), []byte(name), ns)
	})
	return ns, err
}

// DeleteNamespace removes a namespace and everything stored in it: apps and
// their revisions, jobs, executions with their logs, and its tokens.
// Containers are the caller's business. The default namespace cannot be
// removed (ErrInvalid).
func (s *Store) DeleteNamespace(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if name == DefaultNamespace {
		return fmt.Errorf("%w: the default namespace cannot be removed", ErrInvalid)
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		if _, err := getNamespace(tx, name); err != nil {
			return err
		}
		prefix := []byte(name + "/")
		for _, b := range [][]byte{bucketApps, bucketRevisions, bucketJobs} {
			if err := deletePrefix(tx.Bucket(b), prefix); err != nil {
				return err
			}
		}
		idx := tx.Bucket(bucketByJob)
		c := idx.Cursor()
		for k, v := c.Seek(prefix); k != nil && hasPrefix(k, prefix); k, v = c.Seek(prefix) {
			v = slices.Clone(v)
			if ex, err := getExecution(tx, string(v)); err == nil {
				if err := tx.Bucket(bucketActive).Delete(seqKey(ex.Seq)); err != nil {
					return err
				}
			}
			if err := errors.Join(tx.Bucket(bucketExecutions).Delete(v), tx.Bucket(bucketExecLogs).Delete(v), c.Delete()); err != nil {
				return err
			}
		}
		if err := deleteTokensOf(tx, name); err != nil {
			return err
		}
		return tx.Bucket(bucketNamespaces).Delete([]byte(name))
	})
}

// deletePrefix deletes every key of b that starts with prefix.
func deletePrefix(b *bolt.Bucket, prefix []byte) error {
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && hasPrefix(k, prefix); k, _ = c.Seek(prefix) {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}
