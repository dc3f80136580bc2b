package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/ticketstream/ticketstream/ports/portstest"
)

// Context returns a context that ends when tb's test ends or at its
// deadline (portstest.Deadline): the bound of a test's dials and reads,
// instead of a budget sized on a quiet machine.
func Context(tb testing.TB) context.Context {
	ctx := tb.Context()
	if deadline, ok := portstest.Deadline(tb); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		tb.Cleanup(cancel)
	}
	return ctx
}

// Patience returns how long tb may still wait for something: until its
// deadline (portstest.Deadline), or an hour when the run has none. It is
// the limit to give helpers that take one.
func Patience(tb testing.TB) time.Duration {
	if deadline, ok := portstest.Deadline(tb); ok {
		return max(time.Until(deadline), time.Second)
	}
	return time.Hour
}
