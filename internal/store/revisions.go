package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Revision statuses.
const (
	RevisionDeploying = "deploying"
	RevisionReady     = "ready"
	RevisionFailed    = "failed"
)

// Revisions lists an app's revisions, oldest first.
func (s *Store) Revisions(ctx context.Context, ns, name string) ([]Revision, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []Revision
	err := s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketApps).Get(appKey(ns, name)) == nil {
			return fmt.Errorf("app %s/%s: %w", ns, name, ErrNotFound)
		}
		prefix := []byte(ns + "/" + name + "/")
		c := tx.Bucket(bucketRevisions).Cursor()
		for k, v := c.Seek(prefix); k != nil && hasPrefix(k, prefix); k, v = c.Next() {
			var r Revision
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode revision %s: %w", k, err)
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// SetRevisionStatus records how a revision's rollout ended.
func (s *Store) SetRevisionStatus(ctx context.Context, ns, name string, n int, status, reason string) error {
	return s.updateRevision(ctx, ns, name, n, func(r *Revision) { r.Status, r.Error = status, reason })
}

// Serve makes revision n the one that serves the app (and marks it ready).
func (s *Store) Serve(ctx context.Context, ns, name string, n int, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		apps, revs := tx.Bucket(bucketApps), tx.Bucket(bucketRevisions)
		v := apps.Get(appKey(ns, name))
		if v == nil {
			return fmt.Errorf("app %s/%s: %w", ns, name, ErrNotFound)
		}
		rv := revs.Get(revKey(ns, name, n))
		if rv == nil {
			return fmt.Errorf("revision %d of %s/%s: %w", n, ns, name, ErrNotFound)
		}
		var app App
		var rev Revision
		if err := json.Unmarshal(v, &app); err != nil {
			return err
		}
		if err := json.Unmarshal(rv, &rev); err != nil {
			return err
		}
		app.Revision, app.UpdatedAt = n, now
		rev.Status, rev.Error = RevisionReady, ""
		if err := putJSON(revs, revKey(ns, name, n), rev); err != nil {
			return err
		}
		return putJSON(apps, appKey(ns, name), app)
	})
}

func (s *Store) updateRevision(ctx context.Context, ns, name string, n int, fn func(*Revision)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRevisions)
		v := b.Get(revKey(ns, name, n))
		if v == nil {
			return fmt.Errorf("revision %d of %s/%s: %w", n, ns, name, ErrNotFound)
		}
		var r Revision
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		fn(&r)
		return putJSON(b, revKey(ns, name, n), r)
	})
}
