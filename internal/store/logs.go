package store

import (
	"context"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// execLog is an execution's log: the last LogCap bytes of its output, and
// how many bytes before them were dropped. Offsets are absolute (counted
// from the first byte ever written), so a reader that follows the log by
// offset is not confused by the cap.
type execLog struct {
	dropped int64
	data    []byte
}

func (l *execLog) end() int64 { return l.dropped + int64(len(l.data)) }

func (l *execLog) append(b []byte) {
	l.data = append(l.data, b...)
	if over := len(l.data) - LogCap; over > 0 {
		l.data = append([]byte(nil), l.data[over:]...)
		l.dropped += int64(over)
	}
}

// getLog reads a log; stored as an 8-byte big-endian dropped count and the data.
func getLog(tx *bolt.Tx, id string) execLog {
	v := tx.Bucket(bucketExecLogs).Get([]byte(id))
	if len(v) < 8 {
		return execLog{}
	}
	return execLog{dropped: int64(binary.BigEndian.Uint64(v[:8])), data: append([]byte(nil), v[8:]...)}
}

func putLog(tx *bolt.Tx, id string, l execLog) error {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(l.data)), uint64(l.dropped))
	return tx.Bucket(bucketExecLogs).Put([]byte(id), append(v, l.data...))
}

// AppendLog adds output to an execution's log, keeping the last LogCap bytes.
func (s *Store) AppendLog(ctx context.Context, id string, b []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(b) == 0 {
		return nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketExecutions).Get([]byte(id)) == nil {
			return fmt.Errorf("execution %s: %w", id, ErrNotFound)
		}
		l := getLog(tx, id)
		l.append(b)
		return putLog(tx, id, l)
	})
	if err != nil {
		return fmt.Errorf("append to log of %s: %w", id, err)
	}
	return nil
}

// LogChunk is a piece of an execution's log read from an offset.
type LogChunk struct {
	Data []byte
	// Next is the offset after Data, where the next read starts.
	Next int64
	// Skipped counts bytes before Data that were dropped by the cap.
	Skipped int64
}

// ReadLog returns the log from the absolute offset from (0: the start); if
// the bytes there were dropped by the cap it starts at the oldest kept one.
func (s *Store) ReadLog(ctx context.Context, id string, from int64) (LogChunk, error) {
	if err := ctx.Err(); err != nil {
		return LogChunk{}, err
	}
	var c LogChunk
	err := s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketExecutions).Get([]byte(id)) == nil {
			return fmt.Errorf("execution %s: %w", id, ErrNotFound)
		}
		l := getLog(tx, id)
		if from < l.dropped {
			c.Skipped = l.dropped - from
			from = l.dropped
		}
		if from > l.end() {
			from = l.end()
		}
		c.Data = append([]byte(nil), l.data[from-l.dropped:]...)
		c.Next = l.end()
		return nil
	})
	return c, err
}
