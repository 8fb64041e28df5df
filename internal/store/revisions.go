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

// Serve makes revision n the one that serves all of the app's traffic
// (and marks it ready).
func (s *Store) Serve(ctx context.Context, ns, name string, n int, now time.Time) error {
	return s.SetTraffic(ctx, ns, name, n, nil, now)
}

// SetTraffic makes revision n the serving one and splits the app's traffic
// by shares (none: n takes it all); every revision named is marked ready.
func (s *Store) SetTraffic(ctx context.Context, ns, name string, n int, shares []Share, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		apps, revs := tx.Bucket(bucketApps), tx.Bucket(bucketRevisions)
		v := apps.Get(appKey(ns, name))
		if v == nil {
			return fmt.Errorf("app %s/%s: %w", ns, name, ErrNotFound)
		}
		var app App
		if err := json.Unmarshal(v, &app); err != nil {
			return err
		}
		numbers := []int{n}
		for _, sh := range shares {
			numbers = append(numbers, sh.Revision)
		}
		for _, num := range numbers {
			rev, err := revisionIn(revs, ns, name, num)
			if err != nil {
				return err
			}
			rev.Status, rev.Error = RevisionReady, ""
			if err := putJSON(revs, revKey(ns, name, num), rev); err != nil {
				return err
			}
		}
		app.Revision, app.Traffic, app.UpdatedAt = n, nil, now
		if len(shares) > 1 {
			app.Traffic = shares
		}
		return putJSON(apps, appKey(ns, name), app)
	})
}

// DeleteRevisions removes revisions of an app; the serving one and those in
// its traffic split are refused.
func (s *Store) DeleteRevisions(ctx context.Context, ns, name string, numbers []int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketApps).Get(appKey(ns, name))
		if v == nil {
			return fmt.Errorf("app %s/%s: %w", ns, name, ErrNotFound)
		}
		var app App
		if err := json.Unmarshal(v, &app); err != nil {
			return err
		}
		revs := tx.Bucket(bucketRevisions)
		for _, n := range numbers {
			if app.Serves(n) {
				return fmt.Errorf("revision %d of %s/%s serves traffic and cannot be deleted", n, ns, name)
			}
			if err := revs.Delete(revKey(ns, name, n)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Serves reports whether revision n takes part of the app's traffic.
func (a App) Serves(n int) bool {
	if n == a.Revision {
		return true
	}
	for _, sh := range a.Traffic {
		if sh.Revision == n {
			return true
		}
	}
	return false
}

// Share returns revision n's percentage of the app's traffic.
func (a App) Share(n int) int {
	if len(a.Traffic) == 0 {
		if n == a.Revision {
			return 100
		}
		return 0
	}
	for _, sh := range a.Traffic {
		if sh.Revision == n {
			return sh.Percent
		}
	}
	return 0
}

func (s *Store) updateRevision(ctx context.Context, ns, name string, n int, fn func(*Revision)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRevisions)
		r, err := revisionIn(b, ns, name, n)
		if err != nil {
			return err
		}
		fn(&r)
		return putJSON(b, revKey(ns, name, n), r)
	})
}

// revisionIn reads revision n of ns/name from the revisions bucket.
func revisionIn(b *bolt.Bucket, ns, name string, n int) (Revision, error) {
	var r Revision
	v := b.Get(revKey(ns, name, n))
	if v == nil {
		return r, fmt.Errorf("revision %d of %s/%s: %w", n, ns, name, ErrNotFound)
	}
	err := json.Unmarshal(v, &r)
	return r, err
}
