package store

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Enqueue stores ex as a new queued execution, giving it an ID (the job's
// name and a random suffix) and the next place in the queue.
func (s *Store) Enqueue(ctx context.Context, ex Execution, now time.Time) (Execution, error) {
	if err := ctx.Err(); err != nil {
		return Execution{}, err
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		execs := tx.Bucket(bucketExecutions)
		for {
			ex.ID = ex.Job + "-" + randomSuffix()
			if execs.Get([]byte(ex.ID)) == nil {
				break
			}
		}
		seq, err := tx.Bucket(bucketActive).NextSequence()
		if err != nil {
			return err
		}
		ex.Seq, ex.Status, ex.CreatedAt = seq, StatusQueued, now
		ex.Attempts, ex.Reason, ex.FinishedAt = nil, "", time.Time{}
		if err := putExecution(tx, ex); err != nil {
			return err
		}
		if err := tx.Bucket(bucketByJob).Put(byJobKey(ex.Namespace, ex.Job, seq), []byte(ex.ID)); err != nil {
			return err
		}
		return prune(tx, ex.Namespace, ex.Job)
	})
	if err != nil {
		return Execution{}, fmt.Errorf("enqueue execution of %s/%s: %w", ex.Namespace, ex.Job, err)
	}
	return ex, nil
}

// Execution returns one execution, or ErrNotFound.
func (s *Store) Execution(ctx context.Context, id string) (Execution, error) {
	if err := ctx.Err(); err != nil {
		return Execution{}, err
	}
	var ex Execution
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		ex, err = getExecution(tx, id)
		return err
	})
	return ex, err
}

// Executions lists executions newest first: all of them, or those of one
// job when job is set; at most limit (0: no limit).
func (s *Store) Executions(ctx context.Context, ns, job string, limit int) ([]Execution, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []Execution
	err := s.db.View(func(tx *bolt.Tx) error {
		if job != "" {
			prefix := []byte(ns + "/" + job + "/")
			c := tx.Bucket(bucketByJob).Cursor()
			for k, v := c.Seek(prefix); k != nil && hasPrefix(k, prefix); k, v = c.Next() {
				ex, err := getExecution(tx, string(v))
				if err != nil {
					return err
				}
				out = append(out, ex)
			}
		} else {
			err := tx.Bucket(bucketExecutions).ForEach(func(k, v []byte) error {
				var ex Execution
				if err := json.Unmarshal(v, &ex); err != nil {
					return fmt.Errorf("decode execution %s: %w", k, err)
				}
				if ex.Namespace == ns {
					out = append(out, ex)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	slices.SortFunc(out, func(a, b Execution) int { return -cmpSeq(a.Seq, b.Seq) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, err
}

func cmpSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Active returns the queued and running executions in queue (FIFO) order.
func (s *Store) Active(ctx context.Context) ([]Execution, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []Execution
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		out, err = active(tx)
		return err
	})
	return out, err
}

func active(tx *bolt.Tx) ([]Execution, error) {
	var out []Execution
	err := tx.Bucket(bucketActive).ForEach(func(_, v []byte) error {
		ex, err := getExecution(tx, string(v))
		if err != nil {
			return err
		}
		out = append(out, ex)
		return nil
	})
	return out, err
}

// UpdateExecution applies fn to the stored execution in one transaction and
// stores the result; an error from fn aborts the change. Once an execution
// is terminal it leaves the queue.
func (s *Store) UpdateExecution(ctx context.Context, id string, fn func(*Execution) error) (Execution, error) {
	if err := ctx.Err(); err != nil {
		return Execution{}, err
	}
	var ex Execution
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if ex, err = getExecution(tx, id); err != nil {
			return err
		}
		if err := fn(&ex); err != nil {
			return err
		}
		return putExecution(tx, ex)
	})
	return ex, err
}

// Claim takes the next executions to start, in one transaction: pick sees
// the active executions in queue order and names those to start; start is
// applied to each (it records the new attempt and marks it running) with
// the log's current end, and returns a prefix (a separator line) to append
// to the log before the attempt's output.
func (s *Store) Claim(ctx context.Context, pick func(active []Execution) []string, start func(ex *Execution, logEnd int64) []byte) ([]Execution, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var claimed []Execution
	err := s.db.Update(func(tx *bolt.Tx) error {
		claimed = nil
		act, err := active(tx)
		if err != nil {
			return err
		}
		for _, id := range pick(act) {
			ex, err := getExecution(tx, id)
			if err != nil {
				return err
			}
			l := getLog(tx, id)
			if prefix := start(&ex, l.end()); len(prefix) > 0 {
				l.append(prefix)
				if err := putLog(tx, id, l); err != nil {
					return err
				}
			}
			if err := putExecution(tx, ex); err != nil {
				return err
			}
			claimed = append(claimed, ex)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim executions: %w", err)
	}
	return claimed, nil
}

func getExecution(tx *bolt.Tx, id string) (Execution, error) {
	var ex Execution
	v := tx.Bucket(bucketExecutions).Get([]byte(id))
	if v == nil {
		return ex, fmt.Errorf("execution %s: %w", id, ErrNotFound)
	}
	if err := json.Unmarshal(v, &ex); err != nil {
		return ex, fmt.Errorf("decode execution %s: %w", id, err)
	}
	return ex, nil
}

// putExecution stores ex and keeps the queue index in step with its status.
func putExecution(tx *bolt.Tx, ex Execution) error {
	if err := putJSON(tx.Bucket(bucketExecutions), []byte(ex.ID), ex); err != nil {
		return err
	}
	if Terminal(ex.Status) {
		return tx.Bucket(bucketActive).Delete(seqKey(ex.Seq))
	}
	return tx.Bucket(bucketActive).Put(seqKey(ex.Seq), []byte(ex.ID))
}

// prune deletes the oldest finished executions of a job beyond
// MaxExecutionsPerJob, with their logs.
func prune(tx *bolt.Tx, ns, job string) error {
	prefix := []byte(ns + "/" + job + "/")
	idx := tx.Bucket(bucketByJob)
	n := 0
	c := idx.Cursor()
	for k, _ := c.Seek(prefix); k != nil && hasPrefix(k, prefix); k, _ = c.Next() {
		n++
	}
	type entry struct{ key, id []byte }
	var del []entry
	for k, v := c.Seek(prefix); k != nil && hasPrefix(k, prefix) && n-len(del) > MaxExecutionsPerJob; k, v = c.Next() {
		if ex, err := getExecution(tx, string(v)); err == nil && Terminal(ex.Status) {
			del = append(del, entry{slices.Clone(k), slices.Clone(v)})
		}
	}
	for _, e := range del {
		if err := errors.Join(idx.Delete(e.key), tx.Bucket(bucketExecutions).Delete(e.id), tx.Bucket(bucketExecLogs).Delete(e.id)); err != nil {
			return err
		}
	}
	return nil
}

func randomSuffix() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 5)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
