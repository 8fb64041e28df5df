package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/berth-dev/berth/internal/manifest"
)

// Job buckets. Executions are keyed by ID; two indexes keep their order:
// active (queued and running, by sequence: the queue, FIFO) and byJob (every
// execution of a job, by sequence, for listing and pruning).
var (
	bucketJobs       = []byte("jobs")
	bucketExecutions = []byte("executions")
	bucketActive     = []byte("executions_active")
	bucketByJob      = []byte("executions_by_job")
	bucketExecLogs   = []byte("execution_logs")

	jobBuckets = [][]byte{bucketJobs, bucketExecutions, bucketActive, bucketByJob, bucketExecLogs}
)

// Limits of what the store keeps of executions.
const (
	// LogCap is the most log kept per execution: the last LogCap bytes.
	LogCap = 1 << 20
	// MaxExecutionsPerJob bounds the executions kept per job; beyond it the
	// oldest finished ones are deleted with their logs.
	MaxExecutionsPerJob = 500
)

// ErrConflict is returned when an execution cannot make the change asked of
// it in its current state (cancelling one that has finished).
var ErrConflict = errors.New("conflict")

// Execution statuses.
const (
	StatusQueued    = "queued"
	StatusRunning   = "running"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusCancelled = "cancelled"
)

// Reasons an attempt ended.
const (
	// ReasonExit: the process exited on its own; ExitCode says how.
	ReasonExit = "exit"
	// ReasonTimeout: it ran past the job's timeout and was killed.
	ReasonTimeout = "timeout"
	// ReasonCancelled: it was stopped by a cancel.
	ReasonCancelled = "cancelled"
	// ReasonCrash: its container could not be created or started, or
	// disappeared while it ran.
	ReasonCrash = "crash"
	// ReasonLost: after a server restart its container was not found.
	ReasonLost = "lost"
)

// JobDef is a deployed job: its current definition and image.
type JobDef struct {
	Namespace string       `json:"namespace"`
	Name      string       `json:"name"`
	Revision  int          `json:"revision"`
	Spec      manifest.Job `json:"spec"`
	Image     string       `json:"image"`
	ImageID   string       `json:"image_id"`
	ImageSize int64        `json:"image_size"`
	CreatedAt time.Time    `json:"created_at"`
	UpdatedAt time.Time    `json:"updated_at"`
}

// Execution is one run of a job to completion, over one or more attempts.
type Execution struct {
	ID        string `json:"id"`
	Seq       uint64 `json:"seq"`
	Namespace string `json:"namespace"`
	Job       string `json:"job"`
	// JobRevision, Spec and ImageID are the job as it was when enqueued.
	JobRevision int          `json:"job_revision"`
	Spec        manifest.Job `json:"spec"`
	ImageID     string       `json:"image_id"`
	// Env is added to the job's env; Args, when not nil, replace its args.
	Env  map[string]string `json:"env,omitempty"`
	Args []string          `json:"args,omitempty"`

	Status string `json:"status"`
	// Reason and ExitCode are the last attempt's.
	Reason   string    `json:"reason,omitempty"`
	ExitCode int       `json:"exit_code"`
	Attempts []Attempt `json:"attempts,omitempty"`
	// CancelRequested is set when a running execution is asked to stop.
	CancelRequested bool `json:"cancel_requested,omitempty"`
	// NotBefore holds a queued retry back until its backoff has passed.
	NotBefore  time.Time `json:"not_before,omitzero"`
	CreatedAt  time.Time `json:"created_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// Attempt is one container run of an execution.
type Attempt struct {
	Number int `json:"number"`
	// Container is the container's name, recorded before it is created;
	// ContainerID once it is.
	Container   string `json:"container"`
	ContainerID string `json:"container_id,omitempty"`
	// ClaimedAt is when the runner took a slot for it, EndedAt when it
	// gave it back; StartedAt and FinishedAt are the container's own.
	ClaimedAt  time.Time `json:"claimed_at"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	EndedAt    time.Time `json:"ended_at,omitzero"`
	ExitCode   int       `json:"exit_code"`
	Reason     string    `json:"reason,omitempty"`
	Error      string    `json:"error,omitempty"`
	// LogOffset is where the attempt's output starts in the execution's log.
	LogOffset int64 `json:"log_offset"`
}

// Terminal reports whether status is a final one.
func Terminal(status string) bool {
	return status == StatusSucceeded || status == StatusFailed || status == StatusCancelled
}

// Current is the last attempt, or nil.
func (e *Execution) Current() *Attempt {
	if len(e.Attempts) == 0 {
		return nil
	}
	return &e.Attempts[len(e.Attempts)-1]
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func byJobKey(ns, job string, seq uint64) []byte {
	return append([]byte(ns+"/"+job+"/"), seqKey(seq)...)
}

// CommitJob stores def as the job's current definition with the next
// revision number, which it returns.
func (s *Store) CommitJob(ctx context.Context, def JobDef, now time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketJobs)
		def.CreatedAt, def.Revision = now, 0
		if v := b.Get(appKey(def.Namespace, def.Name)); v != nil {
			var old JobDef
			if err := json.Unmarshal(v, &old); err != nil {
				return fmt.Errorf("decode job %s: %w", def.Name, err)
			}
			def.CreatedAt, def.Revision = old.CreatedAt, old.Revision
		}
		def.Revision++
		def.UpdatedAt = now
		return putJSON(b, appKey(def.Namespace, def.Name), def)
	})
	if err != nil {
		return 0, fmt.Errorf("commit job %s/%s: %w", def.Namespace, def.Name, err)
	}
	return def.Revision, nil
}

// NextJobRevision is the revision the job's next deploy would get.
func (s *Store) NextJobRevision(ctx context.Context, ns, name string) (int, error) {
	def, err := s.Job(ctx, ns, name)
	if errors.Is(err, ErrNotFound) {
		return 1, nil
	}
	return def.Revision + 1, err
}

// Job returns one job definition, or ErrNotFound.
func (s *Store) Job(ctx context.Context, ns, name string) (JobDef, error) {
	if err := ctx.Err(); err != nil {
		return JobDef{}, err
	}
	var def JobDef
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketJobs).Get(appKey(ns, name))
		if v == nil {
			return fmt.Errorf("job %s/%s: %w", ns, name, ErrNotFound)
		}
		return json.Unmarshal(v, &def)
	})
	return def, err
}

// Jobs returns every job definition, ordered by namespace and name.
func (s *Store) Jobs(ctx context.Context) ([]JobDef, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []JobDef
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketJobs).ForEach(func(k, v []byte) error {
			var def JobDef
			if err := json.Unmarshal(v, &def); err != nil {
				return fmt.Errorf("decode job %s: %w", k, err)
			}
			out = append(out, def)
			return nil
		})
	})
	return out, err
}
