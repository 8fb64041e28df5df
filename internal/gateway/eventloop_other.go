//go:build !linux

package gateway

import (
	"log/slog"
	"sync/atomic"
)

// Without epoll the fast path keeps every connection on its goroutine.
type eventLoop struct{ served atomic.Int64 }

type loopConn struct{}

func newEventLoop(*Server, *slog.Logger) *eventLoop { return nil }

func (l *eventLoop) adopt(*fastConn) bool { return false }

func (l *eventLoop) requestClose(bool) {}

func (c *fastConn) loopable() bool { return false }

func (l *eventLoop) stopped() bool { return true }
