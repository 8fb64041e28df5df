// Package store is Berth's embedded, durable state: apps, their revisions,
// jobs with their executions and logs (jobs.go, logs.go), and server
// metadata, kept in one bbolt file inside the data directory. Values are
// JSON so the file stays readable with standard tools and forward compatible.
//
// The store holds what the user asked for; what runs is the engine's business
// and is re-read from it (by label) on start-up, never cached here. The one
// exception is a job attempt's container name, recorded before the container
// is created so that the runner can find it again after a crash.
package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/berth-dev/berth/internal/manifest"
)

// ErrNotFound is returned when an app or revision does not exist.
var ErrNotFound = errors.New("not found")

var (
	bucketMeta      = []byte("meta")
	bucketApps      = []byte("apps")
	bucketRevisions = []byte("revisions")
	keyOwner        = []byte("owner")
)

// App is the durable record of a deployed app: which revision serves.
type App struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Revision  int    `json:"revision"`
	// Latest is the highest revision number given out, serving or not.
	Latest int `json:"latest,omitempty"`
	// Scale overrides the manifest's scale.min/max/warm (set by `berth scale`).
	Scale ScaleOverride `json:"scale,omitzero"`
	// Traffic splits requests between Revision and others (`berth
	// traffic`); empty when Revision takes them all.
	Traffic   []Share   `json:"traffic,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Share is a revision's part of an app's traffic, in per cent.
type Share struct {
	Revision int `json:"revision"`
	Percent  int `json:"percent"`
}

// Revision is an immutable snapshot of a deploy: the validated spec and the
// image it resolved to.
type Revision struct {
	Namespace string            `json:"namespace"`
	App       string            `json:"app"`
	Number    int               `json:"number"`
	Spec      manifest.Manifest `json:"spec"`
	// Image is the reference deployed (a built tag or the manifest's image);
	// ImageID pins the exact content that runs.
	Image     string    `json:"image"`
	ImageID   string    `json:"image_id"`
	ImageSize int64     `json:"image_size"`
	CreatedAt time.Time `json:"created_at"`
	// Status is RevisionReady once it served, RevisionFailed if its
	// instances never became ready, RevisionDeploying in between.
	Status string `json:"status,omitempty"`
	// Error says why a failed revision failed.
	Error string `json:"error,omitempty"`
}

// ScaleOverride replaces scale fields of every revision's manifest; nil
// fields keep the manifest's value.
type ScaleOverride struct {
	Min  *int `json:"min,omitempty"`
	Max  *int `json:"max,omitempty"`
	Warm *int `json:"warm,omitempty"`
}

// Apply returns spec with the overrides applied.
func (o ScaleOverride) Apply(spec manifest.Manifest) manifest.Manifest {
	if o.Min != nil {
		spec.Scale.Min = *o.Min
	}
	if o.Max != nil {
		spec.Scale.Max = *o.Max
	}
	if o.Warm != nil {
		spec.Scale.Warm = *o.Warm
	}
	return spec
}

// Store is safe for concurrent use.
type Store struct {
	db *bolt.DB
}

// Open opens (creating if needed) the store file at path. It fails after
// lockTimeout if another process holds the file.
func Open(path string, lockTimeout time.Duration) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("open store %s: locked by another process (is another berth server using this data directory?): %w", path, err)
		}
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range append([][]byte{bucketMeta, bucketApps, bucketRevisions, bucketNamespaces, bucketTokens, bucketTokensByHash}, jobBuckets...) {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("initialise store %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close releases the file.
func (s *Store) Close() error { return s.db.Close() }

// OwnerID returns this store's owner ID, creating it on first call. Every
// container the server creates carries it, so a server adopts and removes only
// its own containers even when several share one engine.
func (s *Store) OwnerID(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	var id string
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMeta)
		if v := b.Get(keyOwner); v != nil {
			id = string(v)
			return nil
		}
		buf := make([]byte, 8)
		if _, err := rand.Read(buf); err != nil {
			return err
		}
		id = hex.EncodeToString(buf)
		return b.Put(keyOwner, []byte(id))
	})
	if err != nil {
		return "", fmt.Errorf("owner id: %w", err)
	}
	return id, nil
}

func appKey(ns, name string) []byte { return []byte(ns + "/" + name) }

// revKey sorts revisions of one app by number.
func revKey(ns, name string, n int) []byte { return fmt.Appendf(nil, "%s/%s/%010d", ns, name, n) }

// CommitRevision stores rev as the app's next revision and makes it the one
// that serves, creating the app if needed; it returns the revision's number.
func (s *Store) CommitRevision(ctx context.Context, rev Revision, now time.Time) (int, error) {
	return s.AddRevision(ctx, rev, now, true)
}

// AddRevision stores rev as the app's next revision, creating the app if
// needed, and returns its number; with serve it also becomes the serving
// one. The number is allocated inside the transaction, so concurrent deploys
// of one app never share a number.
func (s *Store) AddRevision(ctx context.Context, rev Revision, now time.Time, serve bool) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		apps := tx.Bucket(bucketApps)
		app := App{Namespace: rev.Namespace, Name: rev.App, CreatedAt: now}
		if v := apps.Get(appKey(rev.Namespace, rev.App)); v != nil {
			if err := json.Unmarshal(v, &app); err != nil {
				return fmt.Errorf("decode app %s: %w", rev.App, err)
			}
		}
		app.Latest = max(app.Latest, app.Revision) + 1
		rev.Number = app.Latest
		rev.CreatedAt = now
		if serve {
			app.Revision = rev.Number
			app.UpdatedAt = now
			rev.Status = RevisionReady
		}
		if err := putJSON(tx.Bucket(bucketRevisions), revKey(rev.Namespace, rev.App, rev.Number), rev); err != nil {
			return err
		}
		return putJSON(apps, appKey(rev.Namespace, rev.App), app)
	})
	if err != nil {
		return 0, fmt.Errorf("add revision of %s/%s: %w", rev.Namespace, rev.App, err)
	}
	return rev.Number, nil
}

// NextRevision is the number the app's next deploy would get (1 for a new app).
func (s *Store) NextRevision(ctx context.Context, ns, name string) (int, error) {
	app, err := s.App(ctx, ns, name)
	if errors.Is(err, ErrNotFound) {
		return 1, nil
	}
	if err != nil {
		return 0, err
	}
	return max(app.Latest, app.Revision) + 1, nil
}

// App returns one app, or ErrNotFound.
func (s *Store) App(ctx context.Context, ns, name string) (App, error) {
	if err := ctx.Err(); err != nil {
		return App{}, err
	}
	var app App
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketApps).Get(appKey(ns, name))
		if v == nil {
			return fmt.Errorf("app %s/%s: %w", ns, name, ErrNotFound)
		}
		return json.Unmarshal(v, &app)
	})
	return app, err
}

// Revision returns one revision of an app, or ErrNotFound.
func (s *Store) Revision(ctx context.Context, ns, name string, n int) (Revision, error) {
	if err := ctx.Err(); err != nil {
		return Revision{}, err
	}
	var rev Revision
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		rev, err = revisionIn(tx.Bucket(bucketRevisions), ns, name, n)
		return err
	})
	return rev, err
}

// Serving pairs an app with the revision that serves it.
type Serving struct {
	App      App
	Revision Revision
}

// ListServing returns every app with its serving revision, ordered by
// namespace and name.
func (s *Store) ListServing(ctx context.Context) ([]Serving, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []Serving
	err := s.db.View(func(tx *bolt.Tx) error {
		revs := tx.Bucket(bucketRevisions)
		return tx.Bucket(bucketApps).ForEach(func(k, v []byte) error {
			var sv Serving
			if err := json.Unmarshal(v, &sv.App); err != nil {
				return fmt.Errorf("decode app %s: %w", k, err)
			}
			rv := revs.Get(revKey(sv.App.Namespace, sv.App.Name, sv.App.Revision))
			if rv == nil {
				return fmt.Errorf("app %s: serving revision %d is missing", k, sv.App.Revision)
			}
			if err := json.Unmarshal(rv, &sv.Revision); err != nil {
				return fmt.Errorf("decode revision of %s: %w", k, err)
			}
			out = append(out, sv)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list apps: %w", err)
	}
	return out, nil
}

// DeleteApp removes an app and all its revisions; ErrNotFound if it is absent.
func (s *Store) DeleteApp(ctx context.Context, ns, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		apps := tx.Bucket(bucketApps)
		if apps.Get(appKey(ns, name)) == nil {
			return fmt.Errorf("app %s/%s: %w", ns, name, ErrNotFound)
		}
		if err := apps.Delete(appKey(ns, name)); err != nil {
			return err
		}
		prefix := []byte(ns + "/" + name + "/")
		c := tx.Bucket(bucketRevisions).Cursor()
		for k, _ := c.Seek(prefix); k != nil && hasPrefix(k, prefix); k, _ = c.Seek(prefix) {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
}

func hasPrefix(b, prefix []byte) bool {
	return len(b) >= len(prefix) && string(b[:len(prefix)]) == string(prefix)
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, data)
}

// SetScale stores an app's scale overrides; ErrNotFound if it is absent.
func (s *Store) SetScale(ctx context.Context, ns, name string, o ScaleOverride) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		apps := tx.Bucket(bucketApps)
		v := apps.Get(appKey(ns, name))
		if v == nil {
			return fmt.Errorf("app %s/%s: %w", ns, name, ErrNotFound)
		}
		var app App
		if err := json.Unmarshal(v, &app); err != nil {
			return err
		}
		app.Scale = o
		return putJSON(apps, appKey(ns, name), app)
	})
}
