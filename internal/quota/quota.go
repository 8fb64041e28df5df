// Package quota names the per-namespace limits (see store.Quotas) and the
// error every layer returns when one is reached, so that the API and the
// gateway answer it the same way: 429 with a problem naming the quota and
// its value.
package quota

import (
	"errors"
	"fmt"
)

// The quotas, by the names the API and the CLI use.
const (
	MaxInstances = "max_instances"
	MaxRequests  = "max_requests"
	MaxJobs      = "max_jobs"
	MaxApps      = "max_apps"
)

// ErrExceeded matches every *Error with errors.Is.
var ErrExceeded = errors.New("quota exceeded")

// Error: namespace Namespace is at its quota Name, whose value is Limit.
type Error struct {
	Namespace string
	Name      string
	Limit     int
}

func (e *Error) Error() string {
	return fmt.Sprintf("namespace %s is at its quota %s=%d", e.Namespace, e.Name, e.Limit)
}

// Is makes errors.Is(err, ErrExceeded) true.
func (e *Error) Is(target error) bool { return target == ErrExceeded }
